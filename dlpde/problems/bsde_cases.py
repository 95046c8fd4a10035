r"""Black–Scholes-type cases in BSDE form: assets follow a geometric Brownian motion dX_i = μ X_i dt + σ X_i dW_i.

Convention as in ``dlpde.problems.parabolic``: u_t + ½Tr(σσᵀ Hess u) + μ·∇u + f(t, x, u, σᵀ∇u) = 0, u(T) = g, with
μ(x) = μ̄ x and σ(x) = σ̄·diag(x)·L (L the Cholesky factor of the correlation; the identity unless given), so that
Z = σᵀ∇u = σ̄ Lᵀ (x ⊙ ∇u). Deep BSDE solves them on the paths of X; PINN and DGM solve the strong form, whose
½Tr(σσᵀ Hess u) the derivative engine takes along the d columns of σ(x) (exact) or along k random combinations
σξ (Hutchinson), with points drawn from the law of (t, X_t) (``Parabolic.second_order_directions``).
"""
from __future__ import annotations

import math
from typing import Sequence

import numpy as np
import torch

from dlpde.problems.case import Case
from dlpde.problems.parabolic import (HJB, AllenCahn, BurgersType, Parabolic, QuadraticGradient, ReactionDiffusion,
                                      _check_dim, _check_number, _check_positive, point)
from dlpde.sde import GeometricBrownianSDE

Tensor = torch.Tensor

__all__ = ["DefaultRisk", "DiffRate", "GeometricBasket"]


class _GBMParabolic(Parabolic):
    def _setup(self, case: str, dim: int, T: float, x0, mu: float, sigma: float, scheme: str,
               cholesky: Tensor | None = None) -> None:
        self.case, self.dim = case, _check_dim(dim)
        self.T = _check_positive("T", T)
        self.x0, self._x0_param = point(x0, self.dim)
        if not bool((self.x0 > 0).all()):
            raise ValueError("x0 (asset prices) must be positive")
        self.mu, self.sigma = _check_number("mu", mu), _check_positive("sigma", sigma)
        if scheme not in ("exact", "euler"):
            raise ValueError(f"scheme must be 'exact' (log-normal steps) or 'euler' (Euler–Maruyama), got {scheme!r}")
        self.scheme = scheme
        self.sde = GeometricBrownianSDE(self.mu, self.sigma, cholesky=cholesky, scheme=scheme)
        self._make_domain()

    def spread(self) -> Tensor:
        return self.x0 * self.sigma * math.sqrt(self.T)


class DefaultRisk(_GBMParabolic):
    """Pricing with default risk (Han, Jentzen & E 2018; Duffie, Schroder & Skiadas 1996): d = 100 assets,
    f(t, x, y, z) = −(1 − δ) Q(y) y − R y, g(x) = min_i x_i, with the default intensity Q(y) = γʰ for y < vʰ,
    γˡ for y ≥ vˡ and linear in between. Reference u(0, x₀) = 57.300 (paper, multilevel Picard) for the paper's
    parameters (the defaults, d = 100); None otherwise. The paper's code steps X by Euler–Maruyama
    (``scheme="euler"``), which adds an O(Δt) bias (measured −0.7 % at N = 20); the default samples X exactly.
    """

    generator_uses_y = True

    def __init__(self, dim: int = 100, T: float = 1.0, x0: float | Sequence[float] = 100.0, mu: float = 0.02,
                 sigma: float = 0.2, delta: float = 2.0 / 3.0, rate: float = 0.02, gamma_h: float = 0.2,
                 gamma_l: float = 0.02, v_h: float = 50.0, v_l: float = 70.0, scheme: str = "exact"):
        self._setup("black-scholes-default-risk", dim, T, x0, mu, sigma, scheme)
        self.delta, self.rate = _check_number("delta", delta), _check_number("rate", rate)
        self.gamma_h, self.gamma_l = _check_number("gamma_h", gamma_h), _check_number("gamma_l", gamma_l)
        self.v_h, self.v_l = _check_number("v_h", v_h), _check_number("v_l", v_l)
        if not self.v_l > self.v_h:
            raise ValueError(f"v_l must exceed v_h (Q is linear between them), got v_h={v_h}, v_l={v_l}")

    def params(self) -> dict:
        return {"dim": self.dim, "T": self.T, "x0": self._x0_param, "mu": self.mu, "sigma": self.sigma,
                "delta": self.delta, "rate": self.rate, "gamma_h": self.gamma_h, "gamma_l": self.gamma_l,
                "v_h": self.v_h, "v_l": self.v_l, "scheme": self.scheme}

    def intensity(self, y: Tensor) -> Tensor:
        """Q(y): γʰ below vʰ, γˡ above vˡ, linear in between."""
        slope = (self.gamma_h - self.gamma_l) / (self.v_h - self.v_l)
        return torch.clamp(self.gamma_h + slope * (y - self.v_h), min=min(self.gamma_h, self.gamma_l),
                           max=max(self.gamma_h, self.gamma_l))

    def generator(self, t, x, y, z):
        return -(1.0 - self.delta) * self.intensity(y) * y - self.rate * y

    def terminal(self, x):
        return x.min(dim=1).values

    def reference_value(self) -> float | None:
        same = {k: v for k, v in self.params().items() if k != "scheme"}
        paper = {k: v for k, v in DefaultRisk().params().items() if k != "scheme"}
        return 57.300 if same == paper else None


class DiffRate(_GBMParabolic):
    """European option with different interest rates for borrowing and lending (Bergman 1995; E, Han & Jentzen 2017,
    §4.4): f(t, x, y, z) = −Rˡ y − (μ̄ − Rˡ) Σz/σ̄ + (Rᵇ − Rˡ)(Σz/σ̄ − y)⁺, g(x) = (max x − 120)⁺ − 2(max x − 150)⁺,
    d = 100, T = 0.5, exact log-normal steps. Reference u(0, x₀) ≈ 21.299 (paper, unconfirmed) for the defaults.
    """

    def __init__(self, dim: int = 100, T: float = 0.5, x0: float | Sequence[float] = 100.0, mu: float = 0.06,
                 sigma: float = 0.2, rate_lend: float = 0.04, rate_borrow: float = 0.06, scheme: str = "exact"):
        self._setup("black-scholes-diff-rate", dim, T, x0, mu, sigma, scheme)
        self.rate_lend = _check_number("rate_lend", rate_lend)
        self.rate_borrow = _check_number("rate_borrow", rate_borrow)

    def params(self) -> dict:
        return {"dim": self.dim, "T": self.T, "x0": self._x0_param, "mu": self.mu, "sigma": self.sigma,
                "rate_lend": self.rate_lend, "rate_borrow": self.rate_borrow, "scheme": self.scheme}

    def generator(self, t, x, y, z):
        s = z.sum(dim=1) / self.sigma
        return (-self.rate_lend * y - (self.mu - self.rate_lend) * s
                + (self.rate_borrow - self.rate_lend) * torch.relu(s - y))

    def terminal(self, x):
        m = x.max(dim=1).values
        return torch.relu(m - 120.0) - 2.0 * torch.relu(m - 150.0)

    def reference_value(self) -> float | None:
        same = {k: v for k, v in self.params().items() if k != "scheme"}
        paper = {k: v for k, v in DiffRate().params().items() if k != "scheme"}
        return 21.299 if same == paper else None


class GeometricBasket(_GBMParabolic):
    """Call on the geometric mean G = (Π x_i)^{1/d} of d correlated Black–Scholes assets (risk-neutral drift r,
    volatility σ, equicorrelation ρ): u_t + ½Tr(σσᵀ Hess u) + r x·∇u − r u = 0, u(T) = (G − K)⁺, i.e.
    f(t, x, y, z) = −r y. Closed form in any d: G is log-normal (``dlpde.reference.black_scholes``).
    """

    def __init__(self, dim: int = 100, T: float = 1.0, x0: float | Sequence[float] = 100.0, strike: float = 100.0,
                 rate: float = 0.05, sigma: float = 0.2, corr: float = 0.5, scheme: str = "exact"):
        from dlpde.reference.black_scholes import correlation_matrix
        d = _check_dim(dim)
        self.corr = _check_number("corr", corr)
        rho = correlation_matrix(self.corr, d)
        chol = torch.as_tensor(np.linalg.cholesky(rho + 1e-14 * np.eye(d)), dtype=torch.float64)
        self._setup("black-scholes-basket", d, T, x0, rate, sigma, scheme, cholesky=chol)
        self.strike, self.rate = _check_positive("strike", strike), self.mu
        self.sigma_g = self.sigma * math.sqrt(float(rho.sum())) / d  # volatility of G
        self.q_g = 0.5 * (self.sigma**2 - self.sigma_g**2)  # its dividend yield

    def params(self) -> dict:
        return {"dim": self.dim, "T": self.T, "x0": self._x0_param, "strike": self.strike, "rate": self.rate,
                "sigma": self.sigma, "corr": self.corr, "scheme": self.scheme}

    def generator(self, t, x, y, z):
        return -self.rate * y

    def _geometric_mean(self, x):
        return torch.exp(torch.log(x).mean(dim=1))

    def terminal(self, x):
        return torch.relu(self._geometric_mean(x) - self.strike)

    def european_on_g(self, t, x, *, put: bool = False):
        """Black–Scholes price at (t, x), t < T, of a European call (or put) on G: volatility σ_G, dividend yield
        q_G (torch)."""
        g = self._geometric_mean(x)
        tau = (self.T - t).clamp_min(1e-300)
        vol = self.sigma_g * torch.sqrt(tau)
        d1 = (torch.log(g / self.strike) + (self.rate - self.q_g + 0.5 * self.sigma_g**2) * tau) / vol
        d2 = d1 - vol
        asset, cash = g * torch.exp(-self.q_g * tau), self.strike * torch.exp(-self.rate * tau)
        if put:
            return cash * torch.special.ndtr(-d2) - asset * torch.special.ndtr(-d1)
        return asset * torch.special.ndtr(d1) - cash * torch.special.ndtr(d2)

    def solution(self, t, x):
        """The call on G (``european_on_g``), its payoff at t = T."""
        payoff = torch.relu(self._geometric_mean(x) - self.strike)
        return torch.where(self.T - t > 0, self.european_on_g(t, x), payoff)

    def reference_value(self) -> float:
        from dlpde.reference.black_scholes import geometric_basket_call
        return float(geometric_basket_call(self.x0.numpy(), self.strike, self.rate, self.sigma, self.corr, self.T))


def cases() -> list:
    """The named parabolic cases for the registry (REFERENCES.md §2): Deep BSDE for all, PINN for hjb-lq and
    allen-cahn. ``defaults`` hold the tuned settings per solver (see benchmarks/bsde.py)."""
    def bsde(**kw) -> dict:
        base = dict(steps=2000, batch=64, lr=1e-2, schedule="cosine", lr_final_ratio=1e-2, log_every=100,
                    eval_every=500, time_steps=20)
        return {**base, **kw}

    pinn = dict(steps=3000, batch=1024, boundary_batch=256, width=64, depth=4, lr=2e-3, boundary_weight=10.0,
                derivative="forward")
    # DGM at d = 100: the gated layers see x in every gate, so exact forward Laplacians cost d tangents per gate;
    # Hutchinson's estimate (16 probes) with the exact gradient and u_t was 5× faster at the same accuracy
    # (allen-cahn d = 100, 1500 steps: 0.27 % in 99 s against 0.28 % in 513 s exact; hjb-lq 0.14 % in 131 s).
    dgm = dict(steps=1500, batch=256, boundary_batch=128, width=32, depth=2, lr=2e-3, boundary_weight=10.0,
               derivative="hutchinson", probes=16)
    # Black–Scholes cases (Tr(σσᵀ Hess u) along σξ, Hutchinson): the basket call's kink at t = T makes the field the
    # hard part — DGM at d = 100 reached rel. L2 3.7e-2 after 1500 steps, 1.6e-2 after 4000 (batch 512) and 7.7e-3
    # after 8000 (batch 256; u(0, x₀) 0.03 %) in 644 s on a loaded machine; the error grows toward t = T, where the
    # kink is. Width 64 did not help at d = 100 (3.8e-2 after 1500 steps), nor did ENGD (0.12 after 60 steps).
    # PINN: the exact trace costs d directions per point (0.44 s a step at d = 100, batch 1024), Hutchinson's 16
    # take 23 ms at batch 256; 1500 steps gave 4.5e-2 and u(0, x₀) 1.2 %, 8000 steps 1.3e-2 and 0.13 % (422 s
    # under load), hence 12 000.
    gbm_dgm = dict(dgm, steps=8000)
    # burgers-type: u depends on Σx/d alone, so Hess u = u''/d²·11ᵀ is rank one and a Rademacher probe's vᵀ Hess u v =
    # u''(Σv)²/d² has a relative spread of √2 — times the d²/2 in front of Δu. The exact forward Laplacian (d = 50
    # tangents) is affordable here: u(0, x₀) 3.3 % (Hutchinson, 58 s) → 0.44 % (exact, 92 s), 1500 steps.
    burgers_dgm = dict(dgm, derivative="forward")
    gbm_pinn = dict(pinn, derivative="hutchinson", probes=16, batch=256, boundary_batch=128, steps=12_000,
                    lbfgs_steps=0)
    both = ("deep-bsde", "pinn", "dgm")
    return [
        Case("hjb-lq", HJB, both, "u_t + Δu − λ|∇u|² = 0, g = ln((1+|x|²)/2); Cole–Hopf reference (HJE 2018)",
             default_dim=100,
             defaults={"deep-bsde": bsde(steps=600, time_steps=10, scheme="heun"), "pinn": dict(pinn), "dgm": dict(dgm)}),
        Case("allen-cahn", AllenCahn, both, "u_t + Δu + u − u³ = 0, g = 1/(2+0.4|x|²); radial FD reference (HJE 2018)",
             default_dim=100,
             defaults={"deep-bsde": bsde(steps=600, time_steps=10, scheme="heun"), "pinn": dict(pinn), "dgm": dict(dgm)}),
        Case("burgers-type", BurgersType, both,
             "u_t + d²/2 Δu + d(u − (2+d)/(2d))Σ∂u = 0, exact sigmoid(t + Σx/d) (EHJ 2017 §4.5)",
             default_dim=50, defaults={"deep-bsde": bsde(steps=8000, batch=256, time_steps=30, scheme="heun"),
                                       "pinn": dict(pinn), "dgm": dict(burgers_dgm)}),
        Case("quadratic-gradient", QuadraticGradient, both,
             "u_t + ½Δu + |∇u|² = ψ-terms, exact sin((T−t+|x|²/d)^α) (EHJ 2017 §4.6)",
             default_dim=100, defaults={"deep-bsde": bsde(steps=1000), "pinn": dict(pinn), "dgm": dict(dgm)}),
        Case("reaction-diffusion", ReactionDiffusion, both,
             "u_t + ½Δu + min(1, (u − u*)²) = 0, exact oscillating u* (EHJ 2017 §4.7)",
             default_dim=100, defaults={"deep-bsde": bsde(steps=7000, batch=256, time_steps=30), "pinn": dict(pinn),
                                        "dgm": dict(dgm)}),
        Case("black-scholes-default-risk", DefaultRisk, both,
             "Black–Scholes with default risk, g = min x_i; reference 57.300 (HJE 2018)",
             default_dim=100, defaults={"deep-bsde": bsde(steps=600), "pinn": dict(gbm_pinn), "dgm": dict(gbm_dgm)}),
        Case("black-scholes-diff-rate", DiffRate, both,
             "Black–Scholes with different borrowing/lending rates; reference ≈ 21.299 (EHJ 2017 §4.4)",
             default_dim=100, defaults={"deep-bsde": bsde(steps=1500), "pinn": dict(gbm_pinn), "dgm": dict(gbm_dgm)}),
        Case("black-scholes-basket", GeometricBasket, both,
             "call on the geometric mean of d correlated assets; closed form in any d",
             default_dim=100, defaults={"deep-bsde": bsde(steps=1000), "pinn": dict(gbm_pinn), "dgm": dict(gbm_dgm)}),
    ]
