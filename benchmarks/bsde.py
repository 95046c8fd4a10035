"""Deep BSDE on the d = 100 cases of REFERENCES.md §2: training seconds and relative error of u(0, x₀).

    python benchmarks/bsde.py                      # every case with its tuned defaults, writes benchmarks/BSDE.md
    python benchmarks/bsde.py hjb-lq allen-cahn    # some cases
    python benchmarks/bsde.py --seeds 0 1 2        # several seeds (one row each)
    python benchmarks/bsde.py --threads 1 --set steps=800 hjb-lq
    python benchmarks/bsde.py --pinn --threads 1       # PINN on hjb-lq / allen-cahn instead (issue 4, item 7)

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


PINN_RUNS = [("hjb-lq", 1, {}), ("hjb-lq", 2, {}), ("allen-cahn", 1, {}), ("allen-cahn", 2, {}),
             ("hjb-lq", 100, dict(steps=800, batch=256, boundary_batch=128)),
             ("allen-cahn", 100, dict(steps=800, batch=256, boundary_batch=128))]


def pinn_run(case: str, dim: int, settings: dict, seed: int) -> str:
    """PINN on space-time: relative L2 error of the field (d = 1, 2: Gauss–Hermite / finite-difference references on
    points drawn from the law of (X_t, t)) and the relative error of u(0, 0) (every d)."""
    import numpy as np
    from dlpde.reference.allen_cahn import allen_cahn_fd_1d, allen_cahn_fd_2d
    from dlpde.reference.hjb import hjb_lq_value_quadrature

    sol = dlpde.solve(case, "pinn", dim=dim, seed=seed, progress=False, **settings)
    p = sol.problem
    field = "n/a"
    if dim <= 2:
        xt = p.evaluation_points(2000, generator=torch.Generator().manual_seed(5), dtype=torch.float64)
        x, t = xt[:, :dim].numpy(), xt[:, dim].numpy()
        if case == "hjb-lq":
            ref = hjb_lq_value_quadrature(t, x, T=p.T, lam=p.lam)
        else:
            ref = allen_cahn_fd_1d(x[:, 0], t, T=p.T) if dim == 1 else allen_cahn_fd_2d(x, t, T=p.T)
        u = sol(xt[:, dim], xt[:, :dim]).double().numpy()
        field = f"{100 * np.linalg.norm(u - ref) / np.linalg.norm(ref):.3f} %"
    u0, r0 = sol.value_at(t=0.0, x=[0.0] * dim), p.reference_value()
    s = sol.settings
    return (f"| {case} | {dim} | {seed} | {sol.steps_done} | {s.batch} | {s.boundary_batch} | {sol.wall_time_s:.1f} "
            f"| {field} | {u0:.6g} | {r0:.6g} | {100 * abs(u0 - r0) / abs(r0):.3f} % | {sol.status} |")


PINN_HEAD = ("| case | d | seed | Adam steps | batch | terminal batch | seconds | field rel. L2 | u(0,0) | reference "
             "| rel. error u(0,0) | status |\n" + "|" + "---|" * 12)


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
    ap.add_argument("--pinn", action="store_true", help="PINN runs of issue 4 item 7 (writes PINN_PARABOLIC.md)")
    ap.add_argument("--out", default=None, help="markdown file (default BSDE.md or PINN_PARABOLIC.md; '' for none)")
    args = ap.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    if args.out is None:
        args.out = str(Path(__file__).with_name("PINN_PARABOLIC.md" if args.pinn else "BSDE.md"))
    if args.pinn:
        lines = [PINN_HEAD]
        for case, dim, settings in PINN_RUNS:
            for seed in args.seeds:
                lines.append(pinn_run(case, dim, settings, seed))
                print(lines[-1], flush=True)
        text = "\n".join(lines)
        if args.out:
            Path(args.out).write_text(_header("PINN on the parabolic cases (issue 4, item 7)", argv) + text + "\n")
        return 0
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
        Path(args.out).write_text(_header("Deep BSDE benchmark (REFERENCES.md §2)", argv)
                                  + "std last 10 %: spread of Y₀ over the last 10 % of the Adam steps.\n\n"
                                  + text + "\n")
    return 0


def _header(title: str, argv) -> str:
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    return (f"# {title}\n\nMeasured {time.strftime('%Y-%m-%d %H:%M')} on "
            f"{platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, torch {torch.__version__}, "
            f"{torch.get_num_threads()} threads, load average {load:.1f} at the end (other jobs were running: "
            f"seconds are inflated by the load).\n\n"
            f"Command: `python benchmarks/bsde.py {' '.join(argv if argv is not None else sys.argv[1:])}`\n\n"
            "Seconds: training only (the shared Trainer's wall time).\n\n")


if __name__ == "__main__":
    raise SystemExit(main())
