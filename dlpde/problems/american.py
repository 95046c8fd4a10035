r"""The American put: a free-boundary problem for DGM and PINN (Sirignano & Spiliopoulos, "DGM", J. Comput. Phys.
375 (2018), §4 solves American options with the Deep Galerkin Method).

In time to maturity τ = T − t and in units of the strike (K = 1; multiply prices and S by K), the price V(S, τ) of
an American put under Black–Scholes solves the complementarity problem

    min(V_τ − ½σ²S²V_SS − rSV_S + rV,  V − (1 − S)⁺) = 0   on S ∈ (0, S_max), τ ∈ (0, T],
    V(S, 0) = (1 − S)⁺,   V(0, τ) = 1,   V(S_max, τ) = 0,

written as one residual for the strong-form solvers: where the option is held the Black–Scholes operator vanishes
and V > payoff, where it is exercised V = payoff and the operator is ≥ 0 — the min of the two is 0 in both. The
truncation V(S_max) = 0 costs under 1e-6 at S_max = 3 (the put is 200 % out of the money). The early-exercise
boundary S*(τ) separates the two regions.

Reference: ``dlpde.reference.american`` (Crank–Nicolson–Rannacher finite differences with the penalty method,
refined until the at-the-money price changes by less than its tolerance). Checks added to the metrics:
``atm_rel_error`` (S = K at τ = T, i.e. t = 0) and ``exercise_boundary_rel_error``, the largest relative difference
of the boundary at level δ, S*_δ(τ) = the largest S < K with V − payoff ≤ δ, at τ ∈ {T/4, T/2, 3T/4, T}, δ = 1e-3 —
the same definition on the network and on the reference (a level set is stable under small errors in V, the exact
contact point V = payoff is not).
"""
from __future__ import annotations

import functools

import numpy as np
import torch

from dlpde.geometry import Interval
from dlpde.problems.case import ENGD_BASE, Case
from dlpde.problems.conditions import Dirichlet, Initial
from dlpde.problems.pde import PDE

Tensor = torch.Tensor

BOUNDARY_LEVEL = 1e-3  # δ of the exercise boundary at level δ (in units of the strike)
BOUNDARY_TIMES = (0.25, 0.5, 0.75, 1.0)  # fractions of T where the boundary is compared


def _payoff(x: Tensor) -> Tensor:
    return torch.relu(1.0 - x[:, 0])


class AmericanPut(PDE):
    """American put in units of the strike (see the module docstring); inputs (S, τ), τ the time to maturity."""

    def __init__(self, rate: float = 0.05, sigma: float = 0.2, T: float = 1.0, s_max: float = 3.0):
        for name, v in (("rate", rate), ("sigma", sigma), ("T", T), ("s_max", s_max)):
            if isinstance(v, bool) or not isinstance(v, (int, float)) or not np.isfinite(v) or v <= 0:
                raise ValueError(f"{name} must be a positive number, got {v!r}")
        if s_max <= 1.5:
            raise ValueError(f"s_max must exceed 1.5 (the truncation V(s_max) = 0 needs a put far out of the money), "
                             f"got {s_max}")
        self.rate, self.sigma, self.T, self.s_max = float(rate), float(sigma), float(T), float(s_max)

        def equation(x, u):
            S = x[:, 0]
            hold = u.dt() - 0.5 * self.sigma**2 * S * S * u.dxx(0) - self.rate * S * u.d(0) + self.rate * u()
            return torch.minimum(hold, u() - _payoff(x))

        super().__init__(Interval(0.0, self.s_max), equation,
                         [Dirichlet(1.0, on="left"), Dirichlet(0.0, on="right"), Initial(_payoff)],
                         time=(0.0, self.T), case="american-put-1d",
                         params={"rate": self.rate, "sigma": self.sigma, "T": self.T, "s_max": self.s_max})

    def params(self) -> dict:
        return {"rate": self.rate, "sigma": self.sigma, "T": self.T, "s_max": self.s_max}

    def european(self, x: Tensor) -> Tensor:
        """The European put's closed form at points (S, τ) (Black & Scholes 1973), τ and S clamped away from 0."""
        S, tau = x[:, 0].clamp_min(1e-12), x[:, 1].clamp_min(1e-12)
        vol = self.sigma * torch.sqrt(tau)
        d1 = (torch.log(S) + (self.rate + 0.5 * self.sigma**2) * tau) / vol
        return torch.exp(-self.rate * tau) * torch.special.ndtr(vol - d1) - S * torch.special.ndtr(-d1)

    def hard_constraint_data(self):
        """u = P_eur(S, τ) + N(S, τ) (option ``hard_constraint``, the case's default): the network learns the
        early-exercise premium V − P_eur, which has no kink at (K, 0) — the European price carries it. The initial
        condition (P_eur(S, 0) is the payoff, so N(S, 0) = 0) and the boundary data stay in the loss. Measured
        (PINN, ENGD, 200 steps): at the money 9.2e-4 with this form against 1.5e-3 with u = P_eur + τN, which
        enforces the initial condition exactly, and 8 % (Adam + L-BFGS) without the European price."""
        return (lambda x: torch.ones_like(x[:, 0])), self.european, ()

    # -- the finite-difference reference -------------------------------------------------------------
    @property
    def fd_reference(self):
        """The converged finite-difference grid (``dlpde.reference.american.american_put_reference``; a few
        seconds, computed once per parameter set and process)."""
        return converged_reference(self.rate, self.sigma, self.T, max(4.0, self.s_max + 1.0))

    @property
    def has_reference(self) -> bool:
        return True

    def prepare_reference(self) -> None:
        self.fd_reference

    @property
    def reference_description(self) -> str:
        g = self.fd_reference
        return (f"finite differences (Crank–Nicolson–Rannacher, penalty), {len(g.S) - 1} × {len(g.tau) - 1} grid, "
                f"at-the-money change {g.atm_change:.1e} against the grid half as fine")

    def reference(self, x: Tensor) -> Tensor:
        xs = x.detach().double().cpu().numpy()
        v = self.fd_reference.price(xs[:, 0], xs[:, 1])
        return torch.as_tensor(v, dtype=x.dtype if x.dtype.is_floating_point else torch.float64, device=x.device)

    def point_checks(self) -> dict[str, tuple[Tensor, str]]:
        """The at-the-money price today: S = K, τ = T."""
        return {"atm_rel_error": (torch.tensor([[1.0, self.T]], dtype=torch.float64), "rel")}

    def solution_checks(self, values) -> dict[str, float]:
        """``exercise_boundary_rel_error``: max over τ ∈ BOUNDARY_TIMES·T of |S*_δ(net) − S*_δ(ref)| / S*_δ(ref), with
        ``values`` the network's u at points (n, 2)."""
        S = np.linspace(0.0, 1.0, 4001)
        worst = 0.0
        for frac in BOUNDARY_TIMES:
            tau = frac * self.T
            pts = np.stack([S, np.full_like(S, tau)], axis=1)
            net = exercise_boundary_at_level(S, np.asarray(values(torch.from_numpy(pts))) - (1.0 - S))
            ref = exercise_boundary_at_level(S, self.fd_reference.price(S, tau) - (1.0 - S))
            worst = max(worst, abs(net - ref) / ref if np.isfinite(net) else float("inf"))
        return {"exercise_boundary_rel_error": worst}


@functools.lru_cache(maxsize=8)
def converged_reference(rate: float, sigma: float, T: float, s_max: float, *, dividend: float = 0.0,
                        tol: float = 1e-4):
    """The converged finite-difference put in units of the strike: a memo of the pure function
    ``american_put_reference`` (problems rebuilt from a file or by each test share it; the mesh cases cache their
    finite elements the same way). Also the reference of ``american-basket-Nd``, a put on G with a dividend yield."""
    from dlpde.reference.american import american_put_reference
    return american_put_reference(1.0, rate, sigma, T, s_max=s_max, n_space=400, n_time=200, tol=tol,
                                  dividend=dividend)


def exercise_boundary_at_level(S: np.ndarray, gap: np.ndarray, level: float = BOUNDARY_LEVEL) -> float:
    """The largest S on the grid (ascending) where V − payoff ≤ level, refined by linear interpolation to the
    crossing; nan where V − payoff > level everywhere (no exercise region seen)."""
    below = np.nonzero(gap <= level)[0]
    if not len(below):
        return float("nan")
    i = below.max()
    if i + 1 >= len(S):
        return float(S[i])
    a, b = gap[i], gap[i + 1]
    return float(S[i] + (S[i + 1] - S[i]) * (level - a) / (b - a))


def cases() -> list[Case]:
    return [
        Case("american-put-1d", AmericanPut, ("dgm", "pinn"),
             "American put min(V_τ − L V, V − (K − S)⁺) = 0, K = 1, r = 0.05, σ = 0.2, T = 1 (free boundary); "
             "reference: finite differences (Sirignano & Spiliopoulos 2018)",
             # Measured (one thread, shared machine, u = P_eur + N): DGM with ENGD (below, 2 × 16, fresh points
             # each step) 1.0e-4 at the money, boundary 0.03 %, field 2.3e-5 in 287 s; DGM with Adam + L-BFGS (the
             # settings here) 3.8e-3, 0.86 %, 7.0e-4 in 339 s. PINN with ENGD 9.2e-4, 0.23 %, 9.0e-5 in 154 s (on
             # 1000 fixed points 1.2e-3); Adam + L-BFGS 1.4e-3 and 1.0 % in 71 s.
             defaults=dict(dgm=dict(optimizer="engd", steps=4000, batch=1000, boundary_batch=200, width=32, depth=3,
                                    lr=3e-3, lbfgs_steps=2000, boundary_weight=10.0, hard_constraint=True),
                           pinn=dict(optimizer="engd", steps=3000, batch=1000, boundary_batch=200, width=32, depth=3,
                                     lr=3e-3, lbfgs_steps=1000, boundary_weight=10.0, hard_constraint=True),
                           engd=dict(pinn=dict(ENGD_BASE, steps=200, width=32, depth=2, resample_every=1),
                                     dgm=dict(ENGD_BASE, steps=200, width=16, depth=2, resample_every=1)))),
    ]
