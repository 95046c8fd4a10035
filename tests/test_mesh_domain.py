"""MeshDomain: sampling, contains, normals and measures on built-in meshes, and meshio file round trips."""
from __future__ import annotations

import math

import meshio
import numpy as np
import pytest
import torch

from dlpde.geometry import meshes
from dlpde.geometry.mesh import MeshDomain
from dlpde.reference.fem import solve_poisson_fem


def gen(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def within(fraction: float, p: float, n: int, k: float = 4.0) -> bool:
    """``fraction`` of n draws matches probability p within k standard errors."""
    return abs(fraction - p) < k * math.sqrt(p * (1 - p) / n)


@pytest.fixture(scope="module")
def lshape() -> MeshDomain:
    return MeshDomain.from_meshio(meshes.lshape_mesh(0.1))


@pytest.fixture(scope="module")
def slit() -> MeshDomain:
    return MeshDomain.from_meshio(meshes.slit_mesh(0.1))


def test_lshape_interior_samples_are_uniform_and_inside(lshape: MeshDomain) -> None:
    n = 30000
    x = lshape.sample_interior(n, generator=gen(), dtype=torch.float64)
    assert x.shape == (n, 2) and x.dtype == torch.float64
    assert bool(lshape.contains(x).all())
    assert not bool(((x[:, 0] > 0) & (x[:, 1] > 0)).any())  # nothing in the removed square
    for quadrant in ((x[:, 0] < 0) & (x[:, 1] > 0), (x[:, 0] < 0) & (x[:, 1] < 0), (x[:, 0] > 0) & (x[:, 1] < 0)):
        assert within(quadrant.double().mean().item(), 1 / 3, n)
    # uniform inside one quadrant too: mean of the lower-left quadrant is its centre
    lower_left = x[(x[:, 0] < 0) & (x[:, 1] < 0)]
    assert torch.allclose(lower_left.mean(0), torch.tensor([-0.5, -0.5], dtype=torch.float64), atol=0.02)


def test_contains_rejects_points_outside(lshape: MeshDomain) -> None:
    x = torch.tensor([[0.5, 0.5], [0.01, 0.01], [1.5, 0.0], [-0.5, -0.5], [0.0, 0.0], [1.0, -1.0], [0.5, 0.0]],
                     dtype=torch.float64)
    assert lshape.contains(x).tolist() == [False, False, False, True, True, True, True]
    with pytest.raises(ValueError, match="shape"):
        lshape.contains(torch.zeros(3, 3))


def test_sampling_is_reproducible_and_follows_dtype(lshape: MeshDomain) -> None:
    for method in ("pseudo", "sobol"):
        a = lshape.sample_interior(256, generator=gen(3), method=method)
        b = lshape.sample_interior(256, generator=gen(3), method=method)
        assert a.dtype == torch.float32 and torch.equal(a, b)
        assert not torch.equal(a, lshape.sample_interior(256, generator=gen(4), method=method))
        assert bool(lshape.contains(a.double()).all())
    xb = lshape.sample_boundary(100, generator=gen(), device="cpu", dtype=torch.float64)
    assert xb.shape == (100, 2) and bool(lshape.contains(xb).all())


def test_slit_boundary_samples_in_proportion_to_length(slit: MeshDomain) -> None:
    assert slit.boundary_measure == pytest.approx(8.0 + 2.0)  # square + both sides of the slit
    on_slit_facets = np.all(slit.points[slit.boundary_facets][:, :, 1] == 0, axis=1)
    assert on_slit_facets.sum() == 2 * 10  # 10 edges on each side
    n = 20000
    x = slit.sample_boundary(n, generator=gen(1), dtype=torch.float64)
    on_slit = ((x[:, 1] == 0) & (x[:, 0] > 0) & (x[:, 0] < 1)).double().mean().item()
    assert within(on_slit, 2.0 / 10.0, n)
    # the two sides are separate cells: cells above and below the slit share only the tip vertex
    cells = slit.points[slit.cells]
    above = cells[:, :, 1].mean(1) > 0
    right = cells[:, :, 0].mean(1) > 0
    upper = set(slit.cells[above & right].ravel())
    lower = set(slit.cells[~above & right].ravel())
    shared = slit.points[sorted(upper & lower)]
    assert np.all(shared[:, 1] == 0) and np.all(shared[:, 0] <= 0)


@pytest.mark.parametrize("name", ["lshape", "disk", "cube"])
def test_normals_are_unit_and_outward(name: str) -> None:
    mesh = {"lshape": lambda: meshes.lshape_mesh(0.1), "disk": lambda: meshes.disk_with_hole_mesh(0.1),
            "cube": lambda: meshes.unit_cube_mesh(0.25)}[name]()
    domain = MeshDomain.from_meshio(mesh)
    x = domain.sample_boundary(2000, generator=gen(2), dtype=torch.float64)
    n = domain.boundary_normal(x)
    assert n.shape == x.shape and n.dtype == torch.float64
    assert torch.allclose(n.norm(dim=1), torch.ones(len(x), dtype=torch.float64))
    assert not bool(domain.contains(x + 1e-4 * n).any())
    assert bool(domain.contains(x - 1e-4 * n).all())


def test_known_normals() -> None:
    lshape = MeshDomain.from_meshio(meshes.lshape_mesh(0.25))
    x = torch.tensor([[-1.0, 0.3], [0.5, 0.0], [0.0, 0.5], [-0.3, 1.0], [0.7, -1.0]], dtype=torch.float64)
    expected = torch.tensor([[-1.0, 0.0], [0.0, 1.0], [1.0, 0.0], [0.0, 1.0], [0.0, -1.0]], dtype=torch.float64)
    assert torch.allclose(lshape.boundary_normal(x), expected)
    disk = MeshDomain.from_meshio(meshes.disk_with_hole_mesh(0.05))
    xb = disk.sample_boundary(500, generator=gen(), dtype=torch.float64)
    radial = xb / xb.norm(dim=1, keepdim=True)
    inner = xb.norm(dim=1) < 0.5
    cosine = (disk.boundary_normal(xb) * radial).sum(1)
    assert bool((cosine[inner] < -0.99).all()) and bool((cosine[~inner] > 0.99).all())


def test_measures_bounds_and_describe() -> None:
    cube = MeshDomain.from_meshio(meshes.unit_cube_mesh(0.25))
    assert cube.dim == 3 and cube.volume == pytest.approx(1.0) and cube.boundary_measure == pytest.approx(6.0)
    assert cube.n_cells == 6 * 4**3 and cube.n_vertices == 5**3
    lo, hi = cube.bounds
    assert lo.tolist() == [0, 0, 0] and hi.tolist() == [1, 1, 1] and lo.dtype == torch.float64
    x = cube.sample_interior(20000, generator=gen(), dtype=torch.float64)
    assert torch.allclose(x.mean(0), torch.full((3,), 0.5, dtype=torch.float64), atol=0.01)
    info = cube.describe()
    assert info["type"] == "MeshDomain" and info["n_cells"] == 384 and info["n_vertices"] == 125
    assert info["cell_type"] == "tetra"
    lshape = MeshDomain.from_meshio(meshes.lshape_mesh(0.25))
    assert lshape.volume == pytest.approx(3.0) and lshape.boundary_measure == pytest.approx(8.0)
    disk = MeshDomain.from_meshio(meshes.disk_with_hole_mesh(0.05))
    assert disk.volume == pytest.approx(math.pi * (1 - 0.09), rel=1e-2)
    assert disk.boundary_measure == pytest.approx(2 * math.pi * 1.3, rel=1e-2)
    fine = lshape.refined()
    assert fine.n_cells == 4 * lshape.n_cells and fine.volume == pytest.approx(3.0)
    assert lshape.to_skfem().t.shape == (3, lshape.n_cells)


def test_graded_meshes_keep_the_domain() -> None:
    for mesh, volume, boundary in ((meshes.slit_mesh(0.25, grading=3), 4.0, 10.0),
                                   (meshes.lshape_mesh(0.25, grading=2), 3.0, 8.0)):
        domain = MeshDomain.from_meshio(mesh)
        assert domain.volume == pytest.approx(volume) and domain.boundary_measure == pytest.approx(boundary)
        assert domain.h < 0.36  # the largest leg stays about h
    with pytest.raises(ValueError, match="grading must be"):
        meshes.slit_mesh(0.25, grading=0.5)


def test_invalid_meshes_raise() -> None:
    lines = meshio.Mesh(np.array([[0.0, 0.0], [1.0, 0.0]]), [("line", np.array([[0, 1]]))])
    with pytest.raises(ValueError, match="no triangle or tetra cells \\(found: line\\)"):
        MeshDomain.from_meshio(lines)
    surface = meshio.Mesh(np.array([[0.0, 0, 0], [1, 0, 0], [0, 1, 1]]), [("triangle", np.array([[0, 1, 2]]))])
    with pytest.raises(ValueError, match="surface in 3-D"):
        MeshDomain.from_meshio(surface)
    with pytest.raises(ValueError, match="zero area"):
        MeshDomain(np.array([[0.0, 0.0], [1.0, 0.0], [2.0, 0.0]]), np.array([[0, 1, 2]]))
    with pytest.raises(ValueError, match="cells must be an integer array"):
        MeshDomain(np.zeros((3, 2)), np.zeros((1, 4), dtype=int))
    with pytest.raises(ValueError, match="does not exist"):
        MeshDomain.from_file("no/such/mesh.msh")


def test_clockwise_cells_and_unused_vertices_are_fixed() -> None:
    points = np.array([[0.0, 0.0], [1.0, 0.0], [0.0, 1.0], [5.0, 5.0]])
    domain = MeshDomain(points, np.array([[0, 2, 1]]))  # clockwise, vertex 3 unused
    assert domain.n_vertices == 3 and domain.volume == pytest.approx(0.5)
    x = domain.sample_interior(20000, generator=gen(), dtype=torch.float64)
    assert torch.allclose(x.mean(0), torch.tensor([1 / 3, 1 / 3], dtype=torch.float64), atol=0.01)
    n = domain.boundary_normal(torch.tensor([[0.5, 0.0], [0.0, 0.5], [0.5, 0.5]], dtype=torch.float64))
    s = math.sqrt(0.5)
    assert torch.allclose(n, torch.tensor([[0.0, -1.0], [-1.0, 0.0], [s, s]], dtype=torch.float64))


@pytest.mark.parametrize("suffix", [".vtu", ".msh"])
def test_file_round_trip_sample_and_solve(tmp_path, suffix: str) -> None:
    r_in, r_out = 0.3, 1.0
    path = tmp_path / f"annulus{suffix}"
    meshes.write_mesh(meshes.disk_with_hole_mesh(0.1, r_in, r_out), path)
    domain = MeshDomain.from_file(path)
    assert domain.dim == 2 and domain.describe()["source"] == str(path)
    assert domain.n_cells == MeshDomain.from_meshio(meshes.disk_with_hole_mesh(0.1)).n_cells
    x = domain.sample_interior(2000, generator=gen(), dtype=torch.float64)
    r = x.norm(dim=1)
    assert bool(domain.contains(x).all()) and bool((r > r_in * 0.98).all()) and bool((r < r_out).all())
    # -Δu = 1 in the annulus: u = -r^2/4 + a ln r + b, zero on both circles; boundary data exact on the polygons
    a = (r_out**2 - r_in**2) / (4 * math.log(r_out / r_in))
    b = r_out**2 / 4 - a * math.log(r_out)

    def exact(p: np.ndarray) -> np.ndarray:
        rr = np.linalg.norm(p, axis=1)
        return -rr**2 / 4 + a * np.log(rr) + b

    u = solve_poisson_fem(domain, 1.0, exact, order=2)
    assert u.l2_error(exact, relative=True) < 1e-3
    assert np.max(np.abs(u(x.numpy()) - exact(x.numpy()))) < 1e-3


def test_write_mesh_pads_2d_points(tmp_path) -> None:
    path = tmp_path / "l.vtu"
    meshes.write_mesh(MeshDomain.from_meshio(meshes.lshape_mesh(0.5)), path)
    raw = meshio.read(path)
    assert raw.points.shape[1] == 3 and np.all(raw.points[:, 2] == 0)
    with pytest.raises(ValueError, match="needs a meshio.Mesh"):
        meshes.write_mesh(np.zeros((3, 2)), path)


def test_unreadable_and_boundaryless_meshes_are_value_errors(tmp_path):
    """meshio calls exit() on a corrupt .vtu (SystemExit went through and ended the process); an empty .msh gave
    numpy's 'need at least one array'; duplicate cells leave no boundary; NaN vertices were accepted."""
    (tmp_path / "bad.vtu").write_text("hello")
    (tmp_path / "empty.msh").write_text("")
    for name in ("bad.vtu", "empty.msh"):
        with pytest.raises(ValueError, match="cannot read the mesh file"):
            MeshDomain.from_file(tmp_path / name)
    pts = np.array([[0, 0], [1, 0], [0, 1]], float)
    with pytest.raises(ValueError, match="no boundary facets"):
        MeshDomain(pts, np.array([[0, 1, 2], [0, 1, 2]]))
    with pytest.raises(ValueError, match="NaN or infinite"):
        MeshDomain(np.array([[0, 0], [1, 0], [0, np.nan]]), np.array([[0, 1, 2]]))
