"""american-put-1d: the finite-difference reference against an independent binomial tree and, without early
exercise, against the closed form; the problem's checks; and a short DGM run that must see the free boundary."""
import math

import numpy as np
import pytest
import torch

from dlpde.problems import make
from dlpde.problems.american import exercise_boundary_at_level
from dlpde.reference.american import american_put_fd, american_put_reference


def binomial_american_put(S, K, r, sigma, T, steps, q=0.0):
    """Cox–Ross–Rubinstein tree with early exercise at every node (an independent method); q a dividend yield."""
    dt = T / steps
    u = math.exp(sigma * math.sqrt(dt))
    d, disc = 1 / u, math.exp(-r * dt)
    p = (math.exp((r - q) * dt) - d) / (u - d)
    prices = S * u ** np.arange(steps, -steps - 1, -2.0)
    v = np.maximum(K - prices, 0.0)
    for n in range(steps, 0, -1):
        prices = prices[:-1] * d
        v = np.maximum(disc * (p * v[:-1] + (1 - p) * v[1:]), K - prices)
    return float(v[0])


def european_put(S, K, r, sigma, T):
    d1 = (math.log(S / K) + (r + 0.5 * sigma**2) * T) / (sigma * math.sqrt(T))
    d2 = d1 - sigma * math.sqrt(T)
    N = lambda z: 0.5 * math.erfc(-z / math.sqrt(2))  # noqa: E731
    return K * math.exp(-r * T) * N(-d2) - S * N(-d1)


@pytest.mark.parametrize("S", [0.9, 1.0, 1.2])
def test_reference_agrees_with_a_binomial_tree(S):
    """K = 1, r = 0.05, σ = 0.2, T = 1; the tree averaged over 4000 and 4001 steps (its odd–even oscillation). The
    at-the-money price is 6.0903 for K = 100 (literature value 6.0904)."""
    ref = make("american-put-1d").fd_reference
    tree = 0.5 * (binomial_american_put(S, 1.0, 0.05, 0.2, 1.0, 4000) + binomial_american_put(S, 1.0, 0.05, 0.2, 1.0, 4001))
    assert abs(float(np.ravel(ref.price(S, 1.0))[0]) - tree) < 2e-5
    assert ref.atm_change < 1e-4


def test_without_interest_early_exercise_is_worthless_and_the_price_is_european():
    """r = 0: an American put is worth its European twin (no reason to exercise early); the FD solver must
    reproduce the closed form — a check of the scheme apart from the constraint."""
    g = american_put_fd(1.0, 0.0, 0.3, 0.5, s_max=4.0, n_space=800, n_time=400)
    for S in (0.8, 1.0, 1.3):
        assert abs(float(np.ravel(g.price(S, 0.5))[0]) - european_put(S, 1.0, 0.0, 0.3, 0.5)) < 2e-5


def test_early_exercise_premium_and_boundary_shape():
    ref = make("american-put-1d").fd_reference
    assert float(np.ravel(ref.price(1.0, 1.0))[0]) - european_put(1.0, 1.0, 0.05, 0.2, 1.0) > 0.005
    S = np.linspace(0, 1, 4001)
    b = [exercise_boundary_at_level(S, ref.price(S, tau) - (1 - S)) for tau in (0.25, 0.5, 1.0)]
    assert 1.0 > b[0] > b[1] > b[2] > 0.75  # the boundary falls as maturity recedes


def test_reference_refuses_to_stop_unconverged():
    with pytest.raises(RuntimeError, match="did not converge"):
        american_put_reference(tol=1e-9, n_space=50, n_time=25, max_refinements=1)


def test_problem_checks_use_the_reference():
    p = make("american-put-1d")
    ref_field = lambda x: p.reference(torch.as_tensor(x, dtype=torch.float64)).numpy()  # noqa: E731
    assert p.solution_checks(ref_field)["exercise_boundary_rel_error"] < 1e-9
    european = lambda x: np.array([european_put(max(s, 1e-9), 1.0, 0.05, 0.2, max(t, 1e-9))  # noqa: E731
                                   for s, t in np.asarray(x)])
    assert p.solution_checks(european)["exercise_boundary_rel_error"] > 0.05  # no exercise region at level δ
    with pytest.raises(ValueError, match="s_max"):
        make("american-put-1d", s_max=1.2)


def _pde_residual(p, fn, x):
    from torch import nn

    from dlpde.fields import FieldEvaluator, accessor

    class Field(nn.Module):
        def forward(self, y):
            return fn(y)[:, None]

    u = accessor(FieldEvaluator(Field(), x, space_dims=1, time_dependent=True), p.output_names)
    return p.residuals(x, u, {})["pde"]


def test_the_residual_is_the_complementarity_problem():
    """Deep in the money (S ∈ [0.2, 0.6]) the payoff field V = 1 − S satisfies min(V_τ − LV, V − g) = 0 (there
    V_τ − LV = r > 0), and the European put, which satisfies V_τ = LV, does not (it is worth less than exercising:
    V − g < 0). Dropping the early-exercise branch (tests/mutations.py) reverses both."""
    p = make("american-put-1d")
    g = torch.Generator().manual_seed(0)
    x = torch.stack([0.2 + 0.4 * torch.rand(200, generator=g, dtype=torch.float64),
                     0.3 + 0.7 * torch.rand(200, generator=g, dtype=torch.float64)], dim=1)
    payoff = _pde_residual(p, lambda y: 1.0 - y[:, 0], x)
    assert float(payoff.abs().max()) < 1e-12

    def european(y):
        S, tau = y[:, 0], y[:, 1]
        vol = 0.2 * torch.sqrt(tau)
        d1 = (torch.log(S) + (0.05 + 0.02) * tau) / vol
        return torch.exp(-0.05 * tau) * torch.special.ndtr(-(d1 - vol)) - S * torch.special.ndtr(-d1)

    eur = _pde_residual(p, european, x)
    assert float(eur.max()) < -1e-3  # V − g < 0: the European put is below its payoff here


def test_hard_constraint_adds_the_european_price_and_its_jet_is_exact():
    """u = P_eur + N: the European closed form as the network's baseline (so u − P_eur is the inner network), and
    the forward jet (through the closed form by torch.func) equals autograd's derivatives."""
    from dlpde.derivatives import laplacian
    from dlpde.settings import SolveSettings
    from dlpde.solvers.pinn import PINN

    p = make("american-put-1d")
    s = SolveSettings(width=8, depth=2, dtype="float64", options={"hard_constraint": True})
    model = PINN().build_model(p, s).double()
    x = p.interior_points(64, generator=torch.Generator().manual_seed(3), dtype=torch.float64)
    x[:, 1] = 0.05 + x[:, 1]  # keep away from τ = 0, where the European price's derivatives are singular at S = K
    assert torch.allclose(model(x)[:, 0] - p.european(x), model.inner(x)[:, 0], atol=1e-12)
    assert float(p.european(torch.tensor([[1.0, 1.0]], dtype=torch.float64))) == pytest.approx(0.0557, abs=1e-4)
    fast, slow = laplacian(model, x, method="forward", dims=1), laplacian(model, x, method="autograd", dims=1)
    assert torch.allclose(fast.second, slow.second, rtol=1e-8, atol=1e-8)
    assert torch.allclose(fast.directional, slow.directional, rtol=1e-8, atol=1e-10)


def test_constrained_output_scale_is_the_premiums():
    """With u = P_eur + N the inner network's output scale comes from what N must fit at the conditions left to
    the loss (about r = 0.05 at S = 0), not from the data's own scale (0.47)."""
    from dlpde.settings import SolveSettings
    from dlpde.solvers.pinn import _constrained_output_scale, scaling

    p = make("american-put-1d")
    s = SolveSettings()
    assert scaling(p, s)["output_scale"] > 0.3
    assert 0.005 < _constrained_output_scale(p, s, 1.0) < 0.05
    assert _constrained_output_scale(make("diffusion-1d"), s, 0.5) == 0.5  # all its conditions are enforced


def test_basket_reference_is_the_one_dimensional_put_on_the_geometric_mean():
    """american-basket-Nd: its reference u(t, x) = K·v(G/K, T − t) uses the finite-difference put with G's volatility
    σ_G and dividend yield q_G. At d = 1 (G = S, q_G = 0) it is american-put-1d's price; at d = 20 it agrees with an
    independent binomial tree with that volatility and yield; the American price exceeds the European one."""
    one = make("american-basket-Nd", 1)
    put = make("american-put-1d")
    for S, t in ((100.0, 0.0), (90.0, 0.5), (115.0, 0.25)):
        basket = float(one.solution(torch.tensor([t], dtype=torch.float64), torch.tensor([[S]], dtype=torch.float64)))
        single = 100 * float(put.reference(torch.tensor([[S / 100, 1.0 - t]], dtype=torch.float64))[0])
        assert abs(basket - single) < 1e-3, (S, t)
    p = make("american-basket-Nd", 20)
    assert 0.1 < p.sigma_g < 0.2 and p.q_g > 0
    tree = 0.5 * sum(binomial_american_put(1.0, 1.0, p.rate, p.sigma_g, p.T, n, q=p.q_g) for n in (4000, 4001))
    assert abs(p.reference_value() / p.strike - tree) < 2e-5
    g = p.sigma_g * math.sqrt(p.T)  # the European put on G (yield q_G) is cheaper: early exercise has value
    d1 = (p.rate - p.q_g + 0.5 * p.sigma_g**2) * p.T / g
    N = lambda z: 0.5 * math.erfc(-z / math.sqrt(2))  # noqa: E731
    european = p.strike * (math.exp(-p.rate * p.T) * N(g - d1) - math.exp(-p.q_g * p.T) * N(-d1))
    assert p.reference_value() > european * 1.05
    import dlpde
    with pytest.raises(ValueError, match="reflected BSDE"):
        dlpde.solve(p, "deep-bsde", steps=1)


def test_basket_residual_is_the_complementarity_problem():
    """american-basket-Nd's residual min(−(u_t + Lu − ru), u − (K − G)⁺), with the trace along the columns of σ by
    autograd: deep in the money the payoff field u = K − G makes it 0 (exercised: u = payoff, and the held part
    rK − q_G·G is > 0), the held part alone (the European residual) does not; the European put on G solves the held
    part but lies below the payoff there, which the obstacle term catches."""
    from dlpde.derivatives import trace_derivatives

    p = make("american-basket-Nd", 6)
    g = torch.Generator().manual_seed(0)
    xt = p.interior_points(300, generator=g, dtype=torch.float64)
    xt = torch.cat([0.6 * xt[:, :-1], xt[:, -1:].clamp(max=0.9 * p.T)], dim=1)  # G ≈ 60 < K = 100, t < T
    d = p.dim

    class Field(torch.nn.Module):
        def __init__(self, fn):
            super().__init__()
            self.fn = fn

        def forward(self, z):
            return self.fn(z[:, -1], z[:, :d])[:, None]

    spec = p.second_order_directions(xt, method="autograd", probes=1)
    payoff = trace_derivatives(Field(lambda t, x: p.strike - p._geometric_mean(x)), xt, *spec, method="autograd")
    assert p.residual(xt, payoff).abs().max() < 1e-9
    held = super(type(p), p).residual(xt, payoff)  # the European (held) residual: rK − q_G·G > 0
    G = p._geometric_mean(xt[:, :d])
    assert torch.allclose(-held, p.rate * p.strike - p.q_g * G, rtol=1e-8)
    eur = trace_derivatives(Field(lambda t, x: p.european_on_g(t, x, put=True)), xt, *spec, method="autograd")
    assert super(type(p), p).residual(xt, eur).abs().max() < 1e-8  # it solves the held part …
    assert p.residual(xt, eur).min() < -1.0  # … but not the obstacle: below the payoff deep in the money
