"""The Deep Ritz method (E & Yu, "The Deep Ritz method: a deep learning-based numerical algorithm for solving
variational problems", Commun. Math. Stat. 6, 2018).

For a problem with an energy (``problem.has_energy``: symmetric and steady, e.g. the Poisson problem
−Δu = f in Ω, u = g on ∂Ω, whose solution minimises ∫_Ω ½|∇u|² − f u) the loss is the penalised energy

    L(θ) = ∫_Ω e(x, u_θ, ∇u_θ) dx + β Σ_c w_c ∫_∂Ω (u_θ − g)² ds,

both integrals estimated by Monte Carlo with fresh samples every step: |Ω| · mean over interior points and
|∂Ω| · mean over boundary points (``domain.volume``, ``domain.boundary_measure``). β is the setting
``boundary_weight``. Only ∇u is needed: one reverse pass with a graph (no second derivatives), so a step costs a
few forward passes in any dimension. The penalty makes the minimiser satisfy the Robin condition
∂ₙu + 2β(u − g) = 0 instead of u = g, an O(1/β) boundary error; a large β, however, pins a network that starts
near the boundary data there (e.g. u ≈ 0 for zero data) for thousands of steps. Option ``penalty_warmup`` (a
fraction of the steps, default 0) raises β geometrically from β/100 to β over that part of the training. The
Monte Carlo energy gradient stays noisy at the minimiser, so a decaying learning rate does most of the training;
an optional L-BFGS phase then minimises the energy of one fixed quadrature, drawn once with option ``lbfgs_batch``
interior points (boundary points scaled alike). Its minimiser is off by that quadrature's error, so the fixed set
must be large (tens of thousands of Sobol points in 2-D: measured on ``poisson-slit``, see the case defaults).
The network is the residual network of the paper (``dlpde.nn.ResNet``; ``depth`` = number of residual blocks, two
layers each), with the input/output scaling PINN uses (``pinn.scaled_network``).

Option ``hard_constraint=True`` trains u = g + φ·N instead (``dlpde.nn.constraints``): u = g holds exactly on ∂Ω, the
penalty term of that condition leaves the loss (``active_conditions``) and with it the Robin bias and the choice of β.
"""
from __future__ import annotations

import math
from typing import Callable

import torch
from torch import nn

from dlpde.nn import ResNet
from dlpde.nn.constraints import active_conditions
from dlpde.problems import Problem
from dlpde.settings import SolveSettings
from dlpde.solution import Solution
from dlpde.solvers.base import Solver, lbfgs_batch_option
from dlpde.solvers.collocation import CollocationSamples, row_block
from dlpde.solvers.pinn import scaled_network

Tensor = torch.Tensor
WARMUP_START = 1e-2  # β starts at WARMUP_START·β when the option penalty_warmup > 0


def field_and_gradient(fn: Callable[[Tensor], Tensor], x: Tensor) -> tuple[Tensor, Tensor]:
    """u (n,) and ∇u (n, d) of the scalar field ``fn`` (x ↦ (n,) or (n, 1)) at points x, ∇u from one reverse
    pass; differentiable in fn's parameters when grad mode is on (the graph is kept)."""
    x = x.detach().requires_grad_(True)
    u = fn(x)
    u = u[:, 0] if u.ndim == 2 else u
    (grad,) = torch.autograd.grad(u.sum(), x, create_graph=torch.is_grad_enabled())
    return u, grad


def energy_terms(problem: Problem, fn: Callable[[Tensor], Tensor], x: Tensor) -> Tensor:
    """The energy density e(x, u, ∇u) at points x (n, d) of the scalar field ``fn``."""
    u, grad = field_and_gradient(fn, x)
    return problem.energy_density(x, u, grad)


def density_hessian_factor(problem: Problem, x: Tensor, u: Tensor, grad: Tensor) -> Tensor:
    """L (n, 1 + d, r) with L·Lᵀ = ∂²e/∂(u, ∇u)² at each point: the energy's Gram factor for ENGD.

    The Hessian comes from autograd (1 + d second-derivative passes over the density alone, cheap), so any
    density a problem defines is served. Negative curvature is dropped (a Gauss–Newton Gram must be positive
    semi-definite) and so are directions without curvature at any point (for ½|∇u|² − fu, the u direction)."""
    v = torch.cat([u.detach()[:, None], grad.detach()], dim=1).requires_grad_(True)
    with torch.enable_grad():
        e = problem.energy_density(x.detach(), v[:, 0], v[:, 1:])
        (first,) = torch.autograd.grad(e.sum(), v, create_graph=True)
        cols = [torch.autograd.grad(first[:, j].sum(), v, retain_graph=True, materialize_grads=True)[0]
                if first.requires_grad else torch.zeros_like(v) for j in range(v.shape[1])]
    hess = torch.stack(cols, dim=2).detach()
    lam, q = torch.linalg.eigh(0.5 * (hess + hess.mT))
    lam = lam.clamp_min(0)
    keep = lam.amax(dim=0) > 1e-12 * max(float(lam.max()), torch.finfo(lam.dtype).tiny)
    return (q * lam.sqrt()[:, None, :])[:, :, keep]


def energy_estimate(problem: Problem, fn: Callable[[Tensor], Tensor], n: int, *,
                    generator: torch.Generator | None = None, dtype: torch.dtype = torch.float64,
                    device: torch.device | str | None = None, method: str = "pseudo",
                    chunk: int = 8192) -> tuple[float, float]:
    """Monte Carlo estimate of ∫_Ω e(x, u, ∇u) dx for the field ``fn`` and its standard error (the standard
    error is that of independent samples; with method='sobol' it overstates the true error)."""
    total, total_sq, done = 0.0, 0.0, 0
    while done < n:
        m = min(chunk, n - done)
        x = problem.interior_points(m, generator=generator, device=device, dtype=dtype, method=method)
        with torch.enable_grad():
            e = energy_terms(problem, fn, x).detach().double()
        total += float(e.sum())
        total_sq += float((e * e).sum())
        done += m
    mean = total / n
    var = max(total_sq / n - mean * mean, 0.0) * n / max(n - 1, 1)
    vol = problem.domain.volume
    return vol * mean, vol * math.sqrt(var / n)


class EnergyObjective(CollocationSamples):
    """|Ω|·mean e(x, u, ∇u) + β Σ_c w_c |∂Ω|·mean (u − g)² on fresh samples (see the module docstring)."""

    def __init__(self, problem: Problem, model: nn.Module, s: SolveSettings):
        self.problem, self.model, self.s = problem, model, s
        self.gen = s.generator()
        self.conditions = active_conditions(problem, model)  # minus those a hard constraint satisfies exactly
        self.volume = float(problem.domain.volume)
        self.boundary_measure = float(problem.domain.boundary_measure)
        self.x: Tensor | None = None
        self.cond_points: list[tuple[Tensor, Tensor]] = []
        warmup = s.options.get("penalty_warmup", 0.0)
        if isinstance(warmup, bool) or not isinstance(warmup, (int, float)) or not 0 <= warmup <= 1:
            raise ValueError(f"penalty_warmup must be a fraction of the steps in [0, 1], got {warmup!r}")
        self.warmup_steps = int(round(warmup * s.steps))
        self.lbfgs_batch = lbfgs_batch_option(s)  # interior points of the L-BFGS phase's quadrature
        self.in_lbfgs = False
        self.beta = self.penalty_weight(0)

    def begin_lbfgs(self) -> None:
        """Called by the Trainer as the L-BFGS phase starts: its one fixed quadrature has ``lbfgs_batch`` points."""
        self.in_lbfgs = True

    def penalty_weight(self, step: int) -> float:
        """β at ``step``: during the warm-up it grows geometrically from β/100 to β, afterwards it is β."""
        beta = float(self.s.boundary_weight)
        if step >= self.warmup_steps:
            return beta
        return beta * WARMUP_START ** (1 - step / self.warmup_steps)

    def loss(self, step: int, *, resample: bool):
        if resample or self.x is None:
            if self.lbfgs_batch and self.in_lbfgs:  # the L-BFGS phase's one fixed quadrature
                ratio = self.lbfgs_batch / self.s.batch
                self.sample(self.lbfgs_batch, max(1, round(self.s.boundary_batch * ratio)))
            else:
                self.sample()
        self.beta = self.penalty_weight(step)
        return self._evaluate()

    least_squares = False  # ENGD: the rows factor the energy's Gram (dlpde.training.engd)

    def current_loss(self) -> Tensor:
        """The loss at the current points and penalty weight (ENGD's line search)."""
        return self._evaluate()[0]

    def gram_blocks(self) -> list:
        """ENGD's rows, whose Jacobian factors the energy's Gram: √(|Ω|/n)·Lᵀ(u, ∇u) at each interior point, L
        from ``density_hessian_factor``, and √(2β w_c |∂Ω|/n_c)·(u − g) at each penalised condition's points."""
        blocks = [row_block((self.x,), self._energy_rows, self.volume)]
        for c, (xb, target) in zip(self.conditions, self.cond_points):
            blocks.append(row_block((xb, target), self.value_error,
                                    2 * self.beta * c.weight * self.boundary_measure))
        return blocks

    def _energy_rows(self, x: Tensor) -> Tensor:
        u, grad = field_and_gradient(self.model, x)
        factor = density_hessian_factor(self.problem, x, u, grad)
        return torch.einsum("nkr,nk->nr", factor, torch.cat([u[:, None], grad], dim=1))


    def _evaluate(self) -> tuple[Tensor, dict[str, Tensor]]:
        energy = self.volume * energy_terms(self.problem, self.model, self.x).mean()
        terms = {"energy": energy}
        total = energy
        for c, (xb, target) in zip(self.conditions, self.cond_points):
            e = self.value_error(xb, target)
            terms[f"loss_{c.name}"] = (e * e).mean()
            total = total + self.beta * c.weight * self.boundary_measure * terms[f"loss_{c.name}"]
        return total, terms


class DeepRitz(Solver):
    name = "ritz"
    description = "Deep Ritz: minimise the Monte Carlo energy with a boundary penalty (E & Yu 2018)"
    options = ("input_map", "penalty_warmup", "lbfgs_batch", "hard_constraint")

    def refusal(self, problem: Problem) -> str:
        if problem.time_dependent:
            return f"{problem.case} is time-dependent and has no energy functional to minimise"
        if not problem.has_energy:
            return f"{problem.case} has no energy functional (Deep Ritz needs a symmetric, steady problem)"
        try:
            problem.conditions()
            float(problem.domain.volume), float(problem.domain.boundary_measure)
        except (NotImplementedError, AttributeError, TypeError) as e:
            return f"{problem.case} lacks boundary conditions or a domain volume/boundary measure ({e})"
        return ""

    def build_model(self, problem: Problem, s: SolveSettings) -> nn.Module:
        return scaled_network(problem, s, lambda in_dim, **sc: ResNet(
            in_dim, 1, width=s.width, blocks=s.depth, activation=s.activation,
            input_map=s.options.get("input_map", "auto"), **sc))

    def objective(self, problem: Problem, model: nn.Module, s: SolveSettings):
        return EnergyObjective(problem, model, s)

    def run(self, problem: Problem, s: SolveSettings) -> Solution:
        solution = super().run(problem, s)
        if solution.status == "ok":
            p = next(solution.model.parameters())
            n = min(s.eval_points, 20_000)
            energy, stderr = energy_estimate(problem, solution.model, n, generator=s.generator(7),
                                             dtype=p.dtype, device=p.device)
            solution.extra.update(energy=energy, energy_stderr=stderr)
        return solution
