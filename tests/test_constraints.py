"""Hard Dirichlet/initial constraints u = g + φN: φ vanishes exactly on the boundary and is positive inside for every
domain type, the constrained network's forward jet equals autograd (float64), u = g on the boundary, the enforced
condition leaves the loss, the network survives config and file round trips, and Deep Ritz trains with it."""
import math

import pytest
import torch

import dlpde
from dlpde.derivatives import directional_derivatives, laplacian
from dlpde.geometry import Ball, Box, Interval, SpaceTime
from dlpde.geometry.mesh import MeshDomain
from dlpde.geometry.meshes import disk_with_hole_mesh, unit_cube_mesh
from dlpde.nn import MLP, ResNet, build_network
from dlpde.nn.constraints import (HardConstraint, active_conditions, constrained_network, distance_function,
                                  function_jet)
from dlpde.nn.jet import Jet
from dlpde.problems import Condition, Poisson, Problem, make
from dlpde.settings import SolveSettings
from dlpde.solvers.base import init_model
from dlpde.solvers.pinn import PINN
from dlpde.solvers.ritz import DeepRitz, EnergyObjective
from tests.conftest import tiny

F64 = torch.float64
_ANNULUS = []


def annulus() -> MeshDomain:
    """The built-in poisson-mesh annulus 0.3 < |x| < 1 (made once per test process)."""
    if not _ANNULUS:
        _ANNULUS.append(MeshDomain.from_meshio(disk_with_hole_mesh(0.1)))
    return _ANNULUS[0]


DOMAINS = {
    "interval": lambda: Interval(-1.0, 2.0),
    "box2": lambda: Box([0.0, -1.0], [1.0, 3.0]),
    "box10": lambda: Box.unit(10),
    "ball2": lambda: Ball([0.2, -0.1], 1.5),
    "ball10": lambda: Ball.unit(10),
    "annulus": annulus,
    "cube-mesh": lambda: MeshDomain.from_meshio(unit_cube_mesh(0.5)),
    "spacetime-box": lambda: SpaceTime(Box.unit(2), 0.0, 1.0),
    "spacetime-ball": lambda: SpaceTime(Ball.unit(3), 0.5, 2.0),
    "spacetime-mesh": lambda: SpaceTime(annulus(), 0.0, 1.0),
}


def _gen(seed):
    return torch.Generator().manual_seed(seed)


def _g(x):
    """Non-zero data defined everywhere."""
    return torch.sin(x[:, 0]) + x[:, -1] * x[:, 0] ** 2 + 0.5


@pytest.mark.parametrize("name", sorted(DOMAINS))
def test_phi_vanishes_on_the_boundary_and_is_positive_inside(name):
    domain = DOMAINS[name]()
    phi = distance_function(domain)
    xb = domain.sample_boundary(500, generator=_gen(1), dtype=F64)
    xi = domain.sample_interior(2000, generator=_gen(2), dtype=F64)
    pb, pi = phi(xb), phi(xi)
    assert pb.shape == (500,) and pi.shape == (2000,)
    assert pb.abs().max() <= 1e-12
    assert bool((pi > 0).all())
    assert 0.05 < float(pi.median()) and float(pi.max()) <= 1.5  # of order one inside, also in d = 10
    if isinstance(domain, SpaceTime):  # the initial slice is not the lateral boundary: φ > 0 there
        x0 = domain.sample_slice(200, domain.t0, generator=_gen(3), dtype=F64)
        assert bool((phi(x0) > 0).all())


def test_unknown_domain_says_to_pass_phi():
    from dlpde.geometry.base import RejectionDomain

    class Odd(RejectionDomain):
        dim = 2

        def contains(self, x):
            return (x * x).sum(1) < 1

        def boundary_normal(self, x):
            return x

        volume, boundary_measure = math.pi, 2 * math.pi
        bounds = (torch.full((2,), -1.0, dtype=F64), torch.ones(2, dtype=F64))

        def _boundary(self, n, **kw):
            raise NotImplementedError

    with pytest.raises(ValueError, match="phi="):
        distance_function(Odd())


def _constrained(domain, g=_g, width=12, seed=0):
    D = domain.dim
    inner = init_model(lambda: MLP(D, 1, width=width, depth=2, input_shift=[0.1] * D, input_scale=[0.8] * D,
                                   output_shift=0.3, output_scale=1.7), seed=seed).double()
    return HardConstraint(inner, distance_function(domain), g)


def _assert_close(fast, slow, what):
    assert (fast - slow).abs().max() <= 1e-10 * (1 + slow.abs().max()), what


def _assert_jet_equals_autograd(model, x):
    fast, slow = laplacian(model, x, method="forward"), laplacian(model, x, method="autograd")
    _assert_close(fast.value, slow.value, "value")
    _assert_close(fast.directional, slow.directional, "gradient")
    _assert_close(fast.second, slow.second, "Laplacian")
    n, D = x.shape
    g = _gen(7)
    v = torch.randn(n, 3, D, dtype=F64, generator=g)  # per-point directions with weights (Hutchinson, σσᵀ)
    w = torch.rand(3, dtype=F64, generator=g)
    for weights in (w, None):
        fast = directional_derivatives(model, x, v, weights, method="forward")
        slow = directional_derivatives(model, x, v, weights, method="autograd")
        _assert_close(fast.directional, slow.directional, "per-point directional")
        _assert_close(fast.second, slow.second, "per-point second")
    shared = torch.randn(2, D, dtype=F64, generator=g)  # shared directions, weighted
    fast = directional_derivatives(model, x, shared, w[:2], method="forward")
    slow = directional_derivatives(model, x, shared, w[:2], method="autograd")
    _assert_close(fast.second, slow.second, "shared weighted second")


@pytest.mark.parametrize("name", ["interval", "box2", "box10", "ball2", "ball10", "annulus", "spacetime-box",
                                  "spacetime-mesh"])
def test_forward_jet_equals_autograd(name):
    domain = DOMAINS[name]()
    model = _constrained(domain)
    x = domain.sample_interior(25, generator=_gen(4), dtype=F64)
    _assert_jet_equals_autograd(model, x)
    _assert_jet_equals_autograd(_constrained(domain, g=None), x)


def test_laplacian_over_space_of_a_spacetime_constraint():
    domain = SpaceTime(Ball.unit(2), 0.0, 1.0)
    model = _constrained(domain)
    x = domain.sample_interior(20, generator=_gen(5), dtype=F64)
    fast = laplacian(model, x, method="forward", dims=2)
    slow = laplacian(model, x, method="autograd", dims=2)
    _assert_close(fast.second, slow.second, "space Laplacian")


def test_function_jet_carries_an_incoming_second_derivative():
    # the jet of φ(h(x)) with h a non-linear map: the ∇φ·S term of the chain rule
    d = 3
    x = torch.rand(10, d, dtype=F64, generator=_gen(6))
    phi = distance_function(Ball.unit(d))
    jet = Jet.seed(x, torch.eye(d, dtype=F64))
    h = Jet(torch.sin(jet.value), torch.cos(x)[:, None, :] * jet.tangent, -torch.sin(x), None)
    out = function_jet(phi, h)

    class Composite(torch.nn.Module):
        def forward(self, z):
            return phi(torch.sin(z))[:, None]

    slow = laplacian(Composite(), x, method="autograd")
    _assert_close(out.second[:, 0], slow.second, "chain rule second")
    _assert_close(out.tangent[..., 0], slow.directional, "chain rule tangent")


@pytest.mark.parametrize("name", ["box2", "box10", "ball10", "annulus", "cube-mesh", "spacetime-ball"])
def test_u_equals_g_on_the_boundary(name):
    domain = DOMAINS[name]()
    model = _constrained(domain)
    xb = domain.sample_boundary(300, generator=_gen(8), dtype=F64)
    with torch.no_grad():
        assert (model(xb)[:, 0] - _g(xb)).abs().max() <= 1e-12
        xi = domain.sample_interior(300, generator=_gen(9), dtype=F64)
        assert (model(xi)[:, 0] - _g(xi)).abs().max() > 1e-3  # the network is not g inside


def test_chosen_components_and_initial_value_form():
    domain = SpaceTime(Box.unit(2), 0.25, 1.0)
    inner = init_model(lambda: MLP(3, 3, width=10, depth=2), seed=3).double()
    model = HardConstraint.initial_value(inner, lambda x: torch.stack([torch.cos(x[:, 0]), x[:, 1] ** 2], 1),
                                         0.25, components=[0, 2])
    x0 = domain.sample_slice(50, 0.25, generator=_gen(10), dtype=F64)
    x = domain.sample_interior(20, generator=_gen(11), dtype=F64)
    with torch.no_grad():
        u0, free = model(x0), inner(x0)
        assert (u0[:, 0] - torch.cos(x0[:, 0])).abs().max() <= 1e-14
        assert (u0[:, 2] - x0[:, 1] ** 2).abs().max() <= 1e-14
        assert torch.equal(u0[:, 1], free[:, 1])  # the unconstrained output passes through
    jet = model.forward_jet(Jet.seed(x, torch.eye(3, dtype=F64)))
    for i in range(3):
        class Component(torch.nn.Module):
            def forward(self, z, i=i):
                return model(z)[:, i:i + 1]

        slow = laplacian(Component(), x, method="autograd")
        _assert_close(jet.value[:, i], slow.value, f"value {i}")
        _assert_close(jet.tangent[:, :, i], slow.directional, f"gradient {i}")
        _assert_close(jet.second[:, i], slow.second, f"Laplacian {i}")
    with pytest.raises(ValueError, match="components"):
        HardConstraint(inner, lambda x: x[:, 0], components=[1, 1])


def test_active_conditions_drop_the_enforced_one():
    p = make("poisson-ball-Nd", dim=3)
    net = MLP(3, 1, width=8, depth=1)
    model = constrained_network(p, net)
    assert model.enforces == ("boundary",)
    assert [c.name for c in p.conditions()] == ["boundary"]
    assert active_conditions(p, model) == []
    assert [c.name for c in active_conditions(p, net)] == ["boundary"]


class _NoDirichlet(Problem):
    case, dim, time_dependent = "no-dirichlet", 2, False
    domain = Box.unit(2)

    def conditions(self):
        return [Condition("flux", self.domain.sample_boundary, lambda x: torch.zeros_like(x[:, 0]))]


class _OwnData(_NoDirichlet):
    """A problem that names its own hard constraint: u(0, y) = y on the face x = 0 (φ = x)."""
    case = "own-data"

    def conditions(self):
        return [Condition("left", self.domain.sample_boundary, lambda x: x[:, 1]),
                Condition("rest", self.domain.sample_boundary, lambda x: x[:, 1])]

    def hard_constraint_data(self):
        return (lambda x: x[:, 0]), (lambda x: x[:, 1]), ("left",)


def test_refusals_and_a_problems_own_constraint_data():
    with pytest.raises(ValueError, match="hard_constraint_data"):
        constrained_network(_NoDirichlet(), MLP(2, 1))
    boundary_only = Poisson(Box.unit(2), lambda x: torch.ones_like(x[:, 0]),
                            lambda x: torch.where(x[:, 0] > 0.5, float("nan"), 0.0))
    with pytest.raises(ValueError, match="everywhere"):
        constrained_network(boundary_only, MLP(2, 1))
    p = _OwnData()
    model = constrained_network(p, MLP(2, 1, width=8, depth=1))
    assert model.enforces == ("left",)
    assert [c.name for c in active_conditions(p, model)] == ["rest"]
    y = torch.rand(20, dtype=torch.float32)
    x = torch.stack([torch.zeros_like(y), y], 1)
    assert torch.allclose(model(x)[:, 0], y)
    s = SolveSettings(options={"hard_constraint": True})
    with pytest.raises(ValueError, match="hard_constraint"):
        PINN().build_model(_NoDirichlet(), s)
    with pytest.raises(ValueError, match="True or False"):
        PINN().build_model(make("poisson-2d"), SolveSettings(options={"hard_constraint": "yes"}))


def test_solvers_build_the_constrained_network_with_data_scaling():
    p = make("poisson-mesh")
    s = SolveSettings(width=8, depth=2, options={"hard_constraint": True})
    for solver in (PINN(), DeepRitz(), dlpde.solvers.get_solver("dgm")):
        model = solver.build_model(p, s)
        assert isinstance(model, HardConstraint) and model.enforces == ("boundary",)
        assert model.inner.output_shift == 0.0
    objective = EnergyObjective(p, DeepRitz().build_model(p, s), s)
    assert objective.conditions == []


def _same_outputs(a, b, x):
    with torch.no_grad():
        return torch.allclose(a(x), b(x), rtol=0, atol=1e-14)


@pytest.mark.parametrize("case,dim", [("poisson-ball-Nd", 4), ("poisson-mesh", None), ("poisson-2d", None)])
def test_config_round_trip_of_a_registered_case(case, dim):
    """The stored config rebuilds the network; the loader (dlpde.loading) gives it the case's φ and g again."""
    from dlpde.loading import bind_constraints
    p = make(case, dim)
    model = constrained_network(p, ResNet(p.dim, 1, width=8, blocks=1)).double()
    again = build_network(model.config()).double()
    again.load_state_dict(model.state_dict())
    bind_constraints(again, make(case, dim))
    assert isinstance(again, HardConstraint) and again.enforces == model.enforces
    x = p.interior_points(50, generator=_gen(12), dtype=F64)
    assert _same_outputs(model, again, x)


def test_config_round_trip_of_a_custom_problem_needs_bind():
    p = Poisson(Ball.unit(2), lambda x: torch.ones_like(x[:, 0]), lambda x: x[:, 0] * x[:, 1])
    model = constrained_network(p, MLP(2, 1, width=8, depth=1)).double()
    again = build_network(model.config()).double()
    again.load_state_dict(model.state_dict())
    x = p.interior_points(30, generator=_gen(13), dtype=F64)
    with pytest.raises(ValueError, match="bind"):
        again(x)
    assert _same_outputs(model, again.bind(p), x)
    zero_g = HardConstraint(MLP(2, 1, width=8, depth=1), distance_function(Box.unit(2)),
                            spec={"kind": "dirichlet", "domain": Box.unit(2).describe()}).double()
    rebuilt = build_network(zero_g.config()).double()  # an analytic φ and g = 0 need no problem
    rebuilt.load_state_dict(zero_g.state_dict())
    assert _same_outputs(zero_g, rebuilt, x.abs() / 2)


def test_ritz_trains_with_the_constraint_and_reloads(tmp_path):
    # β = 0: without the constraint nothing ties u to the boundary data (the energy is unbounded below), so the
    # error is large; with it, u = φN needs only N ≈ 1/(2d) = 1/4 (u = (1 − |x|²)/4) and a few steps suffice.
    kw = tiny(steps=150, batch=256, width=16, depth=2, lr=1e-2, boundary_weight=0.0, penalty_warmup=0.0,
              eval_every=150, seed=0)
    sol = dlpde.solve("poisson-ball-Nd", "ritz", dim=2, hard_constraint=True, **kw)
    assert sol.status == "ok" and isinstance(sol.model, HardConstraint)
    assert not any(k.startswith("loss_boundary") for k in sol.history.columns())
    assert sol.metrics["rel_l2_error"] < 5e-2
    free = dlpde.solve("poisson-ball-Nd", "ritz", dim=2, hard_constraint=False, **kw)
    assert not free.metrics["rel_l2_error"] < 0.2  # the same run without the constraint fails (or is NaN)
    path = sol.save(tmp_path / "ritz.h5")
    back = dlpde.load(path)
    x = sol.problem.interior_points(100, generator=_gen(14), dtype=torch.float32)
    assert isinstance(back.model, HardConstraint)
    assert _same_outputs(sol.model.float(), back.model.float(), x)


def test_mesh_distance_first_called_inside_a_jet():
    """The mesh φ converts its facet arrays to the points' dtype; a first call in float32 inside torch.func's
    jvp/vmap (as in a PINN's first forward-jet pass) must not leave copies wrapped at that transform's level for
    the next call (seen: functorch's 'escaped' internal assert)."""
    domain = DOMAINS["annulus"]()
    x = domain.sample_interior(20, generator=_gen(5), dtype=F64).float()
    model = _constrained(domain).float()
    for _ in range(2):
        fast, slow = laplacian(model, x, method="forward"), laplacian(model, x, method="autograd")
        assert (fast.second - slow.second).abs().max() <= 1e-3 * (1 + slow.second.abs().max())


@pytest.mark.parametrize("shared, weighted", [(True, False), (False, False), (False, True)])
def test_ball_distance_closed_form_jet_equals_the_generic_jet(shared, weighted):
    """The fast path (BallDistance.jet, O(n·k·D)) against torch.func's jvp-of-jvp on the same function."""
    from dlpde.nn.constraints import ball_distance, function_jet
    from dlpde.nn.jet import Jet
    g = _gen(21)
    n, k, d = 6, 4, 5
    x = torch.randn(n, d, generator=g, dtype=F64)
    weights = torch.rand(k, generator=g, dtype=F64) if weighted else None
    if shared:
        jet = Jet.seed(x, torch.randn(k, d, generator=g, dtype=F64), weights)
    else:
        jet = Jet(x, torch.randn(n, k, d, generator=g, dtype=F64), torch.randn(n, d, generator=g, dtype=F64), weights)
    phi = ball_distance(torch.randn(d, generator=g, dtype=F64), 1.7)
    fast = function_jet(phi, jet)
    slow = function_jet(lambda y: phi(y), jet)  # a plain function: the generic path
    for a, b in zip((fast.value, fast.tangent, fast.second), (slow.value, slow.tangent, slow.second)):
        assert a.shape == b.shape and torch.allclose(a, b, rtol=1e-12, atol=1e-12)


def test_phi_and_g_jets_are_reused_on_fixed_points_and_recomputed_when_anything_changes(monkeypatch):
    import dlpde.nn.constraints as constraints
    calls = []
    real = constraints.function_jet
    monkeypatch.setattr(constraints, "function_jet", lambda f, jet: calls.append(f) or real(f, jet))
    domain = Box([0.0, -1.0], [1.0, 3.0])
    model = _constrained(domain)
    x = domain.sample_interior(30, generator=_gen(8), dtype=F64)
    first = laplacian(model, x, method="forward")
    assert len(calls) == 2  # φ and g
    again = laplacian(model, x.clone(), method="forward")  # same points, a new tensor: reused
    assert len(calls) == 2
    _assert_close(again.second, first.second, "reused jets")
    x2 = x.clone()
    x2[3, 0] += 1e-3  # one point moved: recomputed, and the result is that of a fresh model
    moved = laplacian(model, x2, method="forward")
    assert len(calls) == 4
    fresh = laplacian(_constrained(domain), x2, method="forward")
    _assert_close(moved.second, fresh.second, "moved point")
    w = torch.tensor([0.0, 1.0], dtype=F64)  # other weights on the same points: recomputed
    directional_derivatives(model, x2, torch.eye(2, dtype=F64), w, method="forward")
    assert len(calls) > 4
    # a g with parameters (its jet needs a gradient) is never reused; φ is
    scale = torch.nn.Parameter(torch.tensor(2.0, dtype=F64))
    model = HardConstraint(model.inner, model.phi, lambda y: scale * _g(y))
    calls.clear()
    for _ in range(2):
        out = laplacian(model, x, method="forward")
        (grad,) = torch.autograd.grad(out.second.sum(), scale)
        assert grad.abs() > 0
    assert calls.count(model.g) == 2 and calls.count(model.phi) == 1
    # large inputs are not kept (a d = 10⁴ seed expanded over the batch would be 10¹¹ numbers): recomputed
    monkeypatch.setattr(constraints, "JET_CACHE_LIMIT", 10)
    model = _constrained(domain)
    calls.clear()
    laplacian(model, x, method="forward")
    laplacian(model, x, method="forward")
    assert len(calls) == 4 and not model.__dict__.get("_jet_cache")
