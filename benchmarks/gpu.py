"""GPU benchmark: seconds per step, host↔device traffic per step and time to accuracy of each solver family on
its headline case, written to ``benchmarks/GPU.md`` with the GPU's name.

    python benchmarks/gpu.py --budget 80 --only pinn deep-bsde ritz dgm   # the rows of benchmarks/GPU.md (~80 s)
    python benchmarks/gpu.py                 # every family, mfg too; about 4-5 minutes on an H100
    python benchmarks/gpu.py --device cpu --quick --out /tmp/GPU.md   # a dry run of the script itself
    python benchmarks/gpu.py --tiny --out /tmp/GPU.md --only deep-bsde # the shortest dry run (CPU, a few steps)

Without a CUDA GPU (and without ``--device cpu`` or ``--tiny``) it prints a message, writes nothing and exits 0.
The file names the command that wrote it, without ``--out`` (where the file went is not part of the measurement;
on a machine whose files come back from a folder of its own, add ``--out FOLDER/GPU.md``).

Families and cases (each only if registered in ``dlpde.solvers.SOLVERS`` / ``dlpde.problems.CASES`` when the
script runs, the first case the solver accepts): pinn on poisson-100d; ritz, dgm and deep-bsde on hjb-lq (d = 100;
ritz refuses time-dependent problems and falls back to poisson-100d); mfg on ot-gaussian. Each family gets:
  * s/step: the wall time between two log points (both read after the device finished), after a warm-up run;
  * traffic: host→device and device→host copies and synchronising CUDA calls per step, from ``torch.profiler``
    (and ``torch.cuda.set_sync_debug_mode``) over runs of S and 2S steps: the difference divided by S, so set-up
    and the final evaluation cancel (one log point per S steps remains, hence a few hundredths per step);
  * time to accuracy: one run within the family's share of the time budget, evaluated every ~1/25 of its steps;
    the wall time (``seconds`` in the history, which includes the earlier evaluations) at which the relative error
    (the first ``rel_*`` column of the history) first falls to 1e-1 and to 1e-2, and the last error;
  * float64: a few steps in float64 (status).
Settings are the case's defaults (``dlpde.problems.CASES[case].defaults``) with the steps changed; float32.
"""
from __future__ import annotations

import argparse
import datetime
import math
import sys
import time
import traceback
import warnings
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _report  # noqa: E402  (standard library only)

FAMILIES = [("pinn", ["poisson-100d"]), ("ritz", ["hjb-lq", "poisson-100d"]), ("dgm", ["hjb-lq"]),
            ("deep-bsde", ["hjb-lq"]), ("mfg", ["ot-gaussian"])]
HEADLINE_DIM = {"poisson-100d": 100, "hjb-lq": 100}
QUICK = dict(batch=64, boundary_batch=32, width=16, depth=2, eval_points=500)
OUT = Path(__file__).resolve().parent / "GPU.md"
TINY_STEPS = 4  # --tiny: steps of each timing, traffic and time-to-accuracy run


def solve(solver: str, case: str, device: str, quick: bool, **kw):
    import dlpde
    from dlpde.problems import CASES

    from dlpde.solvers import SOLVERS

    dim = HEADLINE_DIM.get(case) if CASES[case].default_dim is not None else None
    extra = {k: v for k, v in QUICK.items() if k not in SOLVERS[solver].unused_settings} if quick else {}
    extra.update(kw)
    return dlpde.solve(case, solver, dim=dim, device=device, progress=False, **extra)


def pick_case(solver: str, candidates: list[str]) -> tuple[str | None, str]:
    from dlpde.problems import CASES, make
    from dlpde.solvers import SOLVERS

    reasons = []
    for case in candidates:
        if case not in CASES:
            reasons.append(f"{case} not registered")
            continue
        dim = HEADLINE_DIM.get(case) if CASES[case].default_dim is not None else None
        why = SOLVERS[solver].refusal(make(case, dim))
        if why:
            reasons.append(why)
            continue
        return case, ""
    return None, "; ".join(reasons)


def seconds_per_step(solver, case, device, quick, share: float, tiny: bool = False) -> float:
    """Wall time per step between two log points, after a warm-up run; the timed run takes ~15% of ``share``."""
    sol = solve(solver, case, device, quick, steps=4, log_every=2, eval_every=10**6)  # warm-up
    rows = sol.history.rows
    rough = max((rows[-1]["seconds"] - rows[0]["seconds"]) / 2, 1e-5) if len(rows) >= 2 else 1.0
    n = TINY_STEPS if tiny else 2 * max(2, min(125, int(min(4.0, 0.15 * share) / rough) // 2))
    sol = solve(solver, case, device, quick, steps=n, log_every=n // 2, eval_every=10**6)
    rows = [r for r in sol.history.rows if r.get("phase") == "adam"]
    if sol.status != "ok" or len(rows) < 2:
        raise RuntimeError(f"timing run ended with status {sol.status}: {sol.message}")
    return (rows[-1]["seconds"] - rows[-2]["seconds"]) / (rows[-1]["step"] - rows[-2]["step"])


def traffic(solver, case, device, quick, s: int = 10) -> dict[str, float]:
    """Host↔device copies and synchronising calls per step (difference of runs of s and 2s steps)."""
    import torch
    from torch.profiler import ProfilerActivity, profile

    def count(steps):
        acts = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if device.startswith("cuda") else [])
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            if device.startswith("cuda"):
                torch.cuda.set_sync_debug_mode("warn")
            try:
                with profile(activities=acts) as prof:
                    solve(solver, case, device, quick, steps=steps, log_every=s, eval_every=10**6)
            finally:
                if device.startswith("cuda"):
                    torch.cuda.set_sync_debug_mode(0)
        c = {"htod": 0, "dtoh": 0, "sync": 0}
        for e in prof.key_averages():
            name = e.key
            if "Memcpy HtoD" in name:
                c["htod"] += e.count
            elif "Memcpy DtoH" in name:
                c["dtoh"] += e.count
            elif name in ("cudaStreamSynchronize", "cudaDeviceSynchronize", "cudaEventSynchronize"):
                c["sync"] += e.count
        sync_msgs = [str(w.message) for w in caught if "synchroniz" in str(w.message)]
        return c, sync_msgs

    c1, _ = count(s)
    c2, msgs = count(2 * s)
    out = {k: (c2[k] - c1[k]) / s for k in c1}
    out["sync_sites"] = sorted({m.split("\n")[0][:120] for m in msgs})[:3]
    return out


def time_to_accuracy(solver, case, device, quick, per_step: float, budget: float, tiny: bool = False) -> dict:
    from dlpde.problems import CASES

    defaults = CASES[case].defaults
    default_steps = (defaults.get(solver, {}) if isinstance(defaults.get(solver), dict) else {}).get(
        "steps", defaults.get("steps", 2000))
    steps = TINY_STEPS if tiny else max(10, min(int(default_steps), int(budget / max(per_step, 1e-6))))
    every = max(1, steps // 25)
    sol = solve(solver, case, device, quick, steps=steps, log_every=every, eval_every=every, lbfgs_steps=0)
    rows = sol.history.rows
    metric = next((k for r in rows for k in r if k.startswith("rel_")), None)
    out = {"steps": steps, "status": sol.status, "metric": metric or "n/a", "wall": sol.wall_time_s}
    for target in (1e-1, 1e-2):
        hit = next((r["seconds"] for r in rows if metric and math.isfinite(r.get(metric, math.nan))
                    and r[metric] <= target), None)
        out[f"t{target:g}"] = hit
    results = {k: v for k, v in {**sol.extra, **sol.metrics}.items() if isinstance(v, float)}
    if metric is None:  # no error in the history: the solution's own final error, if it reports one
        metric = next((k for k in sorted(results) if k.startswith("rel_")), None)
        out["metric"] = metric or "n/a"
    finals = [r[metric] for r in rows if metric and metric in r]
    final = results.get(metric) if metric else None
    out["final"] = final if final is not None else (finals[-1] if finals else None)
    out["dim"] = sol.dim
    return out


def fmt(v, spec=".3g", unit=""):
    if v is None:
        return "—"
    if isinstance(v, float) and not math.isfinite(v):
        return str(v)
    return f"{v:{spec}}{unit}"


def write(out: Path, header: list[str], rows: list[str], notes: list[str]) -> None:
    table = ["| solver | case | d | s/step (float32) | HtoD / step | DtoH / step | syncs / step | "
             "time to rel ≤ 0.1 | "
             "time to rel ≤ 0.01 | last error | steps run | float64 |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|"]
    _report.write(out, "\n".join(header + [""] + table + rows + [""] + notes))


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default=str(OUT), help="markdown file (default benchmarks/GPU.md)")
    ap.add_argument("--budget", type=float, default=240.0, help="seconds of training in all (default 240)")
    ap.add_argument("--device", default="cuda", help="cuda (default) or cpu for a dry run of the script")
    ap.add_argument("--quick", action="store_true", help="small networks and batches (dry runs)")
    ap.add_argument("--tiny", action="store_true", help=f"--device cpu --quick with {TINY_STEPS} steps per run: "
                                                        "checks the script, not the GPU (needs --out)")
    ap.add_argument("--only", nargs="*", help="solver names to run (default: every family)")
    args = ap.parse_args(argv)
    if args.tiny:
        args.device, args.quick = "cpu", True
    if Path(args.out).resolve() == OUT.resolve() and not args.device.startswith("cuda"):
        ap.error("a CPU dry run measures no GPU: give --out FILE (the committed GPU.md stays as it is)")

    import torch

    if args.device.startswith("cuda") and not torch.cuda.is_available():
        print("benchmarks/gpu.py: no CUDA GPU is visible to torch, so there is nothing to measure; skipped "
              "(use --device cpu or --tiny for a dry run of the script)")
        return 0
    try:
        import dlpde
    except ImportError:  # run from a checkout without installing: the repository root holds the package
        sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
        import dlpde
    from dlpde.solvers import SOLVERS

    start = time.perf_counter()
    if args.device.startswith("cuda"):
        props = torch.cuda.get_device_properties(torch.device(args.device))
        gpu = f"{props.name} ({props.total_memory / 2**30:.0f} GiB), CUDA {torch.version.cuda}"
    else:
        gpu = "CPU dry run (no GPU)"
    header = [f"# GPU benchmark: {gpu}", "",
              f"`{_report.command('gpu.py', argv)}` on "
              f"{datetime.date.today().isoformat()}, torch {torch.__version__}, dlpde {dlpde.__version__}; "
              "case defaults (batch, network) with the steps changed; times are wall-clock seconds including "
              "the periodic evaluation (see the script's docstring for what each column measures)."
              + (" `--tiny`: checks the script, not the numbers." if args.tiny else "")]
    families = [(s, c) for s, c in FAMILIES if args.only is None or s in args.only]
    runnable = [(s, c) for s, c in families if s in SOLVERS]
    rows, notes = [], []
    for s, _ in families:
        if s not in SOLVERS:
            notes.append(f"- {s}: not registered in dlpde.solvers.SOLVERS when this ran; skipped.")
    for i, (solver, candidates) in enumerate(runnable):
        case, why = pick_case(solver, candidates)
        if case is None:
            notes.append(f"- {solver}: no headline case it accepts ({why}); skipped.")
            continue
        if case != candidates[0]:
            notes.append(f"- {solver}: {candidates[0]} refused or missing, measured on {case} instead.")
        remaining = args.budget - (time.perf_counter() - start)
        share = remaining / (len(runnable) - i)
        print(f"[{time.perf_counter() - start:6.1f}s] {solver} on {case} (share {share:.0f}s)", flush=True)
        t0 = time.perf_counter()
        try:
            per_step = seconds_per_step(solver, case, args.device, args.quick, share, args.tiny)
            moved = traffic(solver, case, args.device, args.quick,
                            s=2 if args.tiny else 4 if 12 * per_step > 0.15 * share else 10)
            left = share - (time.perf_counter() - t0)
            tta = time_to_accuracy(solver, case, args.device, args.quick, per_step, max(left * 0.75, 5 * per_step),
                                   args.tiny)
            f64 = solve(solver, case, args.device, args.quick, steps=3, log_every=3, eval_every=10**6,
                        dtype="float64", lbfgs_steps=0).status
            d = tta["dim"]
            rows.append(f"| {solver} | {case} | {d} | {fmt(per_step, '.3e')} | {fmt(moved['htod'], '.2f')} | "
                        f"{fmt(moved['dtoh'], '.2f')} | {fmt(moved['sync'], '.2f')} | "
                        f"{fmt(tta['t0.1'], '.1f', ' s')} | "
                        f"{fmt(tta['t0.01'], '.1f', ' s')} | {fmt(tta['final'], '.2e')} ({tta['metric']}) | "
                        f"{tta['steps']} ({tta['status']}) | {f64} |")
            if moved["sync_sites"]:
                notes.append(f"- {solver}: synchronising calls seen: " + "; ".join(moved["sync_sites"]))
        except Exception as e:  # one family's failure must not cost the others' numbers
            rows.append(f"| {solver} | {case} | | failed: {type(e).__name__}: {str(e)[:150]} | | | | | | | | |")
            notes.append(f"- {solver}: {traceback.format_exc().splitlines()[-1][:300]}")
        write(Path(args.out), header, rows, notes)  # after each family, so a cut-off run keeps what it measured
    total = time.perf_counter() - start
    notes.append(f"- total running time of the script: {total:.0f} s.")
    write(Path(args.out), header, rows, notes)
    print(Path(args.out).read_text())
    return 0


if __name__ == "__main__":
    sys.exit(main())
