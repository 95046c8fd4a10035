"""Forward processes dX = μ(t, X) dt + σ(t, X) dW and their sample paths, for the Deep BSDE method.

Paths are stored time-major: ``x`` has shape (N + 1, batch, d) (x[0] = x₀) and the Brownian increments ``dw`` shape
(N, batch, noise_dim), so the per-step sub-networks of Deep BSDE read ``x[1:N]`` as one stacked tensor. Sampling
runs on the training device from an explicit ``torch.Generator`` (no global random state, no numpy round trip).

Three processes:
  * ``SDE``: any drift and diffusion, simulated by Euler–Maruyama (Kloeden & Platen 1992, §9.1);
  * ``BrownianSDE``: X = x₀ + s·W (μ = 0, σ = s·I), exact, one cumulative sum (equal to Euler–Maruyama);
  * ``GeometricBrownianSDE``: dX_i = μ X_i dt + σ_i X_i (L dW)_i (L a Cholesky factor of the correlation), exact
    (X_{n+1} = X_n exp((μ − σ²/2)Δt + σ L ΔW)) or Euler–Maruyama, as the case says.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable, Sequence

import torch

Tensor = torch.Tensor

__all__ = ["SDE", "BrownianSDE", "GeometricBrownianSDE", "Paths", "time_grid", "brownian_increments",
           "euler_maruyama", "sample_paths"]


def time_grid(T: float, steps: int, *, device=None, dtype: torch.dtype = torch.float32) -> Tensor:
    """The uniform grid 0 = t_0 < … < t_N = T, shape (N + 1,)."""
    if isinstance(steps, bool) or not isinstance(steps, int) or steps < 1:
        raise ValueError(f"steps (number of time steps) must be a positive integer, got {steps!r}")
    if not (isinstance(T, (int, float)) and math.isfinite(T) and T > 0):
        raise ValueError(f"T must be a positive finite time, got {T!r}")
    return torch.linspace(0.0, float(T), steps + 1, device=device, dtype=torch.float64).to(dtype)


def brownian_increments(batch: int, times: Tensor, dim: int, *, generator: torch.Generator | None = None,
                        dtype: torch.dtype | None = None, out: Tensor | None = None) -> Tensor:
    """ΔW_n ~ N(0, (t_{n+1} − t_n) I), shape (N, batch, dim), on ``times``' device; drawn into ``out`` (the same
    numbers) when it is a tensor of that shape, dtype and device, e.g. the previous step's increments."""
    dtype = dtype or times.dtype
    dt = (times[1:] - times[:-1]).to(dtype)
    shape = (len(dt), batch, dim)
    out = reusable(out, shape, dtype, times.device)
    if out is None:
        z = torch.randn(shape, generator=generator, device=times.device, dtype=dtype)
    else:
        z = torch.randn(shape, generator=generator, out=out)
    return z.mul_(dt.sqrt()[:, None, None])  # in place: at large d the increments are the largest tensor


def reusable(buffer: Tensor | None, shape: tuple[int, ...], dtype: torch.dtype, device) -> Tensor | None:
    """``buffer`` if new values of this shape, dtype and device can be written into it, else None.

    Why reuse: glibc returns every freed block above 32 MB to the system, so each fresh (N, batch, d) tensor faults
    its pages in again; Deep BSDE at d = 10⁵ made about 22 GB of fresh pages per step before it reused its batch
    tensors (benchmarks/SCALING.md)."""
    if (buffer is None or buffer.requires_grad or tuple(buffer.shape) != tuple(shape) or buffer.dtype != dtype
            or buffer.device != torch.device(device) or not buffer.is_contiguous()):
        return None
    return buffer


def euler_maruyama(x0: Tensor, drift: Callable[[Tensor, Tensor], Tensor],
                   diffusion: Callable[[Tensor, Tensor, Tensor], Tensor], times: Tensor, dw: Tensor) -> Tensor:
    """X_{n+1} = X_n + μ(t_n, X_n) Δt_n + σ(t_n, X_n) ΔW_n from X_0 = x₀ (shape (d,)); returns (N + 1, batch, d).
    ``drift(t, x)`` and ``diffusion(t, x, dw)`` take t of shape (batch,) and x of shape (batch, d)."""
    n_steps, batch, _ = dw.shape
    x = x0.to(dw).expand(batch, -1)
    out = [x]
    for n in range(n_steps):
        t = times[n].to(dw).expand(batch)
        dt = (times[n + 1] - times[n]).to(dw)
        x = x + drift(t, x) * dt + diffusion(t, x, dw[n])
        out.append(x)
    return torch.stack(out)


class SDE:
    """dX = μ(t, X) dt + σ(t, X) dW with d-dimensional noise, simulated by Euler–Maruyama.

    ``drift(t, x)`` → μ (n, d); ``diffusion(t, x, v)`` → σ(t, x) v (n, d); ``diffusion_transpose(t, x, v)`` → σᵀ v,
    which gives Z = σᵀ∇u. ``drift`` and ``diffusion`` may be passed as callables; subclasses override the methods.
    """

    name = "euler-maruyama"

    def __init__(self, drift: Callable | None = None, diffusion: Callable | None = None,
                 diffusion_transpose: Callable | None = None):
        self._drift, self._diffusion, self._diffusion_t = drift, diffusion, diffusion_transpose

    def drift(self, t: Tensor, x: Tensor) -> Tensor:
        if self._drift is None:
            return torch.zeros_like(x)
        return self._drift(t, x)

    def diffusion(self, t: Tensor, x: Tensor, v: Tensor) -> Tensor:
        if self._diffusion is None:
            raise NotImplementedError("this SDE has no diffusion")
        return self._diffusion(t, x, v)

    def diffusion_transpose(self, t: Tensor, x: Tensor, v: Tensor) -> Tensor:
        if self._diffusion_t is None:
            raise NotImplementedError("this SDE gives no σᵀ v")
        return self._diffusion_t(t, x, v)

    def diffusion_matrix(self, t: Tensor, x: Tensor) -> Tensor:
        """σ(t, x) as a matrix per point, shape (n, d, d) (columns σ e_j), from ``diffusion``."""
        n, d = x.shape
        eye = torch.eye(d, dtype=x.dtype, device=x.device)
        cols = [self.diffusion(t, x, eye[j].expand(n, d)) for j in range(d)]
        return torch.stack(cols, dim=2)

    def paths(self, x0: Tensor, times: Tensor, dw: Tensor, *, out: Tensor | None = None) -> Tensor:
        """Sample paths on ``times`` driven by ``dw`` (N, batch, d); returns (N + 1, batch, d). ``out``: a tensor the
        paths may be written into instead of a new one (``BrownianSDE`` does, where ``reusable`` allows and no
        gradient is needed; here a copy would only add a pass, so it is ignored): use the returned tensor."""
        return euler_maruyama(x0, self.drift, self.diffusion, times, dw)

    def step(self, x: Tensor, times: Tensor, dw: Tensor, *, out: Tensor | None = None) -> Tensor:
        """X at ``times[1]`` from x (batch, d) at ``times[0]``, driven by dw (batch, d): one step of ``paths``
        (for simulations that choose each increment from the current state, as Deep BSDE's control paths do);
        written into ``out`` when given (no gradient through it)."""
        x1 = self.paths(x, times[:2], dw[None])[1]
        return x1 if out is None else out.copy_(x1)

    def euler_paths(self, x0: Tensor, times: Tensor, dw: Tensor) -> Tensor:
        """Euler–Maruyama paths whatever ``paths`` does (the slow path that exact samplers are tested against)."""
        return euler_maruyama(x0, self.drift, self.diffusion, times, dw)

    def marginal(self, x0: Tensor, t: Tensor, z: Tensor) -> Tensor:
        """A sample of X_t for each t (n,) from standard normals z (n, d); only for processes with a known law."""
        raise NotImplementedError(f"{type(self).__name__} has no closed-form law of X_t")


class BrownianSDE(SDE):
    """X_t = x₀ + s W_t: μ = 0, σ = s·I. ``paths`` is the exact cumulative sum (equal to Euler–Maruyama)."""

    name = "brownian"

    def __init__(self, scale: float):
        if not (isinstance(scale, (int, float)) and math.isfinite(scale) and scale > 0):
            raise ValueError(f"the diffusion scale must be a positive number, got {scale!r}")
        super().__init__()
        self.scale = float(scale)

    def diffusion(self, t, x, v):
        return self.scale * v

    def diffusion_transpose(self, t, x, v):
        return self.scale * v

    def step(self, x, times, dw, *, out=None):  # paths' one step without its cumulative sum and concatenation
        return torch.add(x.to(dw), dw, alpha=self.scale, out=out)

    def paths(self, x0, times, dw, *, out=None):
        x0 = x0.to(dw)
        if torch.is_grad_enabled() and (dw.requires_grad or x0.requires_grad):
            x = x0 + self.scale * torch.cumsum(dw, dim=0)
            return torch.cat([x0.expand(1, dw.shape[1], -1), x], dim=0)
        # the same numbers written into one (N + 1, batch, d) tensor: at large d the three temporaries of the lines
        # above (cumulative sum, scaled, shifted) each cost a pass and fresh pages (Deep BSDE at d = 10⁵: 1 GB each)
        shape = (dw.shape[0] + 1, *dw.shape[1:])
        out = reusable(out, shape, dw.dtype, dw.device)
        out = dw.new_empty(shape) if out is None else out
        out[0] = x0
        torch.cumsum(dw, dim=0, out=out[1:])
        out[1:].mul_(self.scale).add_(x0)
        return out

    def marginal(self, x0, t, z):
        return x0.to(z) + self.scale * t.to(z).clamp_min(0).sqrt()[:, None] * z


class GeometricBrownianSDE(SDE):
    """dX_i = μ X_i dt + σ_i X_i (L dW)_i, L the Cholesky factor of the correlation (None: independent assets).

    ``scheme="exact"`` samples X_{n+1} = X_n exp((μ − σ_i²/2)Δt + σ_i (L ΔW)_i); ``"euler"`` uses Euler–Maruyama,
    X_{n+1} = X_n (1 + μΔt + σ_i (L ΔW)_i) (the DeepBSDE reference code's choice for the default-risk case).
    """

    name = "geometric-brownian"

    def __init__(self, mu: float, sigma: float | Sequence[float] | Tensor, *, cholesky: Tensor | None = None,
                 scheme: str = "exact"):
        if scheme not in ("exact", "euler"):
            raise ValueError(f"scheme must be 'exact' or 'euler', got {scheme!r}")
        super().__init__()
        self.mu, self.scheme = float(mu), scheme
        self.sigma = torch.as_tensor(sigma, dtype=torch.float64)
        if not bool((self.sigma > 0).all()):
            raise ValueError(f"volatilities must be positive, got {sigma!r}")
        self.cholesky = None if cholesky is None else torch.as_tensor(cholesky, dtype=torch.float64)

    def _mix(self, v: Tensor) -> Tensor:
        """(L v) per row, then times σ."""
        if self.cholesky is not None:
            v = v @ self.cholesky.to(v).T
        return self.sigma.to(v) * v

    def drift(self, t, x):
        return self.mu * x

    def diffusion(self, t, x, v):
        return x * self._mix(v)

    def diffusion_transpose(self, t, x, v):
        w = self.sigma.to(v) * x * v
        return w if self.cholesky is None else w @ self.cholesky.to(v)

    def paths(self, x0, times, dw, *, out=None):
        if self.scheme == "euler":
            return self.euler_paths(x0, times, dw)
        dt = (times[1:] - times[:-1]).to(dw)[:, None, None]
        sig = self.sigma.to(dw)
        log_inc = (self.mu - 0.5 * sig * sig) * dt + self._mix(dw)
        x = x0.to(dw) * torch.exp(torch.cumsum(log_inc, dim=0))
        return torch.cat([x0.to(dw).expand(1, dw.shape[1], -1), x], dim=0)

    def marginal(self, x0, t, z):
        t = t.to(z).clamp_min(0)[:, None]
        sig = self.sigma.to(z)
        return x0.to(z) * torch.exp((self.mu - 0.5 * sig * sig) * t + t.sqrt() * self._mix(z))


@dataclass
class Paths:
    """``times`` (N + 1,), ``x`` (N + 1, batch, d) with x[0] = x₀, ``dw`` (N, batch, d)."""

    times: Tensor
    x: Tensor
    dw: Tensor


def sample_paths(problem, batch: int, steps: int, *, generator: torch.Generator | None = None, device=None,
                 dtype: torch.dtype = torch.float32) -> Paths:
    """``batch`` paths of ``problem.sde`` from ``problem.x0`` on the uniform grid of [0, problem.T] with ``steps``
    steps, drawn from ``generator`` on ``device``."""
    if isinstance(batch, bool) or not isinstance(batch, int) or batch < 1:
        raise ValueError(f"batch must be a positive integer, got {batch!r}")
    times = time_grid(problem.T, steps, device=device, dtype=dtype)
    dw = brownian_increments(batch, times, problem.noise_dim, generator=generator, dtype=dtype)
    x = problem.sde.paths(problem.x0.to(device=times.device, dtype=dtype), times, dw)
    return Paths(times, x, dw)
