"""PINN and DGM on the parabolic cases of the Deep BSDE family (hjb-lq, allen-cahn): the value u(0, x₀) against
the case's reference, reported as ``rel_error_u0`` like Deep BSDE's."""
import pytest

import dlpde


def test_rel_error_u0_is_the_error_of_the_network_at_x0():
    sol = dlpde.solve("hjb-lq", "pinn", dim=2, steps=5, batch=64, width=8, depth=1, progress=False,
                      eval_points=200, lbfgs_steps=0)
    ref = sol.problem.reference_value()
    u0 = sol.value_at(t=0.0, x=sol.problem.x0.tolist())
    assert sol.metrics["rel_error_u0"] == pytest.approx(abs(u0 - ref) / abs(ref), rel=1e-12)


def test_dgm_allen_cahn_value_at_x0():
    """u_t + Δu + u − u³ = 0 at d = 2, 150 Adam + 50 L-BFGS steps: measured 1.3e-3 against the radial finite-
    difference reference 0.523996. With the reaction's sign flipped (+ u³, tests/mutations.py) u(0, x₀) moves by
    several percent."""
    sol = dlpde.solve("allen-cahn", "dgm", dim=2, depth=2, width=16, batch=128, steps=150, lbfgs_steps=50,
                      progress=False, eval_points=1000)
    assert sol.status == "ok", sol.message
    assert sol.metrics["rel_error_u0"] < 2e-3


# -- Black–Scholes cases: ½Tr(σσᵀ Hess u) with σ = σ̄·diag(x)·L along the columns of σ -------------------------------

import torch  # noqa: E402

from dlpde.derivatives import trace_derivatives  # noqa: E402
from dlpde.nn import MLP  # noqa: E402
from dlpde.problems import make  # noqa: E402

GBM_CASES = [("black-scholes-default-risk", {}), ("black-scholes-diff-rate", {}),
             ("black-scholes-basket", {"corr": 0.5}), ("black-scholes-basket", {"corr": -0.2})]


def _gbm_setup(case, kw, d=4, n=48):
    torch.manual_seed(0)
    p = make(case, dim=d, **kw)
    net = MLP(d + 1, 1, width=16, depth=2, activation="tanh").double()
    xt = p.interior_points(n, generator=torch.Generator().manual_seed(3), dtype=torch.float64)
    return p, net, xt, p.pde_residual(lambda z: net(z)[:, 0], xt).detach()


@pytest.mark.parametrize("case,kw", GBM_CASES)
@pytest.mark.parametrize("method", ["forward", "autograd"])
def test_gbm_residual_along_the_columns_of_sigma_equals_autograd(case, kw, method):
    """The fast path (second derivatives along σ(x)'s columns by the forward jet, ∇u from one reverse pass) equals
    the independent slow path ``pde_residual`` (a Hessian-vector product per column of σ, by autograd)."""
    p, net, xt, slow = _gbm_setup(case, kw)
    v, w = p.second_order_directions(xt, method=method, probes=3)
    assert v.shape == (len(xt), p.dim, p.dim + 1) and w is None and bool((v[..., -1] == 0).all())
    fast = p.residual(xt, trace_derivatives(net, xt, v, w, method=method))
    assert torch.allclose(fast, slow, rtol=1e-10, atol=1e-10 * float(slow.abs().max()))


@pytest.mark.parametrize("case,kw", GBM_CASES[:1] + GBM_CASES[2:3])
def test_gbm_sdgd_with_all_columns_is_exact_and_hutchinson_is_unbiased(case, kw):
    """SDGD with k = d columns (weights d/k = 1) is the exact trace; Hutchinson's σξ estimate averages to it (mean
    of 400 independent 8-probe estimates within 5 standard errors at every point)."""
    p, net, xt, slow = _gbm_setup(case, kw)
    v, w = p.second_order_directions(xt, method="sdgd", probes=p.dim, generator=torch.Generator().manual_seed(1))
    exact = p.residual(xt, trace_derivatives(net, xt, v, w)).detach()
    assert torch.allclose(exact, slow, rtol=1e-10, atol=1e-10 * float(slow.abs().max()))
    g = torch.Generator().manual_seed(2)
    draws = torch.stack([p.residual(xt, trace_derivatives(
        net, xt, *p.second_order_directions(xt, method="hutchinson", probes=8, generator=g))).detach()
        for _ in range(400)])
    se = draws.std(dim=0) / 20.0
    assert bool(((draws.mean(dim=0) - slow).abs() <= 5 * se + 1e-9).all())
    assert float(draws.std(dim=0).max()) > 0  # the estimate is random: the bound above is not vacuous


def test_dgm_basket_call_against_the_closed_form():
    """Call on the geometric mean of d = 4 correlated assets (ρ = 0.5), DGM with the exact trace along σ(x)'s
    columns, 300 steps: measured rel. L2 4.9e-2 over the law of (t, X_t) and u(0, x₀) 1.1e-2 from the closed form
    (seeds 1, 2: 3.8e-2 / 4.0e-3 and 3.8e-2 / 4.0e-4). Without the trace term or with the correlation dropped
    from its directions (tests/mutations.py) the price moves by much more."""
    sol = dlpde.solve("black-scholes-basket", "dgm", dim=4, steps=300, batch=128, boundary_batch=64, width=16,
                      depth=2, derivative="forward", progress=False, eval_points=2000, seed=0)
    assert sol.status == "ok", sol.message
    assert sol.metrics["rel_l2_error"] < 0.075
    assert sol.metrics["rel_error_u0"] < 0.017


@pytest.mark.parametrize("solver", ["pinn", "dgm"])
def test_gbm_solver_networks_fast_residual_equals_autograd(solver):
    """The networks the solvers build for a geometric-Brownian case (input/output scaling around the MLP or the DGM
    net): the residual through their forward jets equals ``pde_residual`` by autograd."""
    from dlpde.settings import SolveSettings
    from dlpde.solvers import get_solver
    p = make("black-scholes-basket", dim=3, corr=0.3)
    model = get_solver(solver).build_model(p, SolveSettings(width=8, depth=2)).double()
    xt = p.interior_points(40, generator=torch.Generator().manual_seed(4), dtype=torch.float64)
    slow = p.pde_residual(lambda z: model(z)[:, 0], xt).detach()
    fast = p.residual(xt, trace_derivatives(model, xt, *p.second_order_directions(xt, method="forward", probes=1)))
    assert torch.allclose(fast, slow, rtol=1e-10, atol=1e-10 * float(slow.abs().max()))
