"""A CPU solve with glibc keeping freed memory (dlpde's default, ``keep_freed_memory``) against glibc's defaults.

    python benchmarks/keep_memory.py --threads 1              # → benchmarks/KEEP_MEMORY.md (about 20 minutes)
    python benchmarks/keep_memory.py --threads 1 --only deep-bsde
    python benchmarks/keep_memory.py --tiny --out /tmp/KEEP_MEMORY.md

Each measurement is one ``dlpde.solve`` in a fresh process, so that each starts from glibc's own state and its
peak memory is its own: seconds per training step (training wall time / steps, after a warm-up solve of two
steps in the same process) and the process's peak resident memory. The two settings alternate, ``--rounds``
times each, and the table gives the medians, so that a machine that slows down or speeds up during the run
weighs on both alike. Why the setting exists: ``dlpde/training/allocator.py``.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent))

import _report  # noqa: E402
from dlpde.training.allocator import USER_SETTINGS  # noqa: E402

OUT = HERE / "KEEP_MEMORY.md"
DEEPXDE_NET = dict(batch=2000, boundary_batch=400, width=64, depth=4, activation="tanh", lr=1e-3)
# (solver, case, d, steps, settings, what the row is)
CASES = [
    ("pinn", "poisson-sin-Nd", 2, 100, {**DEEPXDE_NET, "compile": False}, "PINN_STEP.md's network and points, eager"),
    ("pinn", "poisson-sin-Nd", 100, 20, {**DEEPXDE_NET, "compile": False}, "PINN_STEP.md's network and points, eager"),
    ("pinn", "poisson-sin-Nd", 100, 20, {**DEEPXDE_NET, "compile": True},
     "PINN_STEP.md's network and points, torch.compile (cached after the warm-up)"),
    ("pinn", "poisson-inseparable-Nd", 10_000, 5, {"batch": 256, "boundary_batch": 64}, "SCALING.md's batch"),
    ("dgm", "hjb-lq", 10_000, 5, {"batch": 256, "boundary_batch": 64}, "SCALING.md's batch"),
    ("deep-bsde", "hjb-lq", 10_000, 5, {"batch": 256, "y0_refit_paths": 0}, "SCALING.md's batch, no Y₀ refit"),
    ("deep-bsde", "hjb-lq", 100_000, 3, {"batch": 256, "y0_refit_paths": 0}, "SCALING.md's batch, no Y₀ refit"),
]
TINY = [("pinn", "poisson-sin-Nd", 2, 2, {"batch": 64, "boundary_batch": 16, "compile": False}, "tiny"),
        ("deep-bsde", "hjb-lq", 4, 2, {"batch": 16, "y0_refit_paths": 0}, "tiny")]

RUN = r"""
import json, resource, sys
import torch
solver, case, d, steps, threads, keep, settings = json.loads(sys.argv[1])
torch.set_num_threads(threads)
import dlpde
common = dict(dim=d, lbfgs_steps=0, progress=False, threads=threads, eval_points=100, log_every=steps,
              eval_every=10 * steps, keep_freed_memory=keep, **settings)
dlpde.solve(case, solver, steps=2, **common)
sol = dlpde.solve(case, solver, steps=steps, **common)
print(json.dumps({"seconds_per_step": sol.wall_time_s / steps, "status": sol.status,
                  "peak_gb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20}))
"""


def run_once(solver: str, case: str, d: int, steps: int, settings: dict, threads: int, keep: bool) -> dict:
    env = dict(os.environ, OMP_NUM_THREADS=str(threads))
    for k in USER_SETTINGS:
        env.pop(k, None)  # glibc's defaults unless dlpde changes them (with one of these set, dlpde leaves glibc be)
    out = subprocess.run([sys.executable, "-c", RUN, json.dumps([solver, case, d, steps, threads, keep, settings])],
                         capture_output=True, text=True, env=env, timeout=7200)
    if out.returncode != 0:
        raise RuntimeError(f"{solver} {case} d = {d} failed: {out.stderr[-2000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def measure(solver: str, case: str, d: int, steps: int, settings: dict, threads: int, rounds: int) -> dict:
    runs: dict[bool, list[dict]] = {True: [], False: []}
    for r in range(rounds):
        for keep in ((False, True) if r % 2 else (True, False)):
            runs[keep].append(run_once(solver, case, d, steps, settings, threads, keep))
    med = {keep: {k: statistics.median(x[k] for x in rs) for k in ("seconds_per_step", "peak_gb")}
           for keep, rs in runs.items()}
    return {"solver": solver, "case": case, "d": d, "steps": steps, "settings": settings, "rounds": rounds,
            "kept": med[True], "glibc": med[False], "runs": {str(k): v for k, v in runs.items()}}


def key(solver: str, case: str, d: int, settings: dict) -> str:
    compiled = "-compiled" if settings.get("compile") is True else ""
    return f"{solver}-{case}{compiled}-d{d}"


def write(out: Path, tiny: bool) -> Path:
    rows = _report.stored(_report.results_folder(out))
    lines = ["| solver | case | d | setting | steps × rounds | glibc's defaults s/step | kept s/step | speed-up | "
             "peak GB, defaults | peak GB, kept |", "|---|---|---|---|---|---|---|---|---|---|"]
    for r in sorted(rows, key=lambda r: (r["solver"], r["case"], r["d"], key(r["solver"], r["case"], r["d"],
                                                                           r["settings"]))):
        g, k = r["glibc"], r["kept"]
        lines.append(f"| {r['solver']} | {r['case']} | {r['d']} | {r['why']} | {r['steps']} × {r['rounds']} | "
                     f"{g['seconds_per_step']:.4f} | {k['seconds_per_step']:.4f} | "
                     f"{g['seconds_per_step'] / k['seconds_per_step']:.2f}× | {g['peak_gb']:.2f} | {k['peak_gb']:.2f} |")
    text = ("# Keeping freed memory (dlpde's default on the CPU under glibc) against glibc's defaults\n\n"
            "Generated by `python benchmarks/keep_memory.py` from the runs stored in `keep_memory/` beside this "
            "file. Each figure is the median over the rounds, every measurement a fresh process (one `dlpde.solve` "
            "of two warm-up steps, then the timed solve); the two settings alternate. Peak GB: the process's peak "
            "resident memory.\n\n" + "\n".join(lines) + "\n\nRuns:\n"
            + "".join(f"- `{c}`\n" for c in sorted({r['command'] for r in rows}))
            + "\nMachines: " + "; ".join(sorted({r["machine"] for r in rows}))
            + (" (tiny run: not a measurement)" if tiny else "") + ".\n")
    return _report.write(out, text)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--threads", type=int, default=1, help="torch CPU threads (default 1)")
    ap.add_argument("--rounds", type=int, default=3, help="measurements of each setting (default 3)")
    ap.add_argument("--only", nargs="+", metavar="SOLVER", help="solvers to run (pinn, dgm, deep-bsde)")
    ap.add_argument("--tiny", action="store_true", help="two tiny cases, one round: checks the script, needs --out")
    ap.add_argument("--report-only", action="store_true", help="rebuild the markdown from the stored runs")
    ap.add_argument("--out", default=str(OUT), help="the markdown file (default benchmarks/KEEP_MEMORY.md)")
    args = ap.parse_args(argv)
    _report.tiny_needs_out(ap, args, OUT)
    out = Path(args.out)
    folder = _report.results_folder(out)
    rounds = 1 if args.tiny else args.rounds
    for solver, case, d, steps, settings, why in [] if args.report_only else (TINY if args.tiny else CASES):
        if args.only and solver not in args.only:
            continue
        row = measure(solver, case, d, steps, settings, args.threads, rounds)
        row.update(why=why, command=_report.command("keep_memory.py", argv, args.threads),
                   machine=_report.machine(args.threads), tiny=args.tiny, **_report.when())
        _report.store(folder, key(solver, case, d, settings), row)
        print(f"{solver:9s} {case:24s} d = {d:6d}: glibc {row['glibc']['seconds_per_step']:.4f} s/step, kept "
              f"{row['kept']['seconds_per_step']:.4f} s/step", flush=True)
    if not _report.stored(folder):
        ap.error(f"no stored runs in {folder}; run without --report-only first")
    print(f"wrote {write(out, args.tiny)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
