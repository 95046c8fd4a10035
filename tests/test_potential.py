"""The OT-Flow potential: exact gradient and Laplacian (one pass) equal autograd; the jet path too; files reload."""
import pytest
import torch

from dlpde.derivatives import laplacian
from dlpde.nn import NETWORKS, PotentialNet, build_network


def perturbed(d, layers=2, width=8, seed=0, quadratic="psd"):
    """A float64 potential whose w, c, b (and P) are not at their (symmetric, zero) initial values."""
    torch.manual_seed(seed)
    net = PotentialNet(d, width=width, layers=layers, quadratic=quadratic).double()
    with torch.no_grad():
        for p in net.parameters():
            p.add_(0.3 * torch.randn_like(p))
    return net


@pytest.mark.parametrize("quadratic", ["psd", "full"])
@pytest.mark.parametrize("d,layers", [(1, 2), (1, 3), (2, 2), (2, 3), (10, 2), (10, 3), (100, 2), (100, 3)])
def test_exact_gradient_and_laplacian_equal_autograd(d, layers, quadratic):
    net = perturbed(d, layers, quadratic=quadratic)
    n = 4 if d == 100 else 16  # autograd needs d + 1 reverse passes: keep d = 100 small
    s = torch.randn(n, d + 1, dtype=torch.float64, generator=torch.Generator().manual_seed(1))
    phi, grad, lap = net.grad_laplacian(s)
    ref = laplacian(net, s, method="autograd", dims=d)  # Laplacian over x only (not t)
    assert torch.allclose(phi, ref.value, rtol=1e-12, atol=1e-12)
    assert torch.allclose(grad, ref.directional, rtol=1e-11, atol=1e-11)
    assert torch.allclose(lap, ref.second, rtol=1e-10, atol=1e-10)
    phi2, grad2 = net.gradient(s)
    assert torch.allclose(grad2, grad, rtol=1e-13, atol=1e-13) and torch.equal(phi2, phi)


@pytest.mark.parametrize("quadratic", ["psd", "full"])
@pytest.mark.parametrize("d", [1, 10])
def test_forward_jet_equals_autograd(d, quadratic):
    net = perturbed(d, layers=3, quadratic=quadratic)
    s = torch.randn(8, d + 1, dtype=torch.float64, generator=torch.Generator().manual_seed(2))
    fwd = laplacian(net, s, method="forward", dims=d)
    ref = laplacian(net, s, method="autograd", dims=d)
    assert torch.allclose(fwd.directional, ref.directional, atol=1e-11)
    assert torch.allclose(fwd.second, ref.second, atol=1e-10)


def test_laplacian_excludes_time_and_can_fail():
    net = perturbed(3)
    s = torch.randn(8, 4, dtype=torch.float64)
    full = laplacian(net, s, method="autograd", dims=4).second  # includes ∂²Φ/∂t²
    assert not torch.allclose(net.grad_laplacian(s)[2], full, atol=1e-6)


@pytest.mark.parametrize("quadratic", ["psd", "full"])
def test_gradients_flow_to_every_parameter(quadratic):
    net = perturbed(4, quadratic=quadratic)
    s = torch.randn(8, 5, dtype=torch.float64)
    _, grad, lap = net.grad_laplacian(s)
    (grad.square().sum() + lap.sum()).backward()
    for name, p in net.named_parameters():  # all but the constant b, which ∇Φ and ΔΦ do not see
        assert (p.grad is None) == (name == "c.bias"), name
        assert name == "c.bias" or p.grad.abs().sum() > 0, name


@pytest.mark.parametrize("quadratic", ["psd", "full"])
def test_config_rebuilds_the_same_network(quadratic):
    net = perturbed(5, layers=3, width=6, quadratic=quadratic)
    assert NETWORKS["PotentialNet"] is PotentialNet
    twin = build_network(net.config()).double()
    twin.load_state_dict(net.state_dict())
    s = torch.randn(4, 6, dtype=torch.float64)
    assert torch.equal(twin(s), net(s)) and twin.config() == net.config()
    assert net.rank == 6 and PotentialNet(20).rank == 10  # r = min(10, d + 1)


@pytest.mark.parametrize("kw,match", [(dict(layers=1), "layers"), (dict(width=0), "width"),
                                      (dict(rank=0), "rank"), (dict(activation="nope"), "activation"),
                                      (dict(quadratic="indefinite"), "quadratic")])
def test_bad_arguments_are_refused(kw, match):
    with pytest.raises(ValueError, match=match):
        PotentialNet(3, **kw)


def test_wrong_input_shape_is_refused():
    with pytest.raises(ValueError, match=r"\(n, 4\)"):
        PotentialNet(3)(torch.zeros(2, 3))


@pytest.mark.parametrize("quadratic", ["psd", "full"])
def test_compressed_laplacian_has_the_parameter_gradients_of_autograd(quadratic):
    """d > width: the trace recursion runs in the QR basis of K₀; training differentiates through that QR."""
    net = perturbed(12, layers=3, width=5, quadratic=quadratic)
    s = torch.randn(6, 13, dtype=torch.float64, generator=torch.Generator().manual_seed(4))
    fast = torch.autograd.grad(net.grad_laplacian(s)[2].pow(2).sum(), list(net.parameters()), allow_unused=True)
    slow = torch.autograd.grad(laplacian(net, s, method="autograd", dims=12).second.pow(2).sum(),
                               list(net.parameters()), allow_unused=True)
    for a, b in zip(fast, slow):
        if b is None:
            continue
        assert a is not None and torch.allclose(a, b, rtol=1e-9, atol=1e-10)


def test_full_quadratic_starts_as_the_paper_potential_and_can_expand():
    """quadratic="full" equals "psd" at initialisation (P = 0); with S = (P + Pᵀ)/(2√(d+1)) = −I over x it adds
    a concave part in x, which the paper's ½|As|² never has, and the exact Laplacian sees S's trace over x only."""
    torch.manual_seed(3)
    psd = PotentialNet(4, width=6).double()
    torch.manual_seed(3)
    full = PotentialNet(4, width=6, quadratic="full").double()
    s = torch.randn(5, 5, dtype=torch.float64)
    assert torch.equal(psd(s), full(s))
    with torch.no_grad():
        full.P.copy_(5 ** 0.5 * torch.diag(torch.tensor([-1.0, -1.0, -1.0, -1.0, 7.0], dtype=torch.float64)))
    lap_full, lap_psd = full.grad_laplacian(s)[2], psd.grad_laplacian(s)[2]
    assert torch.allclose(lap_full - lap_psd, torch.full_like(lap_psd, -4.0), atol=1e-12)  # tr S_xx, not S_tt
    x = s[:, :4]
    assert torch.allclose(full(s)[:, 0] - psd(s)[:, 0], -0.5 * (x * x).sum(1) + 3.5 * s[:, 4] ** 2, atol=1e-12)
