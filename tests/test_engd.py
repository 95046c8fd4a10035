"""ENGD / Gauss–Newton (dlpde.training.engd): the fast pieces against slow obvious ones, and training that reaches
what Adam does not, failing when a term of the loss is dropped."""
import pytest
import torch

import dlpde
from dlpde.training.engd import gauss_newton_direction, jacobian_rows

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
    with pytest.raises(ValueError, match="least-squares"):
        dlpde.solve("poisson-2d", "ritz", steps=2, optimizer="engd", progress=False)
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
