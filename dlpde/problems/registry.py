"""The named cases: name → factory, default dimension, the solvers that apply, a one-line description."""
from __future__ import annotations

from dlpde.problems import (american, american_basket, bsde_cases, deepxde_cases, gradient_flow, inseparable,
                            mesh_cases, mfg, mfg_strong, poisson, spacetime_cases)
from dlpde.problems.base import Problem
from dlpde.problems.case import ENGD_BASE, Case


_POISSON_SOLVERS = ("pinn", "ritz", "dgm")
# optimizer="engd" (dlpde.training.engd): a small network (its Gram is of the network's size)
ENGD_SMALL = dict(ENGD_BASE, steps=100, batch=1000, boundary_batch=400, width=32, depth=2, activation="tanh")
# poisson-sin-Nd PINN (Adam + L-BFGS): boundary weight 10 and an L-BFGS phase, as poisson-2d's: 1.6e-3 in 77 s at
# d = 5 (one thread), where the generic defaults (4000 Adam steps, boundary weight 1) stopped at 3.5e-2 in 355 s
PINN_SIN = dict(steps=3000, batch=1024, lr=2e-3, boundary_weight=10.0, lbfgs_steps=1000)
_POISSON = [
    Case("poisson-2d", poisson.poisson_2d, _POISSON_SOLVERS, "-Δu = 2π² sin(πx)sin(πy) on (0,1)², u = 0",
         defaults=dict(pinn=dict(steps=3000, batch=1024, lr=2e-3, lbfgs_steps=1000, boundary_weight=10.0),
                       # Deep Ritz: Adam on Monte Carlo energies with a boundary penalty (5000 steps, β = 1000
                       # warmed up over 30 % of them, Sobol points) stopped at 1.9e-2 in 76 s; the hard constraint
                       # u = φ·N with the tensor Gauss rule (quadrature="gauss") and L-BFGS in float64 — a smooth,
                       # deterministic energy without penalty bias — reaches 4.5e-5 in 67 s (one thread, validation/REPORT.md)
                       ritz=dict(quadrature="gauss", hard_constraint=True, dtype="float64", steps=0,
                                 lbfgs_steps=2000, width=32, depth=3, activation="tanh"),
                       dgm=dict(steps=2000, batch=1024, boundary_batch=512, width=50, depth=3, activation="tanh",
                                lr=2e-3, boundary_weight=10.0, lbfgs_steps=0),
                       # optimizer="engd": 100 Gauss–Newton steps on one fixed point set, 6.7e-7 in 20 s (one thread;
                       # validation/REPORT.md, poisson-2d-pinn-engd), against 3.0e-4 in 103 s for Adam + L-BFGS.
                       # Adam stays the default: it runs under torchrun and on networks too large for a Gram.
                       engd=dict(pinn=ENGD_SMALL))),
    Case("poisson-sin-Nd", poisson.poisson_sin, _POISSON_SOLVERS, "-Δu = π² Σ sin(πx_i) on (0,1)^d",
         default_dim=5, defaults=dict(steps=4000,
                                      # PINN: the generic defaults (boundary weight 1, no L-BFGS) stopped at 3.5e-2
                                      # in 355 s at d = 5; ENGD (optimizer="engd", the engd settings below) reaches
                                      # 6.7e-6 in 175 s at d = 5, 1.7e-4 in 290 s at d = 10, 2.5e-2 in 616 s at d = 20
                                      pinn=dict(PINN_SIN),
                                      ritz=dict(steps=5000, batch=1000, boundary_batch=1000, width=40, depth=3,
                                                activation="tanh", lr=3e-3, boundary_weight=500.0,
                                                penalty_warmup=0.3, lbfgs_steps=0),
                                      dgm=dict(steps=2000, batch=500, boundary_batch=500, width=50, depth=3,
                                               activation="tanh", lr=2e-3, boundary_weight=100.0, lbfgs_steps=0),
                                      # optimizer="engd", d = 5: one hidden layer of 128 converged further than
                                      # 2 × 32 (4.5e-4 after 300 steps): 9.5e-6 after 300 steps in 112 s
                                      # Deep Ritz: fresh points every step (on fixed points the Monte Carlo
                                      # energy is unbounded below: 1.8e-2 after 10 steps, 0.16 after 60, and so is
                                      # the tensor Gauss rule's, 6^5 or 8^5 nodes: 0.18–0.49); the error then stays
                                      # at the sampling noise: 2000 pseudo-random points 6.2e-3 after 20 steps (45 s),
                                      # 8192 scrambled Sobol points 6.5e-4 (186 s, ResNet 32 wide, 2145 parameters),
                                      # 16 384 Sobol points and 16 wide (561 parameters) 2.3e-4 (55 s), 65 536
                                      # 7.8e-5 after 25 steps (446 s beside another job; one thread)
                                      engd=dict(pinn=dict(ENGD_SMALL, steps=400, batch=3000, boundary_batch=1000,
                                                          width=128, depth=1),
                                                ritz=dict(ENGD_SMALL, steps=25, batch=65536, width=16, depth=1,
                                                          sampling="sobol", hard_constraint=True,
                                                          resample_every=1)))),
    Case("poisson-10d", poisson.poisson_harmonic, _POISSON_SOLVERS,
         "harmonic u = Σ x_{2k-1}x_{2k} on (0,1)^d (E & Yu 2018)", default_dim=10,
         defaults=dict(pinn=dict(steps=1500, batch=1000, lr=2e-3, boundary_weight=100.0, lbfgs_steps=300),
                       # Deep Ritz: β = 500 on ∫_∂Ω (u − g)² (|∂Ω| = 20) keeps the Robin-penalty bias ~5e-4; the Monte
                       # Carlo energy is noisy, so the cosine decay of a large lr does the work (no L-BFGS).
                       ritz=dict(steps=8000, batch=1000, boundary_batch=1000, width=40, depth=3, activation="tanh",
                                 lr=1e-2, boundary_weight=500.0, lbfgs_steps=0),
                       dgm=dict(steps=1000, batch=500, boundary_batch=500, width=50, depth=3, activation="tanh",
                                lr=1e-3, boundary_weight=10.0, lbfgs_steps=0))),
    Case("poisson-100d", poisson.poisson_quadratic, _POISSON_SOLVERS, "-Δu = -2d on (0,1)^d, u = Σ x_i²",
         default_dim=100,
         # PINN: one hidden layer of 384 log-cosh units. Σ x_i² needs curvature along at least d directions, and an
         # even activation (log cosh z ≈ z²/2) gives it directly; 4×64 tanh stalls near 2e-2 (README, "poisson-100d").
         defaults=dict(pinn=dict(steps=2000, batch=1000, boundary_batch=500, lr=3e-3, boundary_weight=10.0,
                                 width=384, depth=1, activation="logcosh"),
                       ritz=dict(steps=6000, batch=1000, boundary_batch=1000, width=100, depth=3, activation="tanh",
                                 lr=3e-3, boundary_weight=50.0, lbfgs_steps=0),
                       # DGM: the forward Laplacian costs 100 directions through the gates; 8 Hutchinson probes
                       # are ~3x cheaper per step (and exact at this solution, whose Hessian is 2I). 3000 steps
                       # stopped at 1.02e-2 (426 s under load), 4500 reach 7.7e-3 (281 s; one thread)
                       dgm=dict(steps=4500, batch=256, boundary_batch=256, width=50, depth=3, activation="tanh",
                                lr=2e-3, boundary_weight=10.0, lbfgs_steps=0, derivative="hutchinson", probes=8))),
    Case("poisson-ball-Nd", poisson.poisson_ball, _POISSON_SOLVERS, "-Δu = 1 on the unit ball, u = 0",
         default_dim=10, defaults=dict(steps=3000,
                                       # PINN: u ≤ 1/(2d) and most of the volume lies near the sphere where u is
                                       # ~0.01, so boundary errors dominate: β = 1 gave 0.47, β = 1000 with 500
                                       # L-BFGS steps 6.5e-2; the hard constraint u = (1 − |x|²)·N (no boundary
                                       # term) 7.4e-4 in 163 s (one thread)
                                       pinn=dict(hard_constraint=True, lbfgs_steps=500),
                                       # Deep Ritz: u ≈ 0.01 in most of the 10-d ball (its volume sits near the
                                       # sphere), so the energy is ~0.01 and a large β freezes u ≈ 0; β = 50 leaves
                                       # a Robin bias of ~1e-3 (≈ 10 %), measured 1.2e-1. The hard constraint
                                       # u = (1 − |x|²)·N has no penalty and no bias: 9.8e-3 with batch 1000,
                                       # 6.5e-3 with 4000 (Monte Carlo noise of the energy; 120 s under load)
                                       ritz=dict(steps=5000, batch=4000, boundary_batch=1000, width=40, depth=3,
                                                 activation="tanh", lr=1e-3, hard_constraint=True, lbfgs_steps=0),
                                       # DGM: β = 1000 gave 1.2e-2; the hard constraint 1.7e-3 in 132 s
                                       dgm=dict(steps=1000, batch=500, boundary_batch=500, width=50, depth=3,
                                                activation="tanh", lr=2e-3, hard_constraint=True, lbfgs_steps=0))),
]

def _all_cases() -> list[Case]:
    """Every case family contributes its list here (one import per family module)."""
    return (list(_POISSON) + mesh_cases.cases() + mfg.cases() + bsde_cases.cases() + spacetime_cases.cases()
            + deepxde_cases.cases() + inseparable.cases() + american.cases() + gradient_flow.cases()
            + mfg_strong.cases() + american_basket.cases())


CASES: dict[str, Case] = {c.name: c for c in _all_cases()}


def get_case(name: str) -> Case:
    try:
        return CASES[name]
    except KeyError:
        raise ValueError(f"unknown case {name!r}; run `dlpde cases` or choose one of {sorted(CASES)}") from None


def make(name: str, dim: int | None = None, **params) -> Problem:
    """Build the named case, e.g. ``make("poisson-sin-Nd", dim=20)``."""
    return get_case(name).make(dim, **params)
