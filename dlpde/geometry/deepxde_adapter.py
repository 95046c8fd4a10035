"""Use a DeepXDE 2-D/3-D geometry (Polygon, Disk, CSG, ...) as a dlpde domain.

DeepXDE is imported only when this adapter is used, with ``DDE_BACKEND=pytorch`` set first, and torch's default
device and dtype restored afterwards (DeepXDE's import may change them). Sampling goes through DeepXDE's numpy
samplers, so it is for set-up and validation, not for a hot loop: sample a large pool once.
"""
from __future__ import annotations

import os

import numpy as np
import torch

from dlpde.geometry.base import Domain


def import_deepxde():
    """Import deepxde with the PyTorch backend, without letting it change torch's global defaults."""
    os.environ.setdefault("DDE_BACKEND", "pytorch")
    dtype = torch.get_default_dtype()
    device = torch.empty(0).device
    import logging
    import contextlib
    import io

    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
        import deepxde  # noqa: F401  (prints its backend on import)
    torch.set_default_dtype(dtype)
    torch.set_default_device(device)
    logging.getLogger(__name__).debug("deepxde imported with backend %s", os.environ["DDE_BACKEND"])
    return deepxde


class DeepXDEDomain(Domain):
    """Wrap ``geom`` (a ``deepxde.geometry.Geometry``). Volume and boundary measure are Monte Carlo estimates
    from the bounding box unless given."""

    def __init__(self, geom, *, volume: float | None = None, boundary_measure: float | None = None,
                 estimate_samples: int = 200_000, seed: int = 0):
        if not all(hasattr(geom, a) for a in ("random_points", "random_boundary_points", "inside", "bbox")):
            raise TypeError(f"expected a deepxde geometry, got {type(geom).__name__}")
        self.geom, self.dim = geom, int(geom.dim)
        lo, hi = (np.asarray(b, dtype=np.float64) for b in geom.bbox)
        self._lo, self._hi = torch.as_tensor(lo), torch.as_tensor(hi)
        if volume is None:
            rng = np.random.default_rng(seed)
            pts = lo + (hi - lo) * rng.random((estimate_samples, self.dim))
            volume = float(np.prod(hi - lo) * np.mean(geom.inside(pts)))
        self._volume = float(volume)
        self._boundary_measure = None if boundary_measure is None else float(boundary_measure)

    def _from_numpy(self, a, device):
        return torch.as_tensor(np.asarray(a, dtype=np.float64)).to(device)

    @staticmethod
    def _seed(generator) -> int:
        gen_device = generator.device if generator is not None else "cpu"
        return int(torch.randint(0, 2**31 - 1, (1,), generator=generator, device=gen_device))

    def _seeded(self, generator, draw):
        """``draw()`` with numpy's global generator (through which DeepXDE samples) seeded from ``generator``,
        and the caller's numpy random state given back afterwards (no global side effect)."""
        kept = np.random.get_state()
        np.random.seed(self._seed(generator))
        try:
            return draw()
        finally:
            np.random.set_state(kept)

    def _interior(self, n, *, generator, method, device):
        if method == "sobol":
            return self._from_numpy(self._sobol_interior(n, generator), device)
        return self._from_numpy(self._seeded(generator, lambda: self.geom.random_points(n, random="pseudo")), device)

    def _sobol_interior(self, n: int, generator) -> np.ndarray:
        """Scrambled Sobol points of the bounding box (seeded from ``generator``), those inside the geometry kept
        in sequence order. Not DeepXDE's own Sobol points: they are the same on every call (so resampling drew
        nothing new), repeat inside CSG shapes, and for n = 1 on a CSG difference its loop never ended."""
        engine = torch.quasirandom.SobolEngine(self.dim, scramble=True, seed=self._seed(generator))
        lo, hi = self._lo.numpy(), self._hi.numpy()
        parts, have = [], 0
        for _ in range(1000):
            pts = lo + (hi - lo) * engine.draw(max(2 * (n - have), 64), dtype=torch.float64).numpy()
            inside = pts[self.geom.inside(pts)]
            parts.append(inside)
            have += len(inside)
            if have >= n:
                return np.concatenate(parts)[:n]
        raise ValueError(f"{type(self.geom).__name__}: fewer than {n} of the bounding box's Sobol points fall inside "
                         "(the geometry is a tiny part of its box); use sampling='pseudo'")

    def _boundary(self, n, *, generator, method, device):
        random = "Sobol" if method == "sobol" else "pseudo"
        return self._from_numpy(self._seeded(generator, lambda: self.geom.random_boundary_points(n, random=random)),
                                device)

    def contains(self, x):
        x = self._check_points(x)
        pts = x.detach().cpu().double().numpy()
        return torch.as_tensor(self.geom.inside(pts) | self.geom.on_boundary(pts), device=x.device)

    def boundary_normal(self, x):
        x = self._check_points(x)
        return self._from_numpy(self.geom.boundary_normal(x.detach().cpu().double().numpy()), x.device).to(x.dtype)

    @property
    def volume(self):
        return self._volume

    @property
    def boundary_measure(self):
        if self._boundary_measure is None:
            raise ValueError("this DeepXDE geometry has no known boundary measure; pass boundary_measure=...")
        return self._boundary_measure

    @property
    def bounds(self):
        return self._lo.clone(), self._hi.clone()

    def describe(self):
        return {"type": "DeepXDEDomain", "dim": self.dim, "geometry": type(self.geom).__name__}
