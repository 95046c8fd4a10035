"""Seconds per training step against the dimension d, per solver (issue 14: how each solver's cost grows with d).

    python benchmarks/scaling.py --threads 1                    # d = 10, 100, 1000 → benchmarks/SCALING.md
    python benchmarks/scaling.py --threads 1 --dims 10 100      # some dimensions; other stored rows are kept
    python benchmarks/scaling.py --tiny --out /tmp/SCALING.md   # d = 4, 8, two steps: checks the script only
    python benchmarks/scaling.py --report-only                  # rebuild SCALING.md from the stored runs

Each row is one solver on one d-dimensional case with the case's default settings except the batch (256) and the
number of steps; seconds per step are the Trainer's training wall time over ``--steps`` steps (no evaluation in
between) divided by the steps, after one warm-up solve of two steps at that d. The last column is the growth from
d = 100 to d = 1000 (10 would be linear in d, 1 flat). Each run is stored in ``scaling/`` beside the markdown.
"""
from __future__ import annotations

import argparse
import math
import os
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent))

import _report  # noqa: E402

DEFAULT_OUT = HERE / "SCALING.md"
# (solver, case, settings beyond the case's defaults, why this row)
CONFIGS = [
    ("pinn", "poisson-inseparable-Nd", {}, "exact forward Laplacian, identity seeds, QR-compressed tangents"),
    ("pinn", "poisson-inseparable-Nd", {"keep_freed_memory": False},
     "exact forward Laplacian, identity seeds, QR-compressed tangents"),
    ("pinn", "hjb-lq", {"derivative": "forward"},
     "space-time, exact (the case's default): ∇u, u_t and Laplacian in one forward jet, directions compressed "
     "per weight"),
    ("pinn", "hjb-lq", {"derivative": "hutchinson", "probes": 16}, "space-time; Hutchinson Laplacian, exact ∇u, u_t"),
    ("pinn", "hjb-lq", {"derivative": "sdgd", "probes": 16},
     "space-time; SDGD: 16 random coordinates shared by the batch (sparse directions), exact ∇u, u_t"),
    ("dgm", "hjb-lq", {}, "its default: Hutchinson, 16 probes"),
    ("dgm", "hjb-lq", {"derivative": "sdgd", "probes": 16},
     "SDGD: 16 random coordinates shared by the batch (sparse directions)"),
    # the Y₀ refit after training (32 768 paths, a one-off that is not a training step) is skipped here: at
    # d = 10⁵ it alone would take longer than the timed steps
    ("deep-bsde", "hjb-lq", {"y0_refit_paths": 0}, "sub-networks d + 10 wide, at most 110; no final Y₀ refit"),
    ("deep-bsde", "hjb-lq", {"y0_refit_paths": 0, "keep_freed_memory": False},
     "sub-networks d + 10 wide, at most 110; no final Y₀ refit"),
]


# glibc returns every block above 32 MB to the system when it is freed, so at d = 10⁴…10⁵ each step would fault in
# its tensors' pages afresh; dlpde.solve has glibc keep freed memory during a CPU solve (keep_freed_memory,
# dlpde.training.allocator). Each row says which allocator behaviour it was measured with:
#   "kept"        dlpde's default (keep_freed_memory=True, glibc)
#   "glibc"       glibc's defaults (the row's settings say keep_freed_memory=False, or the C library is another)
#   ""            glibc's defaults, measured before dlpde kept freed memory (stored rows of earlier sessions)
#   "keep-pages"  glibc kept freed memory because the process started with KEEP_PAGES in its environment
KEEP_PAGES = {"MALLOC_MMAP_MAX_": "0", "MALLOC_TRIM_THRESHOLD_": "100000000000"}
MEMORY = {"kept": "", "glibc": "; glibc's defaults (keep_freed_memory=False: freed memory goes back to the system)",
          "": "; glibc's defaults, before dlpde kept freed memory (an earlier session's code)",
          "keep-pages": "; freed memory kept by the environment (MALLOC_MMAP_MAX_=0, MALLOC_TRIM_THRESHOLD_=10¹¹)"}


def allocator(settings: dict) -> str:
    """How glibc treated freed memory in a run with ``settings`` in this process (see ``MEMORY``)."""
    from dlpde.training.allocator import glibc

    if all(os.environ.get(k) == v for k, v in KEEP_PAGES.items()):
        return "keep-pages"
    return "kept" if settings.get("keep_freed_memory", True) and glibc() is not None else "glibc"


def measure(solver: str, case: str, settings: dict, d: int, steps: int, batch: int, threads: int) -> dict:
    import dlpde

    common = dict(dim=d, batch=batch, lbfgs_steps=0, progress=False, threads=threads, eval_points=100,
                  log_every=steps, eval_every=10 * steps, **settings)
    if solver != "deep-bsde":
        common["boundary_batch"] = max(1, batch // 4)
    dlpde.solve(case, solver, steps=2, **common)  # warm-up: first-call costs (allocations, caches) out of the row
    sol = dlpde.solve(case, solver, steps=steps, **common)
    return {"solver": solver, "case": case, "d": d, "steps": steps, "batch": batch, "settings": settings,
            "status": sol.status, "seconds_per_step": sol.wall_time_s / steps, "allocator": allocator(settings)}


def key(solver: str, case: str, d: int, settings: dict | None = None, memory: str = "") -> str:
    tag = (settings or {}).get("derivative")
    return f"{solver}-{case}" + (f"-{tag}" if tag else "") + (f"-{memory}" if memory else "") + f"-d{d}"


def table(runs: list[dict], dims: list[int]) -> str:
    head = ("| solver | case | settings | " + " | ".join(f"d = {d} s/step" for d in dims)
            + " | growth d = 100 → 1000 | slope over d ≥ 1000 |\n|---|---|---|" + "---|" * (len(dims) + 2) + "\n")
    rows = []
    for solver, case, settings, why in CONFIGS:
        for memory in MEMORY:
            found = {r["d"]: r for r in runs if r["solver"] == solver and r["case"] == case
                     and r.get("settings", {}) == settings and r.get("allocator", "") == memory}
            if not found:
                continue
            cells = [f"{found[d]['seconds_per_step']:.4f}" if d in found else "–" for d in dims]
            growth = (f"{found[1000]['seconds_per_step'] / found[100]['seconds_per_step']:.1f}×"
                      if 100 in found and 1000 in found else "–")
            label = why + MEMORY[memory]
            rows.append(f"| {solver} | {case} | {label} | " + " | ".join(cells) + f" | {growth} | {slope(found)} |")
    return head + "\n".join(rows) + "\n"


def slope(found: dict) -> str:
    """The least-squares slope of log(seconds per step) against log d over d ≥ 1000 (1 is linear in d)."""
    pts = [(math.log(d), math.log(r["seconds_per_step"])) for d, r in found.items() if d >= 1000]
    if len(pts) < 2:
        return "–"
    mx, my = sum(p[0] for p in pts) / len(pts), sum(p[1] for p in pts) / len(pts)
    return f"{sum((a - mx) * (b - my) for a, b in pts) / sum((a - mx) ** 2 for a, _ in pts):.2f}"


def report(runs: list[dict], out: Path, tiny: bool) -> None:
    dims = sorted({r["d"] for r in runs})
    commands = sorted({r["command"] for r in runs})
    machines = sorted({r["machine"] for r in runs})
    text = (f"# Seconds per training step against the dimension\n\n"
            f"Generated by `python benchmarks/scaling.py --threads 1` from the runs stored in `{out.stem.lower()}/` "
            "beside this file (one JSON file per row and d; `--report-only` rebuilds this file alone). Batch 256 "
            "(interior points; a quarter of that on each condition), the case's default network and settings "
            "otherwise; seconds are training wall time per step on one thread after a warm-up solve. Growth: the "
            "d = 1000 time over the d = 100 time (10× would be linear in d); slope: the least-squares slope of "
            "log(seconds) against log d over the measured d ≥ 1000 (1 is linear in d).\n\n"
            + table(runs, dims)
            + "\nRuns:\n" + "".join(f"- `{c}`\n" for c in commands)
            + "\nMachines: " + "; ".join(machines) + (" (tiny run: not a measurement)" if tiny else "") + ".\n")
    _report.write(out, text)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--dims", type=int, nargs="+", help="dimensions (default 10 100 1000; --tiny: 4 8)")
    ap.add_argument("--steps", type=int, help="timed steps per row (default 10; --tiny: 2)")
    ap.add_argument("--threads", type=int, default=1, help="torch CPU threads (default 1)")
    ap.add_argument("--only", nargs="+", metavar="SOLVER", help="solvers to run (pinn, dgm, deep-bsde)")
    ap.add_argument("--only-derivative", nargs="+", metavar="METHOD",
                    help="rows whose settings name one of these derivative methods (e.g. sdgd; 'default': none named)")
    ap.add_argument("--tiny", action="store_true", help="d = 4, 8 and two steps: checks the script, needs --out")
    ap.add_argument("--report-only", action="store_true", help="rebuild the markdown from the stored runs")
    ap.add_argument("--out", default=str(DEFAULT_OUT), help="the markdown file (default benchmarks/SCALING.md)")
    args = ap.parse_args(argv)
    _report.tiny_needs_out(ap, args, DEFAULT_OUT)
    out = Path(args.out)
    folder = _report.results_folder(out)
    if not args.report_only:
        import torch

        torch.set_num_threads(args.threads)
        dims = args.dims or ([4, 8] if args.tiny else [10, 100, 1000])
        steps = args.steps or (2 if args.tiny else 10)
        for solver, case, settings, _ in CONFIGS:
            if args.only and solver not in args.only:
                continue
            for d in dims:
                if args.only_derivative and settings.get("derivative", "default") not in args.only_derivative:
                    continue
                row = measure(solver, case, settings, d, steps, 256, args.threads)
                prefix = "".join(f"{k}={v} " for k, v in KEEP_PAGES.items()) if row["allocator"] == "keep-pages" else ""
                row.update(command=prefix + _report.command("scaling.py", argv, args.threads), tiny=args.tiny,
                           machine=_report.machine(args.threads), **_report.when())
                _report.store(folder, key(solver, case, d, settings, row["allocator"]), row)
                print(f"{solver:9s} {case:24s} d = {d:5d}: {row['seconds_per_step']:.4f} s/step", flush=True)
    runs = _report.stored(folder)
    if not runs:
        ap.error(f"no stored runs in {folder}; run without --report-only first")
    report(runs, out, args.tiny)
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
