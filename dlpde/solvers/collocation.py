"""What the collocation objectives share (PINN, DGM, PDE, Deep Ritz): drawing and checkpointing their points, the
weighted least-squares loss of per-point terms, and ENGD's row blocks of such a term."""
from __future__ import annotations

import math
from typing import Callable

import torch
from torch import nn

from dlpde.nn.jet import Jet

Tensor = torch.Tensor


def condition_values(c, xb: torch.Tensor) -> torch.Tensor:
    """The condition's target at the points xb, checked to be a tensor of shape (n,)."""
    target = c.target(xb)
    if not isinstance(target, torch.Tensor) or target.shape != xb.shape[:1]:
        shape = tuple(target.shape) if isinstance(target, torch.Tensor) else type(target).__name__
        raise ValueError(f"the {c.name} data must return a tensor with one value per point, shape ({xb.shape[0]},), "
                         f"got {shape}; return e.g. g(x)[:, 0] instead of g(x)")
    return target


class CollocationSamples:
    """Interior points and condition points (with their target values), redrawn by ``sample``; the state that a
    checkpoint needs. Used by objectives that set ``problem``, ``s``, ``gen``, ``conditions``, ``x`` and
    ``cond_points`` (strong-form and energy objectives alike)."""

    def sample(self, batch: int | None = None, boundary_batch: int | None = None) -> None:
        """Draw ``batch`` interior and ``boundary_batch`` points per condition (default: the settings')."""
        p, s, kw = self.problem, self.s, dict(generator=self.gen, device=self.s.torch_device, dtype=self.s.torch_dtype)
        self.x = p.interior_points(batch or s.batch, method=s.sampling, **kw)
        self.cond_points = []
        for c in self.conditions:
            xb = c.sample(boundary_batch or s.boundary_batch, method=s.sampling, **kw)
            self.cond_points.append((xb, self.condition_targets(c, xb).detach()))

    def condition_targets(self, c, xb: Tensor) -> Tensor:
        """The condition's data at its points xb (the general ``PDE`` objective's conditions give their own)."""
        return condition_values(c, xb)

    def value_error(self, xb: Tensor, target: Tensor) -> Tensor:
        """u − g at a value condition's points (the first output of the network)."""
        return self.model(xb)[:, 0] - target

    def relative_residual(self, n: int, seed: int = 7919) -> float | None:
        """An a-posteriori indicator for problems without a reference: √(L(u_θ) / L(0)) on ``n`` fresh interior
        points (and n/4 per condition) drawn from their own stream, L the weighted residual + condition loss and
        0 the zero field. For a linear problem it is the classical relative residual ‖(Lu − f, u − g)‖ / ‖(f, g)‖
        in the loss's norms; 1 means no better than u = 0. None for objectives without a least-squares loss, or
        when u = 0 already has zero loss. The training points and generator are left as they were."""
        if not hasattr(self, "plain_loss"):
            return None
        saved = self.x, self.cond_points, self.gen, self.model
        try:
            self.gen = torch.Generator(device=self.s.torch_device).manual_seed(self.s.seed + seed)
            self.sample(n, max(1, n // 4))
            with torch.enable_grad():  # derivatives need autograd; no backward is taken
                loss = float(self.plain_loss().detach())
                self.model = ZeroField(saved[3])
                zero = float(self.plain_loss().detach())
        finally:
            self.x, self.cond_points, self.gen, self.model = saved
        return math.sqrt(loss / zero) if zero > 0 and math.isfinite(loss) else None

    def state_dict(self) -> dict:
        """For checkpoints: the generator's state and the current samples."""
        return {"generator": self.gen.get_state(), "x": self.x, "cond_points": [list(p) for p in self.cond_points]}

    def load_state_dict(self, state: dict) -> None:
        dev = self.s.torch_device
        self.gen.set_state(state["generator"].cpu())
        self.x = None if state["x"] is None else state["x"].to(dev)
        self.cond_points = [(xb.to(dev), target.to(dev)) for xb, target in state["cond_points"]]


Part = tuple[str, torch.Tensor, float]  # (term name, per-point values, weight in the loss)


def weighted_loss(parts: list[Part]) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """Σ weight · mean(v²) over the parts of a strong-form loss, and each term ``loss_<name>`` = mean(v²)."""
    terms, total = {}, 0.0
    for name, v, weight in parts:
        terms[f"loss_{name}"] = (v * v).mean()
        total = total + weight * terms[f"loss_{name}"]
    return total, terms


def row_block(points: tuple[torch.Tensor, ...], values: Callable[..., torch.Tensor], weight: float):
    """ENGD's rows of one loss term weight·mean(v²) over n points (``dlpde.training.engd.block_jacobian``):
    (n, sl ↦ values(*[p[sl] for p in points]) · √(weight / n)), so the squared rows sum to the term."""
    n = len(points[0])
    scale = math.sqrt(weight / n)
    return n, lambda sl: values(*(p[sl] for p in points)) * scale


class ZeroField(nn.Module):
    """u ≡ 0 with the structure of ``model`` (its output shape, its forward jet when it has one, all zero): the
    reference field of ``relative_residual``."""

    def __init__(self, model: nn.Module):
        super().__init__()
        self.model = model
        if hasattr(model, "forward_jet"):
            self.forward_jet = self._zero_jet

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(x) * 0.0

    def _zero_jet(self, jet: Jet) -> Jet:
        j = self.model.forward_jet(jet)
        return Jet(j.value * 0.0, j.tangent * 0.0, j.second * 0.0, j.weights)


def calibrate_output(objective, model: nn.Module, iterations: int = 3) -> float | None:
    """Start ``model`` at the best level of its network's output, N ← a + N (``output_shift`` = a minimising the
    least-squares loss, ``gram_blocks`` rows, on the objective's current points); solver option
    ``calibrate_output=True``. Returns a, or None where no network with ``output_shift`` (an MLP) is found or the
    loss did not fall.

    The rows are affine in a for a linear PDE with linear conditions, so the first Gauss–Newton step (a unit
    secant) is exact; a nonlinear one gets ``iterations`` steps. Only the level is fitted: fitting the scale as well
    shrank it to the size of the untrained network's useful part (0.08 at d = 200) and slowed learning (0.25 against
    0.094 after 100 steps). Why: zero Dirichlet data say nothing about the level of N in u = φN, and a network started
    at O(1) spends its first thousand Adam steps reaching it (``poisson-inseparable-Nd`` at d = 1000, N ≈ −40)."""
    net = next((m for m in model.modules() if hasattr(m, "output_shift") and hasattr(m, "out")), None)
    if net is None or not hasattr(objective, "gram_blocks"):
        return None
    if not getattr(objective, "least_squares", True):
        return _calibrate_energy(objective, net, iterations)

    def rows(shift: float) -> Tensor:
        net.output_shift = shift
        with torch.enable_grad():
            return torch.cat([fn(slice(None)).reshape(-1) for _, fn in objective.gram_blocks()]).detach().double()

    a = a0 = net.output_shift
    r = rows(a)
    best = start = float(r @ r)
    for _ in range(iterations):
        j = rows(a + 1.0) - r
        if not float(j @ j) > 0:
            break
        trial = a - float(j @ r) / float(j @ j)
        r_trial = rows(trial)
        if not float(r_trial @ r_trial) < best:
            break
        a, r, best = trial, r_trial, float(r_trial @ r_trial)
    net.output_shift = a if best < start else a0
    return a if best < start else None


def _calibrate_energy(objective, net: nn.Module, iterations: int) -> float | None:
    """``calibrate_output`` for an energy (Deep Ritz): the level a minimising E(a) on the objective's current
    points, from the parabola through E(a − 1), E(a), E(a + 1) (exact for a quadratic energy such as Poisson's;
    a few steps otherwise). The level stays where the energy is not convex along it or did not fall."""
    def energy(shift: float) -> float:
        net.output_shift = shift
        with torch.enable_grad():
            return float(objective.current_loss().detach())

    a = a0 = net.output_shift
    best = start = energy(a)
    for _ in range(iterations):
        low, high = energy(a - 1.0), energy(a + 1.0)
        curvature = low + high - 2 * best
        if not curvature > 0:
            break
        trial = a - 0.5 * (high - low) / curvature
        value = energy(trial)
        if not value < best:
            break
        a, best = trial, value
    net.output_shift = a if best < start else a0
    return a if best < start else None
