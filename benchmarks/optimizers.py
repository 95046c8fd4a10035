"""Error against training time: Adam, Adam + L-BFGS and ENGD on five problems, one thread, one run (issue 13).

    python benchmarks/optimizers.py --threads 1                       # all five (about 30 minutes)
    python benchmarks/optimizers.py --threads 1 --cases poisson-2d    # one of them; the others' stored runs are kept
    python benchmarks/optimizers.py --report-only                     # rebuild the table and figure alone
    python benchmarks/optimizers.py --tiny --out /tmp/OPTIMIZERS.md   # a few steps of poisson-2d: the script only

Writes benchmarks/OPTIMIZERS.md (a table) and benchmarks/optimizers.png (relative L2 error against training
seconds) from every case stored in benchmarks/optimizers.json (each run replaces its own case there; with --out the
figure and the store sit beside that file). Adam and Adam + L-BFGS are the case's own defaults: one run, whose first
phase is the Adam curve (the cosine schedule is the same with or without the L-BFGS phase that follows). ENGD is ``optimizer="engd"`` with the
case's ENGD settings (``Case.settings_for``). Errors are those the solver logs at its evaluation points
(``eval_every``) on ``eval_points`` fresh points, or the case's reference grid; seconds are the history's training
wall time (evaluation included, alike for all). "to 1e-3" is the first evaluation at or below 1e-3.
"""
from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path

import torch

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent))

import _report  # noqa: E402

import dlpde  # noqa: E402

OUT = HERE / "OPTIMIZERS.md"
CASES = {"poisson-2d": None, "poisson-sin-Nd": 5, "diffusion-1d": None, "helmholtz-2d": None, "burgers-1d": None}
EVAL = dict(eval_points=4000, progress=False, seed=0)
THRESHOLD = 1e-3
TINY = {"default": dict(steps=6, lbfgs_steps=3, batch=64, boundary_batch=32, width=8, depth=2, eval_points=200),
        "engd": dict(steps=3, batch=32, boundary_batch=16, width=8, depth=1, eval_points=200)}


def curve(sol, phases: set[str] | None = None) -> list[tuple[float, float]]:
    """(seconds, error) at the logged evaluations, restricted to some phases."""
    h = sol.history.columns()
    out = []
    for t, e, phase in zip(h["seconds"], h["rel_l2_error"], h["phase"]):
        if math.isfinite(e) and (phases is None or phase in phases):
            out.append((float(t), float(e)))
    return out


def time_to(points: list[tuple[float, float]], level: float) -> float:
    return next((t for t, e in points if e <= level), math.nan)


def run_case(case: str, dim: int | None, threads: int, tiny: bool = False) -> dict:
    every = dict(log_every=1, eval_every=1) if tiny else {}
    # the case's Adam (+ L-BFGS) settings, named explicitly: some cases now default to ENGD (poisson-sin-Nd)
    default = dlpde.solve(case, "pinn", dim=dim, optimizer="adam", threads=threads,
                          **{"log_every": 50, "eval_every": 50, **EVAL, **(TINY["default"] if tiny else {}), **every})
    engd = dlpde.solve(case, "pinn", dim=dim, optimizer="engd", threads=threads,
                       **{"log_every": 5, "eval_every": 5, **EVAL, **(TINY["engd"] if tiny else {}), **every})
    adam = curve(default, {"adam"})
    return {"case": case, "dim": default.dim,
            "curves": {"Adam": adam, "Adam + L-BFGS": curve(default), "ENGD": curve(engd)},
            "final": {"Adam": adam[-1][1] if adam else math.nan,
                      "Adam + L-BFGS": default.metrics["rel_l2_error"], "ENGD": engd.metrics["rel_l2_error"]},
            "seconds": {"Adam": adam[-1][0] if adam else math.nan, "Adam + L-BFGS": default.wall_time_s,
                        "ENGD": engd.wall_time_s},
            "steps": {"Adam + L-BFGS": default.steps_done, "ENGD": engd.steps_done}}


def write(results: dict, out: Path) -> Path:
    tiny = [r["case"] for r in results.values() if r.get("tiny")]
    lines = ["# Optimizers: error against training time", "",
             "`python benchmarks/optimizers.py --threads 1` (one CPU thread, one run per case, each stored in "
             "`optimizers.json` beside this file: `--cases CASE` reruns one and keeps the others, "
             "`--report-only` rebuilds this file and the figure; the machine was shared, so seconds are "
             "upper bounds and ratios within a row are the comparison). PINN on each case; Adam and Adam + L-BFGS "
             "with the case's defaults (the Adam row is the first phase of that run), ENGD with `optimizer=\"engd\"` "
             "and the case's ENGD settings (`dlpde.problems.CASES[case].settings_for(\"pinn\", \"engd\")`). "
             "In the figure the Adam curve is the first part of the Adam + L-BFGS one; `poisson-sin-Nd`'s defaults "
             "have no L-BFGS phase, so its two rows are one run." + (f" `--tiny` runs (check the script, not the "
                                                                     f"numbers): {', '.join(tiny)}." if tiny else ""),
             "",
             "| case | d | optimizer | rel. L2 error | training s | s to 1e-3 |", "|---|---|---|---|---|---|"]
    for r in results.values():
        for name in ("Adam", "Adam + L-BFGS", "ENGD"):
            t = time_to(r["curves"][name], THRESHOLD)
            lines.append(f"| {r['case']} | {r['dim']} | {name} | {r['final'][name]:.2e} | "
                         f"{r['seconds'][name]:.0f} | {'–' if math.isnan(t) else f'{t:.1f}'} |")
    lines += ["", "![error against seconds](optimizers.png)", ""]
    _report.write(out, "\n".join(lines))
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, axes = plt.subplots(1, len(results), figsize=(4 * len(results), 3.4), squeeze=False)
    for ax, r in zip(axes[0], results.values()):
        for name, pts in r["curves"].items():
            if pts:
                ax.loglog([max(t, 1e-2) for t, _ in pts], [e for _, e in pts], label=name,
                          ls="--" if name == "Adam" else "-")
        ax.set_title(f"{r['case']} (d = {r['dim']})")
        ax.set_xlabel("training seconds")
        ax.axhline(THRESHOLD, color="grey", lw=0.5)
    axes[0][0].set_ylabel("relative L2 error")
    axes[0][0].legend()
    fig.tight_layout()
    fig.savefig(out.with_name("optimizers.png"), dpi=110)
    plt.close(fig)
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--cases", nargs="+", choices=list(CASES), help="cases to run (default: all five)")
    ap.add_argument("--threads", type=int, default=1, help="torch CPU threads (default 1)")
    ap.add_argument("--out", default=str(OUT), help="markdown file; optimizers.json and optimizers.png beside it")
    ap.add_argument("--report-only", action="store_true", help="rebuild the table and figure from the store")
    ap.add_argument("--tiny", action="store_true", help="poisson-2d with a few steps (needs --out)")
    args = ap.parse_args(argv)
    _report.tiny_needs_out(ap, args, OUT)
    torch.set_num_threads(args.threads)
    out = Path(args.out)
    store = out.with_name("optimizers.json")
    results = json.loads(store.read_text()) if store.exists() else {}
    cases = [] if args.report_only else (args.cases or (["poisson-2d"] if args.tiny else list(CASES)))
    for case in cases:
        results[case] = {**run_case(case, CASES[case], args.threads, args.tiny), "tiny": args.tiny,
                         "command": _report.command("optimizers.py", argv, args.threads), **_report.when()}
        out.parent.mkdir(parents=True, exist_ok=True)
        store.write_text(json.dumps(results, indent=1))
        print(case, {k: f"{v:.2e}" for k, v in results[case]["final"].items()}, flush=True)
    print(f"wrote {write({c: results[c] for c in CASES if c in results}, out)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
