r"""References for gradient flows stepped in time by minimizing movements (time-stepping Deep Ritz).

A gradient flow u_t = −δE/δu of E(u) = ∫_Ω ½κ|∇u|² + F(u) dx, stepped by the minimizing movement (De Giorgi;
Jordan, Kinderlehrer & Otto, SIAM J. Math. Anal. 29, 1998, for the scheme's name and use)::

    u^{n+1} = argmin_u ∫_Ω |u − ū|²/(2τ̃) + E(u),                                        (MM)

whose Euler–Lagrange equation (u^{n+1} − ū)/τ̃ = κΔu^{n+1} − F'(u^{n+1}) is

* implicit Euler (``scheme="euler"``): ū = uⁿ, τ̃ = τ_n = t_{n+1} − t_n;
* variable-step BDF2 (``scheme="bdf2"``; Euler for the first step): with ω = τ_n/τ_{n−1} and a = (1 + 2ω)/(1 + ω),
  a u^{n+1} − (1 + ω) uⁿ + ω²/(1 + ω) u^{n−1} = τ_n (κΔu − F'(u))^{n+1}, i.e. (MM) with
  ū = ((1 + ω) uⁿ − ω²/(1 + ω) u^{n−1})/a and τ̃ = τ_n/a (Hairer & Wanner, Solving ODEs II, §III.5; for ω = 1:
  ū = (4uⁿ − u^{n−1})/3, τ̃ = 2τ/3). Second order, A-stable, and it damps the stiff modes (no Rannacher start
  is needed after its one Euler step).

``bdf_anchor`` gives those coefficients, shared by the neural solver and the references here, so that "the same
time step" means the same scheme on the same grid. ``time_grid`` makes uniform or graded grids
t_k = T (k/K)^grading (grading > 1 puts small steps at t = 0, where nonsmooth data such as a payoff's kink make
the first steps' error O(τ) unless they are short).

* ``modes_discrete``: the exact discrete solution of the heat equation u_t = κΔu on a box with zero Dirichlet data
  for data that are a sum of sine modes (each mode's amplitude follows the scalar recurrence, e.g. (1 + τλ)^{−n}
  for implicit Euler);
* ``fem_gradient_flow``: scikit-fem P1/P2 finite elements in 2-D with the same scheme, the nonlinearity solved by
  Newton's method each step (Allen–Cahn: F(u) = ¼(u² − 1)²).
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable, Sequence

import numpy as np

SCHEMES = ("euler", "bdf2")

__all__ = ["SCHEMES", "time_grid", "bdf_anchor", "modes_discrete", "fd_heat_1d", "FEMFlow", "fem_gradient_flow"]


def time_grid(T: float, steps: int, grading: float = 1.0) -> np.ndarray:
    """t_k = T (k/K)^grading, k = 0 … K (K = ``steps``): uniform for grading 1, small first steps for grading > 1."""
    if isinstance(steps, bool) or not isinstance(steps, int) or steps < 1:
        raise ValueError(f"time_steps must be an integer >= 1, got {steps!r}")
    if not (isinstance(T, (int, float)) and math.isfinite(T) and T > 0):
        raise ValueError(f"the final time T must be a positive number, got {T!r}")
    if isinstance(grading, bool) or not isinstance(grading, (int, float)) or not 1 <= grading <= 4:
        raise ValueError(f"grading must be a number in [1, 4] (1: uniform steps), got {grading!r}")
    return T * (np.arange(steps + 1) / steps) ** float(grading)


def bdf_anchor(times: Sequence[float], n: int, scheme: str) -> tuple[list[float], float]:
    """(c, τ̃) for the step t_n → t_{n+1} (n ≥ 0): ū = c[0]·uⁿ + c[1]·u^{n−1} (c has one entry for Euler and for the
    first step), τ̃ the effective step of the minimizing movement (see the module docstring)."""
    if scheme not in SCHEMES:
        raise ValueError(f"scheme must be one of {SCHEMES}, got {scheme!r}")
    tau = float(times[n + 1] - times[n])
    if not tau > 0:
        raise ValueError(f"the time grid must increase, got t_{n} = {times[n]} and t_{n + 1} = {times[n + 1]}")
    if scheme == "euler" or n == 0:
        return [1.0], tau
    omega = tau / float(times[n] - times[n - 1])
    a = (1 + 2 * omega) / (1 + omega)
    return [(1 + omega) / a, -omega * omega / (1 + omega) / a], tau / a


def modes_discrete(modes: Sequence[tuple[float, float]], times: Sequence[float], scheme: str) -> list[float]:
    """The amplitude at t_K of each mode (λ, a₀) of u_t = −λu stepped on ``times`` by ``scheme``: the exact
    discrete solution of the heat equation for data Σ a₀ sin-modes (λ the Dirichlet eigenvalue of −κΔ)."""
    out = []
    for lam, a0 in modes:
        hist = [float(a0)]
        for n in range(len(times) - 1):
            c, tau = bdf_anchor(times, n, scheme)
            anchor = sum(ci * hist[-1 - i] for i, ci in enumerate(c))
            hist.append(anchor / (1 + tau * lam))
        out.append(hist[-1])
    return out


def fd_heat_1d(*, a: float, b: float, kappa: float, initial: Callable[[np.ndarray], np.ndarray],
               boundary: Callable[[float], tuple[float, float]], times: Sequence[float], scheme: str,
               nodes: int = 8001) -> Callable[[np.ndarray], np.ndarray]:
    """u_t = κu_xx on [a, b] with Dirichlet data ``boundary(t) = (u(a, t), u(b, t))``, stepped on ``times`` by
    ``scheme`` (the same minimizing movements as the network, ``bdf_anchor``) and second-order central differences
    on ``nodes`` equally spaced nodes: the scheme's solution at times[-1] up to O(h²) in space, as a function of x
    (linear interpolation between the nodes, error ≤ h²/8·max|u_xx|)."""
    from scipy.linalg import solve_banded

    x = np.linspace(a, b, nodes)
    h = x[1] - x[0]
    hist = [np.asarray(initial(x), dtype=np.float64)]
    for n in range(len(times) - 1):
        c, tau = bdf_anchor(times, n, scheme)
        rhs = sum(ci * hist[-1 - i] for i, ci in enumerate(c))[1:-1].copy()
        ga, gb = boundary(float(times[n + 1]))
        r = tau * kappa / (h * h)
        ab = np.zeros((3, nodes - 2))
        ab[0, 1:], ab[1, :], ab[2, :-1] = -r, 1 + 2 * r, -r
        rhs[0] += r * ga
        rhs[-1] += r * gb
        hist.append(np.concatenate([[ga], solve_banded((1, 1), ab, rhs), [gb]]))
    final = hist[-1]
    return lambda xq: np.interp(np.asarray(xq, dtype=np.float64).reshape(-1), x, final)


@dataclass
class FEMFlow:
    """Finite element snapshots u(t_k) of a gradient flow: ``at(x, k)`` evaluates snapshot k at points (n, 2);
    ``__call__(x, t)`` interpolates linearly in time between the snapshots."""

    basis: object
    times: np.ndarray
    snapshots: list[np.ndarray]
    newton_iterations: int = 0
    _probe: tuple = (None, None)

    def _probes(self, x: np.ndarray):
        """The evaluation matrix at points x (n, 2); the last one is kept (a solver asks at the same points every
        step, and locating them in the mesh is the expensive part)."""
        x = np.ascontiguousarray(x, dtype=np.float64)
        key = (x.shape, hash(x.tobytes()))
        if self._probe[0] != key:
            self._probe = (key, self.basis.probes(x.T).tocsr())
        return self._probe[1]

    def at(self, x: np.ndarray, k: int = -1) -> np.ndarray:
        return self._probes(x) @ self.snapshots[k]

    def __call__(self, x: np.ndarray, t: np.ndarray) -> np.ndarray:
        x = np.asarray(x, dtype=np.float64)
        t = np.broadcast_to(np.asarray(t, dtype=np.float64), (x.shape[0],))
        probe = self._probes(x)
        k = np.clip(np.searchsorted(self.times, t, side="right") - 1, 0, len(self.times) - 2)
        t0, t1 = self.times[k], self.times[k + 1]
        theta = np.clip((t - t0) / (t1 - t0), 0.0, 1.0)
        out = np.empty(x.shape[0])
        for j in np.unique(k):
            m = k == j
            out[m] = ((1 - theta[m]) * (probe[m] @ self.snapshots[j]) + theta[m] * (probe[m] @ self.snapshots[j + 1]))
        return out


def fem_gradient_flow(*, lo: Sequence[float], hi: Sequence[float], kappa: float,
                      initial: Callable[[np.ndarray], np.ndarray], times: Sequence[float], scheme: str, dF: Callable[[np.ndarray], np.ndarray] | None = None,
                      d2F: Callable[[np.ndarray], np.ndarray] | None = None, dirichlet_zero: bool = False,
                      cells: int = 64, order: int = 2, newton_tol: float = 1e-12, max_newton: int = 30) -> FEMFlow:
    """u_t = κΔu − F'(u) on the rectangle [lo, hi] (zero Neumann data, or zero Dirichlet data with
    ``dirichlet_zero``), stepped on ``times`` by ``scheme`` (``bdf_anchor``), P``order`` elements on a
    ``cells`` × ``cells`` mesh of right triangles; each step solves M(u − ū)/τ̃ + κKu + ∫F'(u)v = 0 by Newton's
    method (exact Jacobian M/τ̃ + κK + ∫F''(u)φ_iφ_j) to ``newton_tol`` in the update's max norm. u⁰ is the L2
    projection of ``initial`` (numpy x (n, 2) → (n,)). F' = None: the heat equation (one linear solve per step)."""
    import logging

    if order not in (1, 2):
        raise ValueError(f"order must be 1 or 2, got {order!r}")
    quiet = logging.getLogger("skfem")  # scikit-fem logs every assembly at INFO: hundreds of lines per solve
    level = quiet.level
    quiet.setLevel(max(level, logging.WARNING))
    try:
        return _fem_flow(lo, hi, kappa, initial, np.asarray(times, dtype=np.float64), scheme, dF, d2F, dirichlet_zero,
                         cells, order, newton_tol, max_newton)
    finally:
        quiet.setLevel(level)


def _fem_flow(lo, hi, kappa, initial, times, scheme, dF, d2F, dirichlet_zero, cells, order, newton_tol,
              max_newton) -> FEMFlow:
    import skfem
    from scipy.sparse.linalg import splu
    from skfem.helpers import dot, grad

    if order not in (1, 2):
        raise ValueError(f"order must be 1 or 2, got {order!r}")
    times = np.asarray(times, dtype=np.float64)
    mesh = skfem.MeshTri.init_tensor(np.linspace(lo[0], hi[0], cells + 1), np.linspace(lo[1], hi[1], cells + 1))
    basis = skfem.Basis(mesh, skfem.ElementTriP2() if order == 2 else skfem.ElementTriP1(), intorder=2 * order + 2)

    @skfem.BilinearForm
    def mass(u, v, w):
        return u * v

    @skfem.BilinearForm
    def stiffness(u, v, w):
        return dot(grad(u), grad(v))

    @skfem.LinearForm
    def load(v, w):
        return w["f"] * v

    @skfem.BilinearForm
    def weighted_mass(u, v, w):
        return w["c"] * u * v

    M, K = mass.assemble(basis), stiffness.assemble(basis)
    xq = np.asarray(basis.global_coordinates())  # (2, cells, qp)
    f0 = initial(xq.reshape(2, -1).T).reshape(xq.shape[1:])
    u = splu(M.tocsc()).solve(load.assemble(basis, f=f0))
    free = basis.complement_dofs(basis.get_dofs()) if dirichlet_zero else np.arange(basis.N)
    if dirichlet_zero:
        u[basis.get_dofs().flatten()] = 0.0
    snapshots, total_newton = [u.copy()], 0
    for n in range(len(times) - 1):
        c, tau = bdf_anchor(times, n, scheme)
        ubar = sum(ci * snapshots[-1 - i] for i, ci in enumerate(c))
        A_lin = (M / tau + kappa * K).tocsr()
        if dF is None:
            rhs = M @ ubar / tau
            lu = splu(A_lin[free][:, free].tocsc())
            u = np.zeros(basis.N) if dirichlet_zero else u
            u[free] = lu.solve(rhs[free])
            total_newton += 1
        else:
            for _ in range(max_newton):
                uq = np.asarray(basis.interpolate(u))
                R = A_lin @ u - M @ ubar / tau + load.assemble(basis, f=dF(uq))
                J = A_lin + weighted_mass.assemble(basis, c=d2F(uq))
                du = np.zeros(basis.N)
                du[free] = splu(J[free][:, free].tocsc()).solve(R[free])
                u = u - du
                total_newton += 1
                if np.abs(du).max() < newton_tol:
                    break
            else:
                raise RuntimeError(f"Newton's method did not converge in {max_newton} iterations at step {n + 1}; "
                                   "take a smaller time step")
        snapshots.append(u.copy())
    return FEMFlow(basis=basis, times=times, snapshots=snapshots, newton_iterations=total_newton)
