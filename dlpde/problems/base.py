"""What every problem offers the solvers.

A problem is data plus pure functions. Solvers ask it for
  * ``interior_points`` — where to enforce the PDE (the domain, or for whole-space problems a region the
    problem chooses and documents);
  * ``conditions()`` — boundary / initial / terminal data as ``Condition`` objects (points + target values);
  * ``residual(x, derivs)`` — the strong-form residual from u, ∇u and the (partial) Laplacian the derivative
    engine computed over the first ``laplacian_dims`` coordinates;
and, where they exist, ``energy_density`` (Deep Ritz), a BSDE form (Deep BSDE) and ``exact``.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import torch

from dlpde.derivatives import FieldDerivatives
from dlpde.geometry import Domain

Tensor = torch.Tensor
Sampler = Callable[..., Tensor]


@dataclass(frozen=True)
class Condition:
    """u = target on the points ``sample(n, generator=, device=, dtype=)`` returns (Dirichlet-type data)."""

    name: str
    sample: Sampler
    target: Callable[[Tensor], Tensor]
    weight: float = 1.0


class Problem:
    """Base class. Subclasses set ``case``, ``dim`` (space dimension), ``domain`` and implement the pure methods."""

    case: str = "custom"
    dim: int
    domain: Domain
    time_dependent: bool = False

    # -- description ----------------------------------------------------------------------------------
    def params(self) -> dict:
        """JSON-able parameters that, with ``case``, rebuild the problem (``dlpde.problems.make``)."""
        return {"dim": self.dim}

    @property
    def input_dim(self) -> int:
        """Dimension of a network input: dim, or dim + 1 for space-time (x, t)."""
        return self.dim + (1 if self.time_dependent else 0)

    @property
    def laplacian_dims(self) -> int:
        """The Laplacian runs over the first ``laplacian_dims`` input coordinates (the space part)."""
        return self.dim

    # -- strong form ----------------------------------------------------------------------------------
    def interior_points(self, n: int, *, generator=None, device=None, dtype=torch.float32, method="pseudo") -> Tensor:
        return self.domain.sample_interior(n, generator=generator, device=device, dtype=dtype, method=method)

    def conditions(self) -> list[Condition]:
        raise NotImplementedError

    def residual(self, x: Tensor, d: FieldDerivatives) -> Tensor:
        raise NotImplementedError

    # -- references -----------------------------------------------------------------------------------
    @property
    def has_exact(self) -> bool:
        return False

    def exact(self, x: Tensor) -> Tensor:
        raise ValueError(f"{self.case} has no closed-form solution")

    @property
    def has_reference(self) -> bool:
        """A reference solution can be evaluated at points: the exact one, or a numerical one (finite elements)."""
        return self.has_exact

    def reference(self, x: Tensor) -> Tensor:
        """The reference solution at points x (n, input_dim): ``exact`` where it exists, else a numerical reference
        (subclasses, e.g. finite elements on a mesh); ValueError when the problem has none."""
        if not self.has_exact:
            raise ValueError(f"{self.case} has no reference solution that can be evaluated at points")
        return self.exact(x)

    def prepare_reference(self) -> None:
        """Compute a numerical reference now (called before a training clock starts); closed forms need nothing."""

    @property
    def has_energy(self) -> bool:
        return False

    def evaluation_points(self, n: int, *, generator=None, dtype=torch.float64) -> Tensor:
        """Fresh uniform points on which errors against the reference are measured."""
        return self.interior_points(n, generator=generator, dtype=dtype)

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.params().items())
        return f"{type(self).__name__}({args})"
