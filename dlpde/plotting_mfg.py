"""Pictures of a mean-field-game / OT solution (matplotlib, Agg backend, small PNGs).

Both functions read only ``solution.extra`` (what ``dlpde.solvers.mfg.evaluate_mfg`` stores and the HDF5 file keeps
under /extra), so they work on a loaded file as well as on a fresh solution.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np


def _pyplot():
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    return plt


def _need(extra: dict, *keys):
    missing = [k for k in keys if k not in extra]
    if missing:
        raise ValueError(f"the solution lacks {missing}: solve with the 'mfg' solver (status ok) to get them")


def _obstacle(ax, extra):
    if "obstacle" in extra:
        ax.contour(extra["grid_x1"], extra["grid_x2"], extra["obstacle"], levels=4, colors="w", linewidths=0.8)


def _title(solution) -> str:
    return f"{solution.case}, d = {solution.dim}"


def plot_density(solution, path, *, times=(0.0, 0.25, 0.5, 0.75, 1.0), dpi: int = 80) -> str:
    """ρ(x, t) at several times over the obstacle's contours: the grid density for d = 2, a histogram of the
    pushed samples' first two coordinates otherwise. Returns the path written."""
    e = solution.extra
    _need(e, "grid_x1", "grid_x2", "sample_paths", "path_times")
    plt = _pyplot()
    g1, g2 = e["grid_x1"], e["grid_x2"]
    extent = (g1[0], g1[-1], g2[0], g2[-1])
    if "density" in e:
        times, frames = list(e["density_times"]), list(e["density"])
        label = "ρ(x, t) by backward characteristics"
    else:
        pt, paths = e["path_times"], e["sample_paths"]
        idx = [int(np.argmin(np.abs(pt - t * pt[-1]))) for t in times]
        times = [float(pt[i]) for i in idx]
        bins = (np.linspace(g1[0], g1[-1], 49), np.linspace(g2[0], g2[-1], 49))
        frames = [np.histogram2d(paths[:, i, 0], paths[:, i, 1], bins=bins, density=True)[0].T for i in idx]
        label = f"histogram of {paths.shape[0]} pushed samples (x1, x2)"
    fig, axes = plt.subplots(1, len(frames), figsize=(2.4 * len(frames), 2.9), squeeze=False)
    for ax, t, rho in zip(axes[0], times, frames):
        ax.imshow(rho, origin="lower", extent=extent, cmap="viridis", aspect="equal")
        _obstacle(ax, e)
        ax.set_title(f"t = {t:.2f}", fontsize=9)
        ax.tick_params(labelsize=7)
    fig.suptitle(f"{_title(solution)}: {label}", fontsize=9)
    fig.tight_layout()
    path = str(Path(path))
    fig.savefig(path, dpi=dpi)
    plt.close(fig)
    return path


def plot_trajectories(solution, path, *, n: int = 40, dpi: int = 90) -> str:
    """Sample characteristics x(t) (first two coordinates) from ρ₀ samples, with the obstacle's contours."""
    e = solution.extra
    _need(e, "grid_x1", "grid_x2", "sample_paths")
    plt = _pyplot()
    paths = e["sample_paths"][:n]
    fig, ax = plt.subplots(figsize=(4.2, 4.2))
    if "obstacle" in e:
        ax.contourf(e["grid_x1"], e["grid_x2"], e["obstacle"], levels=8, cmap="Greys")
    for p in paths:
        ax.plot(p[:, 0], p[:, 1], "-", lw=0.8, color="tab:blue", alpha=0.8)
    ax.plot(paths[:, 0, 0], paths[:, 0, 1], "o", ms=2.5, color="tab:green", label="x(0) ~ ρ₀")
    ax.plot(paths[:, -1, 0], paths[:, -1, 1], "o", ms=2.5, color="tab:red", label="x(T)")
    g1, g2 = e["grid_x1"], e["grid_x2"]
    ax.set_xlim(g1[0], g1[-1])
    ax.set_ylim(g2[0], g2[-1])
    ax.set_aspect("equal")
    ax.legend(fontsize=7, loc="upper right")
    ax.set_title(f"{_title(solution)}: characteristics", fontsize=9)
    ax.tick_params(labelsize=7)
    fig.tight_layout()
    path = str(Path(path))
    fig.savefig(path, dpi=dpi)
    plt.close(fig)
    return path


__all__ = ["plot_density", "plot_trajectories"]
