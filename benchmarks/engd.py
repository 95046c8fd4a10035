"""ENGD against Adam and Adam + L-BFGS at about the same training time, on one problem, network and point set.

    python benchmarks/engd.py --threads 1                  # prints a markdown table (about a minute)
    python benchmarks/engd.py --threads 1 --out ENGD.md    # and writes it
    python benchmarks/engd.py --tiny --out /tmp/ENGD.md    # a few steps: checks the script, not the numbers

poisson-2d, PINN, 2 × 16 tanh, 300 interior + 100 points per condition, float64, seed 0. ENGD: 40 steps on fixed
points; Adam: 4000 steps (lr 3e-3, cosine, fresh points each step); Adam + L-BFGS: 2000 + 1000. No file of the
repository holds its output: benchmarks/optimizers.py (OPTIMIZERS.md) compares the same optimizers with each case's
own settings.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent))

import _report  # noqa: E402

import dlpde  # noqa: E402

RUNS = {
    "ENGD, 40 steps (fixed points)": dict(steps=40, optimizer="engd", resample_every=40, lbfgs_steps=0),
    "Adam, 4000 steps": dict(steps=4000, lbfgs_steps=0, lr=3e-3),
    "Adam 2000 + L-BFGS 1000": dict(steps=2000, lbfgs_steps=1000, lr=3e-3),
}
TINY = {"ENGD, 40 steps (fixed points)": dict(steps=2), "Adam, 4000 steps": dict(steps=10),
        "Adam 2000 + L-BFGS 1000": dict(steps=5, lbfgs_steps=3)}
COMMON = dict(batch=300, boundary_batch=100, width=16, depth=2, dtype="float64", progress=False, eval_points=2000,
              seed=0, log_every=20, eval_every=10**6)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--threads", type=int, default=1, help="torch CPU threads (default 1)")
    ap.add_argument("--out", help="markdown file to write the table to (default: print only)")
    ap.add_argument("--tiny", action="store_true", help="a few steps per optimizer (the step counts in the row "
                                                        "names do not hold then)")
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    lines = ["| optimizer | rel. L2 error | training s |", "|---|---|---|"]
    for name, kw in RUNS.items():
        kw = {**kw, **(TINY[name] if args.tiny else {})}
        sol = dlpde.solve("poisson-2d", "pinn", threads=args.threads, **kw, **COMMON)
        lines.append(f"| {name} | {sol.metrics['rel_l2_error']:.2e} | {sol.wall_time_s:.1f} |")
        print(lines[-1], flush=True)
    if args.out:
        head = ["# ENGD against Adam at about equal time (poisson-2d)", "",
                f"`{_report.command('engd.py', argv, args.threads)}` on {_report.machine(args.threads)}, "
                f"{_report.when()['measured']}" + (" (`--tiny`: checks the script, not the numbers)" if args.tiny
                                                   else "") + ".", ""]
        print(f"wrote {_report.write(Path(args.out), chr(10).join(head + lines))}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
