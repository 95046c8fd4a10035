r"""A mean-field game in strong form, for the collocation solvers (PINN, DGM): the coupled Hamilton–Jacobi–Bellman
and continuity equations written with the ``PDE`` API, with a closed-form solution in any dimension.

Potential MFG without interaction (Lasry & Lions 2007; the α₁ = 1, F = 0, G(ρ) = ∫gρ case of
``dlpde.problems.mfg``, REFERENCES.md §4): agents at x move with velocity v, pay ½|v|² per unit time and g(x_T) at
the end, with the quadratic target cost g(x) = (c/2)|x − m|². The value Φ and the density ρ solve

    −∂ₜΦ + ½|∇Φ|² = 0,           Φ(x, T) = g(x)             (HJB, backward)
     ∂ₜρ − ∇·(ρ∇Φ) = 0,          ρ(x, 0) = N(μ₀, σ₀²I)      (continuity, forward; v = −∇Φ)

on the box [−L, L]^d × [0, T], ρ given on the lateral boundary (an inflow boundary: v points towards m).
By Hopf–Lax, Φ(x, t) = a(t)/2 |x − m|² with a(t) = c/(1 + c(T − t)); the optimal paths contract towards m,
x_t − m = s(t)(x₀ − m) with s(t) = (1 + c(T − t))/(1 + cT), so ρ(·, t) = N(m + s(t)(μ₀ − m), s(t)²σ₀²I).
The two equations are coupled one way (Φ does not depend on ρ when F = 0), and both are nonlinear in the network's
outputs; the system is a forward–backward one, with data at both ends of the time interval (``Initial`` and
``Terminal``).
"""
from __future__ import annotations

import math
from typing import Sequence

import torch

from dlpde.geometry import Box
from dlpde.problems.conditions import Dirichlet, Initial, Terminal
from dlpde.problems.pde import PDE

Tensor = torch.Tensor

NO_ENERGY = ("the HJB–continuity pair is the optimality system of a minimisation over a density and a velocity "
             "under the continuity constraint (Benamou–Brenier), a saddle point in (ρ, Φ), not the minimiser of an "
             "energy of the network's fields; the variational form is what the mfg solver minimises (Lagrangian "
             "coordinates)")


def _vector(name: str, v, dim: int) -> list[float]:
    out = [float(a) for a in v]
    if len(out) != dim or not all(math.isfinite(a) for a in out):
        raise ValueError(f"{name} needs {dim} finite entries (dim), got {v!r}")
    return out


def mfg_lq(dim: int = 1, c: float = 1.0, T: float = 1.0, std0: float = 0.5, mean0: Sequence[float] | None = None,
           target: Sequence[float] | None = None, half_width: float = 2.5) -> PDE:
    """The quadratic-target MFG above: outputs ("phi", "rho"); defaults d = 1, μ₀ = (−1, 0, …), m = (1, 0, …), c = 1,
    T = 1, σ₀ = 0.5 on [−2.5, 2.5]^d (at T the crowd is N((0, …), 0.25²I): halfway, and half as wide)."""
    if isinstance(dim, bool) or not isinstance(dim, int) or dim < 1:
        raise ValueError(f"dim must be a positive integer, got {dim!r}")
    for name, v in (("c", c), ("T", T), ("std0", std0), ("half_width", half_width)):
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not (math.isfinite(v) and v > 0):
            raise ValueError(f"{name} must be a positive number, got {v!r}")
    mu0 = _vector("mean0", mean0 if mean0 is not None else [-1.0] + [0.0] * (dim - 1), dim)
    m = _vector("target", target if target is not None else [1.0] + [0.0] * (dim - 1), dim)
    c, T, std0, L = float(c), float(T), float(std0), float(half_width)

    def centre(x: Tensor, point: list[float]) -> Tensor:
        return x[:, :dim] - torch.tensor(point, dtype=x.dtype, device=x.device)

    def phi(x: Tensor) -> Tensor:
        a = c / (1 + c * (T - x[:, dim]))
        return 0.5 * a * (centre(x, m) ** 2).sum(1)

    def rho(x: Tensor) -> Tensor:
        s = (1 + c * (T - x[:, dim])) / (1 + c * T)
        mean_shift = centre(x, m) - s[:, None] * torch.tensor([a - b for a, b in zip(mu0, m)], dtype=x.dtype,
                                                              device=x.device)
        var = (s * std0) ** 2
        return torch.exp(-0.5 * (mean_shift ** 2).sum(1) / var) / (2 * math.pi * var) ** (dim / 2)

    def exact(x: Tensor) -> Tensor:
        return torch.stack([phi(x), rho(x)], dim=1)

    def system(x, q):
        p, r = q
        grad_p = p.grad()
        return [-p.dt() + 0.5 * (grad_p * grad_p).sum(1),
                r.dt() - (r.grad() * grad_p).sum(1) - r() * p.laplacian()]

    return PDE(Box([-L] * dim, [L] * dim), system,
               [Terminal(phi, component="phi"), Initial(rho, component="rho"), Dirichlet(rho, component="rho")],
               time=(0.0, T), outputs=("phi", "rho"), exact=exact, case="mfg-lq",
               params={"c": c, "T": T, "std0": std0, "mean0": mu0, "target": m, "half_width": L},
               no_energy=NO_ENERGY)


__all__ = ["mfg_lq"]


# d = 1, one thread: 2000 Adam + 4000 L-BFGS steps on 2000 + 400 points, 3 × 32 tanh, float64: Φ 3.2e-4, ρ 7.8e-3
# in 134 s (1000 L-BFGS steps on 1000 points: ρ 3.7e-2 in 36 s). d = 2 is not resolved by these budgets: the same
# defaults give Φ 2.1e-3 but ρ 0.11 (150 s); ENGD (150 steps, 2000 fixed points, 2 × 32) ρ 6.3e-2 (123 s). The
# density at t = T is a Gaussian of standard deviation 0.25, and 2000 uniform points put ~60 within 2σ of its path.
MFG_LQ_DEFAULTS = dict(steps=2000, batch=2000, boundary_batch=400, width=32, depth=3, lr=2e-3, lbfgs_steps=4000,
                       dtype="float64", boundary_weight=10.0)


def cases() -> list:
    """The strong-form MFG case for the registry (PINN and DGM; Deep Ritz refuses it with ``NO_ENERGY``)."""
    from dlpde.problems.case import Case

    return [
        Case("mfg-lq", mfg_lq, ("pinn", "dgm"),
             "mean-field game in strong form: HJB + continuity, quadratic target cost, any d; closed form",
             default_dim=1, defaults=dict(MFG_LQ_DEFAULTS)),
    ]
