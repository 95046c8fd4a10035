"""Physics-informed neural networks (Raissi, Perdikaris & Karniadakis, J. Comput. Phys. 2019).

Loss = mean residual² on interior collocation points + boundary_weight · Σ mean (u − g)² over each
boundary/initial/terminal condition. Collocation points are redrawn every ``resample_every`` steps; the
Laplacian comes from the shared derivative engine (forward Laplacian by default).

Option ``compile=True`` runs the loss through ``torch.compile`` (exact derivative methods only; the first steps
pay the compilation). It is tested equal to the eager loss.
"""
from __future__ import annotations

import torch
from torch import nn

from dlpde.derivatives import laplacian
from dlpde.nn import MLP
from dlpde.problems import Problem
from dlpde.settings import SolveSettings
from dlpde.solvers.base import Solver


class StrongFormObjective:
    """Residual + condition losses; shared by PINN and DGM (which differ in network and sampling defaults)."""

    def __init__(self, problem: Problem, model: nn.Module, s: SolveSettings):
        self.problem, self.model, self.s = problem, model, s
        self.gen = s.generator()
        self.conditions = problem.conditions()
        self.x = None
        self.cond_points: list[tuple[torch.Tensor, torch.Tensor]] = []
        self._terms = self._loss_terms
        if s.options.get("compile"):
            if s.derivative in ("hutchinson", "sdgd"):
                raise ValueError("compile=True needs an exact derivative method ('auto', 'forward' or 'autograd')")
            self._terms = torch.compile(self._loss_terms, dynamic=False)

    def sample(self) -> None:
        p, s, kw = self.problem, self.s, dict(generator=self.gen, device=self.s.torch_device, dtype=self.s.torch_dtype)
        self.x = p.interior_points(s.batch, method=s.sampling, **kw)
        self.cond_points = []
        for c in self.conditions:
            xb = c.sample(s.boundary_batch, method=s.sampling, **kw)
            self.cond_points.append((xb, c.target(xb).detach()))

    def loss(self, step: int, *, resample: bool):
        if resample or self.x is None:
            self.sample()
        return self._terms(self.x, self.cond_points)

    def _loss_terms(self, x, cond_points):
        d = laplacian(self.model, x, method=self.s.derivative, dims=self.problem.laplacian_dims,
                      probes=self.s.probes, generator=self.gen)
        r = self.problem.residual(x, d)
        terms = {"loss_pde": (r * r).mean()}
        total = terms["loss_pde"]
        for c, (xb, target) in zip(self.conditions, cond_points):
            e = self.model(xb)[:, 0] - target
            terms[f"loss_{c.name}"] = (e * e).mean()
            total = total + self.s.boundary_weight * c.weight * terms[f"loss_{c.name}"]
        return total, terms


class PINN(Solver):
    name = "pinn"
    options = ("compile",)
    description = "physics-informed network: strong-form residual at collocation points (Raissi et al. 2019)"

    def refusal(self, problem: Problem) -> str:
        try:
            problem.conditions()
        except NotImplementedError:
            return f"{problem.case} has no strong form (residual and conditions)"
        return ""

    def build_model(self, problem: Problem, s: SolveSettings) -> nn.Module:
        shift, scale = getattr(problem, "input_normalization", lambda: (None, None))()
        return MLP(problem.input_dim, 1, width=s.width, depth=s.depth, activation=s.activation,
                   input_shift=shift, input_scale=scale)

    def objective(self, problem: Problem, model: nn.Module, s: SolveSettings):
        return StrongFormObjective(problem, model, s)
