"""The derivative accessor (dlpde.fields): every request equals the obvious autograd formula, for scalar and
vector networks, with and without time, on the forward-jet path and the reverse-mode path."""
import pytest
import torch

from dlpde.fields import FieldEvaluator, Fields, accessor
from dlpde.nn import MLP, DGMNet, ResNet


def hessian(model, x, out):
    """Full Hessians (n, D, D) of output ``out`` by autograd, one point at a time (the slow, obvious path)."""
    rows = []
    for xi in x:
        rows.append(torch.autograd.functional.hessian(lambda z: model(z[None])[0, out], xi))
    return torch.stack(rows)


def jacobian(model, x):
    return torch.stack([torch.autograd.functional.jacobian(lambda z: model(z[None])[0], xi).T for xi in x])


def nets(D, m):
    torch.manual_seed(0)
    return [MLP(D, m, width=12, depth=3, activation="tanh").double(),
            DGMNet(D, m, width=8, layers=2).double(),
            ResNet(D, m, width=10, blocks=2).double()]


@pytest.mark.parametrize("method", ["auto", "autograd"])
@pytest.mark.parametrize("time_dependent", [False, True])
def test_every_request_matches_autograd(method, time_dependent):
    D, m = 3, 2
    space = D - 1 if time_dependent else D
    x = torch.rand(7, D, dtype=torch.float64)
    A = torch.tensor([[2.0, 0.5], [0.5, -1.0]], dtype=torch.float64) if space == 2 else \
        torch.tensor([[2.0, 0.5, 0.1], [0.5, -1.0, 0.3], [0.1, 0.3, 0.7]], dtype=torch.float64)
    for net in nets(D, m):
        ev = FieldEvaluator(net, x, space_dims=space, time_dependent=time_dependent, method=method)
        q = Fields(ev, ("a", "b"))
        J = jacobian(net, x)
        for c in range(m):
            H = hessian(net, x, c)
            f = q[c]
            assert torch.allclose(f(), net(x)[:, c], atol=1e-12)
            assert torch.allclose(f.grad(), J[:, :space, c], atol=1e-10)
            for j in range(space):
                assert torch.allclose(f.d(j), J[:, j, c], atol=1e-10)
                for k in range(space):
                    assert torch.allclose(f.d2(j, k), H[:, j, k], atol=1e-9)
            assert torch.allclose(f.laplacian(), torch.diagonal(H[:, :space, :space], dim1=1, dim2=2).sum(1),
                                  atol=1e-9)
            assert torch.allclose(f.trace(A), torch.einsum("ij,nij->n", A, H[:, :space, :space]), atol=1e-9)
            A_x = lambda pts: A.expand(pts.shape[0], -1, -1) * (1 + pts[:, :1, None])  # noqa: E731
            assert torch.allclose(f.trace(A_x), torch.einsum("nij,nij->n", A_x(x), H[:, :space, :space]), atol=1e-9)
            if time_dependent:
                assert torch.allclose(f.dt(), J[:, -1, c], atol=1e-10)
                assert torch.allclose(f.dtt(), H[:, -1, -1], atol=1e-9)
                assert torch.allclose(f.d2(0, "t"), H[:, 0, -1], atol=1e-9)
        div = q.div([0, 1]) if space == 2 else None
        if div is not None:
            assert torch.allclose(div, J[:, 0, 0] + J[:, 1, 1], atol=1e-10)


def test_plan_puts_jacobian_and_laplacian_in_one_pass(monkeypatch):
    """With a recorded plan, u, ∇u and Δu cost one forward-jet pass (and no plain forward pass)."""
    net = MLP(2, 1, width=8, depth=2).double()
    x = torch.rand(5, 2, dtype=torch.float64)
    calls = {"jet": 0, "forward": 0}
    jet, fwd = net.forward_jet, net.forward

    def count_jet(j):
        calls["jet"] += 1
        return jet(j)

    def count_forward(z):
        calls["forward"] += 1
        return fwd(z)
    ev0 = FieldEvaluator(net, x, space_dims=2)
    u0 = accessor(ev0, ("u",))
    r0 = u0() * u0.d(0) - u0.laplacian()
    monkeypatch.setattr(net, "forward_jet", count_jet)
    monkeypatch.setattr(net, "forward", count_forward)
    ev = FieldEvaluator(net, x, space_dims=2, plan=ev0.requests)
    u = accessor(ev, ("u",))
    r = u() * u.d(0) - u.laplacian()
    assert calls == {"jet": 1, "forward": 0}
    assert torch.allclose(r, r0, atol=1e-12)


def test_bad_requests_say_what_exists():
    net = MLP(2, 2, width=8, depth=2).double()
    x = torch.rand(4, 2, dtype=torch.float64)
    q = Fields(FieldEvaluator(net, x, space_dims=2), ("u", "v"))
    with pytest.raises(ValueError, match="coordinate 2 does not exist"):
        q[0].d(2)
    with pytest.raises(ValueError, match="no time coordinate"):
        q[0].dt()
    with pytest.raises(ValueError, match="component 5 does not exist"):
        q[5]
    with pytest.raises(ValueError, match="no output named 'p'"):
        q["p"]
    with pytest.raises(ValueError, match=r"trace\(A\) needs A of shape"):
        q[0].trace(torch.eye(3))


def test_stochastic_laplacian_is_unbiased_and_first_derivatives_exact():
    torch.manual_seed(1)
    net = MLP(6, 1, width=16, depth=2).double()
    x = torch.rand(3, 6, dtype=torch.float64)
    exact = accessor(FieldEvaluator(net, x, space_dims=6), ("u",))
    g = torch.Generator().manual_seed(0)
    est = torch.stack([accessor(FieldEvaluator(net, x, space_dims=6, method="hutchinson", probes=4, generator=g),
                                ("u",)).laplacian() for _ in range(3000)]).mean(0)
    assert torch.allclose(est, exact.laplacian(), rtol=0.1, atol=0.02)
    u = accessor(FieldEvaluator(net, x, space_dims=6, method="sdgd", probes=2, generator=g), ("u",))
    assert torch.allclose(u.grad(), exact.grad(), atol=1e-12)


def test_second_derivatives_of_a_linear_field_are_zero_not_an_error():
    """A field linear in x (u = 1 − x₀ + 2t, e.g. a payoff) has no graph for its second derivatives; they are 0."""
    from torch import nn

    from dlpde.fields import FieldEvaluator, accessor

    class Linear(nn.Module):
        def forward(self, y):
            return (1.0 - y[:, 0] + 2.0 * y[:, 1])[:, None]

    x = torch.rand(7, 2, dtype=torch.float64)
    u = accessor(FieldEvaluator(Linear(), x, space_dims=1, time_dependent=True), ("u",))
    assert torch.equal(u.dxx(0), torch.zeros(7, dtype=torch.float64))
    assert torch.allclose(u.dt(), torch.full((7,), 2.0, dtype=torch.float64))
    assert torch.allclose(u.d(0), torch.full((7,), -1.0, dtype=torch.float64))


@pytest.mark.parametrize("planned,rows_limit", [(False, 2 ** 24), (False, 0), (True, 2 ** 24)])
def test_more_inputs_than_units_compressed_by_weight_equals_autograd(planned, rows_limit, monkeypatch):
    """D = 20 space inputs and time through 6 units: the MLP's first layer compresses the coordinate directions
    group by group of equal weight (space 1, time 0 for the Laplacian: 6 + 1 rows; 0 for a Jacobian alone: 6)
    (``compress_directions``), and no D × D identity is made (``Jet.identity_seed``). Every request must still
    equal autograd's Hessian, with and without the plan that puts the Jacobian and the Laplacian in one pass, and
    with the Laplacian's 20 coordinate directions made as rows (6 rows after compression) or not (``rows_limit``)."""
    import dlpde.fields as fields
    import dlpde.nn.mlp as mlp
    from dlpde.fields import laplacian_key
    from dlpde.nn.jet import IdentitySeed

    D, m, space = 21, 2, 20
    torch.manual_seed(1)
    net = MLP(D, m, width=6, depth=3, activation="tanh", input_scale=[0.7] * D).double()
    x = torch.rand(5, D, dtype=torch.float64)
    rows = []
    monkeypatch.setattr(fields, "UNIT_ROWS_LIMIT", rows_limit)
    original = mlp.compress_directions
    monkeypatch.setattr(mlp, "compress_directions", lambda *a: rows.append(r := original(*a)) or r)
    monkeypatch.setattr(IdentitySeed, "tangent", property(lambda self: pytest.fail("the identity was made"),
                                                          lambda self, v: None))
    plan = [("jacobian",), laplacian_key(space, D)] if planned else ()
    q = Fields(FieldEvaluator(net, x, space_dims=space, time_dependent=True, plan=plan), ("a", "b"))
    J = jacobian(net, x)
    A = torch.randn(space, space, dtype=torch.float64, generator=torch.Generator().manual_seed(2))
    A = A + A.T
    for c in range(m):
        H = hessian(net, x, c)
        f = q[c]
        assert torch.allclose(f.laplacian(), torch.diagonal(H[:, :space, :space], dim1=1, dim2=2).sum(1),
                              atol=1e-9)
        assert torch.allclose(f.grad(), J[:, :space, c], atol=1e-10)
        assert torch.allclose(f.dt(), J[:, -1, c], atol=1e-10)
        assert torch.allclose(f.dxx(3), H[:, 3, 3], atol=1e-9)
        assert torch.allclose(f.d2(2, 5), H[:, 2, 5], atol=1e-9)
        assert torch.allclose(f.dtt(), H[:, -1, -1], atol=1e-9)
        assert torch.allclose(f.trace(A), torch.einsum("ij,nij->n", A, H[:, :space, :space]), atol=1e-9)
    compressed = [r[0].shape[0] for r in rows if r[2] is not None]  # 6 rows of weight 0 for a Jacobian alone
    assert set(compressed) <= {6, 7} and (7 in compressed) == (planned or rows_limit == 0)


@pytest.mark.parametrize("method", ["auto", "autograd"])
def test_trace_of_a_trained_matrix_has_the_gradient_of_the_plain_expression(method):
    """Tr(A Hess u) with A depending on trained quantities: an unknown coefficient times the identity (repeated
    eigenvalues, where the eigenvector path's gradient is NaN) and a full A(u) per point. Values and gradients
    (with respect to the coefficient and the network's parameters) equal those of Σ A_ij H_ij by autograd."""
    torch.manual_seed(1)
    net = MLP(3, 1, width=10, depth=2, activation="tanh").double()
    x = torch.rand(6, 3, dtype=torch.float64)
    D = torch.tensor(1.7, dtype=torch.float64, requires_grad=True)
    B = torch.tensor([[1.0, 0.3, 0.0], [0.3, 2.0, -0.2], [0.0, -0.2, 0.5]], dtype=torch.float64)
    H = torch.stack([torch.autograd.functional.hessian(lambda z: net(z[None])[0, 0], xi, create_graph=True)
                     for xi in x])
    u_plain = net(x)[:, 0]
    plain = [torch.einsum("ij,nij->n", D * torch.eye(3, dtype=torch.float64), H),
             torch.einsum("nij,nij->n", (1 + u_plain ** 2)[:, None, None] * B, H)]
    u = accessor(FieldEvaluator(net, x, space_dims=3, method=method), ("u",))
    fast = [u.trace(D * torch.eye(3, dtype=torch.float64)),
            u.trace(lambda z: (1 + u() ** 2)[:, None, None] * B)]
    params = [D] + list(net.parameters())
    for a, b in zip(fast, plain):
        assert torch.allclose(a, b, atol=1e-10)
        ga = torch.autograd.grad(a.sum(), params, allow_unused=True, retain_graph=True, materialize_grads=True)
        gb = torch.autograd.grad(b.sum(), params, allow_unused=True, retain_graph=True, materialize_grads=True)
        for p, q in zip(ga, gb):
            assert torch.isfinite(p).all() and torch.allclose(p, q, atol=1e-9)
