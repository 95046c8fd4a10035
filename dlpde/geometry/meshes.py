"""Built-in meshes for the reference problems, made with numpy/scipy (no mesh generator needed), and meshio output.

* ``square_mesh(h, lo, hi)``: structured triangles of a square (the full square the slit is cut from);
* ``slit_mesh(h)``: (-1, 1)^2 minus the slit [0, 1) x {0}; the vertices on the slit are duplicated (the tip at the
  origin is shared), so the upper and lower sides of the slit are separate boundary facets;
* ``lshape_mesh(h)``: (-1, 1)^2 minus [0, 1)^2;
* both take ``grading``: the grid vertices x are moved to x |x|_inf^(grading - 1), which keeps the square, the slit and
  the removed quadrant in place and makes cells near the singular corner at the origin smaller (local size about
  h (|x|_inf)^(1 - 1/grading)). Uniform refinement keeps this grading, so a finite element reference on it converges
  much faster: with P2 the slit reaches a relative change of 1e-4 with 66 thousand unknowns at grading 3, while the
  uniform mesh still changes by 4.5e-4 at a million (the r^(1/2) singularity limits uniform meshes to O(h) in L2).
* ``unit_cube_mesh(h)``: (0, 1)^3 cut into cubes, each cut into 6 tetrahedra around its main diagonal (Kuhn), which
  is conforming because every cube is cut the same way;
* ``disk_with_hole_mesh(h, r_in, r_out)``: an unstructured Delaunay triangulation of concentric rings of points
  (ring spacing and arc spacing about h), like a mesh from gmsh; the boundary circles are polygons.

Each returns a ``meshio.Mesh`` with 2-d points for 2-D meshes; ``MeshDomain.from_meshio`` turns it into a domain and
``write_mesh`` writes it to any format meshio knows (``.msh``, ``.vtu``, ``.xdmf``, ...).
"""
from __future__ import annotations

import math
import os
from typing import Any

import numpy as np


def _check_h(h: float, largest: float) -> float:
    if isinstance(h, bool) or not isinstance(h, (int, float)) or not (0 < h <= largest):
        raise ValueError(f"mesh size h must be a number in (0, {largest:g}], got {h!r}")
    return float(h)


def _meshio(points: np.ndarray, cells: np.ndarray, kind: str) -> Any:
    import meshio

    used, cells = np.unique(cells, return_inverse=True)  # drop vertices no cell uses
    return meshio.Mesh(points[used], [(kind, cells.reshape(-1, points.shape[1] + 1).astype(np.int64))])


def _grid_triangles(n: int, lo: float, hi: float) -> tuple[np.ndarray, np.ndarray]:
    """Vertices of an (n+1) x (n+1) grid on [lo, hi]^2 and two counter-clockwise triangles per grid square."""
    t = np.linspace(lo, hi, n + 1)
    x, y = np.meshgrid(t, t, indexing="ij")
    points = np.stack([x.ravel(), y.ravel()], axis=1)
    i, j = np.meshgrid(np.arange(n), np.arange(n), indexing="ij")
    a = (i * (n + 1) + j).ravel()  # (i, j)
    b = a + (n + 1)  # (i+1, j)
    c = b + 1  # (i+1, j+1)
    d = a + 1  # (i, j+1)
    cells = np.concatenate([np.stack([a, b, c], axis=1), np.stack([a, c, d], axis=1)])
    return points, cells


def _signed_area(v: np.ndarray) -> np.ndarray:
    """Signed areas of triangles given as (m, 3, 2) vertex coordinates (positive when counter-clockwise)."""
    e1, e2 = v[:, 1] - v[:, 0], v[:, 2] - v[:, 0]
    return 0.5 * (e1[:, 0] * e2[:, 1] - e1[:, 1] * e2[:, 0])


def _grade(points: np.ndarray, cells: np.ndarray, grading: float) -> np.ndarray:
    """Move grid points of [-1, 1]^2 to x |x|_inf^(grading - 1) (grading >= 1; 1 leaves them in place)."""
    if grading == 1:
        return points
    rho = np.abs(points).max(axis=1)
    moved = points * np.where(rho > 0, rho, 1.0)[:, None] ** (grading - 1)
    if np.any(_signed_area(moved[cells]) * _signed_area(points[cells]) <= 0):
        raise ValueError(f"grading={grading} folds cells over; use a smaller grading or a smaller h")
    return moved


def _grid_size(h: float, grading: float) -> int:
    """Grid intervals per half side so that the largest leg after grading is about h (the map stretches by
    ``grading`` at the outer boundary)."""
    if isinstance(grading, bool) or not isinstance(grading, (int, float)) or not (1 <= grading <= 6):
        raise ValueError(f"grading must be a number in [1, 6] (1: uniform mesh), got {grading!r}")
    return math.ceil(grading / h - 1e-9)


def square_mesh(h: float, lo: float = -1.0, hi: float = 1.0) -> Any:
    """Structured triangle mesh of the square (lo, hi)^2 with legs of length about h (at most h)."""
    h = _check_h(h, hi - lo)
    points, cells = _grid_triangles(math.ceil((hi - lo) / h - 1e-9), lo, hi)
    return _meshio(points, cells, "triangle")


def lshape_mesh(h: float, *, grading: float = 1.0) -> Any:
    """Triangle mesh of the L-shape (-1, 1)^2 minus [0, 1)^2 (the re-entrant corner at the origin is a vertex),
    largest leg about h, optionally graded towards the corner (``grading`` 2 or 3 for finite element references)."""
    h = _check_h(h, 1.0)
    points, cells = _grid_triangles(2 * _grid_size(h, grading), -1.0, 1.0)
    centroid = points[cells].mean(axis=1)
    cells = cells[~((centroid[:, 0] > 0) & (centroid[:, 1] > 0))]
    return _meshio(_grade(points, cells, grading), cells, "triangle")


def slit_mesh(h: float, *, grading: float = 1.0) -> Any:
    """Triangle mesh of the slit square (-1, 1)^2 minus [0, 1) x {0}, largest leg about h.

    The vertices on the slit with x > 0 (up to the outer point (1, 0)) are duplicated and the cells below the slit use
    the copies, so the slit has an upper and a lower side, each a chain of boundary edges; the tip at the origin is
    one vertex shared by both sides. ``grading`` > 1 refines towards the tip (3 is a good choice for P2 references).
    """
    h = _check_h(h, 1.0)
    points, cells = _grid_triangles(2 * _grid_size(h, grading), -1.0, 1.0)
    on_slit = np.flatnonzero((points[:, 1] == 0.0) & (points[:, 0] > 1e-12))
    copy = np.arange(len(points))
    copy[on_slit] = len(points) + np.arange(on_slit.size)
    points = np.concatenate([points, points[on_slit]])
    below = points[cells].mean(axis=1)[:, 1] < 0
    cells = cells.copy()
    cells[below] = copy[cells[below]]
    return _meshio(_grade(points, cells, grading), cells, "triangle")


def unit_cube_mesh(h: float) -> Any:
    """Tetrahedral mesh of the unit cube (0, 1)^3: n^3 cubes with n = ceil(1/h), 6 tetrahedra each."""
    h = _check_h(h, 1.0)
    n = math.ceil(1 / h - 1e-9)
    t = np.linspace(0.0, 1.0, n + 1)
    x, y, z = np.meshgrid(t, t, t, indexing="ij")
    points = np.stack([x.ravel(), y.ravel(), z.ravel()], axis=1)
    i, j, k = (a.ravel() for a in np.meshgrid(np.arange(n), np.arange(n), np.arange(n), indexing="ij"))
    step = np.array([(n + 1) ** 2, n + 1, 1])
    origin = i * step[0] + j * step[1] + k * step[2]
    tets = []
    for perm in ((0, 1, 2), (0, 2, 1), (1, 0, 2), (1, 2, 0), (2, 0, 1), (2, 1, 0)):
        v1 = origin + step[perm[0]]
        v2 = v1 + step[perm[1]]
        tets.append(np.stack([origin, v1, v2, origin + step.sum()], axis=1))
    return _meshio(points, np.concatenate(tets), "tetra")


def disk_with_hole_mesh(h: float, r_in: float = 0.3, r_out: float = 1.0) -> Any:
    """Unstructured triangle mesh of the annulus r_in < |x| < r_out (both circles as polygons with edges about h).

    Points lie on concentric rings (radial spacing about h, each ring with about 2 pi r / h points, alternate rings
    shifted by half a step); their Delaunay triangulation, minus the triangles in the hole, is the mesh.
    """
    from scipy.spatial import Delaunay

    if not (0 < r_in < r_out):
        raise ValueError(f"need 0 < r_in < r_out, got r_in={r_in!r}, r_out={r_out!r}")
    h = _check_h(h, r_out - r_in)
    radii = np.linspace(r_in, r_out, max(1, math.ceil((r_out - r_in) / h - 1e-9)) + 1)
    rings, counts = [], []
    for k, r in enumerate(radii):
        m = max(8, math.ceil(2 * math.pi * r / h - 1e-9))
        theta = 2 * math.pi * (np.arange(m) + 0.5 * (k % 2)) / m
        rings.append(r * np.stack([np.cos(theta), np.sin(theta)], axis=1))
        counts.append(m)
    points = np.concatenate(rings)
    cells = Delaunay(points).simplices
    centroid = points[cells].mean(axis=1)
    cells = cells[np.linalg.norm(centroid, axis=1) > r_in]
    # the triangulation must cover exactly the outer polygon minus the inner polygon
    area = np.abs(_signed_area(points[cells]))
    exact = 0.5 * counts[-1] * r_out**2 * math.sin(2 * math.pi / counts[-1]) \
        - 0.5 * counts[0] * r_in**2 * math.sin(2 * math.pi / counts[0])
    if abs(area.sum() - exact) > 1e-9 * exact or area.min() <= 1e-12 * h * h:
        raise ValueError(f"the Delaunay triangulation for h={h} did not fit the annulus; try a smaller h")
    return _meshio(points, cells, "triangle")


def write_mesh(mesh: Any, path: str | os.PathLike, **kwargs: Any) -> None:
    """Write a ``meshio.Mesh`` (or anything with ``to_meshio()``, e.g. a MeshDomain) to ``path`` with meshio.

    2-D points are padded with z = 0 because several formats (VTU, gmsh) store 3-D points; reading the file back with
    ``MeshDomain.from_file`` drops the zero z again. Gmsh ``.msh`` files are written as ASCII gmsh 2.2 unless
    ``file_format`` is given. Other keyword arguments go to ``meshio.write``.
    """
    import meshio

    if hasattr(mesh, "to_meshio"):
        mesh = mesh.to_meshio()
    if not isinstance(mesh, meshio.Mesh):
        raise ValueError(f"write_mesh needs a meshio.Mesh or a MeshDomain, got {type(mesh).__name__}")
    points = np.asarray(mesh.points, dtype=np.float64)
    if points.shape[1] == 2:
        points = np.concatenate([points, np.zeros((len(points), 1))], axis=1)
    out = meshio.Mesh(points, [(block.type, block.data) for block in mesh.cells])
    if os.fspath(path).endswith(".msh") and "file_format" not in kwargs:
        kwargs = {"file_format": "gmsh22", "binary": False, **kwargs}
    meshio.write(path, out, **kwargs)
