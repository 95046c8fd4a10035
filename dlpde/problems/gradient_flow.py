r"""Gradient flows on bounded domains, for time-stepping Deep Ritz (``dlpde.solvers.ritz_time``).

A gradient flow u_t = −δE/δu of an energy E(u) = ∫_Ω e(x, u, ∇u) dx is stepped by minimizing movements (De Giorgi;
Jordan, Kinderlehrer & Otto 1998), u^{n+1} = argmin ∫ |u − ū|²/(2τ̃) + E(u), each step a Deep Ritz problem
(E & Yu 2018); see ``dlpde.reference.gradient_flow`` for ū and τ̃ of implicit Euler and BDF2. A problem offers
the solver its flow through ``gradient_flow()``, a ``GradientFlow``: the space box, the final time, the density e,
the initial data, Dirichlet data (or none: the natural zero-Neumann condition), the references and the change of
variables back to the problem's own coordinates.

Cases:

* ``heat-2d``: u_t = Δu on (0, 1)², u = 0 on the boundary, u(0) = Σ a sin(kπx) sin(lπy); exact
  u = Σ a e^{−π²(k² + l²)t} sin(kπx) sin(lπy); E = ∫ ½|∇u|².
* ``allen-cahn-2d``: u_t = ε²Δu + u − u³ on (0, 1)² with zero Neumann data (Allen & Cahn, Acta Metall. 27, 1979),
  E = ∫ ½ε²|∇u|² + ¼(u² − 1)²; u(0) = tanh((R₀ − |x − c|)/(√2 ε)), a disc that shrinks by mean curvature
  (R² ≈ R₀² − 2ε²t). No closed form: finite elements (``dlpde.reference.gradient_flow.fem_gradient_flow``).
* ``black-scholes-call`` (the case of ``dlpde.problems.spacetime_cases``) through ``black_scholes_log_price``: in
  x = ln(S/K), s = T − t, V = K e^{αx + βs} w turns V_t + ½σ²S²V_SS + rSV_S − rV = 0 into w_s = ½σ² w_xx, the
  flow of ∫ ¼σ²|w_x|² (Wilmott, Howison & Dewynne, The Mathematics of Financial Derivatives, 1995, §5.4).
"""
from __future__ import annotations

import math
from typing import Callable, Sequence

import numpy as np
import torch

from dlpde.derivatives import FieldDerivatives
from dlpde.geometry import Box, Interval, SpaceTime
from dlpde.problems.base import Condition, Problem
from dlpde.problems.case import ENGD_BASE, Case

Tensor = torch.Tensor

__all__ = ["GradientFlow", "Heat2D", "AllenCahn2D", "black_scholes_log_price", "cases"]


def _number(name: str, value, *, positive: bool = False) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise ValueError(f"{name} must be a finite number, got {value!r}")
    if positive and value <= 0:
        raise ValueError(f"{name} must be positive, got {value!r}")
    return float(value)


class GradientFlow:
    """What time-stepping Deep Ritz needs of a gradient flow u_t = −δE/δu on a box (all in the flow's coordinates).

    Subclasses set ``space`` (a Box), ``T``, ``kappa`` (E's gradient term is ½κ|∇u|²) and implement
    ``potential`` (F in E = ∫ ½κ|∇u|² + F(u); default 0) and ``initial``; ``dirichlet`` True means u = g on ∂Ω with
    g from ``boundary_value`` (zero by default), False the natural zero-Neumann condition."""

    space: Box
    T: float
    kappa: float = 1.0
    dirichlet: bool = True
    cheap_reference: bool = False  # the reference (a formula, or a stored numerical solution) is measured every step

    def energy_density(self, x: Tensor, u: Tensor, grad: Tensor) -> Tensor:
        """e(x, u, ∇u) = ½κ|∇u|² + F(u)."""
        return 0.5 * self.kappa * (grad * grad).sum(dim=1) + self.potential(u)

    def potential(self, u: Tensor) -> Tensor:
        return torch.zeros_like(u)

    default_step: float = 0.05  # the time step τ the defaults were measured with (see each case)

    def default_time_steps(self, scheme: str = "euler") -> int:
        """The number of steps when the solver is given none: ⌈T/τ⌉ for the flow's measured ``default_step``."""
        return max(1, math.ceil(self.T / self.default_step - 1e-9))

    def initial(self, x: Tensor) -> Tensor:
        raise NotImplementedError

    def boundary_value(self, x: Tensor, t: float) -> Tensor:
        """The Dirichlet data at boundary points x (n, d) at flow time t."""
        return torch.zeros_like(x[:, 0])

    def reference_at(self, x: Tensor, t: float) -> Tensor | None:
        """The reference (exact, or converged numerical) at flow points x and flow time t; None if there is none."""
        return None

    def discrete_reference(self, times: np.ndarray, scheme: str) -> Callable[[Tensor], Tensor] | None:
        """x ↦ the solution at times[-1] of the same time stepping with exact (or converged) space discretisation;
        None if there is none."""
        return None

    def quadrature_breaks(self) -> list[list[float]]:
        """Per axis, points where the data are not smooth (quadrature cells end there), e.g. a payoff's kink."""
        return [[] for _ in range(self.space.dim)]

    def solution_map(self) -> dict:
        """How ``dlpde.nn.time_steps.TimeSteps`` maps the problem's coordinates to the flow's."""
        return {"kind": "identity"}

    def gradient_flow(self) -> "GradientFlow":
        return self


def _box_lateral_and_initial(problem, exact_initial):
    def initial(n, *, generator=None, device=None, dtype=torch.float32, method="pseudo"):
        return problem.domain.sample_slice(n, 0.0, generator=generator, device=device, dtype=dtype, method=method)
    return Condition("initial", initial, exact_initial)


TIME_ERROR_BUDGET = 4.5e-4  # heat-2d: the default step count keeps the scheme's own error below this


class Heat2D(GradientFlow, Problem):
    """u_t = Δu on (0, 1)² × [0, T], u = 0 on the boundary, u(0) = Σ a sin(kπx) sin(lπy) over ``modes`` (k, l, a);
    exact u = Σ a e^{−π²(k² + l²)t} sin(kπx) sin(lπy) (separation of variables). The L2 gradient flow of
    E = ∫ ½|∇u|². Default T = 0.1: the first mode decays to e^{−2π²/10} = 0.139, the second (2, 1) to 0.0072."""

    case = "heat-2d"
    dim = 2
    time_dependent = True
    cheap_reference = True

    def __init__(self, T: float = 0.1, modes: Sequence[Sequence[float]] = ((1, 1, 1.0), (2, 1, 0.5))):
        self.T = _number("T", T, positive=True)
        try:
            self.modes = tuple((int(k), int(l), float(a)) for k, l, a in modes)
        except (TypeError, ValueError):
            raise ValueError(f"modes must be a list of (k, l, amplitude), got {modes!r}") from None
        if not self.modes or any(k < 1 or l < 1 for k, l, _ in self.modes):
            raise ValueError(f"modes need integers k, l >= 1 (sin(kπx) sin(lπy)), got {modes!r}")
        self.space = Box([0.0, 0.0], [1.0, 1.0])
        self.domain = SpaceTime(self.space, 0.0, self.T)

    def params(self) -> dict:
        return {"dim": 2, "T": self.T, "modes": [list(m) for m in self.modes]}

    def eigenvalues(self) -> list[float]:
        return [math.pi**2 * (k * k + l * l) for k, l, _ in self.modes]

    def _field(self, x: Tensor, amplitudes: Sequence[Tensor | float]) -> Tensor:
        out = torch.zeros_like(x[:, 0])
        for (k, l, _), a in zip(self.modes, amplitudes):
            out = out + a * torch.sin(k * math.pi * x[:, 0]) * torch.sin(l * math.pi * x[:, 1])
        return out

    def initial(self, x: Tensor) -> Tensor:
        return self._field(x, [a for _, _, a in self.modes])

    def exact(self, xt: Tensor) -> Tensor:
        t = xt[:, 2]
        return self._field(xt, [a * torch.exp(-lam * t) for (_, _, a), lam in zip(self.modes, self.eigenvalues())])

    @property
    def has_exact(self) -> bool:
        return True

    def reference_at(self, x: Tensor, t: float) -> Tensor:
        return self.exact(torch.cat([x, torch.full_like(x[:, :1], float(t))], dim=1))

    def time_error(self, steps: int, scheme: str) -> float:
        """The scheme's relative L2 error at T on ``steps`` uniform steps (the modes are orthogonal in L2)."""
        from dlpde.reference.gradient_flow import modes_discrete, time_grid
        lams = self.eigenvalues()
        amps = modes_discrete([(lam, a) for (_, _, a), lam in zip(self.modes, lams)], time_grid(self.T, steps), scheme)
        exact = [a * math.exp(-lam * self.T) for (_, _, a), lam in zip(self.modes, lams)]
        return math.sqrt(sum((d - e) ** 2 for d, e in zip(amps, exact)) / sum(e * e for e in exact))

    def default_time_steps(self, scheme: str = "bdf2") -> int:
        """The fewest uniform steps (at most 400) whose time error at T is at most 4.5e-4 (``time_error``), so that
        the 1e-3 target leaves room for the network: 42 BDF2 steps at the default T = 0.1, 145 at T = 0.2 (the
        relative error grows as the solution decays); implicit Euler would need thousands (4.7e-2 at 42 steps)."""
        k = 10
        while k < 400 and self.time_error(k, scheme) > TIME_ERROR_BUDGET:
            k = max(k + 1, int(k * 1.05))
        return min(k, 400)

    def discrete_reference(self, times: np.ndarray, scheme: str) -> Callable[[Tensor], Tensor]:
        """The exact solution of the semi-discrete scheme: each sine mode is an eigenfunction of −Δ, so its
        amplitude follows the scalar recurrence (``modes_discrete``; (1 + τλ)^{−n} for implicit Euler)."""
        from dlpde.reference.gradient_flow import modes_discrete
        amps = modes_discrete([(lam, a) for (_, _, a), lam in zip(self.modes, self.eigenvalues())], times, scheme)
        return lambda x: self._field(x, amps)

    # strong form (PINN, DGM): u_t − Δu = 0 with the initial and boundary data
    def residual(self, xt: Tensor, d: FieldDerivatives) -> Tensor:
        if d.directional is None:
            raise ValueError("the heat-2d residual needs u_t: use derivative='forward' or 'autograd'")
        return d.directional[:, 2] - d.second

    def conditions(self) -> list[Condition]:
        return [_box_lateral_and_initial(self, self.exact),
                Condition("boundary", self.domain.sample_boundary, lambda xt: torch.zeros_like(xt[:, 0]))]


class AllenCahn2D(GradientFlow, Problem):
    """u_t = ε²Δu + u − u³ on (0, 1)² × [0, T], ∂ₙu = 0 (Allen & Cahn 1979), the L2 gradient flow of
    E = ∫ ½ε²|∇u|² + ¼(u² − 1)²; u(0) = tanh((R₀ − |x − c|)/(√2 ε)), c = (½, ½): the equilibrium profile across a
    circle, which shrinks by mean curvature, R(t)² ≈ R₀² − 2ε²t (0.25 → 0.19 at the defaults).

    Reference: P2 finite elements (``fem_gradient_flow``): for the error at the solver's own time grid the same scheme
    on a ``reference_cells``² mesh (``discrete_reference``); as the converged solution (``reference``, used for the
    space-time error) BDF2 with ``reference_steps`` steps on that mesh. A minimizing-movement step is convex, hence
    has one minimiser, when 1/τ̃ > max(−F'') = 1, i.e. τ < 1 (implicit Euler)."""

    case = "allen-cahn-2d"
    dim = 2
    time_dependent = True
    dirichlet = False
    cheap_reference = True  # the converged finite element solution, computed once before training
    default_step = 0.5  # implicit Euler, a convex step (τ < 1): 10 steps at T = 5 (AC_RITZ)

    def __init__(self, epsilon: float = 0.05, radius: float = 0.25, T: float = 5.0, reference_cells: int = 64,
                 reference_steps: int = 50):
        self.epsilon = _number("epsilon", epsilon, positive=True)
        self.radius = _number("radius", radius, positive=True)
        self.T = _number("T", T, positive=True)
        if not self.radius < 0.5:
            raise ValueError(f"radius must be below 0.5 (the circle lies in the unit square), got {radius!r}")
        for name, v in (("reference_cells", reference_cells), ("reference_steps", reference_steps)):
            if isinstance(v, bool) or not isinstance(v, int) or v < 4:
                raise ValueError(f"{name} must be an integer >= 4, got {v!r}")
        self.reference_cells, self.reference_steps = reference_cells, reference_steps
        self.kappa = self.epsilon**2
        self.space = Box([0.0, 0.0], [1.0, 1.0])
        self.domain = SpaceTime(self.space, 0.0, self.T)
        self._converged = None
        self.reference_description = (f"P2 finite elements, {reference_cells}² cells, BDF2 with {reference_steps} "
                                      "steps (Newton each step)")

    def params(self) -> dict:
        return {"dim": 2, "epsilon": self.epsilon, "radius": self.radius, "T": self.T,
                "reference_cells": self.reference_cells, "reference_steps": self.reference_steps}

    def potential(self, u: Tensor) -> Tensor:
        return 0.25 * (u * u - 1) ** 2

    def initial(self, x: Tensor) -> Tensor:
        r = torch.sqrt(((x - 0.5) ** 2).sum(dim=1))
        return torch.tanh((self.radius - r) / (math.sqrt(2.0) * self.epsilon))

    def conditions(self) -> list[Condition]:
        raise NotImplementedError("allen-cahn-2d has a zero-Neumann boundary (natural for Deep Ritz); the "
                                  "strong-form solvers take Dirichlet-type conditions only")

    def _fem(self, times: np.ndarray, scheme: str):
        from dlpde.reference.gradient_flow import fem_gradient_flow

        def initial(x: np.ndarray) -> np.ndarray:
            return self.initial(torch.from_numpy(x)).numpy()
        return fem_gradient_flow(lo=(0.0, 0.0), hi=(1.0, 1.0), kappa=self.kappa, initial=initial, times=times,
                                 scheme=scheme, dF=lambda u: u**3 - u, d2F=lambda u: 3 * u**2 - 1,
                                 cells=self.reference_cells, order=2)

    def discrete_reference(self, times: np.ndarray, scheme: str) -> Callable[[Tensor], Tensor]:
        fem = self._fem(np.asarray(times), scheme)
        return lambda x: torch.as_tensor(fem.at(x.detach().cpu().double().numpy()), dtype=x.dtype, device=x.device)

    def prepare_reference(self) -> None:
        if self._converged is None:
            from dlpde.reference.gradient_flow import time_grid
            self._converged = self._fem(time_grid(self.T, self.reference_steps), "bdf2")

    @property
    def has_reference(self) -> bool:
        return True

    def reference(self, xt: Tensor) -> Tensor:
        self.prepare_reference()
        x = xt.detach().cpu().double().numpy()
        return torch.as_tensor(self._converged(x[:, :2], x[:, 2]), dtype=xt.dtype, device=xt.device)

    def reference_at(self, x: Tensor, t: float) -> Tensor:
        return self.reference(torch.cat([x, torch.full_like(x[:, :1], float(t))], dim=1))


class LogPriceHeat(GradientFlow):
    """The Black–Scholes call of ``problem`` (a ``BlackScholesCall``) as the heat flow w_s = ½σ² w_xx in
    x = ln(S/K) ∈ [ln(S_min/K), ln(S_max/K)], s = T − t, with V = K e^{αx + βs} w, α = −(r − σ²/2)/σ²,
    β = −r − (r − σ²/2)²/(2σ²); w(x, 0) = e^{−αx}(eˣ − 1)⁺, Dirichlet data from the closed form at the two ends
    (exact, so the interval needs no widening). The payoff's kink at x = 0 is a quadrature break."""

    dirichlet = True
    cheap_reference = True
    default_step = 0.025  # 40 BDF2 steps at T = 1 (BS_RITZ)

    def __init__(self, problem):
        self.problem = problem
        self.K, self.r, self.sigma, self.T = problem.K, problem.r, problem.sigma, problem.T
        self._call_price = problem.exact  # V(S, t) in closed form (imported from the call, not its module: no cycle)
        self.space = Interval(math.log(problem.S_min / self.K), math.log(problem.S_max / self.K))
        self.kappa = 0.5 * self.sigma**2
        drift = self.r - 0.5 * self.sigma**2
        self.alpha, self.beta = -drift / self.sigma**2, -self.r - drift * drift / (2 * self.sigma**2)

    def _to_w(self, x: Tensor, s: Tensor | float, V: Tensor) -> Tensor:
        return V / (self.K * torch.exp(self.alpha * x + self.beta * s))

    def _exact_w(self, x: Tensor, s: float) -> Tensor:
        S = self.K * torch.exp(x[:, 0])
        V = self._call_price(torch.stack([S, torch.full_like(S, self.T - float(s))], dim=1))
        return self._to_w(x[:, 0], s, V)

    def initial(self, x: Tensor) -> Tensor:
        return torch.exp(-self.alpha * x[:, 0]) * torch.clamp(torch.expm1(x[:, 0]), min=0.0)

    def boundary_value(self, x: Tensor, t: float) -> Tensor:
        return self._exact_w(x, t)

    def reference_at(self, x: Tensor, t: float) -> Tensor:
        return self._exact_w(x, t)

    def discrete_reference(self, times: np.ndarray, scheme: str) -> Callable[[Tensor], Tensor]:
        """The same time stepping solved by fine central differences (``fd_heat_1d``, 8001 nodes)."""
        from dlpde.reference.gradient_flow import fd_heat_1d
        lo, hi = float(self.space.lo[0]), float(self.space.hi[0])
        ends = torch.tensor([[lo], [hi]], dtype=torch.float64)

        def boundary(t: float) -> tuple[float, float]:
            g = self.boundary_value(ends, t)
            return float(g[0]), float(g[1])
        fd = fd_heat_1d(a=lo, b=hi, kappa=self.kappa, boundary=boundary, times=times, scheme=scheme,
                        initial=lambda x: self.initial(torch.from_numpy(x)[:, None]).numpy())
        return lambda x: torch.as_tensor(fd(x[:, 0].detach().cpu().double().numpy()), dtype=x.dtype, device=x.device)

    def quadrature_breaks(self) -> list[list[float]]:
        lo, hi = float(self.space.lo[0]), float(self.space.hi[0])
        return [[0.0] if lo < 0 < hi else []]

    def solution_map(self) -> dict:
        return {"kind": "black-scholes-log-price", "K": self.K, "r": self.r, "sigma": self.sigma, "T": self.T}


def black_scholes_log_price(problem) -> LogPriceHeat:
    """The log-price heat flow of a ``BlackScholesCall`` (see ``LogPriceHeat``)."""
    return LogPriceHeat(problem)


# time-stepping Deep Ritz (dlpde.solvers.ritz_time): ENGD per step on a fixed Gauss rule, float64. ENGD's damping
# starts at 1e-3 of the Gram's mean diagonal in every step: with the default 1e-10 the first iterations of a
# warm-started step took steps of 2^-10…2^-19 and the error grew from 1e-3 to 0.25 in 8 heat-2d steps; with 1e-3
# it stayed at 4e-5 (10 iterations per step, width 16).
TIME_RITZ = dict(optimizer="engd", dtype="float64", engd_damping=1e-3, lbfgs_steps=0, width=16, depth=2,
                 activation="tanh", initial_steps=30, log_every=1000)
# heat-2d: BDF2 with the step count of Heat2D.default_time_steps (42 at T = 0.1: time error 4.1e-4; implicit
# Euler's at the same τ 4.7e-2), 8 ENGD iterations each on 8² cells × 4² Gauss points: at t = T 4.2e-4 against the
# exact solution, 7.1e-5 against the exact BDF2 solution of the modes, 34 s on one thread (T = 0.2: 145 steps,
# 9.8e-5, network 3.6e-4, 99 s)
HEAT_RITZ = dict(TIME_RITZ, steps=8, scheme="bdf2", quadrature_cells=8, quadrature_points=4)
# black-scholes-call: 40 uniform BDF2 steps in log-price (time error 8.9e-6: BDF2's first step is implicit Euler,
# which damps the kink), 30 ENGD iterations each on 64 cells × 4 Gauss points (the kink at x = 0 a cell end):
# at the money 1.0e-4, 23 s. A graded grid (t_k = T(k/K)², first step T/1600) was worse, 6.9e-4 (the first steps'
# profiles, kinks smoothed over √(σ²τ₁) = 0.005, are harder for the network than the time error is large);
# width 32 (8 iterations per step) 7.8e-3: not converged per step. Other parameters with these defaults: σ = 0.3
# at the money 8.1e-5; T = 0.25 (10 steps) 2.9e-3, over 1e-3: at short maturity the smoothed kink (√(σ²T) = 0.1
# wide) limits the 16 × 2 network (the time error is 4e-6).
BS_RITZ = dict(TIME_RITZ, steps=30, scheme="bdf2", quadrature_cells=64, quadrature_points=4)

# allen-cahn-2d: 10 implicit-Euler steps of τ = 0.5 (a convex step: τ < 1), 300 L-BFGS iterations each (ENGD's Gram
# of 16 384 points × 3 rows × 1 153 parameters is too slow here), 32² cells × 4² Gauss points (the interface,
# √2ε = 0.07 wide, spans ~9 points), 32 × 2 tanh: 1.9e-3 against P2 finite elements with the same steps, 6.2e-3
# against the converged BDF2 reference (implicit Euler's time error 4.8e-3), 128 s of training on a loaded core.
# ε = 0.07 with the same defaults: 1.0e-3 against the same steps, but 5.2e-2 against the converged solution (the
# circle shrinks to R ≈ 0.11 by T = 5 and implicit Euler's τ = 0.5 lags it): take smaller steps for faster flows.
AC_RITZ = dict(TIME_RITZ, optimizer="adam", steps=0, lbfgs_steps=300, initial_steps=0, width=32, depth=2,
               scheme="euler", quadrature_cells=32, quadrature_points=4)


def cases() -> list[Case]:
    """The registry entries (``dlpde.problems.registry._all_cases``)."""
    return [
        Case("heat-2d", Heat2D, ("ritz", "pinn", "dgm"),
             "u_t = Δu on (0,1)², u = 0, two sine modes; exact; time-stepping Ritz (minimizing movements)",
             defaults=dict(ritz=dict(HEAT_RITZ),
                           # PINN: Adam + L-BFGS below (used with optimizer="adam") reached 1.4e-2 in 74 s; ENGD
                           # (engd settings), 150 steps on 1500 + 400 points redrawn each step, 2 × 32, float64:
                           # 3.9e-4 in 51 s (one thread), hence the default
                           pinn=dict(optimizer="engd", steps=3000, batch=2000, boundary_batch=500, width=32, depth=4,
                                     lr=2e-3, lbfgs_steps=1000, boundary_weight=10.0),
                           # DGM likewise: Adam 1.0e-2 in 197 s; ENGD 100 steps, one 24-wide DGM layer: 4.9e-4 in 135 s
                           dgm=dict(optimizer="engd", steps=3000, batch=1000, boundary_batch=500, width=32, depth=3,
                                    lr=2e-3, lbfgs_steps=0, boundary_weight=10.0),
                           engd=dict(pinn=dict(ENGD_BASE, resample_every=1, steps=150, batch=1500, boundary_batch=400,
                                               width=32, depth=2, activation="tanh"),
                                     dgm=dict(ENGD_BASE, resample_every=1, steps=100, batch=1500, boundary_batch=400,
                                              width=24, depth=1, activation="tanh")))),
        Case("allen-cahn-2d", AllenCahn2D, ("ritz",),
             "u_t = ε²Δu + u − u³ on (0,1)², ∂ₙu = 0, ε = 0.05, shrinking circle; P2 finite element reference",
             defaults=dict(ritz=dict(AC_RITZ))),
    ]
