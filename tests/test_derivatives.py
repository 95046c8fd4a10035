"""The forward Laplacian equals autograd's; the stochastic estimators are unbiased."""
import pytest
import torch

from dlpde.derivatives import directional_derivatives, laplacian
from dlpde.nn import ACTIVATIONS, MLP
from dlpde.solvers.base import init_model


def net(d, act, width=24, depth=3):
    return init_model(lambda: MLP(d, width=width, depth=depth, activation=act), seed=d).double()


@pytest.mark.parametrize("act", sorted(ACTIVATIONS))
@pytest.mark.parametrize("d", [1, 2, 10, 100])
def test_forward_laplacian_equals_autograd(act, d):
    model = net(d, act)
    x = torch.rand(40, d, dtype=torch.float64, generator=torch.Generator().manual_seed(d)) * 2 - 0.5
    fast = laplacian(model, x, method="forward")
    slow = laplacian(model, x, method="autograd")
    scale = 1 + slow.second.abs().max()
    assert torch.allclose(fast.value, slow.value, atol=1e-12, rtol=0)
    assert (fast.directional - slow.directional).abs().max() <= 1e-10 * (1 + slow.directional.abs().max())
    assert (fast.second - slow.second).abs().max() <= 1e-10 * scale


def test_partial_laplacian_over_space_only():
    model = net(4, "tanh")  # inputs (x1, x2, x3, t)
    x = torch.rand(30, 4, dtype=torch.float64)
    fast = laplacian(model, x, method="forward", dims=3)
    slow = laplacian(model, x, method="autograd", dims=3)
    full = laplacian(model, x, method="autograd")
    assert torch.allclose(fast.second, slow.second, atol=1e-12)
    assert not torch.allclose(fast.second, full.second, atol=1e-6)  # the t-t term really was left out
    assert torch.allclose(fast.directional, full.directional, atol=1e-12)


def test_per_point_directions_give_trace_of_sigma_sigma_t_hessian():
    d = 5
    model = net(d, "softplus")
    x = torch.rand(20, d, dtype=torch.float64)
    sigma = torch.diag_embed(x * 0.3)  # σ(x) = diag(0.3 x), Black–Scholes-like
    fd = directional_derivatives(model, x, sigma.transpose(1, 2), method="forward")
    xr = x.clone().requires_grad_(True)
    (g,) = torch.autograd.grad(model(xr).sum(), xr, create_graph=True)
    hess = torch.stack([torch.autograd.grad(g[:, i].sum(), xr, retain_graph=True)[0] for i in range(d)], dim=1)
    expected = torch.einsum("nij,nik,njk->n", hess, sigma, sigma)
    assert torch.allclose(fd.second, expected, atol=1e-10)


@pytest.mark.parametrize("method", ["hutchinson", "sdgd"])
def test_stochastic_laplacian_is_unbiased(method):
    d = 50
    model = net(d, "tanh")
    x = torch.rand(8, d, dtype=torch.float64)
    exact = laplacian(model, x, method="forward").second
    g = torch.Generator().manual_seed(0)
    draws = torch.stack([laplacian(model, x, method=method, probes=10, generator=g).second for _ in range(400)])
    mean, se = draws.mean(0), draws.std(0) / 400**0.5
    assert torch.all((mean - exact).abs() <= 4 * se + 1e-12)
    assert torch.all(se > 0)  # it is a real estimator, not the exact value in disguise


def test_bad_method_is_refused():
    with pytest.raises(ValueError, match="unknown derivative method"):
        laplacian(net(2, "tanh"), torch.rand(3, 2, dtype=torch.float64), method="magic")


def test_mlp_shared_direction_fast_path_equals_general_path():
    from dlpde.nn import Jet

    model = init_model(lambda: MLP(7, width=16, depth=3, input_shift=[0.5] * 7, input_scale=[2.0] * 7), 0).double()
    x = torch.rand(11, 7, dtype=torch.float64)
    v = torch.randn(4, 7, dtype=torch.float64)
    w = torch.rand(4, dtype=torch.float64)
    shared = Jet.seed(x, v, w)
    assert shared.tangent.stride(0) == 0
    general = Jet(x, v.expand(11, -1, -1).clone(), torch.zeros_like(x), w)
    a, b = model.forward_jet(shared), model.forward_jet(general)
    for p, q in ((a.value, b.value), (a.tangent, b.tangent), (a.second, b.second)):
        assert torch.allclose(p, q, atol=1e-12, rtol=0)


@pytest.mark.parametrize("d,width", [(100, 64), (30, 8)])
def test_mlp_compressed_directions_equal_general_path(d, width):
    """More directions than units: the fast path carries R of V Wᵀ = QR (m rows, not k) and maps back by Q."""
    from dlpde.nn import Jet

    model = init_model(lambda: MLP(d, width=width, depth=3, activation="tanh",
                                   input_shift=[0.5] * d, input_scale=[2.0] * d), 0).double()
    x = torch.rand(9, d, dtype=torch.float64)
    eye = torch.eye(d, dtype=torch.float64)
    jet, basis = model._first_layer_shared(Jet.seed(x, eye), model.hidden[0])
    assert jet.tangent.shape == (9, width, width) and basis.shape == (d, width)  # really compressed
    a = model.forward_jet(Jet.seed(x, eye))
    b = model.forward_jet(Jet(x, eye.expand(9, -1, -1).clone(), torch.zeros_like(x), None))
    assert a.tangent.shape == b.tangent.shape == (9, d, 1)
    for p, q in ((a.value, b.value), (a.tangent, b.tangent), (a.second, b.second)):
        assert (p - q).abs().max() <= 1e-12 * (1 + q.abs().max())
    # training differentiates through the QR factorisation: the parameter gradients agree too
    grads = [torch.autograd.grad((j.second ** 2).sum() + j.tangent.sum(), model.hidden[0].weight)[0]
             for j in (model.forward_jet(Jet.seed(x, eye)),
                       model.forward_jet(Jet(x, eye.expand(9, -1, -1).clone(), torch.zeros_like(x), None)))]
    assert (grads[0] - grads[1]).abs().max() <= 1e-10 * (1 + grads[1].abs().max())


def test_identity_seed_shortcut_equals_the_general_seed():
    """Jet.identity_seed lets the MLP's first layer and the ball's φ skip their products with the directions; the
    jets must equal those of the same identity directions passed as a matrix."""
    from dlpde.nn import MLP
    from dlpde.nn.constraints import HardConstraint, ball_distance
    from dlpde.nn.jet import Jet
    torch.manual_seed(0)
    d = 7
    inner = MLP(d, 1, width=5, depth=2, input_scale=[0.5] * d).double()
    for model in (inner, HardConstraint(inner, ball_distance(torch.zeros(d, dtype=torch.float64), 1.3),
                                        spec={"g_zero": True})):
        x = torch.randn(11, d, dtype=torch.float64)
        eye = torch.eye(d, dtype=torch.float64)
        for weights in (None, torch.rand(d, dtype=torch.float64)):
            fast = model.forward_jet(Jet.identity_seed(x, weights))
            slow = model.forward_jet(Jet.seed(x, eye, weights))
            for a, b in zip((fast.value, fast.tangent, fast.second), (slow.value, slow.tangent, slow.second)):
                assert torch.allclose(a, b, rtol=1e-12, atol=1e-12)


def test_stochastic_laplacian_with_the_exact_gradient():
    """gradient=True: the stochastic methods return the exact ∇u (reverse mode) beside the estimated Laplacian; the
    estimate itself is the one without the gradient (same probes)."""
    from dlpde.nn import MLP
    torch.manual_seed(1)
    net = MLP(6, 1, width=8, depth=2).double()
    x = torch.randn(9, 6, dtype=torch.float64)
    exact = laplacian(net, x, method="autograd")
    for method in ("hutchinson", "sdgd"):
        with_grad = laplacian(net, x, method=method, probes=4, generator=torch.Generator().manual_seed(3), gradient=True)
        plain = laplacian(net, x, method=method, probes=4, generator=torch.Generator().manual_seed(3))
        assert plain.directional is None
        assert torch.allclose(with_grad.directional, exact.directional, atol=1e-12)
        assert torch.allclose(with_grad.second, plain.second, atol=1e-12)


def test_hjb_pinn_trains_with_a_stochastic_laplacian():
    """hjb-lq needs ∇u and u_t: with derivative='hutchinson' the PINN gets them exactly and trains. Measured by the
    relative residual on fresh points (the PINN has no field reference here): 0.42 after 300 steps against 1.16
    untrained at d = 2."""
    import dlpde
    kw = dict(dim=2, batch=128, boundary_batch=64, width=32, depth=2, progress=False, eval_points=500,
              derivative="hutchinson", probes=2, lbfgs_steps=0)
    trained = dlpde.solve("hjb-lq", "pinn", steps=300, **kw)
    untrained = dlpde.solve("hjb-lq", "pinn", steps=1, **kw)
    assert trained.status == "ok"
    assert trained.metrics["relative_residual"] < 0.6 * untrained.metrics["relative_residual"]


@pytest.mark.parametrize("dims", [5, 3])
def test_hutchinson_signs_are_the_int64_draw_as_bytes(dims):
    """The Rademacher probes are drawn as bytes for speed; they are the numbers the int64 draw gives from the same
    generator (so runs before and after the change are the same), ±1 on the first ``dims`` coordinates, 0 after."""
    from dlpde.derivatives import stochastic_directions

    x = torch.zeros(7, 5, dtype=torch.float64)
    v, w = stochastic_directions(x, dims, 4, "hutchinson", torch.Generator().manual_seed(11))
    signs = torch.randint(0, 2, (7, 4, dims), generator=torch.Generator().manual_seed(11))
    assert torch.equal(v[:, :, :dims], (2 * signs - 1).double())
    assert torch.equal(v[:, :, dims:], torch.zeros(7, 4, 5 - dims, dtype=torch.float64))
    assert v.dtype == torch.float64 and torch.equal(w, torch.full((4,), 0.25, dtype=torch.float64))


@pytest.mark.parametrize("levels", [(1.0,) * 40 + (0.0,), (0.5, 2.0, 0.5, 0.0) * 10 + (0.5,), (0.0,) * 41])
def test_directions_compressed_by_weight_equal_general_path(levels):
    """Weights given as Python numbers (``levels``): the MLP compresses each group of equal weight with more
    directions than units by its own QR factorisation (interleaved groups included). Values, directional
    derivatives, the weighted second derivatives and the parameter gradients through the QR must equal the
    general path's, which pushes every direction through every layer."""
    from dlpde.nn import Jet
    from dlpde.nn.mlp import compress_directions

    d, width = len(levels), 8
    model = init_model(lambda: MLP(d, width=width, depth=3, activation="tanh", input_scale=[1.5] * d), 0).double()
    x = torch.rand(9, d, dtype=torch.float64)
    eye = torch.eye(d, dtype=torch.float64)
    w = torch.tensor(levels, dtype=torch.float64)
    rows, _, basis = compress_directions(torch.randn(d, width, dtype=torch.float64), w, levels)
    groups = {c: levels.count(c) for c in levels}
    assert rows.shape[0] == sum(min(k, width) for k in groups.values()) < d and basis.shape == (d, rows.shape[0])
    jets = [model.forward_jet(Jet.identity_seed(x, levels)), model.forward_jet(Jet.seed(x, eye, levels)),
            model.forward_jet(Jet(x, eye.expand(9, -1, -1).clone(), torch.zeros_like(x), w))]
    for a in jets[:2]:
        assert torch.equal(a.weights, w)  # the output's weights are the directions', not the compressed rows'
        for p, q in ((a.value, jets[2].value), (a.tangent, jets[2].tangent), (a.second, jets[2].second)):
            assert (p - q).abs().max() <= 1e-12 * (1 + q.abs().max())
    grads = [torch.autograd.grad((j.second ** 2).sum() + j.tangent.sum(), model.hidden[0].weight)[0] for j in jets]
    assert (grads[0] - grads[2]).abs().max() <= 1e-10 * (1 + grads[2].abs().max())


def test_identity_seed_is_made_only_when_a_network_reads_it():
    """``Jet.identity_seed`` never forms the D × D identity for the MLP or the ball-constrained MLP (the exact
    Laplacian at d = 10⁵ would need 40 GB); a network that reads the tangent (ResNet) gets the identity."""
    from dlpde.nn import ResNet
    from dlpde.nn.constraints import HardConstraint, ball_distance
    from dlpde.nn.jet import Jet

    d = 30
    x = torch.rand(6, d, dtype=torch.float64)
    inner = net(d, "tanh", width=8)
    for model in (inner, HardConstraint(inner, ball_distance(torch.zeros(d, dtype=torch.float64), 2.0),
                                        spec={"g_zero": True})):
        seed = Jet.identity_seed(x)
        fast = model.forward_jet(seed)
        assert seed._eye is None
        slow = model.forward_jet(Jet.seed(x, torch.eye(d, dtype=torch.float64)))
        assert torch.allclose(fast.second, slow.second, atol=1e-12) and torch.allclose(fast.tangent, slow.tangent)
    res = ResNet(d, 1, width=8, blocks=2).double()
    seed = Jet.identity_seed(x)
    assert torch.allclose(res.forward_jet(seed).second, laplacian(res, x, method="autograd").second[:, None])
    assert seed._eye is not None
