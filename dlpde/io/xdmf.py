"""XDMF sidecars (meshio) so ParaView opens 2-D/3-D fields.

The data are written inline (XML), never as meshio's default companion ``<name>.h5``, which would clobber the
solution file of the same stem. The file beside a result (``xdmf_path``) carries the comment ``MARK`` after its XML
declaration, so that a later save knows it is dlpde's own (and may be replaced or, when the result it showed is
replaced by one without a grid, removed) and not a user's.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from dlpde.io.atomic import atomic_path

MARK = "<!-- written by dlpde beside a result file -->"


def write_xdmf(path, points: np.ndarray, cells: list[tuple[str, np.ndarray]], point_data: dict[str, np.ndarray],
               *, overwrite: bool = True, mark: bool = False) -> str:
    """Write a mesh with nodal fields to ``path`` (.xdmf), atomically; ``mark``: the file beside a result."""
    import meshio

    mesh = meshio.Mesh(np.asarray(points, dtype=np.float64), cells,
                       point_data={k: np.asarray(v, dtype=np.float64) for k, v in point_data.items()})
    with atomic_path(path, overwrite=overwrite) as tmp:
        meshio.xdmf.write(str(tmp), mesh, data_format="XML")
        if mark:
            text = Path(tmp).read_text()
            head, sep, rest = text.partition("\n") if text.startswith("<?xml") else ("", "", text)
            Path(tmp).write_text(f"{head}{sep}{MARK}\n{rest}")
    return str(path)


def looks_like_xdmf(path) -> bool:
    """Whether the file at ``path`` begins like an XDMF file (the word Xdmf in its first 400 bytes)."""
    try:
        with open(path, "rb") as f:
            return b"Xdmf" in f.read(400)
    except OSError:
        return False


def written_by_dlpde(path) -> bool:
    """Whether the file at ``path`` is an XDMF file that dlpde wrote beside a result (``MARK`` near its start)."""
    try:
        with open(path, "rb") as f:
            return MARK.encode() in f.read(1024)
    except OSError:
        return False


def structured_grid(lo, hi, n: int) -> tuple[np.ndarray, list[tuple[str, np.ndarray]]]:
    """Points and quad (2-D) or hexahedron (3-D) cells of an n^d grid over the box [lo, hi]."""
    lo, hi = np.asarray(lo, dtype=np.float64), np.asarray(hi, dtype=np.float64)
    d = lo.size
    axes = [np.linspace(lo[i], hi[i], n) for i in range(d)]
    mesh = np.meshgrid(*axes, indexing="ij")
    points = np.stack([m.ravel() for m in mesh], axis=1)
    idx = np.arange(n**d).reshape((n,) * d)
    if d == 2:
        a, b, c, e = idx[:-1, :-1], idx[1:, :-1], idx[1:, 1:], idx[:-1, 1:]
        cells = [("quad", np.stack([a.ravel(), b.ravel(), c.ravel(), e.ravel()], axis=1))]
    elif d == 3:
        v = [idx[i:n - 1 + i, j:n - 1 + j, k:n - 1 + k].ravel() for i, j, k in
             [(0, 0, 0), (1, 0, 0), (1, 1, 0), (0, 1, 0), (0, 0, 1), (1, 0, 1), (1, 1, 1), (0, 1, 1)]]
        cells = [("hexahedron", np.stack(v, axis=1))]
    else:
        raise ValueError(f"grids for ParaView need dimension 2 or 3, got {d}")
    return points, cells


def grid_fields(solution, n: int) -> tuple[np.ndarray, list, dict[str, np.ndarray]]:
    """u (and the exact u, error) of a steady 2-D/3-D solution on a grid over its domain's bounding box;
    points outside the domain get NaN."""
    problem = solution.problem
    lo, hi = (b.numpy() for b in problem.domain.bounds)
    points, cells = structured_grid(lo, hi, n)
    x = torch.as_tensor(points)
    inside = problem.domain.contains(x).numpy()
    names = getattr(problem, "output_names", ("u",))
    u = solution(x).double().cpu().numpy().reshape(len(points), len(names))
    u[~inside] = np.nan
    exact = None
    if problem.has_exact:
        exact = (problem.exact_components(x) if len(names) > 1 else problem.exact(x)[:, None]).double().numpy()
        exact[~inside] = np.nan
    if len(names) == 1:
        data = {"u": u[:, 0]}
        if exact is not None:
            data.update(u_exact=exact[:, 0], error=u[:, 0] - exact[:, 0])
        return points, cells, data
    data = {}  # a system: one field per output (u, v, p, ...), with its exact values and error
    for i, name in enumerate(names):
        data[name] = u[:, i]
        if exact is not None:
            data.update({f"{name}_exact": exact[:, i], f"error_{name}": u[:, i] - exact[:, i]})
    return points, cells, data


def xdmf_path(h5_path) -> Path:
    p = Path(h5_path)
    return p.with_name(p.stem + ".xdmf")
