"""The product of a spatial domain with a time interval; points are (x, t) with time in the last column."""
from __future__ import annotations

import torch

from dlpde.geometry.base import Domain
from dlpde.geometry.sampling import check_count, uniform_cube


class SpaceTime(Domain):
    """Ω × [t0, t1]. ``sample_boundary`` draws from the lateral boundary ∂Ω × [t0, t1];
    ``sample_slice(n, t)`` draws from Ω × {t} (initial or terminal data)."""

    def __init__(self, space: Domain, t0: float, t1: float):
        if not isinstance(space, Domain):
            raise TypeError(f"space must be a dlpde Domain, got {type(space).__name__}")
        if not (float(t1) > float(t0)):
            raise ValueError(f"the time interval needs t1 > t0, got [{t0}, {t1}]")
        self.space, self.t0, self.t1 = space, float(t0), float(t1)
        self.dim = space.dim + 1

    @property
    def duration(self) -> float:
        return self.t1 - self.t0

    def _times(self, n, generator, device):
        return self.t0 + self.duration * uniform_cube(n, 1, generator=generator, device=device)

    def _interior(self, n, *, generator, method, device):
        if method == "sobol":
            u = uniform_cube(n, self.dim, generator=generator, method="sobol", device=device)
            lo, hi = (b.to(device) for b in self.space.bounds)
            if not hasattr(self.space, "widths"):
                raise ValueError("Sobol space-time sampling needs a box-shaped space; use method='pseudo'")
            x = lo + (hi - lo) * u[:, :-1]
            return torch.cat([x, self.t0 + self.duration * u[:, -1:]], dim=1)
        x = self.space._interior(n, generator=generator, method=method, device=device)
        return torch.cat([x, self._times(n, generator, device)], dim=1)

    def _boundary(self, n, *, generator, method, device):
        x = self.space._boundary(n, generator=generator, method=method, device=device)
        return torch.cat([x, self._times(n, generator, device)], dim=1)

    def sample_slice(self, n: int, t: float, *, generator: torch.Generator | None = None, method: str = "pseudo",
                     device=None, dtype: torch.dtype = torch.float32) -> torch.Tensor:
        """``n`` points of Ω × {t}, shape (n, dim)."""
        check_count(n)
        device = torch.device(device or "cpu")
        x = self.space._interior(n, generator=generator, method=method, device=device)
        return torch.cat([x, torch.full((n, 1), float(t), dtype=x.dtype, device=device)], dim=1).to(dtype)

    def contains(self, x):
        x = self._check_points(x)
        t = x[:, -1]
        return self.space.contains(x[:, :-1]) & (t >= self.t0) & (t <= self.t1)

    def boundary_normal(self, x):
        x = self._check_points(x)
        n_space = self.space.boundary_normal(x[:, :-1])
        return torch.cat([n_space, torch.zeros_like(x[:, -1:])], dim=1)

    @property
    def volume(self):
        return self.space.volume * self.duration

    @property
    def boundary_measure(self):
        return self.space.boundary_measure * self.duration

    @property
    def bounds(self):
        lo, hi = self.space.bounds
        return (torch.cat([lo, torch.tensor([self.t0], dtype=torch.float64)]),
                torch.cat([hi, torch.tensor([self.t1], dtype=torch.float64)]))

    def describe(self):
        return {"type": "SpaceTime", "dim": self.dim, "space": self.space.describe(), "t0": self.t0, "t1": self.t1}
