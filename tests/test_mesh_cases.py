"""The meshed Poisson cases: converged finite element references, rebuilding, slit sampling, evaluation errors,
``Solution.errors`` against the finite element reference, the corner-singularity network inputs, and a mesh file as
a domain (CLI and script)."""
from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch
from torch import nn

import dlpde
from dlpde.cli import main
from dlpde.derivatives import laplacian
from dlpde.geometry.mesh import MeshDomain
from dlpde.geometry.meshes import disk_with_hole_mesh, write_mesh
from dlpde.nn import build_network
from dlpde.nn.features import SingularFeatures, corner_feature
from dlpde.problems import CASES, Poisson, make
from dlpde.problems.mesh_cases import MeshPoisson, fem_reference
from dlpde.settings import SolveSettings
from dlpde.solution import Solution
from dlpde.solvers.pinn import PINN
from dlpde.training import History
from tests.conftest import tiny

MESH_CASES = ["poisson-slit", "poisson-lshape", "poisson-3d", "poisson-mesh"]


@pytest.mark.parametrize("name", MESH_CASES)
def test_fem_reference_is_converged_and_cached(name):
    p = make(name)
    fem = p.fem_reference()
    changes = [r.relative_change for r in fem.history]
    assert fem.converged and fem.refinements >= 1
    assert changes[-1] < 1e-4 <= changes[-2] or len(changes) == 2 and changes[-1] < 1e-4
    assert all(b.n_dofs > a.n_dofs for a, b in zip(fem.history, fem.history[1:]))
    assert make(name).fem_reference() is fem  # computed once per process
    desc = p.fem_description()
    assert desc.startswith(f"P2 FEM, {fem.refinements} refinements,") and "last change" in desc
    assert p.reference_description == ("exact solution" if p.has_exact else desc)
    assert p.has_reference and (p.has_exact == (name == "poisson-3d"))


@pytest.mark.parametrize("name", MESH_CASES)
def test_problem_rebuilds_from_its_params(name):
    p = make(name)
    q = CASES[name].rebuild(json.loads(json.dumps(p.params())))
    assert type(q) is MeshPoisson and q.params() == p.params() and q.dim == p.dim
    assert math.isclose(q.domain.volume, p.domain.volume, rel_tol=1e-12)


def test_domains_have_the_documented_areas():
    assert math.isclose(make("poisson-slit").domain.volume, 4.0, rel_tol=1e-12)
    assert math.isclose(make("poisson-lshape").domain.volume, 3.0, rel_tol=1e-12)
    assert math.isclose(make("poisson-3d").domain.volume, 1.0, rel_tol=1e-12)


def test_slit_boundary_samples_cover_both_sides_of_the_slit():
    d = make("poisson-slit").domain
    # the slit is in the mesh twice: each edge on it is a boundary facet of a cell above and of a cell below, with
    # different vertex indices (the vertices below are copies), so the slit's boundary length is 2, not 1
    facets = d.boundary_facets
    pts = d.points[facets]  # (k, 2, 2)
    on_slit = np.all((np.abs(pts[:, :, 1]) < 1e-12) & (pts[:, :, 0] >= -1e-12), axis=1)
    lengths = np.linalg.norm(pts[on_slit, 1] - pts[on_slit, 0], axis=1)
    assert math.isclose(lengths.sum(), 2.0, rel_tol=1e-12)
    edges = {tuple(sorted(map(tuple, e.round(12)))) for e in pts[on_slit]}
    assert len(edges) == on_slit.sum() // 2 and len({tuple(sorted(f)) for f in facets[on_slit]}) == on_slit.sum()
    # sampling by length: 2 of the 10 units of boundary length lie on the slit (one side alone would give 1/9)
    x = d.sample_boundary(20_000, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    share = float(((x[:, 1].abs() < 1e-12) & (x[:, 0] > 0)).double().mean())
    assert abs(share - 0.2) < 0.015
    # and the PINN condition asks u = 0 there
    (cond,) = make("poisson-slit").conditions()
    assert float(cond.target(x).abs().max()) == 0.0


def test_slit_reference_vanishes_on_the_slit_and_is_symmetric():
    p = make("poisson-slit")
    x = torch.tensor([[0.5, 1e-9], [0.5, -1e-9], [0.25, 0.2], [0.25, -0.2], [-0.5, 0.3], [-0.5, -0.3]],
                     dtype=torch.float64)
    u = p.reference(x)
    assert u.dtype == torch.float64 and u.shape == (6,)
    assert abs(float(u[0])) < 1e-6 and abs(float(u[1])) < 1e-6
    assert math.isclose(float(u[2]), float(u[3]), rel_tol=1e-4) and math.isclose(float(u[4]), float(u[5]), rel_tol=1e-4)
    assert float(u[2]) > 0.01


def test_reference_outside_the_mesh_is_a_clear_error():
    with pytest.raises(ValueError, match="outside the mesh"):
        make("poisson-lshape").reference(torch.tensor([[0.5, 0.5]], dtype=torch.float64))
    with pytest.raises(ValueError, match="outside the mesh"):
        make("poisson-slit").reference(torch.tensor([[0.0, 0.0], [1.5, 0.0]], dtype=torch.float64))


def test_3d_fem_agrees_with_the_exact_solution():
    p = make("poisson-3d")
    fem = p.fem_reference()
    exact = lambda x: p.exact(torch.as_tensor(x)).numpy()  # noqa: E731
    assert fem.solution.l2_error(exact, relative=True) < 1e-4
    assert float(p.exact(torch.tensor([[0.0, 0.0, 0.0]], dtype=torch.float64))) != 0  # non-zero Dirichlet data


class _Field(nn.Module):
    """A fixed field as a network: x -> fn(x)[:, None] (with one dummy parameter for the dtype)."""

    def __init__(self, fn):
        super().__init__()
        self.fn = fn
        self.dummy = nn.Parameter(torch.zeros((), dtype=torch.float64))

    def forward(self, x):
        return self.fn(x)[:, None] + 0 * self.dummy


def _solution(problem, fn):
    return Solution(problem=problem, model=_Field(fn), solver="pinn", settings=SolveSettings(eval_points=2000),
                    history=History(), dim=problem.dim)


def test_solution_errors_use_the_fem_reference_when_there_is_no_exact_solution():
    p = make("poisson-lshape")
    assert not p.has_exact
    assert _solution(p, p.reference).errors()["rel_l2_error"] < 1e-12
    assert math.isclose(_solution(p, lambda x: 0 * x[:, 0]).errors()["rel_l2_error"], 1.0)
    assert math.isclose(_solution(p, lambda x: 1.1 * p.reference(x)).errors()["rel_l2_error"], 0.1, rel_tol=1e-9)
    # with an exact solution nothing changes: errors against exact
    q = make("poisson-3d")
    assert _solution(q, q.exact).errors()["rel_l2_error"] == 0.0


@pytest.mark.parametrize("name", ["poisson-slit", "poisson-lshape"])
def test_corner_feature_is_harmonic_vanishes_on_the_corner_edges_and_has_exact_derivatives(name):
    p = make(name)
    (corner,) = p.singular_features()
    x = p.interior_points(300, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    xr = x.clone().requires_grad_(True)
    (g,) = torch.autograd.grad(corner_feature(xr, corner).sum(), xr, create_graph=True)
    hess = torch.stack([torch.autograd.grad(g[:, i].sum(), xr, retain_graph=True)[0] for i in range(2)], dim=1)
    v, g2, h2 = corner_feature(x, corner, derivatives=True)
    assert torch.allclose(g.detach(), g2, atol=1e-10) and torch.allclose(hess, h2, atol=1e-8)
    assert float((h2[:, 0, 0] + h2[:, 1, 1]).abs().max()) < 1e-10 and float(v.min()) > 0
    t = torch.linspace(0.01, 1, 50, dtype=torch.float64)
    zero = torch.zeros_like(t)
    edges = [torch.stack([t, zero], 1)] + ([torch.stack([zero, t], 1)] if name == "poisson-lshape" else [])
    for e in edges:  # the slit (its upper side; the lower side is the same points), or the L's two inner edges
        assert float(corner_feature(e, corner).abs().max()) < 1e-12
    assert not make(name, features=False).singular_features()


@pytest.mark.parametrize("name", ["poisson-slit", "poisson-lshape"])
def test_pinn_network_with_corner_features_forward_laplacian_equals_autograd(name):
    p = make(name)
    model = PINN().build_model(p, SolveSettings()).double()
    assert isinstance(model, SingularFeatures)
    x = p.interior_points(200, generator=torch.Generator().manual_seed(2), dtype=torch.float64)
    fast, slow = laplacian(model, x, method="forward"), laplacian(model, x, method="autograd")
    assert torch.allclose(fast.value, slow.value, atol=1e-12)
    assert torch.allclose(fast.directional, slow.directional, atol=1e-10)
    assert torch.allclose(fast.second, slow.second, atol=1e-8 * (1 + float(slow.second.detach().abs().max())))
    rebuilt = build_network(json.loads(json.dumps(model.config()))).double()
    rebuilt.load_state_dict(model.state_dict())
    assert torch.equal(rebuilt(x), model(x))
    assert type(PINN().build_model(make(name, features=False), SolveSettings())).__name__ == "MLP"


def test_pinn_on_the_slit_records_its_errors_against_the_fem_reference_at_each_evaluation():
    """The file's metric is the one Solution.errors() computes against the FEM reference (tested exact above); the
    trained accuracy on a mesh domain is in test_accuracy.py (L-shape)."""
    sol = dlpde.solve("poisson-slit", "pinn", **tiny(steps=20, eval_every=10))
    assert sol.status == "ok"
    assert sol.metrics["rel_l2_error"] == pytest.approx(sol.errors()["rel_l2_error"], rel=1e-12)
    assert [r["step"] for r in sol.history.rows if "rel_l2_error" in r] == [10, 20]


def test_mesh_file_as_domain_from_the_cli_and_from_a_script(tmp_path, capsys):
    path = tmp_path / "annulus.msh"
    write_mesh(disk_with_hole_mesh(0.2), path)
    out = tmp_path / "r.h5"
    code = main(["solve", "poisson-mesh", "--mesh", str(path), "--steps", "10", "--batch", "64", "--width", "8",
                 "--depth", "1", "--lbfgs-steps", "0", "--out", str(out)])
    stdout = capsys.readouterr().out
    assert code == 0
    assert "poisson-mesh solver=pinn dim=2 steps=10" in stdout and "rel_l2=n/a" not in stdout
    sol = dlpde.load(out)
    assert sol.problem_params["mesh"] == str(path) and sol.problem is not None
    assert sol.problem.domain.n_cells == MeshDomain.from_file(path).n_cells
    # the same mesh from a script: any Poisson on a MeshDomain gets its finite element reference on that mesh
    domain = MeshDomain.from_file(path)
    p = Poisson(domain, lambda x: torch.ones_like(x[:, 0]), lambda x: torch.zeros_like(x[:, 0]))
    fem = fem_reference(p, tol=1e-3)
    assert fem.converged
    fine = fem.solution.mesh.p.T
    assert all(np.min(np.linalg.norm(fine - v, axis=1)) < 1e-12 for v in domain.points[::17])  # refines that mesh
    mp = MeshPoisson(domain, p.source, p.boundary, tol=1e-3)
    x = domain.sample_interior(100, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    assert torch.allclose(mp.reference(x), torch.as_tensor(fem.solution(x)), atol=1e-12)


def test_bad_mesh_files_are_one_line_errors(tmp_path, capsys):
    bad = tmp_path / "bad.msh"
    bad.write_text("not a mesh")
    for args, hint in ((["poisson-mesh", "--mesh", str(bad)], "cannot read the mesh file"),
                       (["poisson-mesh", "--mesh", str(tmp_path / "missing.vtu")], "does not exist"),
                       (["poisson-2d", "--mesh", str(bad)], "poisson-mesh")):
        assert main(["solve", *args]) == 2
        err = capsys.readouterr().err
        assert len(err.strip().splitlines()) == 1 and hint in err, err


@pytest.mark.parametrize("solver,plain", [("ritz", "ResNet"), ("dgm", "DGMNet")])
def test_ritz_and_dgm_networks_take_the_corner_features_too(solver, plain):
    from dlpde.solvers import get_solver
    p = make("poisson-slit")
    model = get_solver(solver).build_model(p, SolveSettings()).double()
    assert isinstance(model, SingularFeatures) and type(model.inner).__name__ == plain
    x = p.interior_points(50, generator=torch.Generator().manual_seed(3), dtype=torch.float64)
    fast, slow = laplacian(model, x, method="forward"), laplacian(model, x, method="autograd")
    assert torch.allclose(fast.second, slow.second, atol=1e-8 * (1 + float(slow.second.detach().abs().max())))
    assert type(get_solver(solver).build_model(make("poisson-slit", features=False), SolveSettings())).__name__ == plain


# ---------------------------------------------------------------------------------------------------------
# Deep Ritz on a fixed mesh quadrature (option quadrature="mesh")


@pytest.mark.parametrize("refine", [0, 1])
def test_mesh_quadrature_is_exact_for_polynomials_of_its_degree(refine):
    from dlpde.geometry.meshes import square_mesh, unit_cube_mesh
    sq = MeshDomain.from_meshio(square_mesh(0.5))  # (−1, 1)²
    x, w = sq.quadrature(4, refine=refine)
    assert w.min() > 0 and w.sum() == pytest.approx(4.0, rel=1e-14)
    for f, exact in ((lambda p: p[:, 0] ** 4, 0.8), (lambda p: (p[:, 0] * p[:, 1]) ** 2, 4 / 9),
                     (lambda p: p[:, 0] ** 3 * p[:, 1] + p[:, 1] ** 2, 4 / 3)):
        assert (w * f(x)).sum() == pytest.approx(exact, rel=1e-13, abs=1e-14)
    cube = MeshDomain.from_meshio(unit_cube_mesh(0.5))  # (0, 1)³
    x, w = cube.quadrature(4, refine=refine)
    assert (w * x[:, 0] ** 2 * x[:, 1] * x[:, 2]).sum() == pytest.approx(1 / 12, rel=1e-13)


def test_mesh_quadrature_converges_for_smooth_functions_and_checks_its_arguments():
    from dlpde.geometry.meshes import unit_cube_mesh
    d = MeshDomain.from_meshio(disk_with_hole_mesh(0.2))
    x, w = d.quadrature(9, refine=2)
    f = lambda p: np.exp(p[:, 0]) * np.cos(3 * p[:, 1])  # noqa: E731
    best = (w * f(x)).sum()
    errors = [abs((w * f(x)).sum() - best) for x, w in (d.quadrature(4, refine=r) for r in (0, 1))]
    assert errors[1] < errors[0] / 16  # O(h^5): at least 2^4 per halving of h
    assert d.quadrature(4)[1].sum() == pytest.approx(d.volume, rel=1e-14)
    with pytest.raises(ValueError, match="degree"):
        d.quadrature(0)
    with pytest.raises(ValueError, match="refine"):
        d.quadrature(4, refine=-1)
    with pytest.raises(ValueError, match="no tetra quadrature of degree 30"):
        MeshDomain.from_meshio(unit_cube_mesh(0.5)).quadrature(30)


def test_ritz_mesh_quadrature_objective_equals_the_monte_carlo_energy():
    from dlpde.problems.mesh_cases import poisson_mesh
    from dlpde.solvers.ritz import DeepRitz, EnergyObjective, energy_estimate, energy_terms
    p = poisson_mesh()
    s = SolveSettings(dtype="float64", width=16, depth=2, options=dict(hard_constraint=True, quadrature="mesh"))
    model = DeepRitz().build_model(p, s).double()
    obj = EnergyObjective(p, model, s)
    assert len(obj.cache) == 4  # φ, ∇φ, g, ∇g stored at the quadrature points
    loss, terms = obj.loss(0, resample=True)
    assert set(terms) == {"energy"}  # the hard constraint leaves no boundary term
    x, w = obj.quadrature
    plain = (w * energy_terms(p, model, x)).sum()  # the network evaluated through φ itself
    assert float(loss.detach()) == pytest.approx(float(plain.detach()), rel=1e-12)
    params = list(model.parameters())
    for a, b in zip(torch.autograd.grad(loss, params), torch.autograd.grad(plain, params)):
        assert torch.allclose(a, b, rtol=1e-10, atol=1e-14)
    # ENGD's rows √w_q·∇u: their squares sum to Σ w_q |∇u|², the Gram of ½|∇u|² − fu along (u, ∇u)
    from dlpde.solvers.ritz import field_and_gradient
    rows = torch.cat([block.jacobian(params)[1] for block in obj.gram_blocks()])  # the interior EnergyRows
    grad = field_and_gradient(model, x)[1]
    assert float((rows * rows).sum()) == pytest.approx(float((w * (grad * grad).sum(1)).sum()), rel=1e-12)
    # the same integral as the Monte Carlo estimate |Ω|·mean e (the default path), within its standard error
    mc, stderr = energy_estimate(p, model, 200_000, generator=torch.Generator().manual_seed(5))
    assert abs(float(loss) - mc) < 4 * stderr
    with pytest.raises(ValueError, match="MeshDomain"):
        EnergyObjective(make("poisson-2d"), model, SolveSettings(options=dict(quadrature="mesh")))
    with pytest.raises(ValueError, match="quadrature must be one of"):
        EnergyObjective(p, model, SolveSettings(options=dict(quadrature="simpson")))
    with pytest.raises(ValueError, match="quadrature='gauss' needs a problem on a Box"):
        EnergyObjective(p, model, SolveSettings(options=dict(quadrature="gauss")))
    with pytest.raises(ValueError, match="only apply with quadrature='mesh'"):
        EnergyObjective(p, model, SolveSettings(options=dict(quadrature_degree=6)))


def test_ritz_on_the_mesh_quadrature_reaches_the_exact_solution_with_lbfgs():
    """u = cos(πx/2)cos(πy/2) on a square mesh of (−1, 1)², −Δu = π²/2·u, u = 0: hard constraint, the fixed
    quadrature and L-BFGS only (the poisson-mesh defaults' recipe). The 32-cell mesh is refined twice to reach
    ``batch`` = 2000 points (3072); measured 3.6e-3 (float64, one thread, 8 s); on the unrefined 192 points L-BFGS
    runs off to 0.64 (a fixed set's energy unbounded below); with the −f·u term of the energy dropped the error is
    1.0, with ∇u missing the N∇φ part of the product rule 3e5 (the objective test catches both that and uniform
    weights in place of w_q)."""
    from dlpde.geometry.meshes import square_mesh

    def exact(x):
        return torch.cos(math.pi * x[:, 0] / 2) * torch.cos(math.pi * x[:, 1] / 2)

    domain = MeshDomain.from_meshio(square_mesh(0.5))
    p = MeshPoisson(domain, lambda x: math.pi ** 2 / 2 * exact(x), lambda x: torch.zeros_like(x[:, 0]),
                    exact=exact)
    sol = dlpde.solve(p, "ritz", steps=0, lbfgs_steps=300, width=16, depth=2, activation="tanh",
                      dtype="float64", hard_constraint=True, quadrature="mesh", threads=1, progress=False,
                      eval_points=2000, log_every=50)
    assert sol.status == "ok"
    assert sol.metrics["rel_l2_error"] < 1e-2
