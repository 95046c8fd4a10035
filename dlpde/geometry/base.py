"""The domain interface: where points live and how they are sampled.

Every domain samples on the device and dtype it is asked for, from an explicit ``torch.Generator``
(never from torch's global random state), pseudo-randomly or by scrambled Sobol.
"""
from __future__ import annotations

from abc import ABC, abstractmethod

import torch

from dlpde.geometry.sampling import check_count, uniform_cube

Tensor = torch.Tensor


class Domain(ABC):
    """A bounded region of R^dim with interior and boundary sampling.

    Subclasses implement ``_interior``/``_boundary`` (points in float64 on the CPU or the target device),
    ``contains``, ``boundary_normal``, ``volume`` and ``boundary_measure``.
    """

    dim: int

    # -- sampling ----------------------------------------------------------------------------------------
    def sample_interior(self, n: int, *, generator: torch.Generator | None = None, method: str = "pseudo",
                        device: torch.device | str | None = None, dtype: torch.dtype = torch.float32) -> Tensor:
        """``n`` points uniformly distributed in the interior, shape (n, dim)."""
        check_count(n, "n")
        x = self._interior(n, generator=generator, method=method, device=torch.device(device or "cpu"))
        return x.to(dtype=dtype)

    def sample_boundary(self, n: int, *, generator: torch.Generator | None = None, method: str = "pseudo",
                        device: torch.device | str | None = None, dtype: torch.dtype = torch.float32) -> Tensor:
        """``n`` points uniformly distributed on the boundary (by surface measure), shape (n, dim)."""
        check_count(n, "n")
        x = self._boundary(n, generator=generator, method=method, device=torch.device(device or "cpu"))
        return x.to(dtype=dtype)

    @abstractmethod
    def _interior(self, n: int, *, generator, method: str, device: torch.device) -> Tensor: ...

    @abstractmethod
    def _boundary(self, n: int, *, generator, method: str, device: torch.device) -> Tensor: ...

    # -- geometry ----------------------------------------------------------------------------------------
    @abstractmethod
    def contains(self, x: Tensor) -> Tensor:
        """Boolean mask (n,): the point lies in the closed domain."""

    @abstractmethod
    def boundary_normal(self, x: Tensor) -> Tensor:
        """Outward unit normals (n, dim) at boundary points ``x``."""

    @property
    @abstractmethod
    def volume(self) -> float:
        """Lebesgue measure of the domain."""

    @property
    @abstractmethod
    def boundary_measure(self) -> float:
        """(dim-1)-dimensional measure of the boundary."""

    @property
    def boundary_to_volume(self) -> float:
        """|∂Ω|/|Ω|, finite where both measures underflow (the unit ball of R^1000 has volume ~1e-1110)."""
        return self.boundary_measure / self.volume

    @property
    @abstractmethod
    def bounds(self) -> tuple[Tensor, Tensor]:
        """Axis-aligned bounding box (lo, hi), each of shape (dim,), float64."""

    def describe(self) -> dict:
        """JSON-able description, stored in result files."""
        return {"type": type(self).__name__, "dim": self.dim}

    def _check_points(self, x: Tensor) -> Tensor:
        if not isinstance(x, torch.Tensor):
            x = torch.as_tensor(x, dtype=torch.float64)
        if x.ndim != 2 or x.shape[1] != self.dim:
            raise ValueError(f"points must have shape (n, {self.dim}) for this {self.dim}-d domain, got "
                             f"{tuple(x.shape)}")
        return x


class RejectionDomain(Domain):
    """Helper base: interior samples by rejection from the bounding box (for domains with a cheap ``contains``)."""

    def _interior(self, n, *, generator, method, device):
        lo, hi = (b.to(device) for b in self.bounds)
        out, have = [], 0
        box_volume = float(torch.prod(hi - lo))
        accept = max(self.volume / box_volume, 1e-3)
        while have < n:
            m = int((n - have) / accept * 1.2) + 16
            x = lo + (hi - lo) * uniform_cube(m, self.dim, generator=generator, method="pseudo", device=device)
            x = x[self.contains(x)]
            out.append(x)
            have += x.shape[0]
        return torch.cat(out)[:n]
