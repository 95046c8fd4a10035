"""PNG figures of solutions (matplotlib, Agg backend, imported only when a figure is drawn)."""
from __future__ import annotations

import numpy as np
import torch

from dlpde.io.atomic import atomic_path


def _pyplot():
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt
    return plt


def plot_history(ax, history, *, key: str = "rel_l2_error", label: str | None = None) -> None:
    rows = [r for r in history.rows if key in r]
    if rows:
        ax.semilogy([r["step"] for r in rows], [r[key] for r in rows], "o-", ms=3, label=label)
    ax.set_xlabel("step")
    ax.set_ylabel(key.replace("_", " "))
    ax.grid(True, which="both", alpha=0.3)


def plot_solution(solution, path, *, n: int = 129) -> str:
    """Solution, reference and difference on a grid (steady 2-D problems, and 1-D problems in space-time with t
    on the vertical axis), plus the error history; or, in any other dimension, the loss and error history alone.
    Written atomically; returns the path."""
    plt = _pyplot()
    p = solution.problem
    fields = (p is not None and p.input_dim == 2 and hasattr(p, "domain")
              and not getattr(solution, "known_at_one_point", False))  # Deep BSDE: u at (0, x₀) only
    has_ref = p is not None and (p.has_exact or getattr(p, "has_reference", False))
    ncols = 4 if fields and has_ref else (2 if fields else 1)
    fig, axes = plt.subplots(1, ncols, figsize=(4.2 * ncols, 3.6), squeeze=False)
    axes = axes[0]
    if fields:
        lo, hi = (b.numpy() for b in p.domain.bounds)
        gx, gy = np.meshgrid(np.linspace(lo[0], hi[0], n), np.linspace(lo[1], hi[1], n), indexing="xy")
        x = torch.as_tensor(np.stack([gx.ravel(), gy.ravel()], axis=1))
        inside = p.domain.contains(x).numpy().reshape(gx.shape)
        u = solution.model_values(x).reshape(gx.shape)
        u[~inside] = np.nan
        panels = [("network u", u)]
        if p.has_exact:
            ex = p.exact(x).double().numpy().reshape(gx.shape)
            ex[~inside] = np.nan
        elif has_ref:  # a numerical reference (finite elements), defined only inside the domain
            ex = np.full(gx.shape, np.nan)
            ex[inside] = p.reference(x[torch.as_tensor(inside.ravel())]).double().cpu().numpy()
        if has_ref:
            panels += [("reference", ex), ("network − reference", u - ex)]
        for ax, (title, z) in zip(axes, panels):
            im = ax.pcolormesh(gx, gy, z, shading="auto", cmap="RdBu_r" if "−" in title else "viridis")
            fig.colorbar(im, ax=ax)
            ax.set_title(title)
            if solution.time_dependent:
                ax.set_xlabel("x")
                ax.set_ylabel("t")
            else:
                ax.set_aspect("equal")
    plot_history(axes[-1], solution.history)
    axes[-1].set_title(f"{solution.case} / {solution.solver}")
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=80, format="png")
    plt.close(fig)
    return str(path)
