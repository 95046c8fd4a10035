r"""Optimal transport between Gaussian measures in closed form.

For ρ₀ = N(m₀, Σ₀) and ρ₁ = N(m₁, Σ₁) on R^d (Dowson & Landau, J. Multivariate Anal. 12 (1982) 450;
Olkin & Pukelsheim, Linear Algebra Appl. 48 (1982) 257; Givens & Shortt, Michigan Math. J. 31 (1984) 231;
REFERENCES.md §4)::

    W₂²(ρ₀, ρ₁) = |m₀ − m₁|² + tr(Σ₀ + Σ₁ − 2 (Σ₁^{½} Σ₀ Σ₁^{½})^{½}),

and, for Σ₀ positive definite, the optimal (Brenier) map is affine, T(x) = m₁ + A(x − m₀) with the symmetric positive
(semi)definite A = Σ₀^{−½} (Σ₀^{½} Σ₁ Σ₀^{½})^{½} Σ₀^{−½}, which satisfies A Σ₀ A = Σ₁. By Benamou–Brenier, the
dynamic problem min ∫₀¹ ∫ ½|v|² ρ dx dt with ρ(0) = ρ₀, ρ(1) = ρ₁ (the OT/MFG problem of Ruthotto et al., PNAS 2020,
with L = ½|v|² and T = 1) has optimal value ½W₂² (:func:`gaussian_transport_cost`).

Matrix square roots are taken by a symmetric eigendecomposition (``numpy.linalg.eigh``), clipping round-off negative
eigenvalues to zero, so the results are real and symmetric.
"""
from __future__ import annotations

import numpy as np

__all__ = ["gaussian_w2_squared", "gaussian_ot_map_matrix", "gaussian_ot_map", "gaussian_transport_cost"]


def _check_gaussian(m: np.ndarray, cov: np.ndarray, name: str, *, definite: bool) -> tuple[np.ndarray, np.ndarray]:
    m = np.asarray(m, dtype=np.float64)
    cov = np.asarray(cov, dtype=np.float64)
    if m.ndim != 1:
        raise ValueError(f"the mean m{name} must be a vector of shape (d,), got shape {m.shape}.")
    d = m.shape[0]
    if cov.shape != (d, d):
        raise ValueError(f"the covariance Sigma{name} must have shape ({d}, {d}) to match the mean, got {cov.shape}.")
    if not (np.all(np.isfinite(m)) and np.all(np.isfinite(cov))):
        raise ValueError(f"m{name} and Sigma{name} must be finite.")
    scale = max(float(np.max(np.abs(cov))), np.finfo(float).tiny)
    if not np.allclose(cov, cov.T, rtol=0.0, atol=1e-10 * scale):
        raise ValueError(f"the covariance Sigma{name} must be symmetric.")
    smallest = float(np.linalg.eigvalsh(cov).min())
    if definite and not smallest > 1e-12 * scale:
        raise ValueError(f"the covariance Sigma{name} must be positive definite (smallest eigenvalue {smallest:.3g}); "
                         f"the optimal map from a degenerate Gaussian is not unique.")
    if smallest < -1e-10 * scale:
        raise ValueError(f"the covariance Sigma{name} must be positive semidefinite (smallest eigenvalue {smallest:.3g}).")
    return m, 0.5 * (cov + cov.T)


def _sqrtm_psd(a: np.ndarray, power: float = 0.5) -> np.ndarray:
    """a^power for a symmetric positive semidefinite matrix, by eigendecomposition."""
    vals, vecs = np.linalg.eigh(0.5 * (a + a.T))
    vals = np.clip(vals, 0.0, None) ** power
    out = (vecs * vals) @ vecs.T
    return 0.5 * (out + out.T)


def gaussian_w2_squared(m0: np.ndarray, sigma0: np.ndarray, m1: np.ndarray, sigma1: np.ndarray) -> float:
    """W₂²(N(m0, sigma0), N(m1, sigma1)) for means of shape (d,) and PSD covariances of shape (d, d)."""
    m0, sigma0 = _check_gaussian(m0, sigma0, "0", definite=False)
    m1, sigma1 = _check_gaussian(m1, sigma1, "1", definite=False)
    if m0.shape != m1.shape:
        raise ValueError(f"both Gaussians must live in the same dimension, got {m0.shape[0]} and {m1.shape[0]}.")
    root1 = _sqrtm_psd(sigma1)
    cross = _sqrtm_psd(root1 @ sigma0 @ root1)
    value = float(np.sum((m0 - m1) ** 2) + np.trace(sigma0) + np.trace(sigma1) - 2.0 * np.trace(cross))
    return max(value, 0.0)


def gaussian_ot_map_matrix(sigma0: np.ndarray, sigma1: np.ndarray) -> np.ndarray:
    """The symmetric matrix A = Σ₀^{−½}(Σ₀^{½}Σ₁Σ₀^{½})^{½}Σ₀^{−½} of the optimal map T(x) = m₁ + A(x − m₀).

    Σ₀ must be positive definite, Σ₁ positive semidefinite.
    """
    shape = np.shape(sigma0)
    if len(shape) != 2 or shape[0] != shape[1]:
        raise ValueError(f"the covariance Sigma0 must be a square matrix of shape (d, d), got shape {shape}.")
    d = shape[0]
    _, sigma0 = _check_gaussian(np.zeros(d), sigma0, "0", definite=True)
    _, sigma1 = _check_gaussian(np.zeros(d), sigma1, "1", definite=False)
    root0 = _sqrtm_psd(sigma0)
    inv_root0 = _sqrtm_psd(sigma0, -0.5)
    a = inv_root0 @ _sqrtm_psd(root0 @ sigma1 @ root0) @ inv_root0
    return 0.5 * (a + a.T)


def gaussian_ot_map(x: np.ndarray, m0: np.ndarray, sigma0: np.ndarray, m1: np.ndarray, sigma1: np.ndarray
                    ) -> np.ndarray:
    """Apply the optimal map T(x) = m1 + A(x − m0) to points x of shape (n, d); returns shape (n, d)."""
    x = np.asarray(x, dtype=np.float64)
    m0 = np.asarray(m0, dtype=np.float64)
    m1 = np.asarray(m1, dtype=np.float64)
    if x.ndim != 2 or m0.ndim != 1 or x.shape[1] != m0.shape[0] or m1.shape != m0.shape:
        raise ValueError(f"x must have shape (n, d) and m0, m1 shape (d,); got x {x.shape}, m0 {m0.shape}, "
                         f"m1 {m1.shape}.")
    a = gaussian_ot_map_matrix(sigma0, sigma1)
    return m1 + (x - m0) @ a  # A is symmetric, so (A (x − m0))ᵀ = (x − m0)ᵀ A


def gaussian_transport_cost(m0: np.ndarray, sigma0: np.ndarray, m1: np.ndarray, sigma1: np.ndarray) -> float:
    """Optimal dynamic cost min ∫₀¹∫ ½|v|² ρ dx dt between the two Gaussians, equal to ½ W₂²."""
    return 0.5 * gaussian_w2_squared(m0, sigma0, m1, sigma1)
