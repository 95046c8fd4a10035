"""Deep BSDE on the d = 100 cases of REFERENCES.md §2: training seconds and relative error of u(0, x₀).

    python benchmarks/bsde.py                      # every case with its tuned defaults, writes benchmarks/BSDE.md
    python benchmarks/bsde.py hjb-lq allen-cahn    # some cases
    python benchmarks/bsde.py --seeds 0 1 2        # several seeds (one row each)
    python benchmarks/bsde.py --threads 1 --set steps=800 hjb-lq

Targets (issue 4): hjb-lq within 0.2 % of 4.590162 in ≤ 15 s of training; allen-cahn within 0.3 % of 0.052781 in
≤ 30 s; black-scholes-default-risk within 0.5 % of 57.300 in ≤ 60 s; burgers-type, quadratic-gradient and
reaction-diffusion within 0.5 % of their exact values. Seconds are the Trainer's wall time (training only, not the
reference or the start-value simulation); they depend on the machine's load.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path

import torch

import dlpde

CASES = ["hjb-lq", "allen-cahn", "black-scholes-default-risk", "burgers-type", "quadratic-gradient",
         "reaction-diffusion", "black-scholes-diff-rate"]
TARGETS = {"hjb-lq": (0.002, 15.0), "allen-cahn": (0.003, 30.0), "black-scholes-default-risk": (0.005, 60.0),
           "burgers-type": (0.005, None), "quadratic-gradient": (0.005, None), "reaction-diffusion": (0.005, None),
           "black-scholes-diff-rate": (None, None)}


def _value(text: str):
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return text


def run(case: str, seed: int, overrides: dict) -> dict:
    sol = dlpde.solve(case, "deep-bsde", seed=seed, progress=False, **overrides)
    case_obj = dlpde.problems.get_case(case)
    d = {**case_obj.defaults.get("deep-bsde", {}), **overrides}
    ref = sol.extra.get("u0_reference")
    err = sol.metrics.get("rel_error_u0")
    tol, limit = TARGETS.get(case, (None, None))
    ok = (err is not None and tol is not None and err <= tol) and (limit is None or sol.wall_time_s <= limit)
    return {"case": case, "dim": sol.dim, "seed": seed, "steps": sol.steps_done, "batch": d.get("batch"),
            "time_steps": d.get("time_steps", 20), "lr": d.get("lr"), "seconds": sol.wall_time_s, "u0": sol.u0,
            "u0_std_last": sol.extra["u0_std_last"], "reference": ref, "rel_error": err,
            "target": ("" if tol is None else f"{100 * tol:.1f} %") + ("" if limit is None else f", ≤ {limit:.0f} s"),
            "met": "n/a" if tol is None else ("yes" if ok else "no"), "status": sol.status}


def table(rows: list[dict]) -> str:
    head = ("| case | d | seed | Adam steps | batch | N | seconds | u(0,x₀) | std last 10 % | reference | rel. error "
            "| target | met |")
    lines = [head, "|" + "---|" * 13]
    for r in rows:
        ref = "n/a" if r["reference"] is None else f"{r['reference']:.6g}"
        err = "n/a" if r["rel_error"] is None else f"{100 * r['rel_error']:.3f} %"
        lines.append(f"| {r['case']} | {r['dim']} | {r['seed']} | {r['steps']} | {r['batch']} | {r['time_steps']} "
                     f"| {r['seconds']:.1f} | {r['u0']:.6g} | {r['u0_std_last']:.2g} | {ref} | {err} | {r['target']} "
                     f"| {r['met']} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("cases", nargs="*", default=CASES)
    ap.add_argument("--seeds", nargs="+", type=int, default=[0])
    ap.add_argument("--threads", type=int, default=None, help="torch threads (default: the machine's default)")
    ap.add_argument("--set", nargs="*", default=[], metavar="NAME=VALUE", help="override settings, e.g. steps=800")
    ap.add_argument("--out", default=str(Path(__file__).with_name("BSDE.md")), help="markdown file ('' for none)")
    args = ap.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    overrides = {k: _value(v) for k, v in (item.split("=", 1) for item in args.set)}
    rows = []
    for case in args.cases:
        for seed in args.seeds:
            rows.append(run(case, seed, overrides))
            print(table(rows[-1:]).splitlines()[-1], flush=True)
    text = table(rows)
    print()
    print(text)
    if args.out:
        load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
        header = (f"# Deep BSDE benchmark (REFERENCES.md §2)\n\nMeasured {time.strftime('%Y-%m-%d %H:%M')} on "
                  f"{platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, torch "
                  f"{torch.__version__}, {torch.get_num_threads()} threads, load average {load:.1f} at the end "
                  f"(other jobs were running: seconds are inflated by the load).\n\n"
                  f"Command: `python benchmarks/bsde.py {' '.join(argv if argv is not None else sys.argv[1:])}`\n\n"
                  "Seconds: training only (the shared Trainer's wall time). std last 10 %: spread of Y₀ over the "
                  "last 10 % of the Adam steps.\n\n")
        Path(args.out).write_text(header + text + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
