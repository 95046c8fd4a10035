"""The Poisson problem −Δu = f in Ω, u = g on ∂Ω, in any dimension, and its named cases (REFERENCES.md §1).

Energy (Dirichlet principle, E & Yu 2018, "The Deep Ritz method"): u minimises ∫_Ω ½|∇u|² − f u over
functions with u = g on ∂Ω.
"""
from __future__ import annotations

import math
from typing import Callable

import torch

from dlpde.derivatives import FieldDerivatives
from dlpde.geometry import Ball, Box, Domain
from dlpde.problems.base import Condition, Problem

Tensor = torch.Tensor
Field = Callable[[Tensor], Tensor]


def zero_boundary(x: Tensor) -> Tensor:
    """Zero boundary data; a hard constraint recognises it and trains u = φN without a jet of g."""
    return torch.zeros_like(x[:, 0])


class Poisson(Problem):
    """−Δu = f in ``domain``, u = g on its boundary. ``exact`` (optional) is the solution, used for errors."""

    def __init__(self, domain: Domain, source: Field, boundary: Field, *, exact: Field | None = None,
                 case: str = "custom", params: dict | None = None):
        if not isinstance(domain, Domain):
            raise TypeError(f"domain must be a dlpde Domain, got {type(domain).__name__}")
        for name, fn in (("source", source), ("boundary", boundary)):
            if not callable(fn):
                raise TypeError(f"{name} must be a callable x -> values of shape (n,)")
        self.domain, self.dim = domain, domain.dim
        self.source, self.boundary, self._exact = source, boundary, exact
        self.case = case
        self._params = {"dim": self.dim, **(params or {})}

    def params(self) -> dict:
        return dict(self._params)

    def conditions(self) -> list[Condition]:
        return [Condition("boundary", self.domain.sample_boundary, self.boundary)]

    needs_gradient = False  # the residual uses Δu alone (a stochastic Laplacian then skips ∇u's reverse pass)

    def residual(self, x: Tensor, d: FieldDerivatives) -> Tensor:
        return -d.second - self.source(x)

    @property
    def has_energy(self) -> bool:
        return True

    def energy_density(self, x: Tensor, u: Tensor, grad: Tensor) -> Tensor:
        """½|∇u|² − f u, whose integral over Ω the solution minimises."""
        return 0.5 * (grad * grad).sum(dim=1) - self.source(x) * u

    @property
    def has_exact(self) -> bool:
        return self._exact is not None

    def exact(self, x: Tensor) -> Tensor:
        if self._exact is None:
            raise ValueError(f"{self.case} has no closed-form solution")
        return self._exact(x)


# ---------------------------------------------------------------------------------------------------------
# Named cases. Each factory takes the dimension (and its own parameters) and returns a Poisson problem.


def poisson_2d() -> Poisson:
    """−Δu = 2π² sin(πx) sin(πy) on (0,1)², u = 0; u = sin(πx) sin(πy)."""
    def exact(x):
        return torch.sin(math.pi * x[:, 0]) * torch.sin(math.pi * x[:, 1])

    return Poisson(Box.unit(2), lambda x: 2 * math.pi**2 * exact(x), exact, exact=exact, case="poisson-2d")


def poisson_sin(dim: int = 5) -> Poisson:
    """−Δu = π² Σ sin(πx_i) on (0,1)^d, u = exact on the boundary; u = Σ_i sin(πx_i)."""
    def exact(x):
        return torch.sin(math.pi * x).sum(dim=1)

    return Poisson(Box.unit(dim), lambda x: math.pi**2 * exact(x), exact, exact=exact, case="poisson-sin-Nd")


def poisson_harmonic(dim: int = 10) -> Poisson:
    """−Δu = 0 on (0,1)^d (d even), u = Σ_k x_{2k-1} x_{2k} (E & Yu 2018, §3.1, d = 10)."""
    if dim % 2:
        raise ValueError(f"poisson-10d pairs coordinates, so dim must be even, got {dim}")

    def exact(x):
        return (x[:, 0::2] * x[:, 1::2]).sum(dim=1)

    return Poisson(Box.unit(dim), lambda x: torch.zeros_like(x[:, 0]), exact, exact=exact, case="poisson-10d")


def poisson_quadratic(dim: int = 100) -> Poisson:
    """−Δu = −2d on (0,1)^d, u = Σ_i x_i² (the 100-d case)."""
    def exact(x):
        return (x * x).sum(dim=1)

    return Poisson(Box.unit(dim), lambda x: torch.full_like(x[:, 0], -2.0 * dim), exact, exact=exact,
                   case="poisson-100d")


def poisson_ball(dim: int = 10) -> Poisson:
    """−Δu = 1 on the unit ball of R^d, u = 0 on the sphere; u = (1 − |x|²)/(2d)."""
    def exact(x):
        return (1 - (x * x).sum(dim=1)) / (2 * dim)

    return Poisson(Ball.unit(dim), lambda x: torch.ones_like(x[:, 0]), zero_boundary, exact=exact,
                   case="poisson-ball-Nd")
