"""Triangle meshes of general 2-D shapes, made with gmsh: polygons, disks and DeepXDE's 2-D geometries.

``mesh_polygon(vertices, h)`` meshes a simple polygon, ``mesh_deepxde(geometry, h)`` a ``deepxde.geometry.Polygon``,
``Rectangle``, ``Triangle`` or ``Disk`` (or a ``DeepXDEDomain`` wrapping one), so that a problem posed on a DeepXDE
geometry gets a ``MeshDomain`` and hence a finite element reference. ``h`` is the target edge length. A disk's mesh
is the inscribed polygon whose vertices lie on the circle.

gmsh is imported inside the functions and driven through its Python API with its terminal output off. A gmsh
session this module starts is finalized before it returns, also after an error; inside a session the caller already
started, the mesh is made in a model of its own, which is removed afterwards, and the options set here are restored.
"""
from __future__ import annotations

import contextlib
import math
from typing import Any, Iterator, Sequence

import numpy as np

from dlpde.geometry.mesh import MeshDomain

_MAX_TRIANGLES = 5_000_000  # refuse an h that would need more (meshing would take minutes and gigabytes)
_TRIANGLE = 2  # gmsh element type of the 3-node triangle


def _check_h(h: Any, area: float) -> float:
    try:
        h = float(h)
    except (TypeError, ValueError):
        raise ValueError(f"h must be a positive number (the target edge length), got {type(h).__name__}") from None
    if not (math.isfinite(h) and h > 0):
        raise ValueError(f"h must be a positive finite number (the target edge length), got {h!r}")
    estimate = area / (math.sqrt(3) / 4 * h * h)
    if estimate > _MAX_TRIANGLES:
        raise ValueError(f"h={h:g} would give about {estimate:.2g} triangles (more than {_MAX_TRIANGLES:.0e}); "
                         "use a larger h, or refine a coarser mesh with MeshDomain.refined()")
    return h


def _cross(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return a[..., 0] * b[..., 1] - a[..., 1] * b[..., 0]


def _check_vertices(vertices: Any) -> np.ndarray:
    """The polygon's vertices as a float (n, 2) array, without a repeated closing vertex; refuses polygons with
    fewer than 3 vertices, non-finite coordinates, repeated vertices, zero area or crossing edges."""
    try:
        v = np.asarray(vertices, dtype=np.float64)
    except (TypeError, ValueError):
        raise ValueError("vertices must be a list of (x, y) pairs") from None
    if v.ndim != 2 or v.shape[1] != 2:
        raise ValueError(f"vertices must have shape (n, 2) (a list of (x, y) pairs), got {v.shape}")
    if not np.all(np.isfinite(v)):
        raise ValueError("vertices must be finite")
    if len(v) > 1 and np.array_equal(v[0], v[-1]):
        v = v[:-1]  # the polygon is closed anyway
    if len(v) < 3:
        raise ValueError(f"a polygon needs at least 3 vertices, got {len(v)}")
    scale = float(np.max(v.max(axis=0) - v.min(axis=0)))
    edge = np.roll(v, -1, axis=0) - v
    length = np.linalg.norm(edge, axis=1)
    if np.any(length <= 1e-12 * scale):
        raise ValueError(f"vertices {int(np.argmin(length))} and {(int(np.argmin(length)) + 1) % len(v)} coincide; "
                         "remove repeated vertices")
    area = 0.5 * float(np.sum(_cross(v, np.roll(v, -1, axis=0))))
    if abs(area) <= 1e-12 * scale**2:
        raise ValueError("the polygon has zero area; give the vertices of a simple polygon in order along its boundary")
    tol = 1e-12 * scale**2
    # adjacent edges must not fold back onto each other
    nxt = np.roll(edge, -1, axis=0)
    folded = (np.abs(_cross(edge, nxt)) <= 1e-12 * length * np.roll(length, -1)) \
        & (np.einsum("ij,ij->i", edge, nxt) < 0)
    if folded.any():
        raise ValueError(f"the polygon folds back on itself at vertex {(int(np.flatnonzero(folded)[0]) + 1) % len(v)}; "
                         "give the vertices of a simple polygon in order along its boundary")
    # non-adjacent edges must not meet (one edge against all later ones, vectorised)
    n = len(v)
    for i in range(n - 2):
        j = np.arange(i + 2, n if i > 0 else n - 1)
        if j.size == 0:
            continue
        p, r, q, s = v[i], edge[i], v[j], edge[j]
        d1, d2 = np.sign(np.round(_cross(r, q - p) / tol)), np.sign(np.round(_cross(r, q + s - p) / tol))
        d3, d4 = np.sign(np.round(_cross(s, p - q) / tol)), np.sign(np.round(_cross(s, p + r - q) / tol))
        lo_i, hi_i = np.minimum(p, p + r), np.maximum(p, p + r)
        lo_j, hi_j = np.minimum(q, q + s), np.maximum(q, q + s)
        boxes = np.all((lo_j <= hi_i + 1e-12 * scale) & (lo_i <= hi_j + 1e-12 * scale), axis=1)
        meet = (d1 * d2 <= 0) & (d3 * d4 <= 0) & boxes
        if meet.any():
            raise ValueError(f"polygon edges {i} and {int(j[meet][0])} intersect; give the vertices of a simple "
                             "(non-self-intersecting) polygon in order along its boundary")
    return v


@contextlib.contextmanager
def _gmsh_model(h: float) -> Iterator[Any]:
    """A fresh gmsh model with terminal output off and mesh size at most ``h``; gmsh is left as it was found."""
    import gmsh

    started = not gmsh.isInitialized()
    if started:
        gmsh.initialize(readConfigFiles=False, interruptible=False)
    try:
        options = {"General.Terminal": 0, "Mesh.MeshSizeMax": h, "Mesh.MeshSizeMin": 0.0}
        saved = {name: gmsh.option.getNumber(name) for name in options}
        previous = None if started else gmsh.model.getCurrent()
        try:
            for name, value in options.items():
                gmsh.option.setNumber(name, value)
            gmsh.model.add("dlpde-shape")
            try:
                yield gmsh
            finally:
                gmsh.model.remove()
                if previous:
                    gmsh.model.setCurrent(previous)
        finally:
            for name, value in saved.items():
                gmsh.option.setNumber(name, value)
    finally:
        if started:
            gmsh.finalize()


def _triangles(gmsh: Any, what: str, source: str) -> MeshDomain:
    """Generate the 2-D mesh of the current gmsh model and return it as a MeshDomain."""
    gmsh.model.geo.synchronize()
    try:
        gmsh.model.mesh.generate(2)
    except Exception as error:  # gmsh raises a bare Exception with its last error message
        raise ValueError(f"gmsh could not mesh the {what} ({error})") from None
    tags, coords, _ = gmsh.model.mesh.getNodes()
    types, _, nodes = gmsh.model.mesh.getElements(dim=2)
    if _TRIANGLE not in list(types):
        raise ValueError(f"gmsh made no triangles for the {what}; check its size against h")
    index = np.zeros(int(tags.max()) + 1, dtype=np.int64)
    index[tags.astype(np.int64)] = np.arange(tags.size)
    cells = index[np.asarray(nodes[list(types).index(_TRIANGLE)], dtype=np.int64).reshape(-1, 3)]
    return MeshDomain(np.asarray(coords).reshape(-1, 3)[:, :2], cells, source=source)


def mesh_polygon(vertices: Sequence[Sequence[float]], h: float) -> MeshDomain:
    """A triangle mesh (edge length about ``h``) of the simple polygon with ``vertices`` [(x, y), ...] in order
    (either orientation; a repeated closing vertex is ignored). Every polygon vertex is a mesh vertex."""
    v = _check_vertices(vertices)
    area = 0.5 * abs(float(np.sum(_cross(v, np.roll(v, -1, axis=0)))))
    h = _check_h(h, area)
    with _gmsh_model(h) as gmsh:
        geo = gmsh.model.geo
        points = [geo.addPoint(x, y, 0.0, h) for x, y in v]
        lines = [geo.addLine(points[i], points[(i + 1) % len(points)]) for i in range(len(points))]
        geo.addPlaneSurface([geo.addCurveLoop(lines)])
        return _triangles(gmsh, f"polygon with {len(v)} vertices", f"mesh_polygon({len(v)} vertices, h={h:g})")


def _mesh_disk(center: Sequence[float], radius: float, h: float) -> MeshDomain:
    """A triangle mesh of the disk |x - center| <= radius; the boundary vertices lie on the circle."""
    cx, cy = (float(t) for t in center)
    radius = float(radius)
    if not (math.isfinite(radius) and radius > 0 and math.isfinite(cx) and math.isfinite(cy)):
        raise ValueError(f"a disk needs a finite center and a positive radius, got center {(cx, cy)}, radius {radius}")
    h = _check_h(h, math.pi * radius**2)
    with _gmsh_model(h) as gmsh:
        geo = gmsh.model.geo
        centre = geo.addPoint(cx, cy, 0.0, h)
        rim = [geo.addPoint(cx + radius * math.cos(t), cy + radius * math.sin(t), 0.0, h)
               for t in (0.0, math.pi / 2, math.pi, 3 * math.pi / 2)]
        arcs = [geo.addCircleArc(rim[i], centre, rim[(i + 1) % 4]) for i in range(4)]
        geo.addPlaneSurface([geo.addCurveLoop(arcs)])
        return _triangles(gmsh, "disk", f"disk(center={[cx, cy]}, radius={radius:g}, h={h:g})")


def can_mesh_deepxde(geometry: Any) -> bool:
    """Whether ``mesh_deepxde`` meshes this DeepXDE geometry (or ``DeepXDEDomain``), without meshing it."""
    from dlpde.geometry.deepxde_adapter import DeepXDEDomain

    geom = geometry.geom if isinstance(geometry, DeepXDEDomain) else geometry
    return type(geom).__module__.startswith("deepxde") and _deepxde_mesher(geom) is not None


def _deepxde_mesher(geom: Any):
    """h ↦ the mesh of a DeepXDE geometry ``mesh_deepxde`` supports, or None."""
    from dlpde.geometry.deepxde_adapter import import_deepxde

    shapes = import_deepxde().geometry
    if isinstance(geom, shapes.Polygon):
        return lambda h: mesh_polygon(geom.vertices, h)
    if isinstance(geom, shapes.Triangle):
        return lambda h: mesh_polygon([geom.x1, geom.x2, geom.x3], h)
    if isinstance(geom, shapes.Hypercube) and geom.dim == 2:
        (x0, y0), (x1, y1) = geom.xmin, geom.xmax
        return lambda h: mesh_polygon([(x0, y0), (x1, y0), (x1, y1), (x0, y1)], h)
    if isinstance(geom, shapes.Disk):
        return lambda h: _mesh_disk(geom.center, geom.radius, h)
    return None


def mesh_deepxde(geometry: Any, h: float) -> MeshDomain:
    """A triangle mesh (edge length about ``h``) of a DeepXDE 2-D geometry: ``deepxde.geometry.Polygon``,
    ``Rectangle`` (or a 2-D ``Hypercube``), ``Triangle`` or ``Disk``, or of a ``DeepXDEDomain`` wrapping one."""
    from dlpde.geometry.deepxde_adapter import DeepXDEDomain

    geom = geometry.geom if isinstance(geometry, DeepXDEDomain) else geometry
    supported = "deepxde.geometry.Polygon, Rectangle (or a 2-D Hypercube), Triangle and Disk"
    if not type(geom).__module__.startswith("deepxde"):
        raise ValueError(f"mesh_deepxde needs a DeepXDE geometry ({supported}) or a DeepXDEDomain, got "
                         f"{type(geom).__name__}; for a polygon given by its vertices use mesh_polygon")
    mesher = _deepxde_mesher(geom)
    if mesher is not None:
        return mesher(h)
    raise ValueError(f"mesh_deepxde cannot mesh a {type(geom).__name__} (dim {getattr(geom, 'dim', '?')}); it "
                     f"supports {supported}; for another 2-D shape give its boundary as a polygon to mesh_polygon")
