"""Tests of the classical reference solvers in ``dlpde.reference`` against known values and self-consistency.

Every reference is checked against a number from REFERENCES.md or the literature, an independent closed form or
quadrature, or a convergence / PDE-residual check. The whole file runs in a few seconds on two cores.
"""
from __future__ import annotations

import numpy as np
import pytest
from scipy.special import exp1

from dlpde.reference.allen_cahn import allen_cahn_fd_1d, allen_cahn_fd_2d, allen_cahn_radial
from dlpde.reference.black_scholes import bs_call, bs_put, correlation_matrix, geometric_basket_call
from dlpde.reference.burgers import BURGERS_NU, burgers_grid, burgers_hopf_cole
from dlpde.reference.gaussian_ot import (gaussian_ot_map, gaussian_ot_map_matrix, gaussian_transport_cost,
                                         gaussian_w2_squared)
from dlpde.reference.hjb import (hjb_lq_value, hjb_lq_value_at_origin, hjb_lq_value_quadrature, hjb_terminal)


def _random_spd(rng: np.random.Generator, d: int) -> np.ndarray:
    b = rng.standard_normal((d, d))
    return b @ b.T + 0.5 * np.eye(d)


# ---------------------------------------------------------------------------------------------------------- HJB
def test_hjb_origin_reproduces_reference_value():
    assert hjb_lq_value_at_origin(100, t=0.0, T=1.0, lam=1.0) == pytest.approx(4.590162, abs=5e-7)


@pytest.mark.parametrize("t", [0.0, 0.5, 0.9])
def test_hjb_origin_matches_closed_form_in_2d(t):
    # d = 2, λ = 1: |√2 W_τ|² = 2τR with R ~ Exp(mean 2), so E[2/(1 + 2τR)] = e^{1/(4τ)} E1(1/(4τ))/(2τ).
    tau = 1.0 - t
    exact = -np.log(np.exp(1 / (4 * tau)) * exp1(1 / (4 * tau)) / (2 * tau))
    assert hjb_lq_value_at_origin(2, t=t) == pytest.approx(exact, abs=1e-11)


def test_hjb_origin_at_final_time_is_terminal_value():
    assert hjb_lq_value_at_origin(10, t=1.0) == pytest.approx(np.log(0.5), abs=1e-15)


@pytest.mark.parametrize("dim", [1, 2])
def test_hjb_quadrature_matches_origin_integral(dim):
    value = hjb_lq_value_quadrature(0.0, np.zeros((1, dim)))[0]
    assert value == pytest.approx(hjb_lq_value_at_origin(dim), abs=1e-9)


def test_hjb_quadrature_converges_in_nodes():
    x = np.linspace(-3, 3, 13).reshape(-1, 1)
    t = np.linspace(0.0, 0.9, 13)
    a = hjb_lq_value_quadrature(t, x, n_quad=300)
    b = hjb_lq_value_quadrature(t, x, n_quad=400)
    assert np.max(np.abs(a - b)) < 1e-9
    x2 = np.random.default_rng(0).normal(size=(6, 2))
    a2 = hjb_lq_value_quadrature(0.2, x2, n_quad=300)
    b2 = hjb_lq_value_quadrature(0.2, x2, n_quad=400, drop_below=0.0)
    assert np.max(np.abs(a2 - b2)) < 1e-9


def test_hjb_quadrature_satisfies_the_pde_in_1d():
    lam, T, h = 0.7, 1.0, 0.02
    t = np.array([0.1, 0.4, 0.7])[:, None]
    x = np.array([-1.5, -0.3, 0.0, 0.8, 2.0])[None, :]
    t, x = np.broadcast_arrays(t, x)

    def u(tt, xx):
        return hjb_lq_value_quadrature(tt.ravel(), xx.reshape(-1, 1), T, lam, n_quad=400).reshape(tt.shape)

    d1 = lambda f, s: (-f(2 * s) + 8 * f(s) - 8 * f(-s) + f(-2 * s)) / (12 * h)  # noqa: E731 (4th-order stencils)
    u_t = d1(lambda s: u(t + s, x), h)
    u_x = d1(lambda s: u(t, x + s), h)
    u_xx = (-u(t, x + 2 * h) + 16 * u(t, x + h) - 30 * u(t, x) + 16 * u(t, x - h) - u(t, x - 2 * h)) / (12 * h * h)
    residual = u_t + u_xx - lam * u_x**2
    assert np.max(np.abs(residual)) < 1e-5


def test_hjb_quadratic_terminal_closed_form():
    # g(x) = |x|²: E exp(−λ|x + √(2τ)Z|²) is Gaussian, u = d ln(1 + 4λτ)/(2λ) + |x|²/(1 + 4λτ).
    lam, T, t = 0.8, 1.0, 0.25
    tau = T - t

    def exact(x):
        return x.shape[1] * np.log1p(4 * lam * tau) / (2 * lam) + np.sum(x**2, axis=1) / (1 + 4 * lam * tau)

    g = lambda y: np.sum(y * y, axis=-1)  # noqa: E731
    rng = np.random.default_rng(1)
    for dim in (1, 2):
        x = rng.normal(size=(5, dim))
        np.testing.assert_allclose(hjb_lq_value_quadrature(t, x, T, lam, g=g), exact(x), atol=1e-10)
    x = rng.normal(size=(3, 5))
    value, stderr = hjb_lq_value(t, x, T, lam, samples=20_000, seed=2, g=g)
    assert np.all(np.abs(value - exact(x)) < 4 * stderr)


def test_hjb_monte_carlo_agrees_with_quadratures():
    value, stderr = hjb_lq_value(0.0, np.zeros((1, 100)), samples=50_000, seed=3)
    assert stderr[0] < 1e-3
    assert abs(value[0] - hjb_lq_value_at_origin(100)) < 4 * stderr[0]
    x = np.random.default_rng(4).normal(size=(4, 2))
    value, stderr = hjb_lq_value(0.3, x, samples=50_000, seed=5)
    assert np.all(np.abs(value - hjb_lq_value_quadrature(0.3, x)) < 4 * stderr)


def test_hjb_terminal_and_final_time():
    x = np.array([[0.0, 0.0], [1.0, 2.0]])
    np.testing.assert_allclose(hjb_terminal(x), np.log([0.5, 3.0]))
    np.testing.assert_allclose(hjb_lq_value_quadrature(1.0, x), hjb_terminal(x), atol=1e-14)
    value, stderr = hjb_lq_value(1.0, x, samples=10)
    np.testing.assert_allclose(value, hjb_terminal(x), atol=1e-14)
    np.testing.assert_allclose(stderr, 0.0, atol=1e-14)


def test_hjb_rejects_bad_input():
    with pytest.raises(ValueError, match="shape"):
        hjb_lq_value(0.0, np.zeros(3))
    with pytest.raises(ValueError, match="t <= T"):
        hjb_lq_value_quadrature(2.0, np.zeros((1, 1)))
    with pytest.raises(ValueError, match="lam"):
        hjb_lq_value_at_origin(10, lam=0.0)
    with pytest.raises(ValueError, match="dim"):
        hjb_lq_value_at_origin(0)
    with pytest.raises(ValueError, match="d = 1 or 2"):
        hjb_lq_value_quadrature(0.0, np.zeros((1, 3)))


# --------------------------------------------------------------------------------------------------- Allen–Cahn
def test_allen_cahn_radial_reproduces_reference_and_converges():
    coarse, medium, fine = (float(allen_cahn_radial(100, T=0.3, r=0.0, n_r=n, R=41.0)) for n in (2050, 4100, 8200))
    assert abs(coarse - medium) < 1e-5 and abs(medium - fine) < 1e-5
    assert (coarse - medium) / (medium - fine) == pytest.approx(4.0, rel=0.1)  # second order
    assert fine == pytest.approx(0.052781, abs=1e-6)
    assert float(allen_cahn_radial(100)) == pytest.approx(fine, abs=1e-7)


def test_allen_cahn_radial_far_radius_does_not_matter():
    a = allen_cahn_radial(100, r=[0.0, 2.0], n_r=4100, R=41.0)
    b = allen_cahn_radial(100, r=[0.0, 2.0], n_r=6000, R=60.0)
    np.testing.assert_allclose(a, b, atol=1e-7)


def test_allen_cahn_constant_data_follows_the_reaction_ode():
    # g = c: Δ drops out and v' = v − v³ gives v² = c² e^{2τ}/(1 + c²(e^{2τ} − 1)).
    c, T, t = 0.3, 0.3, 0.1
    e = np.exp(2 * (T - t))
    exact = np.sqrt(c**2 * e / (1 + c**2 * (e - 1)))
    r = np.array([0.0, 1.0, 5.0])
    np.testing.assert_allclose(allen_cahn_radial(100, T, r, t=t, g=lambda s: np.full_like(s, c)), exact, atol=1e-9)
    np.testing.assert_allclose(allen_cahn_fd_1d(r, t, T, g=lambda s: np.full_like(s, c)), exact, atol=1e-9)


def _radial_extrapolated(dim: int, r: np.ndarray, t: float = 0.0) -> np.ndarray:
    coarse = allen_cahn_radial(dim, r=r, t=t, n_r=4000, R=10.0)
    fine = allen_cahn_radial(dim, r=r, t=t, n_r=8000, R=10.0)
    return (4 * fine - coarse) / 3  # Richardson: the radial scheme is second order


def test_allen_cahn_fd_1d_matches_radial_solver():
    r = np.array([0.0, 0.5, 1.0, 2.0, 3.0])
    reference = _radial_extrapolated(1, r)
    np.testing.assert_allclose(allen_cahn_fd_1d(r, 0.0), reference, atol=1e-8)
    np.testing.assert_allclose(allen_cahn_fd_1d(-r, 0.0), reference, atol=1e-8)
    np.testing.assert_allclose(allen_cahn_radial(1, r=r), reference, atol=1e-6)  # default grid, second order
    # one time per point, including t = T where the terminal value comes back
    x = np.array([0.5, -1.0, 2.0])
    t = np.array([0.0, 0.15, 0.3])
    expected = [reference[1], _radial_extrapolated(1, np.array([1.0]), t=0.15)[0], 1 / (2 + 0.4 * 4.0)]
    np.testing.assert_allclose(allen_cahn_fd_1d(x, t), expected, atol=1e-8)


def test_allen_cahn_fd_2d_matches_radial_solver():
    r = np.array([0.0, 0.5, 1.0, 2.0, 3.0])
    angle = np.linspace(0.0, 1.3, r.size)
    points = np.stack([r * np.cos(angle), r * np.sin(angle)], axis=1)
    np.testing.assert_allclose(allen_cahn_fd_2d(points, 0.0), _radial_extrapolated(2, r), atol=1e-5)


def test_allen_cahn_rejects_bad_input():
    with pytest.raises(ValueError, match="dim"):
        allen_cahn_radial(0)
    with pytest.raises(ValueError, match="far radius"):
        allen_cahn_radial(2, r=5.0, R=4.0)
    with pytest.raises(ValueError, match="t <= T"):
        allen_cahn_fd_1d(np.zeros(2), 0.5, T=0.3)
    with pytest.raises(ValueError, match=r"shape \(n, 2\)"):
        allen_cahn_fd_2d(np.zeros((3, 3)), 0.0)


# ------------------------------------------------------------------------------------------------ Black–Scholes
def test_bs_call_reference_value():
    assert float(bs_call(100.0, 100.0, 0.05, 0.2, 1.0)) == pytest.approx(10.450584, abs=5e-7)


def test_bs_put_call_parity_and_payoff():
    S = np.linspace(50, 150, 11)
    K, r, sigma, tau, q = 95.0, 0.03, 0.25, 0.7, 0.01
    parity = bs_call(S, K, r, sigma, tau, q=q) - bs_put(S, K, r, sigma, tau, q=q)
    np.testing.assert_allclose(parity, S * np.exp(-q * tau) - K * np.exp(-r * tau), atol=1e-11)
    np.testing.assert_allclose(bs_call(S, K, r, sigma, 0.0), np.maximum(S - K, 0.0))
    np.testing.assert_allclose(bs_put(S, K, r, sigma, 0.0), np.maximum(K - S, 0.0))


def test_geometric_basket_reduces_to_bs_call():
    assert float(geometric_basket_call(np.array([100.0]), 100.0, 0.05, 0.2, 0.0, 1.0)) == pytest.approx(
        10.450584, abs=5e-7)
    # perfectly correlated assets with one volatility: G is a single log-normal asset with σ_G = σ, no yield
    x0 = np.array([80.0, 100.0, 125.0])
    g0 = np.exp(np.mean(np.log(x0)))
    assert float(geometric_basket_call(x0, 90.0, 0.04, 0.3, 1.0, 0.5)) == pytest.approx(
        float(bs_call(g0, 90.0, 0.04, 0.3, 0.5)), abs=1e-12)


def test_geometric_basket_is_vectorised_over_points():
    x0 = np.array([[100.0, 90.0, 110.0], [80.0, 120.0, 100.0]])
    prices = geometric_basket_call(x0, 95.0, 0.05, [0.2, 0.3, 0.25], 0.4, 1.0)
    single = [float(geometric_basket_call(p, 95.0, 0.05, [0.2, 0.3, 0.25], 0.4, 1.0)) for p in x0]
    assert prices.shape == (2,)
    np.testing.assert_allclose(prices, single, rtol=1e-14)


def test_geometric_basket_matches_monte_carlo():
    rng = np.random.default_rng(6)
    d, n, r, tau, K = 5, 400_000, 0.05, 1.0, 100.0
    x0 = np.array([100.0, 95.0, 105.0, 90.0, 110.0])
    sigma = np.array([0.2, 0.25, 0.3, 0.15, 0.35])
    corr = correlation_matrix(0.3, d)
    corr[0, 1] = corr[1, 0] = 0.6
    w = rng.standard_normal((n, d)) @ np.linalg.cholesky(corr).T
    log_st = np.log(x0) + (r - 0.5 * sigma**2) * tau + sigma * np.sqrt(tau) * w
    payoff = np.exp(-r * tau) * np.maximum(np.exp(log_st.mean(axis=1)) - K, 0.0)
    mc, stderr = payoff.mean(), payoff.std(ddof=1) / np.sqrt(n)
    exact = float(geometric_basket_call(x0, K, r, sigma, corr, tau))
    assert abs(mc - exact) < 4 * stderr  # stderr ≈ 0.01 on a price ≈ 7.4


def test_black_scholes_rejects_bad_input():
    with pytest.raises(ValueError, match="positive"):
        bs_call(-1.0, 100.0, 0.05, 0.2, 1.0)
    with pytest.raises(ValueError, match="tau"):
        bs_put(100.0, 100.0, 0.05, 0.2, -1.0)
    with pytest.raises(ValueError, match="positive semidefinite"):
        geometric_basket_call(np.ones(3) * 100, 100.0, 0.05, 0.2, -0.9, 1.0)
    with pytest.raises(ValueError, match="one entry per asset"):
        geometric_basket_call(np.ones(3) * 100, 100.0, 0.05, [0.2, 0.3], 0.0, 1.0)


# ------------------------------------------------------------------------------------------------------ Burgers
def test_burgers_initial_and_boundary_values_and_symmetry():
    x = np.linspace(-1, 1, 101)
    np.testing.assert_allclose(burgers_hopf_cole(0.0, x), -np.sin(np.pi * x), atol=0)
    t = np.linspace(0.05, 1.0, 20)
    np.testing.assert_allclose(burgers_hopf_cole(t, 1.0), 0.0, atol=1e-12)
    np.testing.assert_allclose(burgers_hopf_cole(t, -1.0), 0.0, atol=1e-12)
    np.testing.assert_allclose(burgers_hopf_cole(0.7, -x), -burgers_hopf_cole(0.7, x), atol=1e-13)


def test_burgers_quadrature_converges():
    x = np.linspace(-1, 1, 801)
    front = np.abs(x) < 0.1
    for t in (0.25, 0.5, 1.0):
        ref = burgers_hopf_cole(t, x, n_quad=200)
        err60 = np.abs(burgers_hopf_cole(t, x, n_quad=60) - ref)
        assert err60[~front].max() < 1e-8 and err60[front].max() < 1e-6
        assert np.abs(burgers_hopf_cole(t, x, n_quad=100) - ref).max() < 1e-12


def test_burgers_matches_trapezoid_rule_at_the_front():
    # independent quadrature: the trapezoid rule on η ∈ [−3, 3] (the Gaussian factor is < e^{−700} beyond)
    t, nu = 1.0, BURGERS_NU
    x = np.linspace(-0.02, 0.02, 9)
    eta = np.linspace(-3, 3, 100_001)
    y = x[:, None] - eta[None, :]
    exponent = -eta**2 / (4 * nu * t) - np.cos(np.pi * y) / (2 * np.pi * nu)
    weight = np.exp(exponent - exponent.max(axis=1, keepdims=True))
    trapezoid = -np.sum(np.sin(np.pi * y) * weight, axis=1) / np.sum(weight, axis=1)
    np.testing.assert_allclose(burgers_hopf_cole(t, x), trapezoid, atol=1e-12)


def test_burgers_maximum_slope_matches_basdevant():
    # Basdevant et al., Computers & Fluids 14 (1986) 23: max |u_x| = 152.00516 at t = 1.6037/π, x = 0.
    t, h = 1.6037 / np.pi, 1e-6
    slope = (burgers_hopf_cole(t, h) - burgers_hopf_cole(t, -h)) / (2 * h)
    assert float(slope) == pytest.approx(-152.00516, abs=2e-4)


def test_burgers_satisfies_the_pde_at_smooth_points():
    nu, h = BURGERS_NU, 1e-3
    x = np.concatenate([np.linspace(-0.9, -0.3, 7), np.linspace(0.3, 0.9, 7)])
    u = burgers_hopf_cole
    for t in (0.2, 0.5, 0.9):
        u_t = (-u(t + 2 * h, x) + 8 * u(t + h, x) - 8 * u(t - h, x) + u(t - 2 * h, x)) / (12 * h)
        u_x = (-u(t, x + 2 * h) + 8 * u(t, x + h) - 8 * u(t, x - h) + u(t, x - 2 * h)) / (12 * h)
        u_xx = (-u(t, x + 2 * h) + 16 * u(t, x + h) - 30 * u(t, x) + 16 * u(t, x - h) - u(t, x - 2 * h)) / (12 * h**2)
        assert np.max(np.abs(u_t + u(t, x) * u_x - nu * u_xx)) < 1e-8


def test_burgers_grid_is_the_paper_grid():
    t, x, u = burgers_grid()
    assert t.shape == (100,) and x.shape == (256,) and u.shape == (100, 256)
    assert t[0] == 0.0 and t[-1] == 0.99 and x[0] == -1.0 and x[-1] == 1.0
    np.testing.assert_allclose(np.diff(t), 0.01, rtol=1e-12)
    np.testing.assert_allclose(u[37], burgers_hopf_cole(t[37], x), atol=0)


def test_burgers_rejects_bad_input():
    with pytest.raises(ValueError, match="non-negative"):
        burgers_hopf_cole(-0.1, 0.0)
    with pytest.raises(ValueError, match="nu"):
        burgers_hopf_cole(0.1, 0.0, nu=0.0)


# -------------------------------------------------------------------------------------------------- Gaussian OT
def test_gaussian_w2_diagonal_case():
    rng = np.random.default_rng(7)
    s0, s1 = rng.uniform(0.1, 2.0, 4), rng.uniform(0.1, 2.0, 4)
    m0, m1 = rng.normal(size=4), rng.normal(size=4)
    expected = np.sum((m0 - m1) ** 2) + np.sum((np.sqrt(s0) - np.sqrt(s1)) ** 2)
    assert gaussian_w2_squared(m0, np.diag(s0), m1, np.diag(s1)) == pytest.approx(expected, rel=1e-12)
    assert gaussian_transport_cost(m0, np.diag(s0), m1, np.diag(s1)) == pytest.approx(0.5 * expected, rel=1e-12)


def test_gaussian_ot_map_pushes_forward_and_attains_w2():
    rng = np.random.default_rng(8)
    d = 4
    s0, s1 = _random_spd(rng, d), _random_spd(rng, d)
    m0, m1 = rng.normal(size=d), rng.normal(size=d)
    a = gaussian_ot_map_matrix(s0, s1)
    np.testing.assert_allclose(a, a.T, atol=1e-12)
    assert np.linalg.eigvalsh(a).min() > 0
    np.testing.assert_allclose(a @ s0 @ a, s1, atol=1e-10)  # T#N(m0, Σ0) = N(m1, Σ1)
    # the map's cost E|T(X) − X|² equals W₂², and W₂ is symmetric
    w2 = gaussian_w2_squared(m0, s0, m1, s1)
    cost = np.sum((m1 - m0) ** 2) + np.trace((a - np.eye(d)) @ s0 @ (a - np.eye(d)))
    assert cost == pytest.approx(w2, rel=1e-10)
    assert gaussian_w2_squared(m1, s1, m0, s0) == pytest.approx(w2, rel=1e-10)
    x = rng.normal(size=(3, d))
    np.testing.assert_allclose(gaussian_ot_map(x, m0, s0, m1, s1), m1 + (x - m0) @ a.T, atol=1e-12)


def test_gaussian_ot_rejects_bad_input():
    s = np.eye(2)
    with pytest.raises(ValueError, match="symmetric"):
        gaussian_w2_squared(np.zeros(2), np.array([[1.0, 0.5], [0.0, 1.0]]), np.zeros(2), s)
    with pytest.raises(ValueError, match="positive semidefinite"):
        gaussian_w2_squared(np.zeros(2), np.diag([1.0, -1.0]), np.zeros(2), s)
    with pytest.raises(ValueError, match="positive definite"):
        gaussian_ot_map_matrix(np.diag([1.0, 0.0]), s)
    with pytest.raises(ValueError, match="shape"):
        gaussian_w2_squared(np.zeros(3), s, np.zeros(3), s)
    assert gaussian_w2_squared(np.zeros(2), np.diag([1.0, 0.0]), np.zeros(2), s) == pytest.approx(1.0)  # PSD is fine


# -------------------------------------------------------------------------------------------------- discrete OT
def test_empirical_w2_exact_cases():
    pytest.importorskip("ot")
    from dlpde.reference.discrete_ot import empirical_w2_squared

    rng = np.random.default_rng(9)
    x = rng.normal(size=(200, 3))
    shift = np.array([0.5, -1.0, 2.0])
    assert empirical_w2_squared(x, x + shift) == pytest.approx(np.sum(shift**2), rel=1e-12)
    # in 1-D the optimal coupling of equal-size uniform clouds matches sorted samples
    a, b = rng.normal(size=(300, 1)), rng.exponential(size=(300, 1))
    assert empirical_w2_squared(a, b) == pytest.approx(np.mean((np.sort(a[:, 0]) - np.sort(b[:, 0])) ** 2), rel=1e-12)


def test_empirical_w2_approaches_gaussian_closed_form():
    """2000 samples per cloud in 2-D, moment-matched to the Gaussians.

    The clouds are transformed so that their sample means and covariances equal the Gaussians' exactly. This removes
    the O(n^{-1/2}) sampling noise of the means (≈ 4 % of W₂² here, which would force a useless tolerance) and
    leaves a one-sided check: by Gelbrich's bound (Gelbrich 1990) W₂² of any two measures is at least the Gaussian
    W₂² of their first two moments, so empirical ≥ exact holds exactly; the excess is the finite-sample bias of
    order log(n)/n in 2-D (measured 0.8 % ± 0.06 % over ten seeds), so 2 % is an honest upper tolerance.
    """
    pytest.importorskip("ot")
    from dlpde.reference.discrete_ot import empirical_w2_squared

    rng = np.random.default_rng(10)
    m0, m1 = np.array([0.0, 0.0]), np.array([1.0, 0.5])
    s0 = np.array([[1.0, 0.3], [0.3, 0.5]])
    s1 = np.array([[0.6, -0.2], [-0.2, 1.2]])

    def matched(m, s, n=2000):
        z = rng.standard_normal((n, 2))
        z -= z.mean(axis=0)
        z = np.linalg.solve(np.linalg.cholesky(z.T @ z / n), z.T).T  # sample mean 0, sample covariance I
        return m + z @ np.linalg.cholesky(s).T

    exact = gaussian_w2_squared(m0, s0, m1, s1)
    relative_excess = (empirical_w2_squared(matched(m0, s0), matched(m1, s1)) - exact) / exact
    assert -1e-9 <= relative_excess < 0.02


def test_empirical_w2_rejects_bad_input():
    pytest.importorskip("ot")
    from dlpde.reference.discrete_ot import empirical_w2_squared

    with pytest.raises(ValueError, match="same d"):
        empirical_w2_squared(np.zeros((3, 2)), np.zeros((3, 3)))
    with pytest.raises(ValueError, match="sum to 1"):
        empirical_w2_squared(np.zeros((3, 2)), np.zeros((3, 2)), a=np.ones(3))
