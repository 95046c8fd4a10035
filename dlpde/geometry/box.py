"""Axis-aligned boxes [lo, hi] in any dimension (an interval is the 1-D box)."""
from __future__ import annotations

from typing import Sequence

import torch

from dlpde.geometry.base import Domain
from dlpde.geometry.sampling import uniform_cube


class Box(Domain):
    """The box ∏ [lo_i, hi_i]. ``Box.unit(d)`` is (0, 1)^d.

    Boundary points are spread over the 2·d faces in proportion to each face's (d-1)-measure,
    so a 10×1 rectangle puts 10/11 of its boundary points on the two long faces.
    """

    def __init__(self, lo: Sequence[float], hi: Sequence[float]):
        lo_t = torch.as_tensor(lo, dtype=torch.float64).reshape(-1)
        hi_t = torch.as_tensor(hi, dtype=torch.float64).reshape(-1)
        if lo_t.shape != hi_t.shape or lo_t.numel() == 0:
            raise ValueError(f"lo and hi must be non-empty and of equal length, got {lo_t.numel()} and {hi_t.numel()}")
        if not torch.all(torch.isfinite(lo_t)) or not torch.all(torch.isfinite(hi_t)):
            raise ValueError("box corners must be finite numbers")
        if not torch.all(hi_t > lo_t):
            raise ValueError(f"every hi must exceed its lo, got lo={lo_t.tolist()} hi={hi_t.tolist()}")
        self.lo, self.hi = lo_t, hi_t
        self.dim = lo_t.numel()

    @classmethod
    def unit(cls, dim: int) -> "Box":
        if isinstance(dim, bool) or not isinstance(dim, int) or dim < 1:
            raise ValueError(f"dim must be a positive integer, got {dim!r}")
        return cls([0.0] * dim, [1.0] * dim)

    @property
    def widths(self) -> torch.Tensor:
        return self.hi - self.lo

    @property
    def volume(self) -> float:
        return float(torch.prod(self.widths))

    def face_measures(self) -> torch.Tensor:
        """Measure of one face orthogonal to each axis, shape (dim,) (a 1-D box's faces are points, measure 1)."""
        w = self.widths
        return torch.stack([torch.prod(torch.cat([w[:i], w[i + 1:]])) for i in range(self.dim)])

    @property
    def boundary_measure(self) -> float:
        return float(2 * self.face_measures().sum())

    @property
    def bounds(self):
        return self.lo.clone(), self.hi.clone()

    def _on(self, device) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        """lo, hi, widths and the face weights on ``device``, made once per device (a box never changes), so that
        sampling on a GPU makes no host-to-device copy per call."""
        cache = self.__dict__.setdefault("_device_cache", {})
        key = str(torch.device(device))
        if key not in cache:
            # faces: (axis i, low side) then (axis i, high side)
            cache[key] = tuple(t.to(device) for t in (self.lo, self.hi, self.widths, self.face_measures().repeat(2)))
        return cache[key]

    def _interior(self, n, *, generator, method, device):
        u = uniform_cube(n, self.dim, generator=generator, method=method, device=device)
        lo, _, widths, _ = self._on(device)
        return lo + widths * u

    def _boundary(self, n, *, generator, method, device):
        x = self._interior(n, generator=generator, method=method, device=device)
        gen_device = generator.device if generator is not None else torch.device(device)
        weights = self._on(gen_device)[3]
        face = torch.multinomial(weights, n, replacement=True, generator=generator).to(device)
        axis = face % self.dim
        side = face // self.dim
        lo, hi, _, _ = self._on(device)
        value = torch.where(side == 0, lo[axis], hi[axis])
        x[torch.arange(n, device=device), axis] = value
        return x

    def contains(self, x):
        x = self._check_points(x)
        lo, hi = self.lo.to(x), self.hi.to(x)
        return torch.all((x >= lo) & (x <= hi), dim=1)

    def boundary_normal(self, x):
        x = self._check_points(x)
        lo, hi = self.lo.to(x), self.hi.to(x)
        dist = torch.cat([x - lo, hi - x], dim=1).abs()  # (n, 2d)
        face = dist.argmin(dim=1)
        normal = torch.zeros_like(x)
        sign = torch.where(face < self.dim, -1.0, 1.0).to(x)
        normal[torch.arange(x.shape[0]), face % self.dim] = sign
        return normal

    def describe(self):
        return {"type": "Box", "dim": self.dim, "lo": self.lo.tolist(), "hi": self.hi.tolist()}

    def __repr__(self):
        if self.dim <= 3:
            return f"Box(lo={self.lo.tolist()}, hi={self.hi.tolist()})"
        return f"Box(dim={self.dim})"


class Interval(Box):
    """The interval [a, b] as a 1-D box."""

    def __init__(self, a: float, b: float):
        super().__init__([a], [b])

    def describe(self):
        return {"type": "Interval", "dim": 1, "a": float(self.lo[0]), "b": float(self.hi[0])}

