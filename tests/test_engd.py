"""ENGD / Gauss–Newton (dlpde.training.engd): the fast pieces against slow obvious ones, and training that reaches
what Adam does not, failing when a term of the loss is dropped."""
import pytest
import torch

import dlpde
from dlpde.problems import make
from dlpde.settings import SolveSettings
from dlpde.solvers.pde_objective import PDEObjective
from dlpde.solvers.pinn import StrongFormObjective
from dlpde.solvers.ritz import EnergyObjective
from dlpde.training.engd import (ENGD, block_jacobian, gauss_newton_direction, jacobian_rows,
                                 natural_gradient_direction)

F64 = torch.float64


@pytest.mark.parametrize("m, p", [(7, 20), (30, 12)])
def test_direction_equals_the_damped_normal_equations(m, p):
    """Sample space (M ≤ P, Woodbury) and parameter space give (JᵀJ + λI)⁻¹Jᵀr, λ relative to the Gram's diagonal."""
    g = torch.Generator().manual_seed(m)
    J, r = torch.randn(m, p, generator=g, dtype=F64), torch.randn(m, generator=g, dtype=F64)
    damping = 1e-3
    gram_diag = (J @ J.T).diagonal().mean() if m <= p else (J.T @ J).diagonal().mean()
    slow = torch.linalg.solve(J.T @ J + damping * gram_diag * torch.eye(p, dtype=F64), J.T @ r)
    assert torch.allclose(gauss_newton_direction(J, r, damping), slow, atol=1e-10)


@pytest.mark.parametrize("m, p", [(7, 20), (30, 12)])
def test_natural_direction_equals_the_dense_formula(m, p):
    """Parameter space (M > P): (JᵀJ + λI)⁻¹g. Sample space (M ≤ P): the pseudo-inverse (JᵀJ)⁺g for a gradient
    with a component outside J's row space (which (JᵀJ + λI)⁻¹ would blow up by 1/λ)."""
    gen = torch.Generator().manual_seed(m)
    J, g = torch.randn(m, p, generator=gen, dtype=F64), torch.randn(p, generator=gen, dtype=F64)
    if m > p:
        damping = 1e-3
        lam = damping * (J.T @ J).diagonal().mean()
        slow = torch.linalg.solve(J.T @ J + lam * torch.eye(p, dtype=F64), g)
    else:
        damping = 1e-13
        slow = torch.linalg.pinv(J.T @ J, hermitian=True) @ g
    assert torch.allclose(natural_gradient_direction(J, g, damping), slow, atol=1e-8)


@pytest.mark.parametrize("m, p", [(40, 6), (5, 12)])
def test_one_step_solves_linear_least_squares(m, p):
    """For r(w) = Aw − b the Gauss–Newton step with full step length lands on the least-squares solution (the
    minimum-norm one when underdetermined, starting from 0) to machine precision."""
    gen = torch.Generator().manual_seed(p)
    A, b = torch.randn(m, p, generator=gen, dtype=F64), torch.randn(m, generator=gen, dtype=F64)
    w = torch.nn.Parameter(torch.zeros(p, dtype=F64))

    def blocks():
        return [(m, lambda sl: A[sl] @ w - b[sl])]
    opt = ENGD([w], blocks, lambda: ((A @ w - b) ** 2).sum(), least_squares=True, damping=1e-14, points=3)
    opt.step()
    assert opt.last_step["eta"] == 1.0
    assert torch.allclose(w.detach(), torch.linalg.pinv(A) @ b, atol=1e-11, rtol=0)


def test_jacobian_rows_equal_autograd_functional_jacobian():
    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Linear(2, 5), torch.nn.Tanh(), torch.nn.Linear(5, 1)).double()
    x = torch.randn(9, 2, dtype=F64)
    params = list(net.parameters())
    r = (net(x)[:, 0] ** 2).sin()
    fast = jacobian_rows(r, params, chunk=4)  # several chunks, the last one partial
    names = [n for n, _ in net.named_parameters()]

    def residual(*ps):
        out = torch.func.functional_call(net, dict(zip(names, ps)), (x,))
        return (out[:, 0] ** 2).sin()
    slow = torch.cat([j.reshape(9, -1) for j in torch.autograd.functional.jacobian(residual, tuple(params))], dim=1)
    assert torch.allclose(fast, slow, atol=1e-12)


SMALL = dict(batch=300, boundary_batch=100, width=16, depth=2, lbfgs_steps=0, dtype="float64", progress=False,
             eval_points=2000, log_every=5, eval_every=5, seed=0)


def test_engd_reaches_what_adam_does_not_and_needs_every_term():
    """poisson-2d, 40 steps on fixed points: ENGD < 1e-3 (measured 1.0e-5), Adam at the same steps ≈ 1 (so does
    ENGD without the boundary term: −Δu = f alone does not fix u)."""
    fixed = dict(steps=40, resample_every=40)
    engd = dlpde.solve("poisson-2d", "pinn", optimizer="engd", **fixed, **SMALL)
    assert engd.status == "ok" and engd.metrics["rel_l2_error"] < 1e-3
    assert set(engd.history.columns()["phase"]) == {"engd"}
    adam = dlpde.solve("poisson-2d", "pinn", **fixed, **SMALL)
    assert adam.metrics["rel_l2_error"] > 1e-1
    free = dlpde.solve("poisson-2d", "pinn", optimizer="engd", boundary_weight=0.0, **fixed, **SMALL)
    assert not free.metrics["rel_l2_error"] < 1e-2


def test_engd_on_a_users_pde_with_an_unknown():
    """diffusion-inverse (hard constraint, data, unknown C from 2): ENGD trains the coefficient with the network
    (measured C = 1.0000, u 3.7e-4 after 20 steps)."""
    sol = dlpde.solve("diffusion-inverse", "pinn", steps=20, optimizer="engd", batch=200, width=12, depth=2,
                      resample_every=20, lbfgs_steps=0, progress=False, eval_points=1000, log_every=5, eval_every=5)
    assert abs(sol.unknowns["C"] - 1.0) < 1e-2


def test_engd_refusals():
    with pytest.raises(ValueError, match="least-squares loss or an energy"):
        dlpde.solve("hjb-lq", "deep-bsde", steps=2, dim=2, optimizer="engd", progress=False)
    with pytest.raises(ValueError, match="optimizer must be one of"):
        dlpde.solve("poisson-2d", "pinn", steps=2, optimizer="sgd", progress=False)
    with pytest.raises(ValueError, match="engd_damping"):
        dlpde.solve("poisson-2d", "pinn", steps=2, optimizer="engd", engd_damping=0.0, progress=False)


def test_engd_checkpoint_resumes_to_the_same_parameters(tmp_path):
    """A checkpoint of step 4 (its damping in the optimizer state) resumed to step 6 equals the run of 6 steps."""
    kw = dict(SMALL, steps=6, optimizer="engd", log_every=2, eval_every=2)
    whole = dlpde.solve("poisson-2d", "pinn", **kw)
    path = str(tmp_path / "c.ckpt.h5")
    dlpde.solve("poisson-2d", "pinn", **dict(kw, checkpoint_every=4, checkpoint_path=path))  # holds step 4
    resumed = dlpde.solve("poisson-2d", "pinn", **dict(kw, resume=path))
    for a, b in zip(whole.model.parameters(), resumed.model.parameters()):
        assert torch.equal(a, b)


def _objective(cls, case, s, model):
    torch.manual_seed(0)
    obj = cls(make(case), model.double(), s)
    obj.sample()
    return obj


def _mlp(d_in):
    return torch.nn.Sequential(torch.nn.Linear(d_in, 6), torch.nn.Tanh(), torch.nn.Linear(6, 1))


@pytest.mark.parametrize("cls, case", [(StrongFormObjective, "poisson-2d"), (PDEObjective, "poisson-1d-robin"),
                                       (PDEObjective, "kovasznay")])
def test_row_blocks_equal_the_whole_batch(cls, case):
    """The Jacobian built a few points at a time equals the Jacobian of the whole batch's weighted residual vector
    (rows r·√(w/n)), and the squared rows sum to the objective's loss."""
    s = SolveSettings(batch=23, boundary_batch=9, boundary_weight=3.0, dtype="float64")
    d_in = make(case).input_dim
    model = _mlp(d_in) if case != "kovasznay" else torch.nn.Sequential(_mlp(d_in)[:2], torch.nn.Linear(6, 3))
    obj = _objective(cls, case, s, model)
    params = list(model.parameters())
    J, r = block_jacobian(obj.gram_blocks(), params, points=4)
    parts = obj._parts(obj.x, obj.cond_points)
    whole = torch.cat([v * (w / v.numel()) ** 0.5 for _, v, w in parts])
    assert torch.allclose((r * r).sum(), (whole * whole).sum(), rtol=1e-12)
    assert torch.allclose((r * r).sum(), obj.current_loss().detach(), rtol=1e-12)
    J_whole = jacobian_rows(whole, params)
    assert torch.allclose(J.T @ J, J_whole.T @ J_whole, atol=1e-10)  # row order differs for systems
    assert torch.allclose(J.T @ r, J_whole.T @ whole.detach(), atol=1e-10)


def test_energy_gram_is_the_hessian_for_a_network_linear_in_its_parameters():
    """Deep Ritz: for u = Σ_j θ_j φ_j(x) (fixed features φ, trained last layer) the loss is quadratic in θ and the
    energy's Gram from the row blocks must equal its Hessian exactly (penalty rows included)."""
    torch.manual_seed(1)
    features = torch.nn.Sequential(torch.nn.Linear(2, 7), torch.nn.Tanh()).double().requires_grad_(False)
    head = torch.nn.Linear(7, 1).double()
    s = SolveSettings(batch=31, boundary_batch=11, boundary_weight=5.0, dtype="float64")
    obj = _objective(EnergyObjective, "poisson-2d", s, torch.nn.Sequential(features, head))
    params = list(head.parameters())
    J, _ = block_jacobian(obj.gram_blocks(), params, points=5)
    flat = torch.cat([p.detach().reshape(-1) for p in params])

    def loss_of(theta):
        with torch.no_grad():
            head.weight.copy_(theta[:7].reshape(1, 7))
            head.bias.copy_(theta[7:])
        return obj.current_loss()
    # the loss is quadratic in θ: its Hessian by central differences of autograd gradients is exact up to rounding
    hess = torch.zeros(8, 8, dtype=F64)
    for j in range(8):
        e = torch.zeros(8, dtype=F64)
        e[j] = 1.0
        grads = []
        for sign in (1, -1):
            value = loss_of(flat + sign * e)
            grads.append(torch.cat([gr.reshape(-1) for gr in torch.autograd.grad(value, params)]))
        hess[:, j] = (grads[0] - grads[1]) / 2
    loss_of(flat)
    assert torch.allclose(J.T @ J, hess, atol=1e-9)


RITZ = dict(steps=15, batch=300, boundary_batch=200, width=16, depth=1, lbfgs_steps=0, dtype="float64",
            progress=False, eval_points=2000, log_every=5, eval_every=5, seed=0, penalty_warmup=0.0,
            quadrature="monte-carlo", hard_constraint=False, sampling="sobol", boundary_weight=1000.0)  # penalty


def test_ritz_engd_trains_and_needs_the_boundary_term():
    """poisson-2d Deep Ritz, 15 steps on fresh points: ENGD with the penalty 8.0e-2, with the hard constraint
    2.9e-2 (measured); Adam at the same steps ≈ 1; ENGD without the boundary term minimises an energy that is
    unbounded below (error ~1e18 measured)."""
    engd = dlpde.solve("poisson-2d", "ritz", optimizer="engd", **RITZ)
    assert engd.metrics["rel_l2_error"] < 0.15
    hard = dlpde.solve("poisson-2d", "ritz", optimizer="engd", **{**RITZ, "hard_constraint": True})
    assert hard.metrics["rel_l2_error"] < 0.06
    assert dlpde.solve("poisson-2d", "ritz", **RITZ).metrics["rel_l2_error"] > 0.5
    free = dlpde.solve("poisson-2d", "ritz", optimizer="engd", **{**RITZ, "boundary_weight": 0.0})
    assert not free.metrics["rel_l2_error"] < 0.5


@pytest.mark.parametrize("case, options, hard", [
    ("poisson-sin-Nd", dict(dim=3), True),  # Monte Carlo points, u = g + φN evaluated whole (φ of a box in 3-D)
    ("poisson-2d", dict(quadrature="gauss", quadrature_degree=3), True),  # quadrature, φ and g stored at its points
    ("poisson-2d", dict(quadrature="gauss", quadrature_degree=3), False),  # quadrature and a penalty
    ("poisson-1d-neumann", dict(), False),  # a user's PDE with a natural condition
])
def test_energy_rows_by_torch_func_equal_the_generic_rows(case, options, hard):
    """Deep Ritz's ENGD rows: the vmapped ``torch.func`` Jacobian (``EnergyRows``) equals the generic per-slice
    reverse passes (its fallback) in rows and Jacobian, so the Gram and the step are the same."""
    from dlpde.nn.constraints import constrained_network
    from dlpde.solvers.ritz import EnergyRows

    dim = options.pop("dim", None)
    problem = make(case, dim)
    s = SolveSettings(batch=37, boundary_batch=9, boundary_weight=3.0, dtype="float64", options=options)
    torch.manual_seed(3)
    net = torch.nn.Sequential(torch.nn.Linear(problem.input_dim, 6), torch.nn.Tanh(), torch.nn.Linear(6, 1)).double()
    model = constrained_network(problem, net) if hard else net
    obj = EnergyObjective(problem, model, s)
    obj.sample()
    params = list(model.parameters())
    blocks = obj.gram_blocks()
    assert isinstance(blocks[0], EnergyRows)
    J_fast, r_fast = blocks[0].jacobian(params)
    assert not getattr(model, "_no_field_jacobian", False)  # the fast path ran
    J_slow, r_slow = block_jacobian([blocks[0].fallback], params, points=4)
    assert torch.allclose(r_fast, r_slow, atol=1e-12, rtol=1e-10)
    assert torch.allclose(J_fast, J_slow, atol=1e-12, rtol=1e-10)
    if hard and "quadrature" in options:
        assert obj.cache  # the stored-constraint branch was the one compared


def test_a_residual_that_turns_nan_fails_cleanly_under_engd():
    """A non-finite Gram or residual is not handed to LAPACK (which aborted with an internal assert): the step is
    skipped with a non-finite loss, the divergence guard rolls back and the run ends with status 'failed'."""
    from dlpde import PDE, Dirichlet, Neumann
    from dlpde.geometry import Interval
    calls = {"n": 0}

    def residual(x, u):
        calls["n"] += 1
        r = u.dxx(0) - 2.0
        return r * float("nan") if calls["n"] >= 30 else r

    p = PDE(Interval(-1, 1), residual, [Dirichlet(0.0, on="left"), Neumann(4.0, on="right")],
            exact=lambda x: (x[:, 0] + 1) ** 2)
    sol = dlpde.solve(p, "pinn", optimizer="engd", steps=12, batch=16, boundary_batch=4, width=6, depth=1,
                      progress=False, threads=1, dtype="float64", log_every=4)
    assert sol.status == "failed" and "nan" in sol.message
