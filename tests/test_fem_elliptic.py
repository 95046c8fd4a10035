"""Finite element references for general linear elliptic problems, and gmsh meshes of polygons and DeepXDE shapes.

Manufactured solutions: u is chosen, f and the boundary data are computed from it by hand, and the L2 error must
fall at the P2 rate (slope of log err against log h ≈ 3) to below 1e-4.
"""
from __future__ import annotations

import numpy as np
import pytest
import skfem

from dlpde.geometry import meshes
from dlpde.geometry.mesh import MeshDomain
from dlpde.geometry.shapes import mesh_deepxde, mesh_polygon
from dlpde.reference.fem_elliptic import BoundaryPart, converged_elliptic, solve_elliptic

SQUARE = [(0.0, 0.0), (1.0, 0.0), (1.0, 1.0), (0.0, 1.0)]
LSHAPE = [(-1.0, -1.0), (1.0, -1.0), (1.0, 0.0), (0.0, 0.0), (0.0, 1.0), (-1.0, 1.0)]  # (-1,1)² minus [0,1)²


def rate(hs: list[float], errors: list[float]) -> float:
    return float(np.polyfit(np.log(hs), np.log(errors), 1)[0])


# u = e^{x/2} sin 2y + x², its gradient and Laplacian
def exact(x):
    return np.exp(x[:, 0] / 2) * np.sin(2 * x[:, 1]) + x[:, 0] ** 2


def gradient(x):
    e = np.exp(x[:, 0] / 2)
    return np.stack([0.5 * e * np.sin(2 * x[:, 1]) + 2 * x[:, 0], 2 * e * np.cos(2 * x[:, 1])], axis=1)


def laplacian(x):
    return -3.75 * np.exp(x[:, 0] / 2) * np.sin(2 * x[:, 1]) + 2.0


def variable_a(x):
    return 2.0 + x[:, 0] + x[:, 1] ** 2  # >= 1 on (-1, 1)²


def variable_a_gradient(x):
    return np.stack([np.ones(len(x)), 2 * x[:, 1]], axis=1)


def outward_normal(polygon):
    """Outward unit normal of the nearest edge of a counter-clockwise polygon (for points on its boundary)."""
    v = np.asarray(polygon, dtype=float)
    start, edge = v, np.roll(v, -1, axis=0) - v

    def normal(x):
        t = np.clip(np.einsum("ned,ed->ne", x[:, None, :] - start, edge) / np.sum(edge**2, axis=1), 0, 1)
        dist = np.linalg.norm(x[:, None, :] - start - t[..., None] * edge, axis=2)
        e = edge[np.argmin(dist, axis=1)]
        return np.stack([e[:, 1], -e[:, 0]], axis=1) / np.linalg.norm(e, axis=1, keepdims=True)
    return normal


def on(coordinate, value):
    return lambda x: np.isclose(x[:, coordinate], value)


def problem(name):
    """(polygon, keyword arguments of solve_elliptic) of a manufactured case."""
    polygon = LSHAPE if name in ("variable-diffusion", "neumann-part", "robin-mixed") else SQUARE
    a = variable_a if name in ("variable-diffusion", "neumann-part") else (lambda x: np.ones(len(x)))
    grad_a = variable_a_gradient if a is variable_a else (lambda x: np.zeros((len(x), 2)))
    c = {"reaction": lambda x: 1.0 + x[:, 0] ** 2, "helmholtz": -30.0}.get(name, 0.0)  # 2π² < k² = 30 < 5π²
    c_of = c if callable(c) else (lambda x: np.full(len(x), float(c)))
    normal = outward_normal(polygon)

    def source(x):
        return -(np.sum(grad_a(x) * gradient(x), axis=1) + a(x) * laplacian(x)) + c_of(x) * exact(x)

    def flux(x):  # a ∂u/∂n
        return a(x) * np.sum(gradient(x) * normal(x), axis=1)

    def alpha(x):
        return 1.0 + x[:, 1] ** 2

    boundary = [BoundaryPart("dirichlet", exact)]
    if name == "neumann-part":  # Dirichlet everywhere, then Neumann on the outer right and bottom sides
        boundary.append(BoundaryPart("neumann", flux, where=lambda x: np.isclose(x[:, 0], 1) | np.isclose(x[:, 1], -1)))
    elif name == "robin":  # Robin on the whole boundary, no Dirichlet part and c = 0
        boundary = [BoundaryPart("robin", lambda x: flux(x) + alpha(x) * exact(x), alpha=alpha)]
    elif name == "robin-mixed":  # Dirichlet on x = -1, Neumann on y = -1, Robin (α = 3) on the rest
        boundary = [BoundaryPart("robin", lambda x: flux(x) + 3 * exact(x), alpha=3.0),
                    BoundaryPart("neumann", flux, where=on(1, -1)),
                    BoundaryPart("dirichlet", exact, where=on(0, -1))]
    return polygon, dict(diffusion=a, reaction=c, source=source, boundary=boundary)


@pytest.fixture(scope="module")
def base_meshes():
    return {"square": MeshDomain.from_meshio(meshes.square_mesh(0.25, 0.0, 1.0)), "lshape": mesh_polygon(LSHAPE, 0.25)}


CASES = ["poisson-dirichlet", "variable-diffusion", "reaction", "helmholtz", "neumann-part", "robin", "robin-mixed"]


@pytest.mark.parametrize("name", CASES)
def test_p2_manufactured_solutions_converge_at_rate_3(name, base_meshes):
    polygon, options = problem(name)
    base = base_meshes["square" if polygon is SQUARE else "lshape"]
    hs, errors = [], []
    for level in range(3):
        u = solve_elliptic(base.refined(level) if level else base, **options)
        hs.append(u.h)
        errors.append(u.l2_error(exact))
    assert rate(hs, errors) > 2.5, errors
    assert errors[-1] < 1e-4, errors


def test_p1_option_converges_at_rate_2(base_meshes):
    _, options = problem("neumann-part")
    hs, errors = [], []
    for level in range(3):
        u = solve_elliptic(base_meshes["lshape"].refined(level), order=1, **options)
        hs.append(u.h)
        errors.append(u.l2_error(exact))
    assert 1.7 < rate(hs, errors) < 2.5


def test_3d_tetrahedra_with_reaction_neumann_and_robin():
    # u = sin(πx) cos(πy) e^z, −Δu + u = (2π²) u; ∂u/∂z = u on z = 1; −∂u/∂x + 2u on x = 0 (Robin, α = 2)
    def u3(x):
        return np.sin(np.pi * x[:, 0]) * np.cos(np.pi * x[:, 1]) * np.exp(x[:, 2])

    def robin(x):
        return -np.pi * np.cos(np.pi * x[:, 0]) * np.cos(np.pi * x[:, 1]) * np.exp(x[:, 2]) + 2 * u3(x)

    boundary = [BoundaryPart("dirichlet", u3), BoundaryPart("neumann", u3, where=on(2, 1)),
                BoundaryPart("robin", robin, where=on(0, 0), alpha=2.0)]
    hs, errors = [], []
    for n in (2, 4, 8):
        grid = np.linspace(0, 1, n + 1)
        u = solve_elliptic(MeshDomain.from_skfem(skfem.MeshTet.init_tensor(grid, grid, grid)), reaction=1.0,
                           source=lambda x: 2 * np.pi**2 * u3(x), boundary=boundary)
        hs.append(u.h)
        errors.append(u.l2_error(u3, relative=True))
    assert rate(hs, errors) > 2.5, errors
    assert errors[-1] < 2e-3, errors


def test_minres_path_for_large_indefinite_3d_systems_matches_lu():
    from scipy.sparse.linalg import spsolve

    from dlpde.reference.fem_elliptic import _minres

    grid = np.linspace(0, 1, 5)
    basis = skfem.Basis(skfem.MeshTet.init_tensor(grid, grid, grid), skfem.ElementTetP2())

    @skfem.BilinearForm
    def helmholtz(u, v, _):
        return skfem.helpers.dot(skfem.helpers.grad(u), skfem.helpers.grad(v)) - 40.0 * u * v  # 3π² < 40 < 6π²

    a, b, _, _ = skfem.condense(helmholtz.assemble(basis), np.sin(np.arange(basis.N)), D=basis.get_dofs())
    x = _minres(a, b)
    assert np.linalg.norm(x - spsolve(a.tocsc(), b)) < 1e-9 * np.linalg.norm(x)


def test_later_parts_override_and_dirichlet_wins_on_shared_dofs():
    mesh = MeshDomain.from_meshio(meshes.square_mesh(0.125, 0.0, 1.0))
    u = solve_elliptic(mesh, boundary=[BoundaryPart("dirichlet", 0.0), BoundaryPart("dirichlet", 1.0, where=on(0, 1))])
    assert np.allclose(u(np.array([[1.0, 0.5], [1.0, 0.0], [1.0, 1.0]])), 1.0)  # the later part, corners included
    assert np.allclose(u(np.array([[0.5, 0.0], [0.0, 0.5]])), 0.0)
    v = solve_elliptic(mesh, source=1.0,
                       boundary=[BoundaryPart("dirichlet", 0.0), BoundaryPart("neumann", 0.0, where=on(0, 1))])
    assert v(np.array([[1.0, 0.5]]))[0] > 0.05  # natural condition there now
    assert np.allclose(v(np.array([[1.0, 0.0], [1.0, 1.0]])), 0.0)  # corners shared with Dirichlet facets


def test_converged_elliptic_reports_its_refinements(base_meshes):
    _, options = problem("helmholtz")
    solution, info = converged_elliptic(base_meshes["square"], tol=1e-4, max_refinements=4, **options)
    assert info["converged"] and info["last_change"] < 1e-4 and info["refinements"] == len(info["history"]) - 1
    assert info["dofs"] == solution.n_dofs and solution.l2_error(exact) < 1e-4
    with pytest.warns(RuntimeWarning, match="did not converge"):
        _, info = converged_elliptic(base_meshes["square"], tol=1e-12, max_refinements=1, **options)
    assert not info["converged"] and info["refinements"] == 1


def test_bad_input_is_refused_with_the_name_of_the_culprit(base_meshes):
    mesh = base_meshes["square"]
    with pytest.raises(ValueError, match="singular"):
        solve_elliptic(mesh, source=1.0, boundary=[BoundaryPart("neumann", 0.0)])
    with pytest.raises(ValueError, match="singular"):  # Robin with α = 0 is Neumann
        solve_elliptic(mesh, boundary=[BoundaryPart("robin", 1.0, alpha=0.0)])
    with pytest.raises(ValueError, match="kind must be one of"):
        BoundaryPart("dirchlet", 0.0)
    with pytest.raises(ValueError, match=r"boundary\[1\] \(neumann\).*selects none"):
        solve_elliptic(mesh, boundary=[BoundaryPart("dirichlet", 0.0), BoundaryPart("neumann", 1.0, where=on(0, 2))])
    with pytest.raises(ValueError, match="where"):
        solve_elliptic(mesh, boundary=[BoundaryPart("dirichlet", 0.0, where=lambda x: x[:, 0])])
    with pytest.raises(ValueError, match="source is not finite"), np.errstate(invalid="ignore"):
        solve_elliptic(mesh, source=lambda x: np.log(x[:, 0] - 0.5), boundary=[BoundaryPart("dirichlet", 0.0)])
    with pytest.raises(ValueError, match=r"boundary\[0\].value is not finite"), np.errstate(divide="ignore"):
        solve_elliptic(mesh, boundary=[BoundaryPart("dirichlet", lambda x: 1 / (x[:, 0] - 0.5))])
    with pytest.raises(ValueError, match="must be finite"):
        BoundaryPart("neumann", float("nan"))
    with pytest.raises(ValueError, match="diffusion must be positive"):
        solve_elliptic(mesh, diffusion=lambda x: x[:, 0] - 0.5, boundary=[BoundaryPart("dirichlet", 0.0)])
    with pytest.raises(ValueError, match="Robin"):
        BoundaryPart("neumann", 0.0, alpha=1.0)
    with pytest.raises(ValueError, match="list of BoundaryPart"):
        solve_elliptic(mesh, boundary=[("dirichlet", 0.0)])
    with pytest.raises(ValueError, match="order"):
        solve_elliptic(mesh, boundary=[BoundaryPart("dirichlet", 0.0)], order=3)


def test_mesh_polygon_lshape_area_and_boundary():
    import gmsh

    mesh = mesh_polygon(LSHAPE, 0.1)
    assert not gmsh.isInitialized()
    coords = mesh.points[mesh.cells]
    e1, e2 = coords[:, 1] - coords[:, 0], coords[:, 2] - coords[:, 0]
    area = 0.5 * np.abs(e1[:, 0] * e2[:, 1] - e1[:, 1] * e2[:, 0])
    assert abs(area.sum() - 3.0) < 1e-12
    boundary = mesh.points[np.unique(mesh.boundary_facets)]
    v = np.asarray(LSHAPE)
    start, edge = v, np.roll(v, -1, axis=0) - v
    t = np.clip(np.einsum("ned,ed->ne", boundary[:, None] - start, edge) / np.sum(edge**2, axis=1), 0, 1)
    distance = np.linalg.norm(boundary[:, None] - start - t[..., None] * edge, axis=2).min(axis=1)
    assert distance.max() < 1e-12
    assert all(np.linalg.norm(mesh.points - p, axis=1).min() < 1e-12 for p in v)  # the corners are vertices
    assert mesh.h < 0.15


def test_mesh_polygon_refuses_bad_polygons_and_leaves_gmsh_finalized(monkeypatch):
    import gmsh

    from dlpde.geometry import shapes

    with pytest.raises(ValueError, match="intersect"):
        mesh_polygon([(0, 0), (2, 2), (2, 0), (0, 1)], 0.1)
    with pytest.raises(ValueError, match="at least 3"):
        mesh_polygon([(0, 0), (1, 0)], 0.1)
    with pytest.raises(ValueError, match="h must be"):
        mesh_polygon(SQUARE, -1.0)

    def fail(*args, **kwargs):
        raise RuntimeError("meshing failed")

    monkeypatch.setattr(shapes, "_triangles", fail)
    with pytest.raises(RuntimeError, match="meshing failed"):
        mesh_polygon(SQUARE, 0.1)
    assert not gmsh.isInitialized()


def test_mesh_deepxde_polygon_rectangle_disk_and_domain():
    pytest.importorskip("deepxde")
    from dlpde.geometry.deepxde_adapter import DeepXDEDomain, import_deepxde

    dde = import_deepxde()
    polygon = mesh_deepxde(dde.geometry.Polygon(LSHAPE), 0.2)
    assert abs(polygon.volume - 3.0) < 1e-12
    rectangle = mesh_deepxde(dde.geometry.Rectangle([0.0, 0.0], [2.0, 1.0]), 0.2)
    assert abs(rectangle.volume - 2.0) < 1e-12 and np.allclose(rectangle.points.max(axis=0), [2.0, 1.0])
    wrapped = mesh_deepxde(DeepXDEDomain(dde.geometry.Polygon(LSHAPE), volume=3.0), 0.2)
    assert wrapped.n_cells == polygon.n_cells
    disk = mesh_deepxde(dde.geometry.Disk([0.5, 0.0], 1.0), 0.1)
    rim = disk.points[np.unique(disk.boundary_facets)]
    assert np.allclose(np.linalg.norm(rim - [0.5, 0.0], axis=1), 1.0) and abs(disk.volume - np.pi) < 0.02
    with pytest.raises(ValueError, match="Polygon, Rectangle"):
        mesh_deepxde(dde.geometry.Ellipse([0.0, 0.0], 1.0, 0.5), 0.1)


def test_an_elliptic_problem_on_a_shape_without_a_mesher_trains_without_a_reference():
    """A CSG difference cannot be meshed: has_reference is False and the problem trains, reporting the relative
    residual (it claimed a reference, and solve refused the whole problem when meshing failed)."""
    import dlpde
    from dlpde import Dirichlet
    from dlpde.geometry import DeepXDEDomain
    from dlpde.geometry.deepxde_adapter import import_deepxde
    dde = import_deepxde()
    holed = dde.geometry.CSGDifference(dde.geometry.Rectangle([-1, -1], [1, 1]), dde.geometry.Disk([0, 0], 0.5))
    p = dlpde.Elliptic(DeepXDEDomain(holed), source=1.0, conditions=[Dirichlet(0.0)])
    assert not p.has_reference
    sol = dlpde.solve(p, "pinn", steps=3, batch=32, boundary_batch=16, width=8, depth=1, progress=False)
    assert sol.status == "ok" and "relative_residual" in sol.metrics


def test_two_conditions_on_one_part_of_the_boundary_are_said(caplog):
    """Dirichlet on the whole boundary beside Neumann on the right face: the finite element reference takes the
    Neumann data there, the network's loss both; with data that disagree the errors would be measured against
    another problem's solution, so a warning names the two conditions. Faces that only meet say nothing."""
    import logging

    import dlpde
    from dlpde import Dirichlet, Neumann
    from dlpde.geometry import Box
    box = Box([0, 0], [1, 1])
    with caplog.at_level(logging.WARNING):
        dlpde.Elliptic(box, source=1.0, conditions=[Dirichlet(0.0), Neumann(1.0, on="right")])
    assert "'dirichlet' and 'neumann_right' both hold on part of the boundary" in caplog.text
    caplog.clear()
    with caplog.at_level(logging.WARNING):
        dlpde.Elliptic(box, source=1.0, conditions=[Dirichlet(0.0, on="left"), Neumann(1.0, on="right"),
                                                     Neumann(0.0, on="top"), Neumann(0.0, on="bottom")])
    assert "both hold" not in caplog.text
