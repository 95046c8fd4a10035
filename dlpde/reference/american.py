"""American put under Black–Scholes by finite differences: the reference for ``american-put-1d``.

In time to maturity τ = T − t the price V(S, τ) solves the linear complementarity problem

    min(V_τ − ½σ²S²V_SS − (r − q)SV_S + rV,  V − (K − S)⁺) = 0,   V(S, 0) = (K − S)⁺,

(q a continuous dividend yield, 0 by default) on S ∈ [0, S_max] with V(0, τ) = K (immediate exercise) and
V(S_max, τ) = 0. Discretisation: central differences on a uniform S grid, Crank–Nicolson in τ after two fully
implicit quarter steps (Rannacher's start, which damps the payoff's kink), and the early-exercise constraint by the
penalty method of Forsyth & Vetzal (SIAM J. Sci. Comput. 23, 2002): each step solves (M + P)V = b + Pg with
P = ρ·[V < g] by a few Newton (active-set) iterations, one banded solve each. ``american_put_reference`` refines
grid and step together until the price at the money changes by less than ``tol`` and returns the finest solution
with the change it made (its own error estimate).

Why our own solver: scipy has banded solvers but no complementarity-problem solver, and the penalty method is a few
lines on top of ``scipy.linalg.solve_banded``.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from scipy.interpolate import RectBivariateSpline
from scipy.linalg import solve_banded

PENALTY = 1e8  # ρ: the constraint holds to about payoff·1/ρ (Forsyth & Vetzal's choice, 1/tol)


@dataclass
class AmericanPutGrid:
    """V on the grid (τ (M+1,), S (N+1,)), V[m, i] = V(S_i, τ_m), and the change ``atm_change`` of the price at
    S = K against the grid half as fine (nan for a single solve)."""
    S: np.ndarray
    tau: np.ndarray
    V: np.ndarray
    strike: float
    atm_change: float = float("nan")
    _spline: RectBivariateSpline | None = field(default=None, repr=False)

    def price(self, S, tau) -> np.ndarray:
        """V(S, τ) by the bicubic spline through the grid values (built once), broadcast over S and τ."""
        S, tau = np.broadcast_arrays(np.asarray(S, float), np.asarray(tau, float))
        if self._spline is None:
            self._spline = RectBivariateSpline(self.tau, self.S, self.V, kx=3, ky=3)
        return self._spline.ev(tau, S)


def american_put_fd(strike: float, rate: float, sigma: float, T: float, *, s_max: float, n_space: int,
                    n_time: int, dividend: float = 0.0) -> AmericanPutGrid:
    """One finite-difference solve on n_space intervals in S and n_time steps in τ (see the module docstring);
    ``dividend``: a continuous yield q, the drift of S becoming (r − q)S."""
    S = np.linspace(0.0, s_max, n_space + 1)
    h = S[1] - S[0]
    g = np.maximum(strike - S, 0.0)
    inner = S[1:-1]
    # −L V at the inner nodes: lower, main and upper diagonals
    diff, conv = 0.5 * sigma**2 * inner**2 / h**2, (rate - dividend) * inner / (2 * h)
    lower, main, upper = -(diff - conv), 2 * diff + rate, -(diff + conv)
    V = g.copy()
    tau = np.linspace(0.0, T, n_time + 1)
    dt = T / n_time
    out = np.empty((n_time + 1, n_space + 1))
    out[0] = V
    # Rannacher: the first step as four fully implicit quarter steps, then Crank–Nicolson
    for m in range(n_time):
        schedule = [(dt / 4, 1.0)] * 4 if m == 0 else [(dt, 0.5)]
        for k, theta in schedule:
            V = _step(V, g, lower, main, upper, k, theta, left=strike)
        out[m + 1] = V
    return AmericanPutGrid(S=S, tau=tau, V=out, strike=strike)


def _step(V, g, lower, main, upper, k, theta, *, left):
    """One θ-step of (V^{n+1} − V^n)/k + θ(−L)V^{n+1} + (1 − θ)(−L)V^n = 0 with the early-exercise penalty;
    Dirichlet V(0) = left, V(S_max) = 0."""
    n = len(main)
    lv = main * V[1:-1] + lower * V[:-2] + upper * V[2:]  # (−L V^n) at the inner nodes
    rhs = V[1:-1] - (1 - theta) * k * lv
    rhs[0] -= theta * k * lower[0] * left  # the boundary values at the new level (V(0) = K, V(S_max) = 0)
    ab = np.zeros((3, n))
    ab[0, 1:] = theta * k * upper[:-1]
    ab[2, :-1] = theta * k * lower[1:]
    base = 1.0 + theta * k * main
    gi = g[1:-1]
    new = V[1:-1].copy()
    active = new < gi
    for _ in range(50):
        pen = np.where(active, PENALTY, 0.0)
        ab[1] = base + pen
        new = solve_banded((1, 1), ab, rhs + pen * gi)
        now = new < gi
        if np.array_equal(now, active):
            break
        active = now
    out = V.copy()
    out[0], out[-1], out[1:-1] = left, 0.0, new
    return out


def american_put_reference(strike: float = 1.0, rate: float = 0.05, sigma: float = 0.2, T: float = 1.0, *,
                           s_max: float = 4.0, n_space: int = 400, n_time: int = 200, tol: float = 1e-6,
                           max_refinements: int = 5, dividend: float = 0.0) -> AmericanPutGrid:
    """Refine (n_space, n_time) by 2 until the price at S = K moves by less than ``tol`` (relative); returns the
    last grid with ``atm_change`` set. Raises if ``max_refinements`` are not enough."""
    prev = None
    for _ in range(max_refinements + 1):
        grid = american_put_fd(strike, rate, sigma, T, s_max=s_max, n_space=n_space, n_time=n_time,
                               dividend=dividend)
        atm = float(grid.price(strike, T))
        if prev is not None:
            grid.atm_change = abs(atm - prev) / abs(atm)
            if grid.atm_change < tol:
                return grid
        prev = atm
        n_space, n_time = 2 * n_space, 2 * n_time
    raise RuntimeError(f"the American put reference did not converge to {tol:g} at the money "
                       f"(last change {grid.atm_change:.2e}); raise max_refinements")
