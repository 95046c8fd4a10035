r"""Semilinear parabolic problems on [0, T] × R^d with a terminal condition, in strong and in BSDE form.

Convention (backward in time; Han, Jentzen & E, "Solving high-dimensional partial differential equations using deep
learning", PNAS 115 (2018) 8505; E, Han & Jentzen, Commun. Math. Stat. 5 (2017) 349; REFERENCES.md §2)::

    u_t + ½ Tr(σσᵀ Hess u) + μ·∇u + f(t, x, u, σᵀ∇u) = 0,   u(T, x) = g(x).

BSDE form: X solves dX = μ dt + σ dW from X_0 = x₀ (``problem.sde``), and Y_t = u(t, X_t), Z_t = σᵀ∇u(t, X_t) satisfy
dY = −f dt + Z·dW, Y_T = g(X_T); the Deep BSDE method learns Y_0 = u(0, x₀).

Strong form (PINN/DGM): the network input is (x, t), time last; ``residual`` needs the gradient (``directional``,
covering x and t) and ½Tr(σσᵀ Hess u): the Laplacian over x where σ = s·I (``BrownianSDE``), else second
derivatives along the columns of σ(t, x) (or random combinations of them), which ``second_order_directions`` gives
the derivative engine (``dlpde.derivatives.trace_derivatives``); ``pde_residual`` evaluates the strong form of any
case for a callable u by autograd (the independent check of exact solutions and of the fast path).

PINN sampling for these whole-space problems: the solution matters where the forward process goes, so
``interior_points`` draws t ~ U(0, T) and x from the law of X_t (X_t = x₀ + s W_t here), and the "terminal" condition
draws x from the law of X_T at t = T. ``evaluation_points`` use the same law.

This module holds the base class and the cases driven by a Brownian motion (``hjb-lq``, ``allen-cahn``,
``burgers-type``, ``quadratic-gradient``, ``reaction-diffusion``); ``bsde_cases`` holds the Black–Scholes cases.
"""
from __future__ import annotations

import logging
import math
from typing import Callable, Sequence

import torch

from dlpde.derivatives import FieldDerivatives
from dlpde.geometry import Box, SpaceTime
from dlpde.geometry.sampling import check_count, normal, uniform_cube
from dlpde.nn.rowwise import squared_norm
from dlpde.problems.base import Condition, Problem
from dlpde.sde import SDE, BrownianSDE

log = logging.getLogger(__name__)
Tensor = torch.Tensor

__all__ = ["Parabolic", "HJB", "AllenCahn", "BurgersType", "QuadraticGradient", "ReactionDiffusion", "point"]


def _check_dim(dim) -> int:
    if isinstance(dim, bool) or not isinstance(dim, int) or dim < 1:
        raise ValueError(f"dim must be a positive integer, got {dim!r}")
    return dim


def _check_positive(name: str, value) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value <= 0:
        raise ValueError(f"{name} must be a positive finite number, got {value!r}")
    return float(value)


def _check_number(name: str, value) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise ValueError(f"{name} must be a finite number, got {value!r}")
    return float(value)


def point(x0: float | Sequence[float], dim: int) -> tuple[Tensor, float | list[float]]:
    """x₀ given as one number (every coordinate) or d numbers → (tensor (d,) float64, JSON-able form)."""
    if isinstance(x0, (int, float)) and not isinstance(x0, bool):
        v = _check_number("x0", x0)
        return torch.full((dim,), v, dtype=torch.float64), v
    try:
        t = torch.as_tensor(x0, dtype=torch.float64).reshape(-1)
    except (TypeError, ValueError, RuntimeError):
        raise TypeError(f"x0 must be a number or a sequence of {dim} numbers, got {x0!r}") from None
    if t.numel() != dim:
        raise ValueError(f"x0 must be a number or have dim = {dim} entries, got {t.numel()}")
    if not bool(torch.isfinite(t).all()):
        raise ValueError("x0 must be finite")
    if bool((t == t[0]).all()):
        return t, float(t[0])
    return t, t.tolist()


class Parabolic(Problem):
    """Base class: u_t + ½Tr(σσᵀ Hess u) + μ·∇u + f(t, x, u, σᵀ∇u) = 0 on [0, T) × R^d, u(T) = g.

    Subclasses set ``case``, ``dim``, ``T``, ``x0`` (tensor (d,)), ``sde`` (drift and diffusion) and implement
    ``generator(t, x, y, z)`` and ``terminal(x)``; optionally ``solution(t, x)`` (exact u) and ``reference_value``.
    All functions take t of shape (n,), x (n, d), y (n,), z (n, d) and return shape (n,).
    """

    time_dependent = True
    T: float
    x0: Tensor
    sde: SDE
    generator_uses_y: bool = True  # False lets Deep BSDE sum the Y recursion in one vectorised pass

    # -- BSDE form ------------------------------------------------------------------------------------
    @property
    def noise_dim(self) -> int:
        return self.dim

    def drift(self, t: Tensor, x: Tensor) -> Tensor:
        return self.sde.drift(t, x)

    def diffusion(self, t: Tensor, x: Tensor, dw: Tensor) -> Tensor:
        """σ(t, x) dw, shape (n, d)."""
        return self.sde.diffusion(t, x, dw)

    def diffusion_transpose(self, t: Tensor, x: Tensor, v: Tensor) -> Tensor:
        """σ(t, x)ᵀ v, shape (n, d): Z = σᵀ∇u."""
        return self.sde.diffusion_transpose(t, x, v)

    def generator(self, t: Tensor, x: Tensor, y: Tensor, z: Tensor) -> Tensor:
        raise NotImplementedError

    def terminal(self, x: Tensor) -> Tensor:
        raise NotImplementedError

    def reference_value(self) -> float | None:
        """u(0, x₀) from a closed form or a classical method, or None where none is known."""
        if self.has_exact:
            return float(self.solution(torch.zeros(1, dtype=torch.float64), self.x0[None])[0])
        return None

    def solution(self, t: Tensor, x: Tensor) -> Tensor:
        raise ValueError(f"{self.case} has no closed-form solution")

    # -- strong form ----------------------------------------------------------------------------------
    def pde_residual(self, u: Callable[[Tensor], Tensor], xt: Tensor) -> Tensor:
        """u_t + ½Tr(σσᵀ Hess u) + μ·∇u + f(t, x, u, σᵀ∇u) for a callable u((x, t) (n, d+1)) → (n,), by autograd
        (one Hessian-vector product per column of σ): the check that an exact solution solves the PDE."""
        xt = xt.detach().requires_grad_(True)
        x, t = xt[:, :-1], xt[:, -1]
        value = u(xt)
        (grad,) = torch.autograd.grad(value.sum(), xt, create_graph=True)
        gx, ut = grad[:, :-1], grad[:, -1]
        trace = torch.zeros_like(value)
        eye = torch.eye(self.noise_dim, dtype=xt.dtype, device=xt.device)
        for j in range(self.noise_dim):
            v = self.diffusion(t, x, eye[j].expand(len(xt), -1)).detach()
            (hv,) = torch.autograd.grad((gx * v).sum(), xt, create_graph=True)
            trace = trace + (hv[:, :-1] * v).sum(dim=1)
        z = self.diffusion_transpose(t, x, gx)
        return ut + 0.5 * trace + (self.drift(t, x) * gx).sum(dim=1) + self.generator(t, x, value, z)

    @property
    def isotropic(self) -> bool:
        """σ = s·I (a Brownian motion): the strong form needs only the Laplacian."""
        return isinstance(self.sde, BrownianSDE)

    def _isotropic_scale(self) -> float:
        if not self.isotropic:
            raise NotImplementedError(f"{self.case} has a state-dependent diffusion: no scalar scale s with σ = s·I")
        return self.sde.scale

    def second_order_directions(self, xt: Tensor, *, method: str, probes: int,
                                generator: torch.Generator | None = None) -> tuple[Tensor, Tensor | None] | None:
        """Directions v (n, k, d+1) and weights c (k,) with Σ_j c_j v_j v_jᵀ = σσᵀ(t, x) on the space block (exactly:
        the d columns of σ; in expectation for method 'hutchinson'/'sdgd': k Rademacher combinations σξ, or k random
        columns scaled by d/k), for ``dlpde.derivatives.trace_derivatives``. None where σ = s·I: the Laplacian
        path of the derivative engine is cheaper (identity directions)."""
        if self.isotropic:
            return None
        x, t = xt[:, : self.dim], xt[:, self.dim]
        n, m = len(xt), self.noise_dim
        if method in ("hutchinson", "sdgd"):
            from dlpde.derivatives import stochastic_directions
            xi, weights = stochastic_directions(xt.new_empty(n, m), m, probes, method, generator)
        else:
            xi = torch.eye(m, dtype=xt.dtype, device=xt.device).expand(n, m, m)
            weights = None
        k = xi.shape[1]
        v = self.diffusion(t.repeat_interleave(k), x.repeat_interleave(k, dim=0), xi.reshape(n * k, m))
        return torch.cat([v, v.new_zeros(n * k, 1)], dim=1).reshape(n, k, self.dim + 1), weights

    def residual(self, xt: Tensor, d: FieldDerivatives) -> Tensor:
        """u_t + ½Tr(σσᵀ Hess u) + μ·∇u + f(t, x, u, σᵀ∇u) from the derivative engine's output at (x, t): its
        ``second`` is the Laplacian over x where σ = s·I (then scaled by s²), else the trace Tr(σσᵀ Hess u) along
        ``second_order_directions``; its ``directional`` is the full gradient (∇u, u_t)."""
        if d.directional is None:
            raise ValueError(f"the {self.case} residual needs ∇u and u_t: use derivative='forward' or 'autograd', "
                             "or a stochastic Laplacian with the exact gradient (gradient=True)")
        x, t = xt[:, : self.dim], xt[:, self.dim]
        gx, ut = d.directional[:, : self.dim], d.directional[:, self.dim]
        if self.isotropic:
            s = self.sde.scale
            trace, z = s * s * d.second, s * gx
        else:
            trace, z = d.second, self.diffusion_transpose(t, x, gx)
        return ut + 0.5 * trace + (self.drift(t, x) * gx).sum(dim=1) + self.generator(t, x, d.value, z)

    def conditions(self) -> list[Condition]:
        return [Condition("terminal", self._terminal_points, lambda xt: self.terminal(xt[:, : self.dim]))]

    def _normals(self, n: int, columns: int, *, generator, device, dtype, method: str) -> Tensor:
        """Standard normals (n, columns); Sobol points mapped by the inverse normal CDF for method='sobol'."""
        if method == "sobol":
            u = uniform_cube(n, columns, generator=generator, method="sobol", device=device).to(torch.float64)
            u = u.clamp(1e-12, 1 - 1e-12)
            return (math.sqrt(2.0) * torch.erfinv(2 * u - 1)).to(dtype)
        if method != "pseudo":
            raise ValueError(f"method must be 'pseudo' or 'sobol', got {method!r}")
        return normal(n, columns, generator=generator, device=device, dtype=torch.float64).to(dtype)

    def _law_points(self, n: int, times: Tensor | None, *, generator, device, dtype, method: str) -> Tensor:
        check_count(n)
        device = torch.device(device or "cpu")
        if times is None:
            u = self._normals(n, self.dim + 1, generator=generator, device=device, dtype=torch.float64,
                              method=method)
            times = self.T * 0.5 * (1 + torch.erf(u[:, -1] / math.sqrt(2.0)))  # uniform on (0, T)
            z = u[:, :-1]
        else:
            z = self._normals(n, self.dim, generator=generator, device=device, dtype=torch.float64, method=method)
        x = self.sde.marginal(self.x0.to(device), times, z)
        return torch.cat([x, times[:, None]], dim=1).to(dtype)

    def interior_points(self, n: int, *, generator=None, device=None, dtype=torch.float32, method="pseudo"):
        """(x, t) with t ~ U(0, T) and x from the law of X_t, the forward process from x₀ (see the module doc)."""
        return self._law_points(n, None, generator=generator, device=device, dtype=dtype, method=method)

    def _terminal_points(self, n: int, *, generator=None, device=None, dtype=torch.float32, method="pseudo"):
        times = torch.full((n,), self.T, dtype=torch.float64, device=torch.device(device or "cpu"))
        return self._law_points(n, times, generator=generator, device=device, dtype=dtype, method=method)

    def evaluation_points(self, n: int, *, generator=None, dtype=torch.float64) -> Tensor:
        return self.interior_points(n, generator=generator, dtype=dtype)

    def spread(self) -> Tensor:
        """Typical spread of X_T per coordinate (for input scaling and the nominal domain), shape (d,)."""
        return torch.full((self.dim,), self._isotropic_scale() * math.sqrt(self.T), dtype=torch.float64)

    def input_normalization(self) -> tuple[list[float], list[float]]:
        """(x, t) ↦ ((x − x₀)/spread, (t − T/2)·2/T) for the PINN network."""
        shift = self.x0.tolist() + [self.T / 2]
        scale = (1.0 / self.spread()).tolist() + [2.0 / self.T]
        return shift, scale

    def _make_domain(self) -> None:
        """A nominal space-time box x₀ ± 4·spread × [0, T] (plots, ``contains``); sampling follows the law of X."""
        w = 4 * self.spread()
        self.domain = SpaceTime(Box((self.x0 - w).tolist(), (self.x0 + w).tolist()), 0.0, self.T)

    # -- exact solution (as a function of space-time points) -------------------------------------------
    @property
    def has_exact(self) -> bool:
        return type(self).solution is not Parabolic.solution

    def exact(self, xt: Tensor) -> Tensor:
        if not self.has_exact:
            raise ValueError(f"{self.case} has no closed-form solution")
        return self.solution(xt[:, self.dim], xt[:, : self.dim])


class _BrownianParabolic(Parabolic):
    """μ = 0, σ = s·I: X_t = x₀ + s W_t."""

    def __init__(self, case: str, dim: int, T: float, x0, scale: float):
        self.case, self.dim = case, _check_dim(dim)
        self.T = _check_positive("T", T)
        self.x0, self._x0_param = point(x0, self.dim)
        self.sde = BrownianSDE(scale)
        self._make_domain()

    def _base_params(self) -> dict:
        return {"dim": self.dim, "T": self.T, "x0": self._x0_param}


class HJB(_BrownianParabolic):
    """Linear–quadratic control: u_t + Δu − λ|∇u|² = 0, u(T, x) = ln((1 + |x|²)/2) (Han, Jentzen & E 2018).

    BSDE form: μ = 0, σ = √2·I, f(t, x, y, z) = −λ|z|²/2 (z = √2∇u). Reference by the Cole–Hopf transform
    (``dlpde.reference.hjb``): quadrature at x₀ = 0 (4.590162 at d = 100, T = 1, λ = 1), Monte Carlo elsewhere.
    """

    generator_uses_y = False

    def __init__(self, dim: int = 100, lam: float = 1.0, T: float = 1.0, x0: float | Sequence[float] = 0.0):
        super().__init__("hjb-lq", dim, T, x0, math.sqrt(2.0))
        self.lam = _check_positive("lam", lam)
        self._reference: float | None = None

    def params(self) -> dict:
        return {**self._base_params(), "lam": self.lam}

    def generator(self, t, x, y, z):
        return -0.5 * self.lam * squared_norm(z)

    def terminal(self, x):
        return torch.log1p((x * x).sum(dim=1)) - math.log(2.0)

    def reference_value(self) -> float:
        if self._reference is None:
            from dlpde.reference.hjb import hjb_lq_value, hjb_lq_value_at_origin
            if bool((self.x0 == 0).all()):
                self._reference = hjb_lq_value_at_origin(self.dim, 0.0, self.T, self.lam)
            else:  # Monte Carlo on the Cole–Hopf formula, standard error ~1e-4 relative
                value, err = hjb_lq_value(0.0, self.x0.numpy()[None], self.T, self.lam, samples=200_000)
                log.info("hjb-lq reference at x0 by Monte Carlo: %.6f ± %.1e", value[0], err[0])
                self._reference = float(value[0])
        return self._reference


class AllenCahn(_BrownianParabolic):
    """u_t + Δu + u − u³ = 0, u(T, x) = 1/(2 + 0.4|x|²) (Han, Jentzen & E 2018).

    BSDE form: μ = 0, σ = √2·I, f(t, x, y, z) = y − y³. Reference: radial finite differences
    (``dlpde.reference.allen_cahn.allen_cahn_radial`` at r = |x₀|; 0.052781 at d = 100, T = 0.3, x₀ = 0).
    """

    def __init__(self, dim: int = 100, T: float = 0.3, x0: float | Sequence[float] = 0.0):
        super().__init__("allen-cahn", dim, T, x0, math.sqrt(2.0))
        self._reference: float | None = None

    def params(self) -> dict:
        return self._base_params()

    def generator(self, t, x, y, z):
        return y - y * y * y

    def terminal(self, x):
        return 1.0 / (2.0 + 0.4 * (x * x).sum(dim=1))

    def reference_value(self) -> float:
        if self._reference is None:
            from dlpde.reference.allen_cahn import allen_cahn_radial
            self._reference = float(allen_cahn_radial(self.dim, self.T, float(self.x0.norm())))
        return self._reference


class BurgersType(_BrownianParabolic):
    """Burgers-type equation with an explicit solution (E, Han & Jentzen 2017, §4.5):
    u_t + (d²/2)Δu + d(u − (2+d)/(2d)) Σ_i ∂_i u = 0, u = 1 − 1/(1 + exp(t + Σx/d)) (u(0, 0) = 1/2).

    BSDE form: μ = 0, σ = d·I, f(t, x, y, z) = (y − (2+d)/(2d)) Σ_i z_i.
    """

    def __init__(self, dim: int = 50, T: float = 0.2, x0: float | Sequence[float] = 0.0):
        super().__init__("burgers-type", dim, T, x0, float(_check_dim(dim)))

    def params(self) -> dict:
        return self._base_params()

    def generator(self, t, x, y, z):
        return (y - (2.0 + self.dim) / (2.0 * self.dim)) * z.sum(dim=1)

    def terminal(self, x):
        return self.solution(torch.full_like(x[:, 0], self.T), x)

    def solution(self, t, x):
        return torch.sigmoid(t + x.sum(dim=1) / self.dim)


class QuadraticGradient(_BrownianParabolic):
    """Quadratically growing derivatives (E, Han & Jentzen 2017, §4.6): u_t + ½Δu + |∇u|² = ψ_t + ½Δψ + |∇ψ|²
    with ψ(t, x) = sin((T − t + |x|²/d)^α), whose solution is u = ψ (u(0, 0) = sin(T^α) = sin 1 = 0.841471).

    BSDE form: μ = 0, σ = I, f(t, x, y, z) = |z|² − ψ_t − ½Δψ − |∇ψ|² (derivatives of ψ in closed form).
    """

    generator_uses_y = False

    def __init__(self, dim: int = 100, T: float = 1.0, alpha: float = 0.4, x0: float | Sequence[float] = 0.0):
        super().__init__("quadratic-gradient", dim, T, x0, 1.0)
        self.alpha = _check_positive("alpha", alpha)

    def params(self) -> dict:
        return {**self._base_params(), "alpha": self.alpha}

    def _w(self, t, x):
        return (self.T - t + (x * x).sum(dim=1) / self.dim).clamp_min(1e-12)

    def generator(self, t, x, y, z):
        a, d = self.alpha, self.dim
        w = self._w(t, x)
        wa = w ** a
        psi_w = a * w ** (a - 1) * torch.cos(wa)
        psi_ww = a * (a - 1) * w ** (a - 2) * torch.cos(wa) - a * a * w ** (2 * a - 2) * torch.sin(wa)
        r2 = (x * x).sum(dim=1)
        psi_t = -psi_w
        grad2 = psi_w * psi_w * 4 * r2 / d**2
        lap = 2 * psi_w + psi_ww * 4 * r2 / d**2
        return squared_norm(z) - psi_t - 0.5 * lap - grad2

    def terminal(self, x):
        return torch.sin(((x * x).sum(dim=1) / self.dim) ** self.alpha)

    def solution(self, t, x):
        return torch.sin(self._w(t, x) ** self.alpha)


class ReactionDiffusion(_BrownianParabolic):
    """Time-dependent reaction–diffusion with an oscillating explicit solution (E, Han & Jentzen 2017, §4.7):
    u_t + ½Δu + min(1, (u − u*)²) = 0 with u*(t, x) = 1 + κ + sin(λΣx) exp(λ²d(t − T)/2), whose solution is u*
    (u(0, 0) = 1 + κ = 1.6). λ defaults to 1/√d.

    BSDE form: μ = 0, σ = I, f(t, x, y, z) = min(1, (y − u*(t, x))²).
    """

    def __init__(self, dim: int = 100, T: float = 1.0, kappa: float = 0.6, lam: float | None = None,
                 x0: float | Sequence[float] = 0.0):
        super().__init__("reaction-diffusion", dim, T, x0, 1.0)
        self.kappa = _check_number("kappa", kappa)
        self.lam = 1.0 / math.sqrt(self.dim) if lam is None else _check_positive("lam", lam)
        self._lam_param = None if lam is None else self.lam

    def params(self) -> dict:
        return {**self._base_params(), "kappa": self.kappa, "lam": self._lam_param}

    def generator(self, t, x, y, z):
        e = y - self.solution(t, x)
        return torch.clamp(e * e, max=1.0)

    def terminal(self, x):
        return 1.0 + self.kappa + torch.sin(self.lam * x.sum(dim=1))

    def solution(self, t, x):
        decay = torch.exp(self.lam**2 * self.dim * (t - self.T) / 2)
        return 1.0 + self.kappa + torch.sin(self.lam * x.sum(dim=1)) * decay
