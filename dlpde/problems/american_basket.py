r"""An American put on the geometric mean of d assets: a free-boundary problem in high dimension for DGM and PINN
(Sirignano & Spiliopoulos, "DGM", J. Comput. Phys. 375 (2018), §4 price American options in up to 200 dimensions),
with a reference from its one-dimensional reduction.

d correlated Black–Scholes assets (risk-neutral drift r, volatility σ, equicorrelation ρ) and the payoff
(K − G)⁺ on G = (Π xᵢ)^{1/d}; in calendar time t the price solves

    min(−(u_t + ½Tr(σσᵀ Hess u) + r x·∇u − r u),  u − (K − G)⁺) = 0,   u(T, x) = (K − G)⁺.

G is itself a Black–Scholes asset with volatility σ_G = σ√(1ᵀR1)/d and dividend yield q_G = ½(σ² − σ_G²)
(``GeometricBasket``), and the payoff depends on x through G alone, so u(t, x) = v(G, T − t) with v the price of a
one-dimensional American put on G: the reference is the finite-difference solver of ``american-put-1d``
(``dlpde.reference.american``) with that volatility and dividend yield, converged to 1e-5 at the money. Errors:
``rel_error_u0`` at x₀ and ``rel_l2_error`` over the law of (t, X_t), as for the European basket.
Deep BSDE does not apply: optimal stopping is a reflected BSDE, not the Deep BSDE recursion.
"""
from __future__ import annotations

from typing import Sequence

import numpy as np
import torch

from dlpde.problems.american import converged_reference
from dlpde.problems.bsde_cases import GeometricBasket

Tensor = torch.Tensor


class AmericanBasketPut(GeometricBasket):
    """American put on the geometric mean of d assets (see the module docstring)."""

    no_bsde = "optimal stopping is a reflected BSDE (the price is a supremum over stopping times), not Deep BSDE's"

    def __init__(self, dim: int = 20, T: float = 1.0, x0: float | Sequence[float] = 100.0, strike: float = 100.0,
                 rate: float = 0.05, sigma: float = 0.2, corr: float = 0.5, scheme: str = "exact"):
        super().__init__(dim, T, x0, strike, rate, sigma, corr, scheme)
        self.case = "american-basket-Nd"

    def terminal(self, x: Tensor) -> Tensor:
        return torch.relu(self.strike - self._geometric_mean(x))

    def residual(self, xt: Tensor, d) -> Tensor:
        """min(−(u_t + Lu − ru), u − payoff): zero where the option is held and where it is exercised."""
        held = super().residual(xt, d)
        return torch.minimum(-held, d.value - self.terminal(xt[:, : self.dim]))

    @property
    def fd_reference(self):
        """The converged one-dimensional grid in units of the strike (computed once per parameter set)."""
        return converged_reference(self.rate, self.sigma_g, self.T, 4.0, dividend=self.q_g, tol=1e-5)

    def solution(self, t: Tensor, x: Tensor) -> Tensor:
        """u(t, x) = K·v(G/K, T − t) from the one-dimensional finite-difference grid (bicubic spline)."""
        g = (self._geometric_mean(x) / self.strike).detach().double().cpu().numpy()
        tau = (self.T - t).detach().double().cpu().numpy()
        v = self.fd_reference.price(g, np.clip(tau, 0.0, self.T))
        return torch.as_tensor(self.strike * v, dtype=x.dtype, device=x.device)

    def reference_value(self) -> float:
        return float(self.solution(torch.zeros(1, dtype=torch.float64), self.x0[None].double())[0])

    @property
    def reference_description(self) -> str:
        g = self.fd_reference
        return (f"1-D reduction: American put on G (σ_G = {self.sigma_g:.4f}, q_G = {self.q_g:.4f}) by finite "
                f"differences, {len(g.S) - 1} × {len(g.tau) - 1} grid, at-the-money change {g.atm_change:.1e}")


# The trace ½Tr(σσᵀ Hess u) exactly along the d columns of σ (derivative="forward"; d = 20 directions cost about what
# 16 Hutchinson probes do, without their noise), exact ∇u and u_t. Measured at d = 20, one thread (validation/REPORT.md
# for the defaults):
#   PINN (4 × 64): Hutchinson, 12 000 steps: rel. L2 5.8e-2, u(0, x₀) 1.5 % (288 s); exact, 3000 steps 3.9e-2 / 3.6 %
#   (58 s), 12 000 steps 1.8e-2 / 1.7 % (195 s), 24 000 steps (the default) 9.2e-3 / 0.32 % (347 s).
#   DGM (2 × 32): Hutchinson, 8000 steps 6.7e-2 (396 s); exact, 3000 steps 4.7e-2 / 5.9 % (115 s), 8000 steps
#   2.3e-2 / 2.5 % (274 s), 20 000 steps (the default) 9.99e-3 / 0.81 % (664 s beside the CI run).
#   u = P_eur(G) + N (the 1-D case's hard constraint) was worse: 8.1e-2 / 9.9 % (PINN, exact, 3000 steps).
DGM_DEFAULTS = dict(steps=20_000, batch=256, boundary_batch=128, width=32, depth=2, lr=2e-3, boundary_weight=10.0,
                    derivative="forward", lbfgs_steps=0)
PINN_DEFAULTS = dict(steps=24_000, batch=256, boundary_batch=128, width=64, depth=4, lr=2e-3, boundary_weight=10.0,
                     derivative="forward", lbfgs_steps=0)


def cases() -> list:
    """The registry entry (PINN and DGM; Deep BSDE refuses it: ``no_bsde``)."""
    from dlpde.problems.case import Case

    return [Case("american-basket-Nd", AmericanBasketPut, ("pinn", "dgm"),
                 "American put on the geometric mean of d assets (DGM 2018 §4); 1-D finite-difference reduction",
                 default_dim=20, defaults=dict(dgm=dict(DGM_DEFAULTS), pinn=dict(PINN_DEFAULTS)))]
