"""A domain given by a simplicial mesh: triangles in 2-D, tetrahedra in 3-D (read with meshio or built in code).

Sampling is exact for the polygonal/polyhedral domain the mesh covers:

* interior: a cell is chosen with probability proportional to its area/volume (inverse CDF of the cumulative cell
  measures, which equals ``torch.multinomial`` in law but also accepts a Sobol coordinate and has no 2^24 category
  limit), then a point uniform in the cell from uniform barycentric coordinates (the gaps of sorted uniforms,
  a Dirichlet(1, ..., 1) draw);
* boundary: the boundary facets are the facets (edges in 2-D, triangles in 3-D) that belong to exactly one cell; one is
  chosen by length/area and a point is drawn uniformly on it the same way.

Samples are drawn on the generator's device and moved to the requested device; the mesh arrays are cached per device,
so the training loop never goes through numpy. ``contains`` and ``boundary_normal`` are geometric queries that run
in numpy/scipy (k-d tree over cell or facet centroids, then an exact barycentric or distance test) and return tensors
on the points' device.

A cut such as a slit is represented by duplicated vertices: the two sides of the slit are then distinct boundary facets.
On such a cut the outward normal at a point is ambiguous (the two sides coincide geometrically); ``boundary_normal``
returns the normal of one of them.
"""
from __future__ import annotations

import logging
import os
from typing import Any

import numpy as np
import torch

from dlpde.geometry.base import Domain
from dlpde.geometry.sampling import uniform_cube

Tensor = torch.Tensor

log = logging.getLogger(__name__)

_CELL_TYPES = {2: ("triangle", "triangle6", "triangle7"), 3: ("tetra", "tetra10")}
_MESHIO_NAME = {2: "triangle", 3: "tetra"}


def _simplex_measure(vertices: np.ndarray) -> np.ndarray:
    """Signed measure of simplices given as (m, d+1, d) vertex coordinates (area in 2-D, volume in 3-D)."""
    d = vertices.shape[2]
    edges = vertices[:, 1:, :] - vertices[:, :1, :]
    return np.linalg.det(edges) / (1.0 if d == 1 else (2.0 if d == 2 else 6.0))


def _facet_measure(vertices: np.ndarray) -> np.ndarray:
    """Measure of facets given as (m, d, d) vertex coordinates: segment lengths in 2-D, triangle areas in 3-D."""
    if vertices.shape[2] == 2:
        return np.linalg.norm(vertices[:, 1] - vertices[:, 0], axis=1)
    return 0.5 * np.linalg.norm(np.cross(vertices[:, 1] - vertices[:, 0], vertices[:, 2] - vertices[:, 0]), axis=1)


def _segment_distance(x: np.ndarray, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Euclidean distance from points x to segments [a, b] (all arrays (n, d), row by row)."""
    ab = b - a
    t = np.einsum("ij,ij->i", x - a, ab) / np.maximum(np.einsum("ij,ij->i", ab, ab), np.finfo(float).tiny)
    t = np.clip(t, 0.0, 1.0)
    return np.linalg.norm(x - (a + t[:, None] * ab), axis=1)


def _facet_distance(x: np.ndarray, facets: np.ndarray) -> np.ndarray:
    """Distance from points x (n, d) to facets (n, d, d) row by row (segments in 2-D, triangles in 3-D)."""
    if x.shape[1] == 2:
        return _segment_distance(x, facets[:, 0], facets[:, 1])
    a, b, c = facets[:, 0], facets[:, 1], facets[:, 2]
    edge = np.minimum(np.minimum(_segment_distance(x, a, b), _segment_distance(x, b, c)), _segment_distance(x, c, a))
    normal = np.cross(b - a, c - a)
    normal /= np.linalg.norm(normal, axis=1, keepdims=True)
    height = np.einsum("ij,ij->i", x - a, normal)
    foot = x - height[:, None] * normal
    # barycentric test of the projection: the foot is inside when all sub-triangle orientations agree
    s1 = np.einsum("ij,ij->i", np.cross(b - a, foot - a), normal)
    s2 = np.einsum("ij,ij->i", np.cross(c - b, foot - b), normal)
    s3 = np.einsum("ij,ij->i", np.cross(a - c, foot - c), normal)
    inside = (s1 >= 0) & (s2 >= 0) & (s3 >= 0)
    return np.where(inside, np.abs(height), edge)


def _segment_min(values: np.ndarray, owner: np.ndarray, n: int, fill: float) -> tuple[np.ndarray, np.ndarray]:
    """Per-owner (owner sorted ascending) minimum of ``values`` and the position of that minimum."""
    best = np.full(n, fill)
    where = np.full(n, -1, dtype=np.int64)
    if values.size == 0:
        return best, where
    order = np.lexsort((values, owner))  # by owner, then by value
    first = np.ones(order.size, dtype=bool)
    first[1:] = owner[order][1:] != owner[order][:-1]
    pick = order[first]
    best[owner[pick]] = values[pick]
    where[owner[pick]] = pick
    return best, where


class SimplexLocator:
    """Finds the simplex that contains each query point, with its barycentric coordinates.

    Candidates are the cells whose centroids are nearest to the point (k-d tree); points not resolved that way are
    checked against every cell whose centroid lies within the largest cell radius, which is complete: a point inside a
    cell is never farther from its centroid than that cell's farthest vertex.
    """

    def __init__(self, points: np.ndarray, cells: np.ndarray, *, chunk: int = 65536) -> None:
        from scipy.spatial import cKDTree

        self.points = np.asarray(points, dtype=np.float64)
        self.cells = np.asarray(cells, dtype=np.int64)
        self.dim = self.points.shape[1]
        vertices = self.points[self.cells]  # (m, d+1, d)
        self._origin = vertices[:, 0, :]
        self._inverse = np.linalg.inv(np.transpose(vertices[:, 1:, :] - vertices[:, :1, :], (0, 2, 1)))
        centroids = vertices.mean(axis=1)
        self._radius = float(np.max(np.linalg.norm(vertices - centroids[:, None, :], axis=2)))
        self._tree = cKDTree(centroids)
        self._k = min(len(self.cells), 8 if self.dim == 2 else 16)
        self._chunk = chunk
        self._lo, self._hi = self.points.min(axis=0), self.points.max(axis=0)

    def barycentric(self, x: np.ndarray, cand: np.ndarray) -> np.ndarray:
        """Barycentric coordinates (..., d+1) of x (..., d) in cells ``cand`` (...)."""
        lam = np.einsum("...ij,...j->...i", self._inverse[cand], x - self._origin[cand])
        return np.concatenate([1.0 - lam.sum(axis=-1, keepdims=True), lam], axis=-1)

    def locate(self, x: np.ndarray, *, tol: float = 1e-10) -> tuple[np.ndarray, np.ndarray]:
        """Cell index (n,) of each point, -1 outside the mesh, and barycentric coordinates (n, d+1)."""
        x = np.asarray(x, dtype=np.float64)
        n = x.shape[0]
        cell = np.full(n, -1, dtype=np.int64)
        bary = np.zeros((n, self.dim + 1))
        span = np.max(self._hi - self._lo)
        near = np.all((x >= self._lo - tol * span) & (x <= self._hi + tol * span), axis=1)
        todo = np.flatnonzero(near)
        for start in range(0, todo.size, self._chunk):
            idx = todo[start:start + self._chunk]
            _, cand = self._tree.query(x[idx], k=self._k)
            cand = cand.reshape(idx.size, -1)
            lam = self.barycentric(x[idx, None, :], cand)
            score = lam.min(axis=-1)
            best = score.argmax(axis=1)
            ok = score[np.arange(idx.size), best] >= -tol
            cell[idx[ok]] = cand[ok, best[ok]]
            bary[idx[ok]] = lam[ok, best[ok]]
        rest = np.flatnonzero(near & (cell < 0))
        if rest.size:
            lists = self._tree.query_ball_point(x[rest], r=self._radius * (1 + 1e-9))
            counts = np.fromiter((len(c) for c in lists), dtype=np.int64, count=rest.size)
            if counts.sum():
                owner = np.repeat(np.arange(rest.size), counts)
                cand = np.concatenate([np.asarray(c, dtype=np.int64) for c in lists if len(c)])
                lam = self.barycentric(x[rest[owner]], cand)
                score, where = _segment_min(-lam.min(axis=1), owner, rest.size, np.inf)
                ok = -score >= -tol
                cell[rest[ok]] = cand[where[ok]]
                bary[rest[ok]] = lam[where[ok]]
        return cell, bary


class MeshDomain(Domain):
    """The closed polygon (2-D) or polyhedron (3-D) covered by a conforming triangle or tetrahedron mesh.

    Build it from arrays (``points`` (n, d), ``cells`` (m, d+1) vertex indices), from a meshio mesh
    (``MeshDomain.from_meshio``), from any file meshio reads (``MeshDomain.from_file``, e.g. a gmsh ``.msh``) or from a
    scikit-fem mesh (``MeshDomain.from_skfem``). Vertices used by no cell are dropped and cells are oriented
    positively. ``to_skfem()`` gives the same mesh to the finite element reference solver.
    """

    def __init__(self, points: Any, cells: Any, *, source: str | None = None) -> None:
        points = np.asarray(points, dtype=np.float64)
        cells = np.asarray(cells)
        if points.ndim != 2 or points.shape[1] not in (2, 3):
            raise ValueError(f"points must have shape (n, 2) or (n, 3), got {points.shape}; pass one row per vertex")
        dim = points.shape[1]
        if cells.ndim != 2 or cells.shape[1] != dim + 1 or not np.issubdtype(cells.dtype, np.integer):
            raise ValueError(f"cells must be an integer array of shape (m, {dim + 1}) ({_MESHIO_NAME[dim]} vertex "
                             f"indices) for {dim}-d points, got {cells.dtype} {cells.shape}")
        if cells.shape[0] == 0:
            raise ValueError("the mesh has no cells; give at least one triangle (2-D) or tetrahedron (3-D)")
        if not np.isfinite(points).all():
            raise ValueError("the mesh has vertices with NaN or infinite coordinates; fix or remove them")
        if cells.min() < 0 or cells.max() >= points.shape[0]:
            raise ValueError(f"cell vertex indices must lie in [0, {points.shape[0]}), got range "
                             f"[{cells.min()}, {cells.max()}]")
        used, cells = np.unique(cells, return_inverse=True)
        cells = cells.reshape(-1, dim + 1).astype(np.int64)
        points = points[used]
        measure = _simplex_measure(points[cells])
        scale = float(np.max(points.max(axis=0) - points.min(axis=0)))
        flat = np.abs(measure) <= 1e-13 * scale**dim
        if flat.any():
            raise ValueError(f"{int(flat.sum())} of {len(cells)} cells have zero {'area' if dim == 2 else 'volume'} "
                             f"(first: cell {int(np.flatnonzero(flat)[0])}); remove degenerate cells before building "
                             "a MeshDomain")
        negative = measure < 0
        cells[negative, :2] = cells[negative, 1::-1]
        self.dim = dim
        self._points = points
        self._cells = cells
        self._cell_measure = np.abs(measure)
        self._source = source
        self._points.setflags(write=False)
        self._cells.setflags(write=False)
        self._init_boundary()
        self._locator: SimplexLocator | None = None
        self._facet_tree = None
        self._device_cache: dict[tuple[str, str], tuple[Tensor, ...]] = {}

    # -- construction ------------------------------------------------------------------------------------
    @classmethod
    def from_meshio(cls, mesh: Any, *, source: str | None = None) -> "MeshDomain":
        """From a ``meshio.Mesh``: its tetrahedra if it has any, else its triangles (a 3-D point array with z = 0 is
        read as 2-D). Other cells (lines, boundary triangles of a tetrahedral mesh, vertices) are ignored; second
        order cells (triangle6, tetra10) contribute their corner vertices."""
        points = np.asarray(mesh.points, dtype=np.float64)
        blocks: dict[int, list[np.ndarray]] = {2: [], 3: []}
        for block in mesh.cells:
            for d, names in _CELL_TYPES.items():
                if block.type in names:
                    blocks[d].append(np.asarray(block.data)[:, :d + 1])
        found = sorted({block.type for block in mesh.cells})
        if blocks[3]:
            if points.shape[1] != 3:
                raise ValueError(f"the mesh has tetrahedra but {points.shape[1]}-d points; tetrahedral meshes need "
                                 "3-d points")
            return cls(points, np.concatenate(blocks[3]), source=source)
        if blocks[2]:
            if points.shape[1] == 3:
                z = points[:, 2]
                scale = max(float(np.max(np.abs(points[:, :2]))), 1.0)
                if np.max(np.abs(z)) > 1e-12 * scale:
                    raise ValueError("the mesh has triangles with z != 0 (a surface in 3-D); MeshDomain supports "
                                     "planar triangle meshes (z = 0) and tetrahedral volume meshes")
                points = points[:, :2]
            return cls(points, np.concatenate(blocks[2]), source=source)
        raise ValueError(f"the mesh has no triangle or tetra cells (found: {', '.join(found) or 'no cells'}); "
                         "MeshDomain needs a 2-D triangle or 3-D tetrahedral mesh: mesh the surface/volume "
                         "(e.g. gmsh -2 or -3) or convert the cells first")

    @classmethod
    def from_file(cls, path: str | os.PathLike, **kwargs: Any) -> "MeshDomain":
        """Read any file meshio reads (``.msh``, ``.vtu``, ``.xdmf``, ...); keyword arguments go to ``meshio.read``.
        meshio's console messages are logged, and its failures are a ValueError: some of its readers print an error
        and call ``exit()`` (which ended the process), an empty .msh fails inside numpy."""
        import contextlib
        import io

        import meshio

        path = os.fspath(path)
        if not os.path.exists(path):
            raise ValueError(f"mesh file {path!r} does not exist; check the path")
        captured = io.StringIO()
        try:
            with contextlib.redirect_stderr(captured), contextlib.redirect_stdout(captured):
                mesh = meshio.read(path, **kwargs)
        except (SystemExit, meshio.ReadError, OSError, KeyError, IndexError, ValueError) as e:
            said = " ".join(captured.getvalue().replace("Error:", "").split()) or str(e) or type(e).__name__
            raise ValueError(f"cannot read the mesh file {path!r} ({said}); give a triangle or tetrahedron mesh in "
                             "a format meshio reads (.msh, .vtu, .xdmf, ...)") from None
        finally:
            for line in captured.getvalue().splitlines():
                if line.strip():
                    log.info("meshio: %s", line.strip())
        return cls.from_meshio(mesh, source=path)

    @classmethod
    def from_skfem(cls, mesh: Any) -> "MeshDomain":
        """From a scikit-fem ``MeshTri``/``MeshTet`` (vertex coordinates ``mesh.p`` (d, n), cells ``mesh.t``)."""
        return cls(np.asarray(mesh.p).T, np.asarray(mesh.t).T)

    def to_skfem(self) -> Any:
        """The same mesh as a scikit-fem ``MeshTri`` (2-D) or ``MeshTet`` (3-D), for the finite element reference."""
        import skfem

        kind = skfem.MeshTri if self.dim == 2 else skfem.MeshTet
        return kind(np.ascontiguousarray(self._points.T), np.ascontiguousarray(self._cells.T))

    def to_meshio(self) -> Any:
        """The mesh as a ``meshio.Mesh`` with one cell block."""
        import meshio

        return meshio.Mesh(self._points.copy(), [(_MESHIO_NAME[self.dim], self._cells.copy())])

    def refined(self, times: int = 1) -> "MeshDomain":
        """A new domain on the mesh refined uniformly ``times`` times (each cell split into 2^d cells)."""
        return MeshDomain.from_skfem(self.to_skfem().refined(times))

    # -- mesh data ---------------------------------------------------------------------------------------
    @property
    def points(self) -> np.ndarray:
        """Vertex coordinates (n_vertices, dim), read-only."""
        return self._points

    @property
    def cells(self) -> np.ndarray:
        """Cell vertex indices (n_cells, dim+1), positively oriented, read-only."""
        return self._cells

    @property
    def boundary_facets(self) -> np.ndarray:
        """Vertex indices (n_facets, dim) of the facets that belong to exactly one cell."""
        return self._facets

    @property
    def n_cells(self) -> int:
        return int(self._cells.shape[0])

    @property
    def n_vertices(self) -> int:
        return int(self._points.shape[0])

    def _init_boundary(self) -> None:
        d = self.dim
        local = [[j for j in range(d + 1) if j != i] for i in range(d + 1)]
        facets = np.concatenate([self._cells[:, idx] for idx in local])  # (m (d+1), d)
        opposite = np.concatenate([self._cells[:, i] for i in range(d + 1)])
        _, first, inverse, counts = np.unique(np.sort(facets, axis=1), axis=0, return_index=True,
                                              return_inverse=True, return_counts=True)
        if counts.max() > 2:
            raise ValueError(f"{int((counts > 2).sum())} facets are shared by more than two cells; the mesh is not "
                             "a conforming (manifold) mesh; remove duplicate or overlapping cells")
        boundary = first[counts == 1]
        if boundary.size == 0:  # e.g. every cell given twice: each facet is then shared, and no boundary is left
            raise ValueError("the mesh has no boundary facets (duplicate cells?); a domain mesh needs a boundary")
        self._facets = facets[boundary]
        coords = self._points[self._facets]  # (k, d, d)
        self._facet_measure = _facet_measure(coords)
        if d == 2:
            tangent = coords[:, 1] - coords[:, 0]
            normal = np.stack([tangent[:, 1], -tangent[:, 0]], axis=1)
        else:
            normal = np.cross(coords[:, 1] - coords[:, 0], coords[:, 2] - coords[:, 0])
        normal /= np.linalg.norm(normal, axis=1, keepdims=True)
        inward = self._points[opposite[boundary]] - coords[:, 0]
        flip = np.einsum("ij,ij->i", normal, inward) > 0
        normal[flip] *= -1
        self._facet_normal = normal

    # -- sampling ----------------------------------------------------------------------------------------
    def _on_device(self, device: torch.device, which: str) -> tuple[Tensor, Tensor]:
        """Cumulative measure (m,) normalised to end at 1 and simplex vertex coordinates (m, k, d) on ``device``."""
        key = (str(device), which)
        if key not in self._device_cache:
            if which == "cells":
                measure, coords = self._cell_measure, self._points[self._cells]
            else:
                measure, coords = self._facet_measure, self._points[self._facets]
            cdf = np.cumsum(measure) / measure.sum()
            self._device_cache[key] = (torch.as_tensor(cdf, device=device),
                                       torch.as_tensor(coords, device=device))
        return self._device_cache[key]

    def _sample_simplices(self, n: int, which: str, *, generator, method: str, device: torch.device) -> Tensor:
        cdf, coords = self._on_device(device, which)
        k = coords.shape[1]  # vertices per simplex
        u = uniform_cube(n, k, generator=generator, method=method, device=device)
        index = torch.searchsorted(cdf, u[:, :1].contiguous(), right=True).squeeze(1).clamp_(max=cdf.numel() - 1)
        if k == 1:
            return coords[index, 0]
        gaps = torch.sort(u[:, 1:], dim=1).values
        zero = torch.zeros(n, 1, dtype=u.dtype, device=device)
        lam = torch.diff(torch.cat([zero, gaps, zero + 1], dim=1), dim=1)  # (n, k): uniform on the simplex
        return torch.einsum("nk,nkd->nd", lam, coords[index])

    def _interior(self, n, *, generator, method, device):
        return self._sample_simplices(n, "cells", generator=generator, method=method, device=device)

    def _boundary(self, n, *, generator, method, device):
        return self._sample_simplices(n, "facets", generator=generator, method=method, device=device)

    # -- geometry ----------------------------------------------------------------------------------------
    @property
    def locator(self) -> SimplexLocator:
        """Point location in the mesh (built on first use)."""
        if self._locator is None:
            self._locator = SimplexLocator(self._points, self._cells)
        return self._locator

    def locate(self, x: Any) -> tuple[np.ndarray, np.ndarray]:
        """Cell index (n,) of each point (-1 outside) and barycentric coordinates (n, dim+1), as numpy arrays."""
        x = self._check_points(x)
        return self.locator.locate(x.detach().cpu().double().numpy())

    def contains(self, x: Tensor) -> Tensor:
        """Boolean mask (n,): the point lies in a cell (closed, up to a relative tolerance of 1e-10, or of the
        rounding of x's precision: float32 boundary samples lie about 1e-7 off their facets)."""
        x = self._check_points(x)
        tol = max(1e-10, 8 * torch.finfo(x.dtype).eps) if x.is_floating_point() else 1e-10
        cell, _ = self.locator.locate(x.detach().cpu().double().numpy(), tol=tol)
        return torch.as_tensor(cell >= 0, device=x.device)

    def nearest_boundary_facet(self, x: Any) -> tuple[np.ndarray, np.ndarray]:
        """Index into ``boundary_facets`` of the facet nearest to each point, and the distance to it."""
        from scipy.spatial import cKDTree

        x = self._check_points(x).detach().cpu().double().numpy()
        if len(x) == 0:
            return np.zeros(0, dtype=np.int64), np.zeros(0)
        coords = self._points[self._facets]
        if self._facet_tree is None:
            centroids = coords.mean(axis=1)
            radius = float(np.max(np.linalg.norm(coords - centroids[:, None, :], axis=2)))
            self._facet_tree = (cKDTree(centroids), radius)
        tree, radius = self._facet_tree
        _, first = tree.query(x, k=1)
        bound = _facet_distance(x, coords[first])
        # every facet at distance <= bound has its centroid within bound + radius: the search is complete
        lists = tree.query_ball_point(x, r=bound + radius * (1 + 1e-9) + 1e-300)
        counts = np.fromiter((len(c) for c in lists), dtype=np.int64, count=len(lists))
        owner = np.repeat(np.arange(len(lists)), counts)
        cand = np.concatenate([np.asarray(c, dtype=np.int64) for c in lists])
        dist, where = _segment_min(_facet_distance(x[owner], coords[cand]), owner, len(lists), np.inf)
        return cand[where], dist

    def boundary_normal(self, x: Tensor) -> Tensor:
        """Outward unit normal of the boundary facet nearest to each point, shape (n, dim)."""
        x = self._check_points(x)
        facet, _ = self.nearest_boundary_facet(x)
        dtype = x.dtype if x.dtype.is_floating_point else torch.float64
        return torch.as_tensor(self._facet_normal[facet], dtype=dtype, device=x.device)

    def quadrature(self, degree: int = 4, *, refine: int = 0) -> tuple[np.ndarray, np.ndarray]:
        """Points (n, dim) and positive weights (n,) of a fixed quadrature over the domain: the symmetric rule of
        ``degree`` on every cell (exact for polynomials of that degree on each cell; scikit-fem's Dunavant/Keast
        tables), on the mesh refined uniformly ``refine`` times. The weights sum to the volume, and
        Σ w f(x) → ∫_Ω f as the cells shrink for any continuous f (error O(h^{degree+1}) for smooth f)."""
        from skfem.quadrature import get_quadrature
        from skfem.refdom import RefTet, RefTri

        if isinstance(degree, bool) or not isinstance(degree, int) or degree < 1:
            raise ValueError(f"quadrature degree must be a positive integer, got {degree!r}")
        if isinstance(refine, bool) or not isinstance(refine, int) or refine < 0:
            raise ValueError(f"quadrature refine must be an integer >= 0, got {refine!r}")
        try:
            ref_points, ref_weights = get_quadrature(RefTri if self.dim == 2 else RefTet, degree)
        except (NotImplementedError, KeyError):
            raise ValueError(f"no {_MESHIO_NAME[self.dim]} quadrature of degree {degree} is tabulated; choose a "
                             f"lower degree (up to 9 for tetrahedra) or refine the mesh instead") from None
        mesh = self.refined(refine) if refine else self
        coords = mesh._points[mesh._cells]  # (m, d+1, d)
        jac = coords[:, 1:, :] - coords[:, :1, :]  # (m, d, d): rows are the edge vectors from vertex 0
        points = coords[:, None, 0, :] + np.einsum("qi,mid->mqd", ref_points.T, jac)
        # the reference rule's weights sum to the reference simplex's measure; scaled, they sum to the cell's
        weights = mesh._cell_measure[:, None] * (ref_weights / ref_weights.sum())[None, :]
        return points.reshape(-1, self.dim), weights.reshape(-1)

    @property
    def volume(self) -> float:
        return float(self._cell_measure.sum())

    @property
    def boundary_measure(self) -> float:
        return float(self._facet_measure.sum())

    @property
    def bounds(self) -> tuple[Tensor, Tensor]:
        return (torch.as_tensor(self._points.min(axis=0), dtype=torch.float64),
                torch.as_tensor(self._points.max(axis=0), dtype=torch.float64))

    @property
    def h(self) -> float:
        """Longest cell edge."""
        coords = self._points[self._cells]
        d = self.dim
        pairs = [(i, j) for i in range(d + 1) for j in range(i + 1, d + 1)]
        return float(max(np.linalg.norm(coords[:, i] - coords[:, j], axis=1).max() for i, j in pairs))

    def describe(self) -> dict:
        lo, hi = self.bounds
        out = {**super().describe(), "cell_type": _MESHIO_NAME[self.dim], "n_cells": self.n_cells,
               "n_vertices": self.n_vertices, "n_boundary_facets": int(self._facets.shape[0]), "h": self.h,
               "volume": self.volume, "boundary_measure": self.boundary_measure,
               "bounds": [lo.tolist(), hi.tolist()]}
        if self._source is not None:
            out["source"] = self._source
        return out

    def __repr__(self) -> str:
        return (f"MeshDomain(dim={self.dim}, n_cells={self.n_cells}, n_vertices={self.n_vertices}, "
                f"volume={self.volume:.6g})")
