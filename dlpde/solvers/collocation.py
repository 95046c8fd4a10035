"""What the collocation objectives share (PINN, DGM, PDE, Deep Ritz): drawing and checkpointing their points, the
weighted least-squares loss of per-point terms, and ENGD's row blocks of such a term."""
from __future__ import annotations

import math
from typing import Callable

import torch


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
            self.cond_points.append((xb, condition_values(c, xb).detach()))

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
