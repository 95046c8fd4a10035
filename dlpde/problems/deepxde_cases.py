"""DeepXDE's documented examples as named cases (REFERENCES.md §6), each written with the public ``PDE`` API in
a few lines — they double as examples of it. Exact solutions are torch functions, so the tests check that each
satisfies its own residual in float64.

* ``poisson-1d-neumann``  u'' = 2 on [−1, 1], u(−1) = 0, u'(1) = 4;            u = (x + 1)²
* ``poisson-1d-robin``    u'' = 2 on [−1, 1], u(−1) = 0, u'(1) = u(1);          u = (x + 1)²
* ``helmholtz-2d``        −Δu − k₀²u = k₀² sin(k₀x) sin(k₀y) on (0, 1)², u = 0;  u = sin(k₀x) sin(k₀y), k₀ = 4π
* ``diffusion-1d``        u_t = u_xx − e^{−t}(sin πx − π² sin πx), u(±1) = 0, u(x, 0) = sin πx;  u = e^{−t} sin πx
* ``wave-1d``             u_tt = 4u_xx on [0, 1]², u(0) = u(1) = 0, u(x, 0) exact, u_t(x, 0) = 0;
                          u = sin(πx) cos(2πt) + ½ sin(4πx) cos(8πt)
* ``kovasznay``           steady Navier–Stokes at Re = 20 on [−0.5, 1] × [−0.5, 1.5] (Kovasznay 1948):
                          (u·∇)u + ∇p − νΔu = 0, ∇·u = 0; u, v exact on the boundary, p exact on x = 1
* ``diffusion-inverse``   ``diffusion-1d`` with u_t = C u_xx − …, C unknown (start 2, true 1), u observed at
                          x = linspace(−1, 1, 10), t = 1
"""
from __future__ import annotations

import math

import torch

from dlpde.geometry import Box, Interval
from dlpde.problems.conditions import Data, Dirichlet, Initial, InitialVelocity, Neumann, Robin
from dlpde.problems.pde import PDE
from dlpde.problems.case import ENGD_BASE, Case

Tensor = torch.Tensor
PI = math.pi


def _energy_1d(x: Tensor, u: Tensor, du: Tensor) -> Tensor:
    """½u'² + 2u: the energy density of −u'' = f with f = −2 (u'' = 2)."""
    return 0.5 * (du * du).sum(dim=1) + 2.0 * u


def poisson_1d_neumann() -> PDE:
    """u'' = 2 on [−1, 1], u(−1) = 0, u'(1) = 4 (DeepXDE example Poisson_Neumann_1d). Energy (Deep Ritz):
    E(u) = ∫ ½u'² + 2u dx − 4u(1) over u(−1) = 0, the Neumann condition natural."""
    return PDE(Interval(-1, 1), lambda x, u: u.dxx(0) - 2.0,
               [Dirichlet(0.0, on="left"), Neumann(4.0, on="right")], energy=_energy_1d,
               exact=lambda x: (x[:, 0] + 1) ** 2, case="poisson-1d-neumann")


def poisson_1d_robin() -> PDE:
    """u'' = 2 on [−1, 1], u(−1) = 0, u'(1) = u(1), i.e. ∂u/∂n − u = 0 at x = 1 (DeepXDE Poisson_Robin_1d).

    Its energy E(u) = ∫ ½u'² + 2u dx − ½u(1)² (Robin α = −1) is unbounded below: along u = c(x + 1),
    E = c² + 4c − 2c² = 4c − c² → −∞, since the bilinear form ∫u'v' − u(1)v(1) has a(x+1, x+1) = 2 − 4 < 0.
    The solution is a saddle point of E, so Deep Ritz refuses the case (Robin α < 0)."""
    return PDE(Interval(-1, 1), lambda x, u: u.dxx(0) - 2.0,
               [Dirichlet(0.0, on="left"), Robin(alpha=-1.0, value=0.0, on="right")], energy=_energy_1d,
               exact=lambda x: (x[:, 0] + 1) ** 2, case="poisson-1d-robin")


def helmholtz_2d(k0: float = 4 * PI) -> PDE:
    """−Δu − k₀²u = k₀² sin(k₀x) sin(k₀y) on (0, 1)², u = 0 (DeepXDE Helmholtz_Dirichlet_2d, n = 2).

    Energy: ∫ ½|∇u|² − ½k₀²u² − f u, coercive only when k₀² is below −Δ's first Dirichlet eigenvalue 2π² on the
    unit square; for larger k₀ (the case's 4π) it is indefinite and Deep Ritz refuses the case."""
    def exact(x):
        return torch.sin(k0 * x[:, 0]) * torch.sin(k0 * x[:, 1])

    first = 2 * PI**2
    if k0**2 < first:
        energy, why = (lambda x, u, du: 0.5 * (du * du).sum(dim=1) - 0.5 * k0**2 * u * u - k0**2 * exact(x) * u), ""
    else:
        energy = None
        why = (f"−Δu − k₀²u with k₀² = {k0**2:.4g} above −Δ's first Dirichlet eigenvalue 2π² = {first:.4g}: the "
               "energy ∫ ½|∇u|² − ½k₀²u² − f u is indefinite (unbounded below along sin(πx)sin(πy)), the solution "
               "a saddle point, not a minimiser")
    return PDE(Box.unit(2), lambda x, u: -u.laplacian() - k0**2 * u() - k0**2 * exact(x), [Dirichlet(0.0)],
               exact=exact, case="helmholtz-2d", params={"k0": k0}, energy=energy, no_energy=why)


def _diffusion_source(x: Tensor) -> Tensor:
    """−e^{−t}(sin πx − π² sin πx)."""
    return -torch.exp(-x[:, 1]) * (torch.sin(PI * x[:, 0]) - PI**2 * torch.sin(PI * x[:, 0]))


def _diffusion_exact(x: Tensor) -> Tensor:
    return torch.exp(-x[:, 1]) * torch.sin(PI * x[:, 0])


def diffusion_1d() -> PDE:
    """u_t = u_xx − e^{−t}(sin πx − π² sin πx) on [−1, 1] × [0, 1] (DeepXDE diffusion_1d)."""
    return PDE(Interval(-1, 1), lambda x, u: u.dt() - u.dxx(0) - _diffusion_source(x),
               [Dirichlet(0.0), Initial(lambda x: torch.sin(PI * x[:, 0]))], time=(0, 1),
               exact=_diffusion_exact, case="diffusion-1d")


def wave_1d(c: float = 2.0) -> PDE:
    """u_tt = c²u_xx on [0, 1] × [0, 1], c = 2 (DeepXDE wave_1d)."""
    def exact(x):
        s, t = x[:, 0], x[:, 1]
        return torch.sin(PI * s) * torch.cos(c * PI * t) + 0.5 * torch.sin(4 * PI * s) * torch.cos(4 * c * PI * t)

    return PDE(Interval(0, 1), lambda x, u: u.dtt() - c**2 * u.dxx(0),
               [Dirichlet(0.0), Initial(exact), InitialVelocity(0.0)], time=(0, 1),
               exact=exact, case="wave-1d", params={"c": c})


def kovasznay(Re: float = 20.0) -> PDE:
    """Steady incompressible Navier–Stokes with Kovasznay's exact solution (Kovasznay 1948; DeepXDE
    Kovasznay_flow): outputs (u, v, p)."""
    nu = 1.0 / Re
    lam = 1 / (2 * nu) - math.sqrt(1 / (4 * nu**2) + 4 * PI**2)

    def exact(x):
        e = torch.exp(lam * x[:, 0])
        return torch.stack([1 - e * torch.cos(2 * PI * x[:, 1]), lam / (2 * PI) * e * torch.sin(2 * PI * x[:, 1]),
                            0.5 * (1 - e * e)], dim=1)

    def navier_stokes(x, q):
        u, v, p = q
        return [u() * u.dx(0) + v() * u.dx(1) + p.dx(0) - nu * u.laplacian(),
                u() * v.dx(0) + v() * v.dx(1) + p.dx(1) - nu * v.laplacian(),
                q.div()]

    return PDE(Box([-0.5, -0.5], [1.0, 1.5]), navier_stokes,
               [Dirichlet(lambda x: exact(x)[:, 0], component="u"), Dirichlet(lambda x: exact(x)[:, 1], component="v"),
                Dirichlet(lambda x: exact(x)[:, 2], component="p", on="right")],
               outputs=("u", "v", "p"), exact=exact, case="kovasznay", params={"Re": Re},
               no_energy="the convection term (u·∇)u is not the variation of any functional (the operator is not "
                         "symmetric), so the flow is no energy minimiser")


def diffusion_inverse(C0: float = 2.0) -> PDE:
    """``diffusion-1d`` with an unknown diffusivity C (true value 1, start ``C0``), observed at 10 points at t = 1
    (DeepXDE diffusion_1d_inverse)."""
    xs = torch.linspace(-1, 1, 10, dtype=torch.float64)
    obs = torch.stack([xs, torch.ones_like(xs)], dim=1)
    return PDE(Interval(-1, 1), lambda x, u, k: u.dt() - k["C"] * u.dxx(0) - _diffusion_source(x),
               [Dirichlet(0.0), Initial(lambda x: torch.sin(PI * x[:, 0])), Data(obs, _diffusion_exact(obs))],
               time=(0, 1), unknowns={"C": C0}, exact=_diffusion_exact, exact_unknowns={"C": 1.0},
               case="diffusion-inverse", params={"C0": C0})


def cases() -> list:
    """The registry entries (``dlpde.problems.registry._all_cases``)."""

    both = ("pinn", "dgm")
    f64 = dict(dtype="float64")
    return [
        # ritz: the energy ∫ ½u'² + 2u − 4u(1) on one fixed Gauss–Legendre rule (8 cells × 8 nodes = batch 64)
        # with 500 Adam + 500 L-BFGS steps in float64: 1.1e-5 in 5 s (seeds 1, 2 with 1000 Adam: 2.3e-5, 1.0e-5;
        # 1500 L-BFGS steps change nothing); Monte Carlo points (64 a step, L-BFGS on one draw) diverge to 4e2.
        # The penalty's Robin bias at x = −1 is u'(−1)/(2β|∂Ω|) = 0 here; β = 1000 gave 6.3e-5 (stiffer L-BFGS).
        # optimizer="engd" (30 steps on the same rule, no L-BFGS): 3.0e-8 in 1.6 s
        Case("poisson-1d-neumann", poisson_1d_neumann, both + ("ritz",),
             "u'' = 2 on [−1,1], u(−1) = 0, u'(1) = 4 (DeepXDE)",
             defaults=dict(steps=2000, batch=64, boundary_batch=16, width=20, depth=3, lr=1e-3, lbfgs_steps=500,
                           **f64, ritz=dict(steps=500, quadrature="gauss"))),
        Case("poisson-1d-robin", poisson_1d_robin, both, "u'' = 2 on [−1,1], u(−1) = 0, u'(1) = u(1) (DeepXDE)",
             defaults=dict(steps=2000, batch=64, boundary_batch=16, width=20, depth=3, lr=1e-3, lbfgs_steps=500,
                           **f64)),
        # helmholtz-2d: from a small-weight start a network learns sin(4πx)sin(4πy) only very slowly (soft boundary
        # penalty, tanh or sin, 3000 Adam + 1000 L-BFGS: 2.3, stuck at u ≈ 0); SIREN's first-layer scale 8 gives the
        # frequencies, the hard constraint u = 16x(1−x)y(1−y)·N removes the boundary term, and L-BFGS in float64
        # does the rest: with 2000 points 1.4e-4 after 3000 L-BFGS steps (243 s), 4.5e-4 after 1500 (150 s, slower
        # than DeepXDE's own example); with 1000 points 6.2e-4 after 1500 (96 s). Default: 1000 points, 2000 steps.
        # optimizer="engd": 100 Gauss–Newton steps, 2 × 32, on 1000 fixed points: 4.6e-5 in 38 s
        Case("helmholtz-2d", helmholtz_2d, both, "−Δu − k₀²u = k₀² sin(k₀x)sin(k₀y) on (0,1)², k₀ = 4π (DeepXDE)",
             defaults=dict(steps=1000, batch=1000, boundary_batch=400, width=64, depth=3, activation="sin", lr=2e-3,
                           hard_constraint=True, first_layer_scale=8.0, lbfgs_steps=2000, **f64,
                           engd=dict(pinn=dict(ENGD_BASE, steps=100, width=32, depth=2)))),
        # diffusion-1d / diffusion-inverse: u = sin(πx) + φ(x)·t·N holds the initial and boundary data exactly
        # (hard constraint), so the loss is the residual (and the observations) alone; soft penalties with 2000 Adam
        # + 1000 L-BFGS gave 3.0e-4 in 129 s, the hard constraint 1.1e-4 after 500 + 500 in 26 s (validation/REPORT.md)
        # optimizer="engd": 100 Gauss–Newton steps, 2 × 32, on 1000 fixed points: 5.1e-8 in 47 s
        Case("diffusion-1d", diffusion_1d, both, "u_t = u_xx + source on [−1,1]×[0,1] (DeepXDE)",
             defaults=dict(steps=500, batch=1000, boundary_batch=200, width=32, depth=3, lr=2e-3,
                           hard_constraint=True, lbfgs_steps=500, **f64,
                           engd=dict(pinn=dict(ENGD_BASE, steps=100, depth=2)))),
        # wave-1d: soft initial, velocity and boundary penalties (4000 Adam + 2000 L-BFGS, sin) stalled at 0.38; the
        # hard constraint u = u₀ + t²·4x(1−x)·N (u_t(x, 0) = 0 exactly as well), first-layer scale 8 and float64
        # L-BFGS give 4.2e-2 after 3000 L-BFGS steps and 4.8e-3 after 6000 (validation/REPORT.md)
        Case("wave-1d", wave_1d, both, "u_tt = 4u_xx on [0,1]×[0,1] (DeepXDE)",
             defaults=dict(steps=1000, batch=2000, boundary_batch=400, width=64, depth=3, activation="sin", lr=2e-3,
                           hard_constraint=True, first_layer_scale=8.0, lbfgs_steps=6000, **f64)),
        # kovasznay: the boundary data are the exact flow, so a hard constraint g = data would hand the network the
        # answer; the penalty stays. 3000 Adam + 1500 L-BFGS (float32): u 5.3e-4, v 1.9e-3, p 1.3e-3; in float64
        # with 2000 + 5000: u 2.1e-4, v 7.3e-4, p 3.9e-4 in 402 s under load (validation/REPORT.md)
        Case("kovasznay", kovasznay, both, "steady Navier–Stokes, Re = 20, Kovasznay's exact flow (DeepXDE)",
             defaults=dict(steps=2000, batch=2000, boundary_batch=400, width=50, depth=4, lr=2e-3,
                           boundary_weight=10.0, lbfgs_steps=5000, **f64)),
        Case("diffusion-inverse", diffusion_inverse, both, "diffusion-1d with unknown C from 10 observations (DeepXDE)",
             defaults=dict(steps=1000, batch=1000, boundary_batch=200, width=32, depth=3, lr=2e-3,
                           boundary_weight=10.0, hard_constraint=True, lbfgs_steps=1000, **f64)),
    ]
