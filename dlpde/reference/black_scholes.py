r"""Closed-form Black–Scholes prices: European call and put, and the geometric-average basket call.

PDE (Black & Scholes, J. Political Economy 81 (1973) 637; Merton, Bell J. Econ. 4 (1973) 141), for the price V(t, S)
of a claim on assets following dS_i = (r − q_i) S_i dt + σ_i S_i dW_i with correlation E[dW_i dW_j] = ρ_ij dt::

    V_t + ½ Σ_ij ρ_ij σ_i σ_j S_i S_j ∂²V/∂S_i∂S_j + Σ_i (r − q_i) S_i ∂V/∂S_i − rV = 0,   V(T, S) = payoff(S).

European call on one asset (τ = T − t the time to maturity)::

    C = S e^{−qτ} N(d₁) − K e^{−rτ} N(d₂),   d₁ = (ln(S/K) + (r − q + σ²/2)τ)/(σ√τ),   d₂ = d₁ − σ√τ,

and the put P = K e^{−rτ} N(−d₂) − S e^{−qτ} N(−d₁) (put–call parity C − P = S e^{−qτ} − K e^{−rτ}).
S = K = 100, r = 0.05, σ = 0.2, τ = 1 gives C = 10.450584 (REFERENCES.md §2).

Geometric basket call, payoff (G_T − K)⁺ with G = (Π_i S_i)^{1/d}: ln G_T is Gaussian with mean
ln G_0 + (r − mean(σ_i²)/2)τ and variance σ_G²τ, σ_G² = σᵀρσ/d² (Kemna & Vorst, J. Banking Finance 14 (1990) 113,
for the geometric Asian analogue). So G is a single log-normal asset with volatility σ_G and dividend yield
q_G = (mean(σ_i²) − σ_G²)/2, and the price is ``bs_call(G_0, K, r, σ_G, τ, q=q_G)``.
"""
from __future__ import annotations

import numpy as np
from scipy.special import ndtr

__all__ = ["bs_call", "bs_put", "geometric_basket_call", "correlation_matrix"]

ArrayLike = float | np.ndarray


def _check(S: np.ndarray, K: np.ndarray, sigma: np.ndarray, tau: np.ndarray) -> None:
    if np.any(~(S > 0)):
        raise ValueError("the asset price S must be positive (and not NaN).")
    if np.any(~(K > 0)):
        raise ValueError("the strike K must be positive (and not NaN).")
    if np.any(~(sigma > 0)):
        raise ValueError("the volatility sigma must be positive (and not NaN).")
    if np.any(~(tau >= 0)):
        raise ValueError("the time to maturity tau = T − t must be non-negative (and not NaN).")


def _d1_d2(S: np.ndarray, K: np.ndarray, r: np.ndarray, sigma: np.ndarray, tau: np.ndarray, q: np.ndarray
           ) -> tuple[np.ndarray, np.ndarray]:
    with np.errstate(divide="ignore", invalid="ignore"):
        vol = sigma * np.sqrt(tau)
        d1 = (np.log(S / K) + (r - q + 0.5 * sigma**2) * tau) / vol
    return d1, d1 - vol


def bs_call(S: ArrayLike, K: ArrayLike, r: ArrayLike, sigma: ArrayLike, tau: ArrayLike, *,
            q: ArrayLike = 0.0) -> np.ndarray:
    """European call price, broadcast over all arguments; tau = 0 gives the payoff (S − K)⁺.

    Parameters
    ----------
    S: spot price (> 0). K: strike (> 0). r: risk-free rate. sigma: volatility (> 0).
    tau: time to maturity T − t (≥ 0). q: continuous dividend yield (default 0).
    """
    S, K, r, sigma, tau, q = np.broadcast_arrays(*(np.asarray(a, dtype=np.float64) for a in (S, K, r, sigma, tau, q)))
    _check(S, K, sigma, tau)
    d1, d2 = _d1_d2(S, K, r, sigma, tau, q)
    price = S * np.exp(-q * tau) * ndtr(d1) - K * np.exp(-r * tau) * ndtr(d2)
    return np.where(tau > 0, price, np.maximum(S - K, 0.0))


def bs_put(S: ArrayLike, K: ArrayLike, r: ArrayLike, sigma: ArrayLike, tau: ArrayLike, *,
           q: ArrayLike = 0.0) -> np.ndarray:
    """European put price, broadcast over all arguments; tau = 0 gives the payoff (K − S)⁺. Arguments as :func:`bs_call`."""
    S, K, r, sigma, tau, q = np.broadcast_arrays(*(np.asarray(a, dtype=np.float64) for a in (S, K, r, sigma, tau, q)))
    _check(S, K, sigma, tau)
    d1, d2 = _d1_d2(S, K, r, sigma, tau, q)
    price = K * np.exp(-r * tau) * ndtr(-d2) - S * np.exp(-q * tau) * ndtr(-d1)
    return np.where(tau > 0, price, np.maximum(K - S, 0.0))


def correlation_matrix(corr: float | np.ndarray, dim: int) -> np.ndarray:
    """A d×d correlation matrix from a scalar ρ (ones on the diagonal, ρ elsewhere) or a given matrix, checked.

    A scalar must satisfy −1/(d−1) ≤ ρ ≤ 1 (the range where the equicorrelation matrix is positive semidefinite);
    a matrix must be symmetric, positive semidefinite, with unit diagonal.
    """
    corr = np.asarray(corr, dtype=np.float64)
    if corr.ndim == 0:
        rho = float(corr)
        lower = -1.0 / (dim - 1) if dim > 1 else -1.0
        if not lower <= rho <= 1.0:
            raise ValueError(f"a scalar correlation must lie in [{lower:.4g}, 1] for d = {dim} assets "
                             f"(otherwise the correlation matrix is not positive semidefinite), got {rho}.")
        return np.full((dim, dim), rho) + (1.0 - rho) * np.eye(dim)
    if corr.shape != (dim, dim):
        raise ValueError(f"corr must be a scalar or a ({dim}, {dim}) matrix, got shape {corr.shape}.")
    if not np.allclose(corr, corr.T, rtol=0, atol=1e-12) or not np.allclose(np.diag(corr), 1.0, rtol=0, atol=1e-12):
        raise ValueError("the correlation matrix must be symmetric with ones on the diagonal.")
    if np.linalg.eigvalsh(corr).min() < -1e-10:
        raise ValueError("the correlation matrix must be positive semidefinite; it has a negative eigenvalue.")
    return corr


def geometric_basket_call(x0: np.ndarray, K: ArrayLike, r: float, sigma: float | np.ndarray,
                          corr: float | np.ndarray, tau: ArrayLike) -> np.ndarray:
    """Price of the call on the geometric mean of d correlated log-normal assets (closed form).

    Parameters
    ----------
    x0: asset prices, shape (d,) for one point or (n, d) for n points (all > 0).
    K: strike (> 0), scalar or broadcastable to the points.
    r: risk-free rate.
    sigma: volatility, a scalar or one per asset, shape (d,).
    corr: a scalar correlation ρ between every pair of assets, or a (d, d) correlation matrix.
    tau: time to maturity (≥ 0), scalar or broadcastable to the points.

    Returns
    -------
    Shape () for x0 of shape (d,), shape (n,) for x0 of shape (n, d).
    """
    x0 = np.asarray(x0, dtype=np.float64)
    if x0.ndim not in (1, 2) or x0.shape[-1] < 1:
        raise ValueError(f"x0 must have shape (d,) or (n, d), got shape {x0.shape}.")
    if np.any(~(x0 > 0)):
        raise ValueError("every asset price in x0 must be positive (and not NaN).")
    d = x0.shape[-1]
    sigma = np.broadcast_to(np.asarray(sigma, dtype=np.float64), (d,)) if np.ndim(sigma) == 0 \
        else np.asarray(sigma, dtype=np.float64)
    if sigma.shape != (d,):
        raise ValueError(f"sigma must be a scalar or have one entry per asset, shape ({d},), got shape {sigma.shape}.")
    if np.any(~(sigma > 0)):
        raise ValueError("every volatility in sigma must be positive (and not NaN).")
    rho = correlation_matrix(corr, d)
    var_g = float(sigma @ rho @ sigma) / d**2
    if not var_g > 0:
        raise ValueError("the geometric mean has zero variance for this correlation (perfect cancellation); "
                         "its price is deterministic and not covered by the log-normal formula.")
    sigma_g = np.sqrt(var_g)
    q_g = 0.5 * (np.mean(sigma**2) - var_g)
    g0 = np.exp(np.mean(np.log(x0), axis=-1))
    return bs_call(g0, K, r, sigma_g, tau, q=q_g)
