"""Finite element reference (scikit-fem): convergence rates, exactness, evaluation, the slit and the L-shape."""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from dlpde.geometry import meshes
from dlpde.geometry.mesh import MeshDomain
from dlpde.reference.fem import FEMSolution, as_skfem_mesh, solve_poisson_fem, solve_until_converged


def sin2d(x: np.ndarray) -> np.ndarray:
    """poisson-2d: u = sin(pi x) sin(pi y) on (0, 1)^2, -Δu = 2 pi^2 u."""
    return np.sin(np.pi * x[:, 0]) * np.sin(np.pi * x[:, 1])


def rate(hs: list[float], errors: list[float]) -> float:
    return float(np.polyfit(np.log(hs), np.log(errors), 1)[0])


@pytest.mark.parametrize("order, expected", [(1, 2.0), (2, 3.0)])
def test_convergence_rate_poisson_2d(order: int, expected: float) -> None:
    hs, errors = [], []
    for h in (1 / 4, 1 / 8, 1 / 16, 1 / 32):
        u = solve_poisson_fem(meshes.square_mesh(h, 0.0, 1.0), lambda x: 2 * np.pi**2 * sin2d(x), order=order)
        hs.append(u.h)
        errors.append(u.l2_error(sin2d))
    assert abs(rate(hs, errors) - expected) < 0.3
    assert errors[-1] < (2e-3 if order == 1 else 2e-5)


def exact3d(x: np.ndarray) -> np.ndarray:
    """u = sin(pi x) cos(pi y) e^z, -Δu = (2 pi^2 - 1) u; nonzero on the boundary."""
    return np.sin(np.pi * x[:, 0]) * np.cos(np.pi * x[:, 1]) * np.exp(x[:, 2])


@pytest.mark.parametrize("order, sizes, expected", [(1, (1 / 4, 1 / 8, 1 / 16), 2.0), (2, (1 / 2, 1 / 4, 1 / 8), 3.0)])
def test_convergence_rate_3d_manufactured(order: int, sizes: tuple, expected: float) -> None:
    hs, errors = [], []
    for h in sizes:
        u = solve_poisson_fem(meshes.unit_cube_mesh(h), lambda x: (2 * np.pi**2 - 1) * exact3d(x), exact3d,
                              order=order)
        hs.append(u.h)
        errors.append(u.l2_error(exact3d, relative=True))
    assert abs(rate(hs, errors) - expected) < 0.3


def test_p2_reproduces_quadratics_and_p1_linear_functions() -> None:
    mesh = meshes.disk_with_hole_mesh(0.25)
    quadratic = lambda x: x[:, 0] ** 2 - 2 * x[:, 1] ** 2 + x[:, 0] * x[:, 1]  # noqa: E731  -Δ = 2
    u2 = solve_poisson_fem(mesh, 2.0, quadratic, order=2)
    assert u2.l2_error(quadratic) < 1e-12
    linear = lambda x: 1 + 2 * x[:, 0] - x[:, 1]  # noqa: E731
    u1 = solve_poisson_fem(mesh, 0.0, linear, order=1)
    assert u1.l2_error(linear) < 1e-12
    assert np.allclose(u1.nodal_values(), linear(u1.mesh.p.T), atol=1e-12)
    x = np.random.default_rng(0).uniform(-0.6, 0.6, (200, 2))
    x = x[np.linalg.norm(x, axis=1) > 0.35]
    assert np.allclose(u2(x), quadratic(x), atol=1e-11)


def test_evaluation_matches_exact_and_accepts_tensors() -> None:
    u = solve_poisson_fem(meshes.square_mesh(1 / 16, 0.0, 1.0), lambda x: 2 * np.pi**2 * sin2d(x), order=2)
    x = np.random.default_rng(1).random((500, 2))
    assert np.max(np.abs(u(x) - sin2d(x))) < 5e-4
    assert np.array_equal(u(torch.as_tensor(x, dtype=torch.float64)), u(x))
    assert np.max(np.abs(u.nodal_values() - sin2d(u.mesh.p.T))) < 1e-4
    corners = np.array([[0.0, 0.0], [1.0, 1.0], [0.5, 0.0]])  # on the boundary: inside the closed mesh
    assert np.allclose(u(corners), 0.0, atol=1e-12)


def test_points_outside_the_mesh_raise() -> None:
    u = solve_poisson_fem(meshes.lshape_mesh(0.25), 1.0, order=1)
    with pytest.raises(ValueError, match=r"2 of 3 points lie outside the mesh \(e\.g\. \[0\.5, 0\.5\]\)"):
        u(np.array([[0.5, 0.5], [-0.5, -0.5], [3.0, 0.0]]))
    with pytest.raises(ValueError, match="shape"):
        u(np.zeros((4, 3)))


def test_input_errors_are_sentences() -> None:
    mesh = meshes.square_mesh(0.5, 0.0, 1.0)
    with pytest.raises(ValueError, match="order must be 1"):
        solve_poisson_fem(mesh, 1.0, order=3)
    with pytest.raises(ValueError, match=r"f\(x\) must return shape"):
        solve_poisson_fem(mesh, lambda x: x, order=1)
    with pytest.raises(ValueError, match="cannot use a str"):
        solve_poisson_fem("mesh.msh", 1.0)
    with pytest.raises(ValueError, match="tol must be positive"):
        solve_until_converged(mesh, 1.0, tol=0.0)


def test_mesh_inputs_agree() -> None:
    mesh = meshes.lshape_mesh(0.5)
    domain = MeshDomain.from_meshio(mesh)
    values = [solve_poisson_fem(m, 1.0, order=2).l2_norm()
              for m in (mesh, domain, domain.to_skfem(), (domain.points, domain.cells))]
    assert np.allclose(values, values[0], rtol=1e-12)
    assert as_skfem_mesh(domain).t.shape[1] == domain.n_cells


def test_slit_sides_are_boundary_and_the_slit_matters() -> None:
    slit = solve_poisson_fem(meshes.slit_mesh(1 / 8), 1.0, order=2)
    square = solve_poisson_fem(meshes.square_mesh(1 / 8), 1.0, order=2)
    p = slit.mesh.p.T
    on_slit = (p[:, 1] == 0) & (p[:, 0] > 0)
    assert on_slit.sum() == 2 * 8  # both copies of the 8 slit vertices right of the tip
    assert np.all(slit.nodal_values()[on_slit] == 0.0)
    xs = np.linspace(0.05, 0.95, 10)
    for side in (1e-6, -1e-6):
        assert np.max(np.abs(slit(np.stack([xs, np.full(10, side)], axis=1)))) < 1e-5
    along = np.stack([xs, np.zeros(10)], axis=1)
    assert np.min(square(along)) > 0.01  # without the slit u is clearly positive there (max about 0.29)
    grid = np.stack(np.meshgrid(np.linspace(-0.9, 0.9, 7), np.linspace(-0.9, 0.9, 7)), -1).reshape(-1, 2)
    assert np.max(np.abs(slit(grid) - square(grid))) > 0.05
    assert slit(np.array([[-0.5, 0.5]]))[0] == pytest.approx(slit(np.array([[-0.5, -0.5]]))[0], rel=1e-3)


def test_relative_difference_nested_and_not_nested() -> None:
    f = lambda x: 2 * np.pi**2 * sin2d(x)  # noqa: E731
    coarse = solve_poisson_fem(meshes.square_mesh(1 / 4, 0.0, 1.0), f, order=2)
    fine = solve_poisson_fem(coarse.mesh.refined(), f, order=2)
    other = solve_poisson_fem(meshes.square_mesh(1 / 6, 0.0, 1.0), f, order=2)
    nested = fine.relative_difference(coarse)
    assert coarse._parent_cells(fine.mesh) is not None and coarse._parent_cells(other.mesh) is None
    assert 0 < nested < 2 * coarse.l2_error(sin2d, relative=True)
    assert 0 < other.relative_difference(coarse) < 2 * coarse.l2_error(sin2d, relative=True)
    assert fine.relative_difference(fine) < 1e-12


def test_solve_until_converged_records_levels() -> None:
    result = solve_until_converged(meshes.lshape_mesh(0.5, grading=2), 1.0, order=2, tol=1e-3)
    assert result.converged and isinstance(result.solution, FEMSolution)
    levels = result.history
    assert result.refinements == len(levels) - 1 >= 1
    assert math.isnan(levels[0].relative_change) and levels[-1].relative_change < 1e-3
    assert all(a.h > b.h and a.n_dofs < b.n_dofs for a, b in zip(levels, levels[1:]))
    changes = [level.relative_change for level in levels[1:]]
    assert all(a > b for a, b in zip(changes, changes[1:]))


def test_solve_until_converged_warns_without_convergence() -> None:
    with pytest.warns(RuntimeWarning, match="did not converge"):
        result = solve_until_converged(meshes.slit_mesh(0.5), 1.0, order=1, tol=1e-8, max_refinements=1)
    assert not result.converged and result.refinements == 1


@pytest.mark.parametrize("name, grading", [("slit", 3), ("lshape", 2)])
def test_graded_references_converge_to_1e_4(name: str, grading: float) -> None:
    """The converged graded-mesh references against an independent uniform mesh (in CI: 3.8 s + 1.3 s measured)."""
    mesh = {"slit": meshes.slit_mesh, "lshape": meshes.lshape_mesh}[name](0.25, grading=grading)
    result = solve_until_converged(mesh, 1.0, order=2, tol=1e-4)
    assert result.converged and result.refinements <= 4
    uniform = solve_poisson_fem(({"slit": meshes.slit_mesh, "lshape": meshes.lshape_mesh}[name](1 / 64)), 1.0,
                                order=2)
    # the uniform mesh is less accurate (O(h) for the slit), so they agree only to its error
    assert uniform.relative_difference(result.solution) < 5e-3
