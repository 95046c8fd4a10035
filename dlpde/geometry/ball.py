"""Balls {|x - c| <= r} in any dimension."""
from __future__ import annotations

import math
from typing import Sequence

import torch

from dlpde.geometry.base import Domain
from dlpde.geometry.sampling import normal, uniform_cube


class Ball(Domain):
    """The closed ball of radius ``radius`` around ``center``.

    Interior points: a uniform direction (normalised Gaussian) times radius·U^{1/d}; boundary: uniform directions.
    Sobol sampling maps the cube to the ball through the inverse normal CDF (directions) and U^{1/d} (radius).
    """

    def __init__(self, center: Sequence[float], radius: float = 1.0):
        if isinstance(center, (int, float, bool)) or (isinstance(center, torch.Tensor) and center.ndim == 0):
            raise ValueError(f"center must be a sequence of coordinates such as [0.0, 0.0], got {center!r}; "
                             "for the unit ball of R^d use Ball.unit(d)")
        c = torch.as_tensor(center, dtype=torch.float64).reshape(-1)
        if c.numel() == 0 or not torch.all(torch.isfinite(c)):
            raise ValueError("center must be a non-empty sequence of finite numbers")
        if not (isinstance(radius, (int, float)) and math.isfinite(radius) and radius > 0):
            raise ValueError(f"radius must be a positive finite number, got {radius!r}")
        self.center, self.radius, self.dim = c, float(radius), c.numel()
        self._center_size = float(c.abs().max())  # the scale of a point's rounding near the sphere (contains)

    @classmethod
    def unit(cls, dim: int) -> "Ball":
        if isinstance(dim, bool) or not isinstance(dim, int) or dim < 1:
            raise ValueError(f"dim must be a positive integer, got {dim!r}")
        return cls([0.0] * dim, 1.0)

    @property
    def volume(self) -> float:
        d = self.dim
        return math.exp(d / 2 * math.log(math.pi) - math.lgamma(d / 2 + 1) + d * math.log(self.radius))

    @property
    def boundary_measure(self) -> float:
        return self.dim * self.volume / self.radius

    @property
    def boundary_to_volume(self) -> float:
        return self.dim / self.radius

    @property
    def bounds(self):
        return self.center - self.radius, self.center + self.radius

    def _directions(self, n, generator, method, device):
        if method == "sobol":
            u = uniform_cube(n, self.dim + 1, generator=generator, method="sobol", device=device)
            g = torch.special.ndtri(u[:, : self.dim].clamp(1e-12, 1 - 1e-12))
            radial = u[:, self.dim]
        else:
            g = normal(n, self.dim, generator=generator, device=device)
            radial = uniform_cube(n, 1, generator=generator, device=device)[:, 0]
        return g / g.norm(dim=1, keepdim=True), radial

    def _center_on(self, device) -> torch.Tensor:
        """The center on ``device``, copied once per device (no host-to-device copy per sampling call)."""
        cache = self.__dict__.setdefault("_device_cache", {})
        key = str(torch.device(device))
        if key not in cache:
            cache[key] = self.center.to(device)
        return cache[key]

    def _interior(self, n, *, generator, method, device):
        direction, u = self._directions(n, generator, method, device)
        r = self.radius * u.pow(1.0 / self.dim)
        return self._center_on(device) + r[:, None] * direction

    def _boundary(self, n, *, generator, method, device):
        direction, _ = self._directions(n, generator, method, device)
        return self._center_on(device) + self.radius * direction

    def contains(self, x):
        x = self._check_points(x)
        # closed, up to the rounding of x's precision (float32 boundary samples lie 1e-7 off the sphere)
        eps = torch.finfo(x.dtype).eps if x.is_floating_point() else 0.0
        tol = max(1e-12 * self.radius, 8 * eps * (self.radius + self._center_size))
        return (x - self.center.to(x)).norm(dim=1) <= self.radius + tol

    def boundary_normal(self, x):
        x = self._check_points(x)
        v = x - self.center.to(x)
        return v / v.norm(dim=1, keepdim=True)

    def describe(self):
        return {"type": "Ball", "dim": self.dim, "center": self.center.tolist(), "radius": self.radius}

    def __repr__(self):
        return f"Ball(dim={self.dim}, radius={self.radius})"
