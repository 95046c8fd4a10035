"""Time-stepping Deep Ritz (dlpde.solvers.ritz_time) on gradient flows (dlpde.problems.gradient_flow): the exact
solutions and the references (modes, finite differences, finite elements) against each other, short trained runs
with error bounds that a dropped loss term breaks (tests/mutations.py: ritz-time-*), and bad input."""
import math

import numpy as np
import pytest
import torch

import dlpde
from dlpde.derivatives import laplacian
from dlpde.problems import make
from dlpde.problems.gradient_flow import AllenCahn2D, black_scholes_log_price
from dlpde.reference.gradient_flow import bdf_anchor, fd_heat_1d, fem_gradient_flow, modes_discrete, time_grid
from dlpde.solvers.ritz_time import gauss_box

from tests.conftest import ExactField


def test_heat_exact_solution_satisfies_its_pde_and_data():
    p = make("heat-2d", T=0.05)
    g = torch.Generator().manual_seed(0)
    x = p.interior_points(300, generator=g, dtype=torch.float64)
    d = laplacian(ExactField(p), x, method="autograd", dims=2)
    assert p.residual(x, d).abs().max() < 1e-10 * (1 + d.second.abs().max())
    for c in p.conditions():
        xb = c.sample(100, generator=g, dtype=torch.float64)
        assert torch.allclose(c.target(xb), p.exact(xb), atol=1e-12)
    assert torch.allclose(p.exact(torch.cat([x[:, :2], 0 * x[:, :1]], 1)), p.initial(x[:, :2]), atol=1e-14)
    wrong = make("heat-2d", T=0.05, modes=[[1, 2, 1.0]])  # a different solution: the residual test can fail
    d = laplacian(ExactField(wrong), x, method="autograd", dims=2)
    xb = p.conditions()[0].sample(50, generator=g, dtype=torch.float64)
    assert (p.conditions()[0].target(xb) - wrong.exact(xb)).abs().max() > 0.1


def test_log_price_flow_is_the_heat_equation_and_maps_back_to_the_call():
    """w(x, s) = V(K eˣ, T − s)/(K e^{αx+βs}) solves w_s = ½σ² w_xx: the substitution's α, β are right."""
    bs = make("black-scholes-call")
    flow = black_scholes_log_price(bs)
    x = torch.linspace(-0.6, 0.35, 41, dtype=torch.float64)
    s = torch.full_like(x, 0.37)
    xs = torch.stack([x, s], 1).requires_grad_(True)
    w = flow._exact_w(xs[:, :1], 0.0)  # shape check only
    assert w.shape == (41,)

    def w_of(xs):
        S = bs.K * torch.exp(xs[:, 0])
        from dlpde.problems.spacetime_cases import bs_call_torch
        return flow._to_w(xs[:, 0], xs[:, 1], bs_call_torch(S, xs[:, 1], bs.K, bs.r, bs.sigma))

    val = w_of(xs)
    (g,) = torch.autograd.grad(val.sum(), xs, create_graph=True)
    (gxx,) = torch.autograd.grad(g[:, 0].sum(), xs)
    assert (g[:, 1] - flow.kappa * gxx[:, 0]).abs().max() < 1e-10
    assert torch.allclose(flow.initial(x[:, None]), w_of(torch.stack([x, 0 * x], 1)), atol=1e-12)


def test_gauss_rule_is_exact_for_polynomials_and_splits_at_breaks():
    x, w = gauss_box(torch.tensor([0.0, -1.0]), torch.tensor([2.0, 1.0]), 3, 3, dtype=torch.float64)
    assert abs(float(w.sum()) - 4.0) < 1e-13
    assert abs(float((w * x[:, 0] ** 5 * x[:, 1] ** 4).sum()) - 64 / 6 * 2 / 5) < 1e-11
    f64 = dict(dtype=torch.float64)
    x, w = gauss_box(torch.tensor([-0.7], **f64), torch.tensor([0.4], **f64), 4, 4, [[0.0]], **f64)
    kink = torch.clamp(x[:, 0], min=0.0)
    assert abs(float((w * kink).sum()) - 0.08) < 1e-14  # ∫ x⁺ over [-0.7, 0.4]: exact only with a cell end at 0


def test_bdf2_anchor_is_the_bdf2_formula_and_second_order():
    c, tau = bdf_anchor([0.0, 0.1, 0.2], 1, "bdf2")
    assert np.allclose(c, [4 / 3, -1 / 3]) and math.isclose(tau, 2 * 0.1 / 3)
    assert bdf_anchor([0.0, 0.1, 0.2], 1, "euler") == ([1.0], pytest.approx(0.1))
    lam, T = 2 * math.pi**2, 0.1
    errs = {s: [abs(modes_discrete([(lam, 1.0)], time_grid(T, n), s)[0] - math.exp(-lam * T)) for n in (20, 40, 80)]
            for s in ("euler", "bdf2")}
    assert modes_discrete([(lam, 1.0)], time_grid(T, 20), "euler")[0] == pytest.approx((1 + lam * T / 20) ** -20)
    rates = {s: np.polyfit(np.log([20, 40, 80]), np.log(e), 1)[0] for s, e in errs.items()}
    assert -1.1 < rates["euler"] < -0.9 and -2.2 < rates["bdf2"] < -1.8, rates


def test_fem_heat_converges_to_the_exact_discrete_modes():
    """The finite element reference with the scheme of the network equals the modes' exact discrete solution up to
    its space error, which falls at P2's rate h³."""
    p = make("heat-2d")
    times = time_grid(p.T, 4)
    exact = p.discrete_reference(times, "euler")
    pts = torch.rand(500, 2, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    ref = exact(pts).numpy()
    errs = []
    for cells in (4, 8, 16):
        fem = fem_gradient_flow(lo=(0, 0), hi=(1, 1), kappa=1.0,
                                initial=lambda x: p.initial(torch.from_numpy(x)).numpy(),
                                times=times, scheme="euler", dirichlet_zero=True, cells=cells)
        errs.append(np.linalg.norm(fem.at(pts.numpy()) - ref) / np.linalg.norm(ref))
    rate = np.polyfit(np.log([4, 8, 16]), np.log(errs), 1)[0]
    assert errs[-1] < 2e-4 and rate < -2.5, (errs, rate)


def test_fd_heat_1d_equals_the_exact_discrete_mode():
    times = time_grid(0.5, 5)
    fd = fd_heat_1d(a=0.0, b=1.0, kappa=0.1, initial=lambda x: np.sin(math.pi * x), boundary=lambda t: (0.0, 0.0),
                    times=times, scheme="bdf2", nodes=2001)
    amp = modes_discrete([(0.1 * math.pi**2, 1.0)], times, "bdf2")[0]
    x = np.linspace(0, 1, 37)
    assert np.abs(fd(x) - amp * np.sin(math.pi * x)).max() < 1e-6


def test_fem_allen_cahn_converges_in_the_mesh_and_newton_converges():
    p = AllenCahn2D(T=1.0)
    times = time_grid(1.0, 2)
    pts = torch.rand(400, 2, generator=torch.Generator().manual_seed(2), dtype=torch.float64).numpy()
    vals = []
    for cells in (16, 32, 64):
        fem = fem_gradient_flow(lo=(0, 0), hi=(1, 1), kappa=p.kappa,
                                initial=lambda x: p.initial(torch.from_numpy(x)).numpy(),
                                times=times, scheme="euler", dF=lambda u: u**3 - u, d2F=lambda u: 3 * u**2 - 1,
                                cells=cells)
        assert fem.newton_iterations <= 2 * 6
        vals.append(fem.at(pts))
    d1 = np.linalg.norm(vals[0] - vals[2]) / np.linalg.norm(vals[2])
    d2 = np.linalg.norm(vals[1] - vals[2]) / np.linalg.norm(vals[2])
    assert d2 < 1e-3 and d2 < d1 / 4, (d1, d2)


HEAT_SHORT = dict(T=0.02)
HEAT_RUN = dict(time_steps=4, steps=6, quadrature_cells=4, initial_steps=20, width=8, progress=False)


def test_heat_short_run_matches_the_exact_time_stepping(tmp_path):
    """4 BDF2 steps of T = 0.02 (the solution decays by 1/3): the network's final field is within 3e-3 of the exact
    discrete solution. Dropping the movement term (u → 0) or the energy (u frozen at u⁰) gives ≥ 0.1."""
    p = make("heat-2d", **HEAT_SHORT)
    sol = dlpde.solve(p, "ritz", **HEAT_RUN)
    assert sol.status == "ok"
    m = sol.metrics
    assert m["final_rel_l2_error_same_step"] < 3e-3, m
    assert m["final_rel_l2_error"] < m["time_error"] + 3e-3, m  # at this τ the scheme's error, 1.0e-2, dominates
    assert len(sol.history) == 5 and sol.extra["time_steps"] == 4
    # the field reloads from its file and is the same function of (t, x)
    path = sol.save(tmp_path / "heat.h5")
    back = dlpde.load(path)
    x = torch.rand(50, 2, generator=torch.Generator().manual_seed(3), dtype=torch.float64)
    t = torch.rand(50, generator=torch.Generator().manual_seed(4), dtype=torch.float64) * 0.02
    assert torch.allclose(back(t, x), sol(t, x), atol=1e-12)


def test_black_scholes_short_run_prices_the_call_at_the_money():
    """Log-price time stepping, 10 BDF2 steps: within 1e-2 of the closed form at S = K, t = 0."""
    sol = dlpde.solve("black-scholes-call", "ritz", time_steps=10, steps=15, quadrature_cells=32, progress=False)
    assert sol.status == "ok"
    assert sol.metrics["atm_rel_error"] < 1e-2, sol.metrics
    assert sol.metrics["time_error"] < 1e-3, sol.metrics
    v = sol.value_at(t=0.0, x=[100.0])
    assert abs(v - 10.450584) < 0.1


@pytest.mark.parametrize("option,value,hint", [
    ("time_step", 0.0, "time_step must be a positive number"),
    ("time_step", -0.1, "time_step must be a positive number"),
    ("time_steps", 0, "time_steps must be an integer >= 1"),
    ("time_steps", 2.5, "time_steps must be an integer >= 1"),
    ("scheme", "rk4", "scheme must be one of"),
    ("grading", 0.5, "grading must be a number in"),
    ("quadrature_cells", 0, "quadrature_cells must be an integer"),
])
def test_bad_time_settings_are_refused_before_training(option, value, hint):
    with pytest.raises(ValueError, match=hint):
        dlpde.solve("heat-2d", "ritz", **{option: value})


def test_refusals_and_misplaced_options():
    with pytest.raises(ValueError, match="not a gradient flow"):
        dlpde.solve("burgers-1d", "ritz")
    with pytest.raises(ValueError, match="for time-dependent problems"):
        dlpde.solve("poisson-2d", "ritz", time_steps=3, steps=1)
    with pytest.raises(ValueError, match=r"solvers that apply: \['ritz'\]"):
        dlpde.solve("allen-cahn-2d", "pinn")
    with pytest.raises(ValueError, match="epsilon must be positive"):
        make("allen-cahn-2d", epsilon=0.0)


def test_allen_cahn_short_run_matches_finite_elements_at_the_same_step():
    """Two implicit-Euler steps of τ = 0.25 on a coarse rule: within 2e-2 of P2 finite elements with the same
    steps (the interface is ~0.07 wide; the full run's defaults reach 1e-2, validation/suite.py)."""
    p = AllenCahn2D(T=0.5, reference_cells=24, reference_steps=4)
    sol = dlpde.solve(p, "ritz", time_steps=2, steps=0, lbfgs_steps=150, quadrature_cells=24, width=32,
                      initial_steps=0, progress=False)
    assert sol.status == "ok"
    assert sol.metrics["final_rel_l2_error_same_step"] < 2e-2, sol.metrics


def test_heat_2d_also_runs_with_pinn():
    """The strong form (u_t − Δu, initial and boundary data) serves PINN through the space-time machinery."""
    sol = dlpde.solve("heat-2d", "pinn", steps=20, batch=64, boundary_batch=32, width=16, depth=2, lbfgs_steps=0,
                      progress=False)
    assert sol.status == "ok" and math.isfinite(sol.metrics["rel_l2_error"])
