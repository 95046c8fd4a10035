"""Trained accuracy of each collocation solver, in seconds: fixed seeds, absolute bounds about 1.5× the error
measured with this code (stated beside each bound), so that the classic bugs fail them. ``tests/mutations.py``
applies those bugs to a copy of the code and shows these tests failing; the values under each bug are quoted in
the docstrings (measured with the same settings).

Adam is followed by a short L-BFGS phase: with Adam alone a few seconds reach 0.1, too close to what a broken solver
reaches; the L-BFGS phase takes the correct solver 10–50× lower and the broken ones stay where they were.
"""
import dlpde
from tests.conftest import tiny

QUICK = dict(steps=300, batch=256, width=24, lr=3e-3, lbfgs_steps=200, seed=0)
# Deep Ritz on Monte Carlo points with the boundary penalty (poisson-2d's defaults are the Gauss rule and the hard
# constraint): the sampling and the penalty are what the Ritz test's bugs break
MONTE_CARLO_RITZ = dict(quadrature="monte-carlo", hard_constraint=False, sampling="sobol")


def _error(case: str, solver: str, **kw) -> float:
    sol = dlpde.solve(case, solver, **tiny(**{**QUICK, **kw}))
    assert sol.status == "ok", sol.message
    return sol.metrics["rel_l2_error"]


def test_pinn_poisson_2d():
    """−Δu = 2π² sin πx sin πy, u = 0: measured 8.3e-3 (seeds 1, 2: 1.2e-2, 4.7e-3). Points in a quarter of the
    square: 0.37; boundary term dropped: 1.8; residual sign flipped: 2.0."""
    assert _error("poisson-2d", "pinn") < 1.25e-2


def test_dgm_poisson_2d():
    """The same problem with the DGM network: measured 1.3e-3. Points in a quarter: 0.18; boundary term dropped:
    1.7."""
    assert _error("poisson-2d", "dgm") < 2e-3


def test_ritz_poisson_2d():
    """Deep Ritz, β = 100 without warm-up, L-BFGS on 1024 fixed points: measured 3.0e-2 (seeds 1, 2: 6.2e-2, 3.0e-2).
    Quadrature points in a quarter: 0.089; boundary penalty dropped: 1.4e6; energy sign flipped: 1.9."""
    assert _error("poisson-2d", "ritz", boundary_batch=128, lr=5e-3, boundary_weight=100.0, penalty_warmup=0.0,
                  lbfgs_steps=150, lbfgs_batch=1024, dtype="float32", **MONTE_CARLO_RITZ) < 4.5e-2


def test_pinn_diffusion_1d_soft_conditions():
    """u_t = u_xx + s on [−1, 1] × [0, 1] with the initial and boundary conditions as loss terms (no hard
    constraint), the general PDE objective: measured 4.4e-3. Points in a quarter of space-time: 6.2e-2; initial term
    dropped: 8.4e-2 (every condition dropped: 7.3); initial data placed at t = 1 instead of t = 0: 0.18."""
    assert _error("diffusion-1d", "pinn", hard_constraint=False) < 6.5e-3


def test_pinn_black_scholes_call_with_adam():
    """V_t + ½σ²S²V_SS + rSV_S − rV = 0 backwards from the payoff (terminal and boundary data as loss terms), with
    Adam + L-BFGS rather than the case's default ENGD, and the case's u = smoothed payoff + N: measured 9.9e-4
    (seeds 1, 2: 4.4e-4, 9.8e-4). Points in a quarter of the (S, t) box: 0.51; conditions dropped
    (boundary_weight = 0): 0.17; without the smoothed payoff (hard_constraint=False): 7.2e-3."""
    assert _error("black-scholes-call", "pinn", optimizer="adam") < 1.5e-3


def test_dgm_black_scholes_call():
    """The same with DGM (fresh points every step, the gated network) and the smoothed payoff: measured 8.0e-4
    (seeds 1, 2: 3.1e-4, 1.2e-3). Points in a quarter: 0.23; conditions dropped: 0.13; without the smoothed
    payoff: 6.9e-3."""
    assert _error("black-scholes-call", "dgm") < 1.2e-3


def test_pinn_poisson_lshape_against_its_finite_element_reference():
    """−Δu = 1 on the L-shape (a mesh domain, corner features), errors against the P2 finite-element reference:
    measured 0.080. Points in a quarter: 0.24."""
    assert _error("poisson-lshape", "pinn", eval_every=100) < 0.12
