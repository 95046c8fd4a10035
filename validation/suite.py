"""The validation suite: every case × solver that is checked against a reference, with the settings used.

Each entry runs ``dlpde.solve(case, solver, dim=dim, **settings)`` (the case's own defaults fill in the rest),
so the report measures what a user gets. ``quick`` settings shrink the budget for the test that keeps this
suite from going stale.
"""
from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Run:
    case: str
    solver: str
    dim: int | None = None
    settings: dict = field(default_factory=dict)
    target: float | None = None  # the error the issue asks for (reported, not asserted)
    metric: str = "rel_l2_error"
    note: str = ""
    checks: dict = field(default_factory=dict)  # further metric -> target of the same run (reported beside it)

    @property
    def optimizer(self) -> str | None:
        """The optimizer the run asks for (None: the case's default)."""
        return self.settings.get("optimizer")

    @property
    def key(self) -> str:
        return (f"{self.case}-{self.solver}" + (f"-d{self.dim}" if self.dim else "")
                + (f"-{self.optimizer}" if self.optimizer else ""))


QUICK = dict(steps=20, lbfgs_steps=0, batch=128, boundary_batch=64, width=16, depth=2, eval_points=500,
             log_every=10, eval_every=10)

BS_NOTE = ("closed form; S in [50, 150], t in [0, 1]; atm_rel_error at S = K, t = 0 (the payoff's corner S = K, "
           "t = T is in the solution's metrics as kink_abs_error)")
BS_POINTS = {"atm_rel_error": 1e-3}

RUNS: list[Run] = [
    Run("poisson-2d", "pinn", target=2e-3),
    Run("poisson-10d", "pinn", target=1e-2),
    Run("poisson-100d", "pinn", target=1e-2),
    Run("poisson-sin-Nd", "pinn", dim=5, target=1e-2),
    Run("poisson-ball-Nd", "pinn", dim=10, target=1e-2, note="hard constraint u = (1 − |x|²)·N"),
    # meshed domains; the reference is P2 finite elements refined until a change < 1e-4 (dlpde.problems.mesh_cases)
    Run("poisson-slit", "pinn", target=1e-2, note="against the P2 finite element reference"),
    Run("poisson-lshape", "pinn", target=1e-2, note="against the P2 finite element reference"),
    Run("poisson-3d", "pinn", target=1e-2),
    # optimizer="engd" (Gauss–Newton / energy natural gradient, Müller & Zeinhofer 2023) with the case's ENGD
    # settings; targets of issue 13 (poisson-2d within 5 minutes, the others within 10)
    Run("poisson-2d", "pinn", settings=dict(optimizer="engd"), target=1e-6),
    Run("poisson-sin-Nd", "pinn", dim=5, settings=dict(optimizer="engd"), target=1e-5),
    Run("poisson-sin-Nd", "ritz", dim=5, settings=dict(optimizer="engd"), target=1e-4),
    Run("diffusion-1d", "pinn", settings=dict(optimizer="engd"), target=1e-5, note="exact e^{−t} sin πx"),
    Run("poisson-mesh", "pinn", target=1e-2, note="built-in annulus mesh; against the P2 finite element reference"),
    # inseparable exact solutions in high dimension (REFERENCES.md §7; issue 14: ≤ 1e-2 at d = 1000 in 15 minutes)
    Run("poisson-inseparable-Nd", "pinn", dim=1000, target=1e-2, note="u = (1−|x|²)Σc_i sin(x_i + cos x_{i+1} + "
        "x_{i+1} cos x_i), c from seed 0"),
    Run("allen-cahn-inseparable-Nd", "pinn", dim=1000, target=1e-2, note="the same u; Δu + u − u³ = f"),
    Run("poisson-inseparable-Nd", "dgm", dim=1000, target=1e-2, note="the same u; Hutchinson Laplacian"),
    Run("allen-cahn-inseparable-Nd", "dgm", dim=1000, target=1e-2, note="the same u; Hutchinson Laplacian"),
    Run("poisson-inseparable-Nd", "pinn", dim=10_000, settings=dict(steps=200), target=2e-2,
        note="200 steps (0.2 s each); at this d the calibrated output level alone (a constant N) is within 1.6e-2: "
        "uniform points of the ball concentrate where S varies little"),
    Run("poisson-inseparable-Nd", "pinn", dim=100_000, settings=dict(steps=100), target=1e-2,
        note="100 steps (about 7 s each on one thread; 3.3 s when glibc keeps freed memory, README); the calibrated "
        "output level alone is within 1.02e-2 here, so this row shows that d = 10⁵ runs and trains, little more"),
    # Deep Ritz (E & Yu 2018) and DGM (Sirignano & Spiliopoulos 2018) on every Poisson case
    Run("poisson-2d", "ritz", target=1e-2),
    Run("poisson-sin-Nd", "ritz", dim=5, target=1e-2),
    Run("poisson-10d", "ritz", target=3e-3),
    Run("poisson-100d", "ritz", target=1e-2),
    Run("poisson-ball-Nd", "ritz", dim=10, target=1e-2, note="hard constraint u = (1 − |x|²)·N"),
    Run("poisson-slit", "ritz", target=1e-2, note="against the P2 finite element reference; hard constraint, the mesh's quadrature"),
    Run("poisson-lshape", "ritz", target=1e-2, note="against the P2 finite element reference; hard constraint, the mesh's quadrature"),
    Run("poisson-3d", "ritz", target=1e-2),
    Run("poisson-mesh", "ritz", target=1e-2, note="annulus; hard constraint with the mesh's L^p distance; "
        "against the P2 finite element reference"),
    Run("poisson-2d", "dgm", target=1e-2),
    Run("poisson-sin-Nd", "dgm", dim=5, target=1e-2),
    Run("poisson-10d", "dgm", target=1e-2),
    Run("poisson-100d", "dgm", target=1e-2),
    Run("poisson-ball-Nd", "dgm", dim=10, target=1e-2),
    Run("poisson-slit", "dgm", target=1e-2),
    Run("poisson-lshape", "dgm", target=1e-2),
    Run("poisson-3d", "dgm", target=1e-2),
    Run("poisson-mesh", "dgm", target=1e-2),
    # bounded space-time cases (dlpde.problems.spacetime_cases); Burgers errors on the paper's 256 × 100 grid
    Run("burgers-1d", "pinn", target=1e-3, note="Raissi et al. 2019 report 6.7e-4; Hopf–Cole exact solution"),
    Run("burgers-1d", "dgm", target=1e-2),
    Run("black-scholes-call", "pinn", target=1e-3, checks=BS_POINTS, note=BS_NOTE + "; the default is ENGD"),
    Run("black-scholes-call", "pinn", settings=dict(optimizer="adam"), target=1e-3, checks=BS_POINTS, note=BS_NOTE),
    Run("black-scholes-call", "dgm", target=1e-3, checks=BS_POINTS, note=BS_NOTE),
    # time-stepping Deep Ritz (minimizing movements, dlpde.solvers.ritz_time; issue 16 item 2): errors at the final
    # time; "same_step" against the same time stepping solved exactly (modes) or by fine finite differences/elements,
    # time_error the scheme's own error against the exact/converged solution
    Run("heat-2d", "ritz", target=1e-3, metric="final_rel_l2_error",
        checks={"final_rel_l2_error_same_step": 1e-3, "time_error": 1e-3},
        note="exact two-mode solution at t = T = 0.1; 42 BDF2 steps; implicit Euler's time error at the same τ "
             "would be 4.7e-2 (time_error_euler in the .h5 file)"),
    Run("black-scholes-call", "ritz", target=1e-3, metric="atm_rel_error",
        checks={"final_rel_l2_error": 1e-3, "time_error": 1e-3},
        note="log-price heat flow, 40 BDF2 steps; closed form at S = K, t = 0; final_rel_l2_error is w over "
             "ln(S/K) at t = 0"),
    Run("heat-2d", "pinn", target=1e-3, note="exact two-mode solution; rel. L2 over (0, 1)² × (0, T)"),
    Run("heat-2d", "dgm", target=1e-3, note="exact two-mode solution; rel. L2 over (0, 1)² × (0, T)"),
    Run("allen-cahn-2d", "ritz", target=1e-2, metric="final_rel_l2_error_same_step",
        checks={"final_rel_l2_error": 2e-2},
        note="ε = 0.05, shrinking circle, zero Neumann; P2 finite elements (64² cells) with the same implicit-Euler "
             "steps; final_rel_l2_error against BDF2 with 50 steps (converged in time)"),
    # a mean-field game in strong form (HJB backward + continuity forward, dlpde.problems.mfg_strong; issue 16's grid)
    Run("mfg-lq", "pinn", target=1e-2, checks={"rel_l2_error_phi": 1e-2, "rel_l2_error_rho": 1e-2},
        note="d = 1; closed-form Φ (Hopf–Lax) and ρ (a contracting Gaussian); error over both outputs"),
    Run("mfg-lq", "dgm", target=1e-2, checks={"rel_l2_error_phi": 1e-2, "rel_l2_error_rho": 1e-2},
        note="d = 1; the case's defaults, DGM network"),
    # DeepXDE's documented examples, written with the PDE API (dlpde.problems.deepxde_cases; REFERENCES.md §6)
    Run("poisson-1d-neumann", "pinn", target=1e-4, note="u'' = 2, u(−1) = 0, u'(1) = 4; exact (x+1)²"),
    Run("poisson-1d-neumann", "ritz", target=1e-4,
        note="energy ∫ ½u'² + 2u − 4u(1), the Neumann condition natural; Gauss rule; exact (x+1)²"),
    Run("poisson-1d-robin", "pinn", target=1e-4, note="u'' = 2, u(−1) = 0, u'(1) = u(1); exact (x+1)²"),
    Run("helmholtz-2d", "pinn", target=1e-3, note="k₀ = 4π; exact sin(k₀x)sin(k₀y)"),
    Run("diffusion-1d", "pinn", target=1e-3, note="exact e^{−t} sin πx"),
    Run("wave-1d", "pinn", target=1e-2, note="exact sin(πx)cos(2πt) + ½sin(4πx)cos(8πt)"),
    Run("kovasznay", "pinn", target=1e-3, metric="rel_l2_error_u", checks={"rel_l2_error_v": 1e-3,
                                                                            "rel_l2_error_p": 1e-2},
        note="Re = 20; Kovasznay's exact flow"),
    Run("diffusion-1d", "dgm", target=1e-3, note="u = e^{−t} sin(πx); the case's defaults, DGM network"),
    Run("diffusion-inverse", "pinn", target=1e-3, checks={"C_rel_error": 2e-3},
        note="C recovered from 10 observations at t = 1 (true 1, start 2)"),
    # Deep BSDE (Han, Jentzen & E 2018; E, Han & Jentzen 2017): u(0, x₀) against the reference value, paper dimensions
    Run("hjb-lq", "deep-bsde", dim=100, target=2e-3, metric="rel_error_u0", note="Cole–Hopf quadrature 4.590162"),
    Run("allen-cahn", "deep-bsde", dim=100, target=3e-3, metric="rel_error_u0", note="radial finite differences"),
    Run("black-scholes-default-risk", "deep-bsde", dim=100, target=5e-3, metric="rel_error_u0",
        note="published 57.300"),
    Run("black-scholes-diff-rate", "deep-bsde", dim=100, target=1e-2, metric="rel_error_u0",
        note="published ≈ 21.299 (E, Han & Jentzen 2017, not confirmed independently)"),
    Run("black-scholes-basket", "deep-bsde", dim=100, target=5e-3, metric="rel_error_u0",
        note="closed form (geometric mean of log-normal assets)"),
    # the American put (issue 16): at the money today (S = K, τ = T) and the exercise boundary at level 1e-3
    Run("american-put-1d", "dgm", target=1e-3, metric="atm_rel_error",
        checks={"exercise_boundary_rel_error": 1e-2, "rel_l2_error": 1e-2},
        note="finite differences (CN–Rannacher, penalty), checked against a binomial tree"),
    Run("american-put-1d", "pinn", target=1e-3, metric="atm_rel_error",
        checks={"exercise_boundary_rel_error": 1e-2, "rel_l2_error": 1e-2},
        note="finite differences (CN–Rannacher, penalty), checked against a binomial tree"),
    # a high-dimensional American option (issue 16 item 3): a basket whose payoff reduces to one dimension
    Run("american-basket-Nd", "dgm", dim=20, target=1e-2, checks={"rel_error_u0": 1e-2},
        note="American put on the geometric mean of 20 assets; reference: the 1-D finite-difference put on G"),
    Run("american-basket-Nd", "pinn", dim=20, target=1e-2, checks={"rel_error_u0": 1e-2},
        note="the same; rel. L2 over the law of (t, X_t)"),
    # PINN and DGM on the parabolic d = 100 cases (issue 16): u(0, x₀) against the same references. At d = 100 the
    # hjb-lq value is within 0.1 % of the constant E[g(X_T)] (issue 14), so that row tests little; allen-cahn does.
    Run("hjb-lq", "pinn", dim=100, target=1e-2, metric="rel_error_u0", note="Cole–Hopf quadrature 4.590162",
        settings=dict(steps=800, batch=256, boundary_batch=128)),
    Run("allen-cahn", "pinn", dim=100, target=1e-2, metric="rel_error_u0", note="radial finite differences",
        settings=dict(steps=800, batch=256, boundary_batch=128)),
    Run("hjb-lq", "dgm", dim=100, target=1e-2, metric="rel_error_u0", note="Cole–Hopf quadrature 4.590162"),
    Run("allen-cahn", "dgm", dim=100, target=1e-2, metric="rel_error_u0", note="radial finite differences"),
    # PINN and DGM on the Black–Scholes cases (issue 16): ½Tr(σσᵀ Hess u) along σ(x)ξ (Hutchinson), points from the
    # law of (t, X_t); the basket's field against its closed form over that law, the others' u(0, x₀)
    Run("black-scholes-basket", "dgm", dim=100, target=1e-2, checks={"rel_error_u0": 1e-2},
        note="closed form; rel. L2 over t ~ U(0, T), x ~ law of X_t"),
    Run("black-scholes-basket", "pinn", dim=100, target=1e-2, checks={"rel_error_u0": 1e-2},
        note="closed form; rel. L2 over t ~ U(0, T), x ~ law of X_t"),
    Run("black-scholes-default-risk", "dgm", dim=100, target=1e-2, metric="rel_error_u0", note="published 57.300"),
    Run("black-scholes-diff-rate", "dgm", dim=100, target=1e-2, metric="rel_error_u0",
        note="published ≈ 21.299 (E, Han & Jentzen 2017, not confirmed independently)"),
    Run("burgers-type", "deep-bsde", dim=50, target=5e-3, metric="rel_error_u0", note="exact 0.5"),
    Run("quadratic-gradient", "deep-bsde", dim=100, target=5e-3, metric="rel_error_u0", note="exact sin(1)"),
    Run("reaction-diffusion", "deep-bsde", dim=100, target=5e-3, metric="rel_error_u0", note="exact 1.6"),
    # PINN and DGM on the other semilinear cases (issue 16), u(0, x₀) against the exact solutions, with the same
    # reduced PINN budget as the hjb-lq / allen-cahn rows above
    *[Run(case, solver, dim=dim, target=1e-2, metric="rel_error_u0", note=note,
          settings=dict(steps=800, batch=256, boundary_batch=128) if solver == "pinn" else {})
      for case, dim, note in (("burgers-type", 50, "exact 0.5"), ("quadratic-gradient", 100, "exact sin(1)"),
                              ("reaction-diffusion", 100, "exact 1.6"))
      for solver in ("dgm", "pinn")],
]
