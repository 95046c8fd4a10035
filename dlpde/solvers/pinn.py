"""Physics-informed neural networks (Raissi, Perdikaris & Karniadakis, J. Comput. Phys. 2019).

Loss = mean residual² on interior collocation points + boundary_weight · Σ mean (u − g)² over each
boundary/initial/terminal condition. Collocation points are redrawn every ``resample_every`` steps; the
Laplacian comes from the shared derivative engine (forward Laplacian by default).

Option ``compile`` ("auto" by default, True, False; ``dlpde.training.compiled``) runs the loss through
``torch.compile`` where the estimated saving exceeds the compilation (exact derivative methods only). It is tested
equal to the eager loss.
"""
from __future__ import annotations

import math
from typing import Callable

import torch
from torch import nn

from dlpde.derivatives import FieldDerivatives, laplacian, trace_derivatives
from dlpde.nn import MLP
from dlpde.problems import Problem
from dlpde.settings import SolveSettings
from dlpde.solvers.base import Solver
from dlpde.solvers.collocation import CollocationSamples, Part, condition_values, row_block, weighted_loss
from dlpde.training.compiled import CompiledOrEager, decide_for_loss, strong_form_unsupported


class StrongFormObjective(CollocationSamples):
    """Residual + condition losses; shared by PINN and DGM (which differ in network and sampling defaults)."""
    least_squares = True  # ENGD: the rows are residuals (dlpde.training.engd)

    def __init__(self, problem: Problem, model: nn.Module, s: SolveSettings):
        self.problem, self.model, self.s = problem, model, s
        self.gen = s.generator()
        from dlpde.nn.constraints import active_conditions
        self.conditions = active_conditions(problem, model)  # those a hard constraint does not already satisfy
        self.x = None
        self.cond_points: list[tuple[torch.Tensor, torch.Tensor]] = []
        self._checked = False  # the problem's data are checked once, at the first loss (one host sync)
        self._terms = self._loss_terms
        self.compiled, self.compile_reason = decide_for_loss(problem, model, s, self._compile_unsupported())
        if self.compiled:
            self._terms = CompiledOrEager(self._loss_terms, problem.case)

    def _compile_unsupported(self) -> str | None:
        """Why this loss is not compiled at all (``strong_form_unsupported``), or the residual's trace along
        state-dependent directions, which takes a reverse pass inside the loss."""
        general = strong_form_unsupported(self.s, self.model)
        if general is None and getattr(self.problem, "second_order_directions", None) is not None and \
                not getattr(self.problem, "isotropic", False):
            return "the trace along the problem's diffusion directions is not compiled yet"
        return general

    def loss(self, step: int, *, resample: bool):
        if resample or self.x is None:
            self.sample()
        total, terms = self._terms(self.x, self.cond_points)
        if not self._checked:
            self._check_data(terms)
        return total, terms

    def _check_data(self, terms) -> None:
        """At the first loss: NaN or infinity before any training comes from the problem's data."""
        self._checked = True
        for c, (_, target) in zip(self.conditions, self.cond_points):
            if not bool(torch.isfinite(target).all()):
                raise ValueError(f"the {c.name} data of {self.problem.case} are NaN or infinite at some points; "
                                 "check the function that gives them")
        if not bool(torch.isfinite(terms["loss_pde"])):
            raise ValueError(f"the PDE residual of {self.problem.case} is NaN or infinite at the first collocation "
                             "points, before any training; check the source term and the problem's functions")

    def _loss_terms(self, x, cond_points):
        return weighted_loss(self._parts(x, cond_points))

    def current_loss(self) -> torch.Tensor:
        """The loss at the current points (ENGD's line search)."""
        return self._terms(self.x, self.cond_points)[0]

    def plain_loss(self) -> torch.Tensor:
        """The loss at the current points, never compiled (``relative_residual`` swaps the model)."""
        return weighted_loss(self._parts(self.x, self.cond_points))[0]

    def gram_blocks(self) -> list:
        """ENGD's rows: r/√n at the collocation points, √(β w_c / n_c)·(u − g) at each condition's points."""
        blocks = [row_block((self.x,), self._residual, 1.0)]
        for c, (xb, target) in zip(self.conditions, self.cond_points):
            blocks.append(row_block((xb, target), self.value_error, float(self.s.boundary_weight * c.weight)))
        return blocks

    def _parts(self, x, cond_points) -> list[Part]:
        """(term name, per-point values, weight in the loss): the residual, then each condition."""
        parts = [("pde", self._residual(x), 1.0)]
        for c, (xb, target) in zip(self.conditions, cond_points):
            parts.append((c.name, self.value_error(xb, target), float(self.s.boundary_weight * c.weight)))
        return parts

    def _residual(self, x: torch.Tensor) -> torch.Tensor:
        """The PDE residual at points x (n,)."""
        d = self._derivatives(x)
        try:
            r = self.problem.residual(x, d)
        except (RuntimeError, TypeError) as e:
            if self._checked:
                raise
            raise ValueError(f"the residual of {self.problem.case} cannot be computed at the first collocation "
                             f"points ({e}); the problem's functions must map points (n, d) to tensors of shape "
                             "(n,)") from None
        if not isinstance(r, torch.Tensor) or r.shape != x.shape[:1]:
            shape = tuple(r.shape) if isinstance(r, torch.Tensor) else type(r).__name__
            raise ValueError(f"the residual of {self.problem.case} must have shape ({x.shape[0]},), one value per "
                             f"point, got {shape}; the source term probably returns shape (n, 1): "
                             "return f(x)[:, 0] or a 1-D tensor")
        return r


    def _derivatives(self, x: torch.Tensor) -> FieldDerivatives:
        """What the residual reads: u, ∇u and the Laplacian over the space coordinates, or, for a problem whose
        second-order term is Tr(A Hess u) with a state-dependent A (``second_order_directions``, e.g. σσᵀ of a
        geometric Brownian motion), the trace along the directions it gives."""
        m = self.s.derivative
        hook = getattr(self.problem, "second_order_directions", None)
        spec = hook(x, method=m, probes=self.s.probes, generator=self.gen) if hook is not None else None
        if spec is None:
            return laplacian(self.model, x, method=m, dims=self.problem.laplacian_dims, probes=self.s.probes,
                             generator=self.gen, gradient=getattr(self.problem, "needs_gradient", True))
        return trace_derivatives(self.model, x, *spec, method="auto" if m in ("hutchinson", "sdgd") else m)


def _value_condition_samples(problem: Problem, s: SolveSettings, skip: tuple[str, ...] = ()):
    """(condition, points (2048, D), data (2048,)) for each condition on u's values not named in ``skip``, from one
    fixed stream (seed + 99991): what the output scaling reads. A PDE condition on derivatives says nothing of u's
    size and is left out."""
    g = torch.Generator().manual_seed(s.seed + 99991)
    for c in problem.conditions():
        if c.name in skip or not getattr(c, "is_value", True):
            continue
        xb = c.sample(2048, generator=g, dtype=torch.float64)
        yield c, xb, (c.data(xb)[:, 0].double() if hasattr(c, "data") else condition_values(c, xb).double())


def scaling(problem: Problem, s: SolveSettings) -> dict:
    """Input and output scaling of a network for ``problem``, from the problem's data alone.

    Inputs: the problem's ``input_normalization()`` if it has one, else the bounding box of its domain mapped to
    [−1, 1]. Outputs: mean and standard deviation of the boundary/initial/terminal data on a fixed sample (scale 1
    when the data are constant), so a network of unit-scale weights starts at the right level. The exact solution
    is never used. Each condition counts alike, however many points it has (``_pooled_level``)."""
    if hasattr(problem, "input_normalization"):
        shift, scale = problem.input_normalization()
    else:
        lo, hi = problem.domain.bounds
        shift, scale = ((lo + hi) / 2).tolist(), (2 / (hi - lo)).tolist()
    values = [data for _, _, data in _value_condition_samples(problem, s)]
    out_shift, out_scale = 0.0, 1.0
    if values and all(bool(torch.isfinite(v).all()) for v in values):
        out_shift, std = _pooled_level(values)
        out_scale = std if std > 1e-8 * max(1.0, abs(out_shift)) else 1.0
    return dict(input_shift=shift, input_scale=scale, output_shift=out_shift, output_scale=out_scale)


def _pooled_level(values: list[torch.Tensor]) -> tuple[float, float]:
    """Mean and standard deviation of the conditions' values, each condition weighted alike: 2048 samples of a
    boundary condition and the 10 points of a ``Data`` condition count as two conditions, not as 2048 values against
    10 (zero Dirichlet data beside ten observations of size 1 gave a scale of 0.05, and an inverse problem
    converged to a coefficient 2.3× the true one). With equal counts (every sampled condition) this is the
    plain sample mean and standard deviation (n − 1) of all the values."""
    means = torch.stack([v.mean() for v in values])
    mean = means.mean()
    var = torch.stack([(v - mean).pow(2).mean() for v in values]).mean()
    total = sum(v.numel() for v in values)
    return float(mean), float((var * total / max(total - 1, 1)).sqrt())


def _constrained_output_scale(problem: Problem, s: SolveSettings, default: float) -> float:
    """The output scale of N in u = g + φN: the RMS of (data − g)/φ at the value conditions the constraint leaves to
    the loss (what N must represent there), or ``default`` (the data's own scale) when it enforces them all or they
    say nothing. Why: for u = P_eur + N (american-put-1d) N is the early-exercise premium, RMS 0.016 at the
    conditions, while the data's scale is 0.47; with the earlier form u = P_eur + τN (N about r = 0.05) this took the
    PINN with ENGD from 2.4e-3 at the money (started at the data's scale) to 1.8e-3."""
    from dlpde.nn.constraints import constraint_data
    if getattr(problem, "n_outputs", 1) != 1:
        return default
    phi, g, names, _ = constraint_data(problem)
    values = []
    for _, xb, data in _value_condition_samples(problem, s, skip=tuple(names)):
        p = phi(xb).double()
        inside = p > 1e-3 * float(p.abs().max().clamp_min(1e-300))
        if bool(inside.any()):
            base = g(xb).double().reshape(len(xb), -1)[:, 0] if g is not None else torch.zeros_like(data)
            values.append(((data - base) / p)[inside])
    if not values:
        return default
    v = torch.cat(values)
    rms = float(v.pow(2).mean().sqrt()) if bool(torch.isfinite(v).all()) else 0.0
    return rms if rms > 0 else default


def scaled_network(problem: Problem, s: SolveSettings, make: Callable[..., nn.Module]) -> nn.Module:
    """``make(in_dim, **scaling)`` → a scalar network for ``problem``, with the input/output scaling of
    :func:`scaling`. Where the problem names known corner singularities (``singular_features()``, e.g. the slit's
    r^½ sin(ψ/2)), they become extra inputs (``dlpde.nn.features.SingularFeatures``, already scaled to [−1, 1]).

    Solver option ``hard_constraint=True``: the network N becomes u = g + φ·N, which satisfies the problem's
    Dirichlet data exactly (``dlpde.nn.constraints.constrained_network``; ValueError for a problem without such a
    condition). g already carries the level of the data, so N's output shift is 0; its scale is still the data's."""
    sc = scaling(problem, s)
    hard = s.options.get("hard_constraint", False)
    if not isinstance(hard, bool):
        raise ValueError(f"hard_constraint must be True or False, got {hard!r}")
    if hard:
        sc["output_shift"] = 0.0
        sc["output_scale"] = _constrained_output_scale(problem, s, sc["output_scale"])
    corners = getattr(problem, "singular_features", lambda: None)()
    if not corners:
        net = make(problem.input_dim, **sc)
    else:
        from dlpde.nn.features import SingularFeatures
        sc.update(input_shift=list(sc["input_shift"]) + [0.0] * len(corners),
                  input_scale=list(sc["input_scale"]) + [1.0] * len(corners))
        net = SingularFeatures(make(problem.input_dim + len(corners), **sc), corners)
    if not hard:
        return net
    from dlpde.nn.constraints import constrained_network
    return constrained_network(problem, net)


class PINN(Solver):
    name = "pinn"
    options = ("compile", "hard_constraint", "first_layer_scale", "calibrate_output")
    description = "physics-informed network: strong-form residual at collocation points (Raissi et al. 2019)"

    def refusal(self, problem: Problem) -> str:
        try:
            problem.conditions()
        except NotImplementedError:
            return f"{problem.case} has no strong form (residual and conditions)"
        return ""

    def build_model(self, problem: Problem, s: SolveSettings) -> nn.Module:
        return scale_first_layer(scaled_network(problem, s, lambda in_dim, **sc: MLP(
            in_dim, getattr(problem, "n_outputs", 1), width=s.width, depth=s.depth, activation=s.activation, **sc)), s)

    def objective(self, problem: Problem, model: nn.Module, s: SolveSettings):
        return strong_form_objective(problem, model, s)


def scale_first_layer(model: nn.Module, s: SolveSettings) -> nn.Module:
    """Solver option ``first_layer_scale`` (default 1): multiply the initial weights of the network's first linear
    layer by this factor. With ``activation="sin"`` this is SIREN's ω₀ (Sitzmann et al., NeurIPS 2020): the first
    layer's features then start with frequencies of order ω₀ on the [−1, 1]-scaled inputs instead of ~0.2, which
    an oscillatory solution (Helmholtz, waves) needs — a small-weight start learns them only very slowly."""
    factor = s.options.get("first_layer_scale", 1.0)
    if isinstance(factor, bool) or not isinstance(factor, (int, float)) or not (math.isfinite(factor) and factor > 0):
        raise ValueError(f"first_layer_scale must be a positive number, got {factor!r}")
    if factor != 1.0:
        first = next(m for m in model.modules() if isinstance(m, nn.Linear))
        with torch.no_grad():
            first.weight.mul_(float(factor))
    return model


def strong_form_objective(problem: Problem, model: nn.Module, s: SolveSettings):
    """The strong-form loss: a user's ``PDE`` through the derivative accessor, a named case through its own
    residual."""
    if hasattr(problem, "equation"):
        from dlpde.solvers.pde_objective import PDEObjective
        return PDEObjective(problem, model, s)
    return StrongFormObjective(problem, model, s)
