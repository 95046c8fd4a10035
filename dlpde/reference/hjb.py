r"""Reference solutions of the linear–quadratic HJB equation by the Cole–Hopf transform.

PDE (backward in time, Han, Jentzen & E, "Solving high-dimensional partial differential equations using deep
learning", PNAS 115 (2018) 8505, Sec. "HJB equation"; REFERENCES.md §2, case ``hjb-lq``)::

    u_t + Δu − λ|∇u|² = 0,   (t, x) ∈ [0, T) × R^d,   u(T, x) = g(x) = ln((1 + |x|²)/2).

With w = exp(−λu) the equation becomes the backward heat equation w_t + Δw = 0, w(T) = exp(−λg), whose solution is an
expectation over the Brownian motion √2 W (generator Δ)::

    u(t, x) = −(1/λ) ln E[exp(−λ g(x + √2 W_{T−t}))].

Three ways to evaluate it are given:

- :func:`hjb_lq_value_at_origin`: at x = 0, |√2 W_τ|² = 2τ χ²_d, so u(t, 0) is a one-dimensional integral against the
  χ_d density (adaptive quadrature in log space, ~1e-12 relative). d = 100, t = 0, T = 1, λ = 1 gives 4.5901617,
  the value 4.590162 of REFERENCES.md. (The Deep BSDE generator is f = −λ|z|²/2 with z = √2 ∇u; a generator −λ|z|²
  corresponds to λ = 2 here.)
- :func:`hjb_lq_value_quadrature`: tensor Gauss–Hermite quadrature in d = 1 or 2 (deterministic, ~1e-10 with the
  default number of nodes), for comparing whole fields.
- :func:`hjb_lq_value`: Monte Carlo with antithetic variates at arbitrary points in any dimension, with a standard error.

The quadrature and Monte Carlo functions accept any terminal function ``g`` (vectorised over leading axes:
an array of shape (..., d) maps to shape (...)).
"""
from __future__ import annotations

from collections.abc import Callable

import numpy as np
from scipy import integrate, special, stats

__all__ = [
    "hjb_terminal",
    "hjb_lq_value_at_origin",
    "hjb_lq_value_quadrature",
    "hjb_lq_value",
]

Terminal = Callable[[np.ndarray], np.ndarray]


def hjb_terminal(x: np.ndarray) -> np.ndarray:
    """The terminal condition g(x) = ln((1 + |x|²)/2) for points of shape (..., d); returns shape (...)."""
    x = np.asarray(x, dtype=np.float64)
    return np.log1p(np.sum(x * x, axis=-1)) - np.log(2.0)


def _check_params(T: float, lam: float) -> None:
    if not np.isfinite(T) or T < 0:
        raise ValueError(f"T must be a finite non-negative final time, got T={T!r}.")
    if not np.isfinite(lam) or lam <= 0:
        raise ValueError(f"lam must be a finite positive number (the Cole–Hopf transform needs λ > 0), got lam={lam!r}.")


def _check_points(x: np.ndarray, name: str = "x") -> np.ndarray:
    x = np.asarray(x, dtype=np.float64)
    if x.ndim != 2 or x.shape[1] < 1:
        raise ValueError(f"{name} must be an array of points of shape (n, d), got shape {x.shape}; "
                         f"reshape a single point p with p.reshape(1, -1) or a 1-D grid with x.reshape(-1, 1).")
    if not np.all(np.isfinite(x)):
        raise ValueError(f"{name} contains NaN or infinite coordinates.")
    return x


def _remaining_times(t: float | np.ndarray, n: int, T: float) -> np.ndarray:
    """τ = T − t as an array of shape (n,), checking 0 ≤ t ≤ T."""
    t = np.asarray(t, dtype=np.float64)
    if t.ndim == 0:
        t = np.full(n, float(t))
    elif t.shape != (n,):
        raise ValueError(f"t must be a scalar or have shape (n,) = ({n},) like the points, got shape {t.shape}.")
    if not np.all(np.isfinite(t)) or np.any(t > T) or np.any(t < 0):
        raise ValueError(f"every time t must satisfy 0 <= t <= T = {T}; got values in [{t.min()}, {t.max()}].")
    return T - t


def hjb_lq_value_at_origin(dim: int, t: float = 0.0, T: float = 1.0, lam: float = 1.0) -> float:
    """u(t, 0) of the HJB equation with g(x) = ln((1 + |x|²)/2), by one-dimensional quadrature.

    Writes √2 W_τ = √(2τ) ρ θ with ρ ~ χ_d (the chi distribution) and integrates
    E[exp(−λ g)] = ∫ p_χd(ρ) ((1 + 2τρ²)/2)^(−λ) dρ with ``scipy.integrate.quad`` on the interval where the integrand
    is within e^(−60) of its maximum (found on a fine grid), the maximum being factored out (log space), so the result
    is accurate to about 1e-12 relative even at d = 100 or 1000 where the density is concentrated.

    Parameters
    ----------
    dim: space dimension d ≥ 1.
    t: evaluation time, 0 ≤ t ≤ T.
    T: final time.
    lam: λ > 0.
    """
    if int(dim) != dim or dim < 1:
        raise ValueError(f"dim must be a positive integer, got dim={dim!r}.")
    _check_params(T, lam)
    if not (0.0 <= t <= T):
        raise ValueError(f"t must satisfy 0 <= t <= T = {T}, got t={t!r}.")
    tau = T - t
    if tau == 0.0:
        return float(-np.log(2.0))
    chi = stats.chi(int(dim))

    def log_integrand(rho: np.ndarray) -> np.ndarray:
        return chi.logpdf(rho) - lam * (np.log1p(2.0 * tau * rho * rho) - np.log(2.0))

    grid = np.linspace(0.0, 1.5 * chi.isf(1e-30), 20001)
    grid[0] = 1e-300  # logpdf(0) = -inf for d ≥ 2; a tiny positive radius keeps everything finite
    values = log_integrand(grid)
    peak = float(np.max(values))
    inside = np.nonzero(values > peak - 60.0)[0]
    step = grid[2] - grid[1]
    a = max(grid[inside[0]] - step, 0.0)
    b = grid[inside[-1]] + step
    mode = float(grid[np.argmax(values)])
    points = [mode] if a < mode < b else None
    integral, abserr = integrate.quad(lambda rho: np.exp(log_integrand(rho) - peak), a, b, points=points,
                                      epsabs=0.0, epsrel=1e-13, limit=500)
    if not integral > 0 or abserr > 1e-9 * integral:
        raise ValueError(f"quadrature did not converge (integral={integral}, error estimate={abserr}); "
                         f"check dim={dim}, t={t}, T={T}, lam={lam}.")
    return float(-(peak + np.log(integral)) / lam)


def hjb_lq_value_quadrature(t: float | np.ndarray, x: np.ndarray, T: float = 1.0, lam: float = 1.0, *,
                            n_quad: int = 300, g: Terminal | None = None, drop_below: float = 1e-30
                            ) -> np.ndarray:
    """u(t, x) in d = 1 or 2 by (tensor) Gauss–Hermite quadrature of the Cole–Hopf formula.

    E[F(Z)] for Z ~ N(0, I_d) is approximated by Σ_k w_k F(z_k)/(2π)^(d/2) with the probabilists' Hermite nodes; the sum
    of exp(−λ g) is taken in log space. For the default g the integrand is analytic in a strip of half-width
    1/√(2τ) (poles at |y|² = −1), so the error decays like exp(−c√n_quad); measured at x = 0, τ = 1 against
    :func:`hjb_lq_value_at_origin`: 8e-9 with 200 nodes per axis, 1e-10 with 300 (default), 2e-12 with 400.
    (Tensor) nodes whose weight is below ``drop_below`` times the largest weight are skipped, which cuts the work
    about fivefold in 2-D; this is harmless unless exp(−λg) varies by more than 1/drop_below across the Gaussian
    (set ``drop_below=0`` to keep every node).

    Parameters
    ----------
    t: scalar time or one time per point, shape (n,), 0 ≤ t ≤ T.
    x: points of shape (n, 1) or (n, 2).
    T, lam: final time and λ > 0.
    n_quad: Gauss–Hermite nodes per axis.
    g: terminal function (default :func:`hjb_terminal`), mapping (..., d) to (...).
    drop_below: relative weight under which nodes are skipped (0 keeps all).

    Returns
    -------
    Array of shape (n,).
    """
    _check_params(T, lam)
    x = _check_points(x)
    n, d = x.shape
    if d > 2:
        raise ValueError(f"tensor Gauss–Hermite quadrature is offered for d = 1 or 2 only, got d = {d}; "
                         f"use hjb_lq_value (Monte Carlo) or hjb_lq_value_at_origin in higher dimension.")
    if int(n_quad) != n_quad or n_quad < 2:
        raise ValueError(f"n_quad must be an integer >= 2, got {n_quad!r}.")
    if not 0.0 <= drop_below < 1.0:
        raise ValueError(f"drop_below must lie in [0, 1), got {drop_below!r}.")
    g = hjb_terminal if g is None else g
    tau = _remaining_times(t, n, T)

    z1, w1 = special.roots_hermitenorm(int(n_quad))
    with np.errstate(divide="ignore"):
        logw1 = np.log(w1)  # extreme weights may underflow to 0 for large n_quad: log 0 = -inf drops them
    if d == 1:
        z, logw = z1[:, None], logw1
    else:
        za, zb = np.meshgrid(z1, z1, indexing="ij")
        z = np.stack([za.ravel(), zb.ravel()], axis=-1)
        logw = (logw1[:, None] + logw1[None, :]).ravel()
    if drop_below > 0:
        keep = logw >= np.max(logw) + np.log(drop_below)
        z, logw = z[keep], logw[keep]
    log_norm = 0.5 * d * np.log(2.0 * np.pi)

    out = np.empty(n)
    block = max(1, 2**22 // (z.shape[0] * d))
    for start in range(0, n, block):
        sl = slice(start, start + block)
        y = x[sl, None, :] + np.sqrt(2.0 * tau[sl])[:, None, None] * z[None, :, :]
        log_mean = special.logsumexp(logw[None, :] - lam * np.asarray(g(y), dtype=np.float64), axis=1) - log_norm
        out[sl] = -log_mean / lam
    return out


def hjb_lq_value(t: float | np.ndarray, x: np.ndarray, T: float = 1.0, lam: float = 1.0, *,
                 samples: int = 100_000, seed: int | None = 0, g: Terminal | None = None
                 ) -> tuple[np.ndarray, np.ndarray]:
    """u(t, x) at arbitrary points in any dimension by Monte Carlo on the Cole–Hopf formula.

    ``samples`` Gaussian vectors Z are drawn (the same ones for every point: common random numbers) and each is used
    with its antithetic partner −Z, so g is evaluated 2·samples times per point. The mean m of the pair averages of
    exp(−λ g(x ± √(2τ) Z)) is accumulated in log space; the value is −ln(m)/λ and its standard error, by the delta
    method, s_m/(λ m). The logarithm adds a bias of order (s_m/m)², far below the standard error.

    Parameters
    ----------
    t: scalar time or one time per point, shape (n,), 0 ≤ t ≤ T.
    x: points of shape (n, d).
    T, lam: final time and λ > 0.
    samples: number of antithetic pairs.
    seed: seed of ``numpy.random.default_rng``.
    g: terminal function (default :func:`hjb_terminal`), mapping (..., d) to (...).

    Returns
    -------
    (value, stderr), both of shape (n,).
    """
    _check_params(T, lam)
    x = _check_points(x)
    if int(samples) != samples or samples < 2:
        raise ValueError(f"samples must be an integer >= 2 (number of antithetic pairs), got {samples!r}.")
    samples = int(samples)
    n, d = x.shape
    g = hjb_terminal if g is None else g
    scale = np.sqrt(2.0 * _remaining_times(t, n, T))

    batch = min(samples, 4096)
    block = max(1, 2**22 // (batch * d))
    value = np.empty(n)
    stderr = np.empty(n)
    for start in range(0, n, block):
        sl = slice(start, start + block)
        rng = np.random.default_rng(seed)  # same draws for every block of points
        shift = np.full(x[sl].shape[0], -np.inf)
        s1 = np.zeros_like(shift)  # Σ p e^(−shift)
        s2 = np.zeros_like(shift)  # Σ p² e^(−2 shift)
        done = 0
        while done < samples:
            m = min(batch, samples - done)
            z = rng.standard_normal((m, d))
            dz = scale[sl, None, None] * z[None, :, :]
            a_plus = -lam * np.asarray(g(x[sl, None, :] + dz), dtype=np.float64)
            a_minus = -lam * np.asarray(g(x[sl, None, :] - dz), dtype=np.float64)
            new_shift = np.maximum(shift, np.maximum(a_plus.max(axis=1), a_minus.max(axis=1)))
            factor = np.exp(shift - new_shift)
            p = 0.5 * (np.exp(a_plus - new_shift[:, None]) + np.exp(a_minus - new_shift[:, None]))
            s1 = s1 * factor + p.sum(axis=1)
            s2 = s2 * factor**2 + (p * p).sum(axis=1)
            shift = new_shift
            done += m
        mean = s1 / samples
        var = np.maximum(s2 / samples - mean**2, 0.0) * samples / (samples - 1)
        value[sl] = -(shift + np.log(mean)) / lam
        stderr[sl] = np.sqrt(var / samples) / (lam * mean)
    return value, stderr
