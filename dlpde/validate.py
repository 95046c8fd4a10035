"""``dlpde validate``: train a solver on a case, compare it with the case's reference and write the evidence.

The reference is the exact solution where the problem has one, else its numerical reference (for the meshed
Poisson cases the P2 finite element solution on the case's mesh, refined until two refinements differ by less than
1e-4, see ``dlpde.problems.mesh_cases``). Outputs, all checked for writability before any training:

* ``OUT.h5``: the normal solution file (``Solution.save``) plus a group ``/validation`` with, on one set of points,
  ``x`` (n, d), ``u_nn``, ``u_reference`` and ``difference`` = u_nn − u_reference (and ``u_fem`` and the mesh
  ``cells`` for meshed cases, whose points are the vertices of the finite element mesh; other cases use fresh
  uniform samples). Its attributes: ``reference`` (what the reference is), ``points``, the errors (``rel_l2_error``
  and ``max_error`` on fresh uniform samples as in ``Solution.errors``; ``rel_l2_error_points``/``max_error_points``
  on the stored points; for meshed cases ``rel_l2_error_quadrature``, the relative L2 error against the finite
  element solution by quadrature on its mesh) and the finite element facts (``fem_dofs``, ``fem_refinements``,
  ``fem_last_change``, ``fem_converged``, ``fem_history``).
* ``OUT.png``: network, reference and difference side by side (2-D meshed cases: ``tripcolor`` on the finite element
  mesh; other cases: a grid over the first two input coordinates through the centre of the domain, or a line in 1-D)
  and the error history.
* ``OUT-fem.xdmf`` (2-D/3-D meshed cases): the finite element mesh with nodal fields ``u_nn``, ``u_fem``,
  ``difference`` (and ``u_exact`` where known) for ParaView.
"""
from __future__ import annotations

import logging
import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from dlpde.problems import Problem, get_case
from dlpde.solution import Solution

log = logging.getLogger(__name__)

VALIDATION_POINTS = 20_000  # uniform samples stored for cases without a finite element mesh


@dataclass
class Validation:
    """What ``validate`` wrote and measured. ``errors`` holds the attributes of the file's /validation group."""

    solution: Solution
    out: Path
    plot: Path | None
    xdmf: Path | None
    reference: str
    errors: dict = field(default_factory=dict)

    def summary(self) -> str:
        sol = self.solution
        err = self.errors.get("rel_l2_error", sol.metrics.get("rel_l2_error"))
        err_s = f"{err:.3e}" if isinstance(err, float) and math.isfinite(err) else "n/a"
        return (f"{sol.case} solver={sol.solver} dim={sol.dim} steps={sol.steps_done} seconds={sol.wall_time_s:.1f} "
                f"rel_l2={err_s} status={sol.status} reference=\"{self.reference}\" out={self.out}"
                + (f" plot={self.plot}" if self.plot else "") + (f" xdmf={self.xdmf}" if self.xdmf else ""))


def default_paths(case: str, solver: str, dim: int, out: str | None = None) -> tuple[Path, Path, Path]:
    """The HDF5 file (default ``CASE-SOLVER-dDIM-validation.h5``), its PNG and its finite element XDMF."""
    out_p = Path(out or f"{case}-{solver}-d{dim}-validation.h5")
    stem = out_p.name[:-3] if out_p.name.endswith(".h5") else out_p.name
    return out_p, out_p.with_name(stem + ".png"), out_p.with_name(stem + "-fem.xdmf")


def make_problem(case: str, *, dim: int | None = None, mesh: str | None = None) -> Problem:
    """The named case, on the mesh file ``mesh`` for cases that take one (``poisson-mesh``)."""
    import inspect

    c = get_case(case)
    if mesh is None:
        return c.make(dim)
    if "mesh" not in inspect.signature(c.factory).parameters:
        from dlpde.problems import CASES
        takes = [n for n, other in CASES.items() if "mesh" in inspect.signature(other.factory).parameters]
        raise ValueError(f"case {case!r} has a fixed domain; --mesh FILE is for the cases on a mesh file: {takes}")
    return c.make(dim, mesh=str(mesh))


def check_paths(out: Path, plot: Path | None, xdmf: Path | None, checkpoint: Path | None = None,
                sidecar: bool = True) -> None:
    """Refuse, before training, outputs that cannot be written or would replace a file of another kind, and two
    outputs (the HDF5 file, its XDMF file when ``sidecar``, the PNG, the finite element XDMF, the checkpoint) that
    name the same file."""
    from dlpde.io.atomic import check_writable
    from dlpde.io.hdf5 import check_output
    from dlpde.io.xdmf import looks_like_xdmf, xdmf_path

    check_output(out, sidecar=sidecar)
    if plot is not None:
        check_writable(plot, overwrite=True)
        if plot.exists() and plot.read_bytes()[:8] != b"\x89PNG\r\n\x1a\n":
            raise ValueError(f"{str(plot)!r} exists and is not a PNG image; choose another --plot file or remove it")
    if xdmf is not None:
        check_writable(xdmf, overwrite=True)
        if xdmf.exists() and not looks_like_xdmf(xdmf):
            raise ValueError(f"{str(xdmf)!r} exists and is not an XDMF file; choose another --out or remove it")
    written = [p.resolve() for p in (out, plot, xdmf, xdmf_path(out) if sidecar else None, checkpoint)
               if p is not None]
    if len(set(written)) < len(written):
        raise ValueError("the HDF5 file, its XDMF sidecar, the PNG, the finite element XDMF and the checkpoint must "
                         f"be different files; got {[str(p) for p in (out, plot, xdmf, checkpoint) if p]}")


def validate(problem: Problem | str, solver: str = "pinn", *, dim: int | None = None, mesh: str | None = None,
             out: str | Path | None = None, plot: str | Path | None = None, xdmf: bool = True,
             **settings) -> Validation:
    """Train ``solver`` on ``problem`` (a Problem or a case name, with ``dim``/``mesh`` for a case), compare it with
    the reference and write the HDF5 file, the PNG and (meshed cases, ``xdmf=True``) the finite element XDMF.

    ``settings`` are those of ``dlpde.solve``. Returns a ``Validation``; check ``.solution.status``.
    """
    import dlpde
    from dlpde.api import check_dim

    if isinstance(problem, str):
        check_dim(dim)
        problem = make_problem(problem, dim=dim, mesh=mesh)
    elif dim is not None or mesh is not None:
        raise ValueError("dim and mesh are only for case names; a Problem object already has its domain")
    if not isinstance(problem, Problem):
        raise TypeError(f"problem must be a dlpde Problem or a case name, got {type(problem).__name__}")
    from dlpde.solvers import get_solver
    get_solver(solver)  # an unknown name fails before the finite element reference is computed
    fem_case = _fem(problem, compute=False)
    out_p, plot_default, xdmf_default = default_paths(problem.case, solver, problem.dim, None if out is None
                                                      else str(out))
    plot_p = Path(plot) if plot is not None else plot_default
    xdmf_p = xdmf_default if (xdmf and fem_case) else None
    from dlpde.io.hdf5 import writes_grid
    ckpt_p = settings.get("checkpoint_path")
    check_paths(out_p, plot_p, xdmf_p, None if ckpt_p is None else Path(ckpt_p), sidecar=writes_grid(problem))
    if fem_case:
        problem.fem_reference()  # before training: a reference that cannot be computed costs no training
    sol = dlpde.solve(problem, solver, **settings)
    if sol.status in ("interrupted", "terminated"):
        return Validation(sol, out_p, None, None, _reference_text(problem))
    data = validation_data(sol)
    sol.save(out_p)
    _append_group(out_p, data)
    plot_validation(sol, data, plot_p)
    if xdmf_p is not None:
        from dlpde.io.xdmf import write_xdmf
        fields = {k: data[k] for k in ("u_nn", "u_fem", "difference", "u_exact") if k in data}
        kind = "triangle" if problem.dim == 2 else "tetra"
        write_xdmf(xdmf_p, data["x"], [(kind, data["cells"])], fields)
    return Validation(sol, out_p, plot_p, xdmf_p, data["attrs"]["reference"], dict(data["attrs"]))


# ---------------------------------------------------------------------------------------------------------------


def _fem(problem: Problem, *, compute: bool = True):
    """The problem's converged finite element solution (``ConvergedFEM``), or None for problems without a mesh
    reference; with ``compute=False`` only whether it has one."""
    if not hasattr(problem, "fem_reference") or getattr(problem, "dim", 0) not in (2, 3):
        return None
    return problem.fem_reference() if compute else True


def _reference_text(problem: Problem) -> str:
    if problem.has_exact:
        return "exact solution"
    if getattr(problem, "has_reference", False):
        return str(getattr(problem, "reference_description", "") or "numerical reference")
    return "none"


def validation_data(sol: Solution) -> dict:
    """The arrays and attributes of the /validation group (see the module docstring)."""
    problem = sol.problem
    attrs: dict = {"reference": _reference_text(problem), "case": sol.case, "solver": sol.solver}
    errors = sol.errors() if sol.status == "ok" else {}
    attrs.update(errors)
    data: dict = {"attrs": attrs}
    fem = _fem(problem)
    if fem is not None:
        from dlpde.problems.mesh_cases import describe_reference
        mesh = fem.solution.mesh
        x = torch.as_tensor(np.ascontiguousarray(mesh.p.T))
        u_fem = fem.solution.nodal_values()
        reference = problem.exact(x).double().numpy() if problem.has_exact else u_fem
        data.update(x=x.numpy(), cells=np.ascontiguousarray(mesh.t.T), u_fem=u_fem)
        if problem.has_exact:
            data["u_exact"] = reference
        attrs.update(points="fem_vertices", **describe_reference(problem))
    elif getattr(problem, "has_reference", False) or problem.has_exact:
        g = torch.Generator().manual_seed(4242)
        x = problem.evaluation_points(VALIDATION_POINTS, generator=g, dtype=torch.float64)
        reference = (problem.exact(x) if problem.has_exact else problem.reference(x)).double().cpu().numpy()
        data["x"] = x.numpy()
        attrs["points"] = "uniform_samples"
    else:
        return data
    u = sol.model_values(x)
    diff = u - reference
    data.update(u_nn=u, u_reference=reference, difference=diff)
    attrs["n_points"] = int(len(u))
    if np.all(np.isfinite(diff)):
        attrs["rel_l2_error_points"] = float(np.linalg.norm(diff) / max(np.linalg.norm(reference), 1e-300))
        attrs["max_error_points"] = float(np.max(np.abs(diff))) if diff.size else 0.0
    if fem is not None and sol.status == "ok":
        attrs["rel_l2_error_quadrature"] = _quadrature_error(sol, fem.solution)
    return data


def _quadrature_error(sol: Solution, fem) -> float:
    """‖u_nn − u_h‖ / ‖u_h‖ in L2 by quadrature on the finite element mesh (the FE basis' own rule, degree 4)."""
    basis = fem.basis
    xq = basis.mapping.F(basis.X)  # (d, n_cells, n_qp)
    points = torch.as_tensor(np.ascontiguousarray(xq.reshape(xq.shape[0], -1).T))
    u = sol.model_values(points).reshape(xq.shape[1:])
    uh = np.asarray(basis.interpolate(fem.dofs))
    dx = basis.dx
    norm = float(np.sum(uh**2 * dx))
    return math.sqrt(float(np.sum((u - uh) ** 2 * dx)) / norm) if norm > 0 else math.nan


def _append_group(path: Path, data: dict) -> None:
    """Add /validation to a file ``Solution.save`` wrote, and renew its SHA-256 seal (``dlpde.io.hdf5.seal``)."""
    import h5py

    from dlpde.io import hdf5

    sealed = hdf5.seal_matches(path)
    with h5py.File(path, "r+") as f:
        if "validation" in f:
            del f["validation"]
        g = f.create_group("validation")
        for k, v in data["attrs"].items():
            g.attrs[k] = v
        for k in ("x", "cells", "u_nn", "u_reference", "difference", "u_fem", "u_exact"):
            if k in data:
                hdf5._dataset(g, k, data[k])
    if sealed:
        hdf5.seal(path, hdf5.FORMAT, hdf5.FORMAT_VERSION)


# ---------------------------------------------------------------------------------------------------------------
# figures


def plot_validation(sol: Solution, data: dict, path: Path) -> str:
    """Network, reference and difference side by side, plus the error history (see the module docstring)."""
    from dlpde.io.atomic import atomic_path
    from dlpde.plotting import _pyplot, plot_history

    plt = _pyplot()
    panels = _panels(sol, data)
    ncols = len(panels) + 1
    fig, axes = plt.subplots(1, ncols, figsize=(4.2 * ncols, 3.6), squeeze=False)
    axes = axes[0]
    for ax, (title, draw) in zip(axes, panels):
        draw(ax, fig)
        ax.set_title(title)
    plot_history(axes[-1], sol.history)
    axes[-1].set_title(f"{sol.case} / {sol.solver}")
    fig.suptitle(f"reference: {data['attrs']['reference']}", fontsize=9)
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=80, format="png")
    plt.close(fig)
    return str(path)


def _symmetric(z: np.ndarray) -> dict:
    finite = z[np.isfinite(z)]
    m = float(np.max(np.abs(finite))) if finite.size else 1.0
    return dict(cmap="RdBu_r", vmin=-m or -1.0, vmax=m or 1.0)


def _panels(sol: Solution, data: dict) -> list:
    problem = sol.problem
    if problem is None:
        return []
    if "cells" in data and sol.dim == 2:  # the finite element mesh itself
        import matplotlib.tri as mtri
        tri = mtri.Triangulation(data["x"][:, 0], data["x"][:, 1], data["cells"])
        return [(title, _tripcolor(tri, data[key], title)) for title, key in
                (("network u", "u_nn"), ("reference", "u_reference"), ("network − reference", "difference"))]
    try:
        return _grid_panels(sol, problem)
    except (AttributeError, NotImplementedError, TypeError) as e:  # no domain to draw on
        log.info("no field figure for %s: %s", sol.case, e)
        return []


def _tripcolor(tri, z, title):
    def draw(ax, fig):
        kw = _symmetric(z) if "−" in title else dict(cmap="viridis")
        im = ax.tripcolor(tri, z, shading="gouraud", **kw)
        fig.colorbar(im, ax=ax)
        ax.set_aspect("equal")
    return draw


def _grid_panels(sol: Solution, problem: Problem, n: int = 129) -> list:
    """Fields on a grid over the first two input coordinates (the others at the centre of the domain's box), or a
    line for one input coordinate; points outside the domain are left blank."""
    lo, hi = (b.double().numpy() for b in problem.domain.bounds)
    centre = (lo + hi) / 2
    has_ref = problem.has_exact or getattr(problem, "has_reference", False)
    if lo.size == 1:
        x = torch.as_tensor(np.linspace(lo[0], hi[0], 401)[:, None])
        u = sol.model_values(x)
        ref = (problem.exact(x) if problem.has_exact else problem.reference(x)).double().numpy() if has_ref else None

        def line(ax, fig):
            ax.plot(x[:, 0], u, label="network")
            if ref is not None:
                ax.plot(x[:, 0], ref, "--", label="reference")
            ax.legend()

        panels = [("u", line)]
        if ref is not None:
            panels.append(("network − reference", lambda ax, fig: ax.plot(x[:, 0], u - ref)))
        return panels
    gx, gy = np.meshgrid(np.linspace(lo[0], hi[0], n), np.linspace(lo[1], hi[1], n), indexing="xy")
    pts = np.tile(centre, (gx.size, 1))
    pts[:, 0], pts[:, 1] = gx.ravel(), gy.ravel()
    x = torch.as_tensor(pts)
    inside = problem.domain.contains(x).cpu().numpy()
    u = np.full(gx.size, np.nan)
    u[inside] = sol.model_values(x[inside])
    fields = [("network u", u)]
    if has_ref:
        ref = np.full(gx.size, np.nan)
        xi = x[torch.as_tensor(inside)]
        ref[inside] = (problem.exact(xi) if problem.has_exact else problem.reference(xi)).double().cpu().numpy()
        fields += [("reference", ref), ("network − reference", u - ref)]
    suffix = "" if lo.size == 2 else " (slice through the centre)"

    def mesh_panel(z, title):
        def draw(ax, fig):
            kw = _symmetric(z) if "−" in title else dict(cmap="viridis")
            im = ax.pcolormesh(gx, gy, z.reshape(gx.shape), shading="auto", **kw)
            fig.colorbar(im, ax=ax)
            ax.set_aspect("equal")
        return draw

    return [(title + suffix, mesh_panel(z, title)) for title, z in fields]


# ---------------------------------------------------------------------------------------------------------------
# command line (called by dlpde.cli)


def cmd_validate(args) -> int:
    """``dlpde validate CASE --solver S [options]``: returns the exit status (0 ok, 1 training failed, 130 Ctrl-C)."""
    import sys

    from dlpde import distributed
    from dlpde.api import check_dim

    check_dim(args.dim)
    problem = make_problem(args.case, dim=args.dim, mesh=getattr(args, "mesh", None))
    from dlpde.settings import settings_from_args
    settings = settings_from_args(args)
    out, _, _ = default_paths(args.case, args.solver, problem.dim, args.out)
    checkpoint = Path(args.checkpoint) if getattr(args, "checkpoint", None) else out.with_name(
        (out.name[:-3] if out.name.endswith(".h5") else out.name) + ".ckpt.h5")
    from dlpde.training import checkpoint as ckpt
    ckpt.check_target(checkpoint)
    if settings.get("resume") is not None:
        ckpt.read_attrs(settings["resume"])
    result = validate(problem, args.solver, out=out, plot=args.plot, checkpoint_path=str(checkpoint), **settings)
    if not distributed.is_main():
        return 0 if result.solution.status == "ok" else 1
    sol = result.solution
    if sol.status in ("interrupted", "terminated"):
        print(f"dlpde: {sol.message}", file=sys.stderr)
        return 130 if sol.status == "interrupted" else 143
    print(result.summary())
    if sol.status != "ok":
        print(f"dlpde: training failed: {sol.message}; the history so far is in {result.out}", file=sys.stderr)
        return 1
    return 0
