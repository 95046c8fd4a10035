"""Milliseconds per PINN training step on poisson-sin-Nd: dlpde against DeepXDE (PyTorch backend).

Same network (4 hidden layers × 64 tanh, Glorot normal), same points (2000 interior + 400 boundary, fixed),
Adam, float32, CPU. DeepXDE runs in a subprocess with DDE_BACKEND=pytorch and computes the Laplacian the way its
documentation does (a sum of ``dde.grad.hessian`` diagonal entries).

    python benchmarks/pinn_step.py --threads 2            # both rows of benchmarks/PINN_STEP.md (a few minutes)
    python benchmarks/pinn_step.py --threads 2 --dims 2   # one row; the other is kept
    python benchmarks/pinn_step.py --report-only          # rebuild PINN_STEP.md from the stored rows
    python benchmarks/pinn_step.py --tiny --out /tmp/PINN_STEP.md   # 3 steps at d = 2, no compile: the script only

The "default path" columns are whole runs through ``dlpde.solve`` with default settings apart from the network and
points (3000 steps at d ≤ 10, 300 above; ``--default-steps``), training wall time including any torch.compile
warm-up, divided by the steps; DeepXDE's ``model.train`` over the same steps, first step included. dlpde runs
twice in a fresh process each: with a new torch.compile cache folder ("new": the graph was never compiled on this
machine; torch's one-time instruction-set probes are built first, untimed) and again with that folder ("cached").

Each dimension's row is stored in ``benchmarks/pinn_step/d<d>.json`` and the markdown is rebuilt from all of them.
Both libraries run on ``--threads`` CPU threads (default: torch's default, written into the file and its command).
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent))

import _report  # noqa: E402

OUT = HERE / "PINN_STEP.md"

DEEPXDE_SCRIPT = r"""
import json, math, os, sys, time
os.environ["DDE_BACKEND"] = "pytorch"
import contextlib, io
with contextlib.redirect_stdout(io.StringIO()):
    import deepxde as dde
import torch
d, steps, warmup = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
torch.set_num_threads(int(sys.argv[4]))
def pde(x, y):
    lap = sum(dde.grad.hessian(y, x, i=i, j=i) for i in range(d))
    return -lap - math.pi**2 * torch.sin(math.pi * x).sum(dim=1, keepdim=True)
def exact(x):
    import numpy as np
    return np.sin(np.pi * x).sum(axis=1, keepdims=True)
geom = dde.geometry.Hypercube([0.0] * d, [1.0] * d)
bc = dde.icbc.DirichletBC(geom, exact, lambda x, on: on)
data = dde.data.PDE(geom, pde, bc, num_domain=2000, num_boundary=400, train_distribution="pseudo")
net = dde.nn.FNN([d] + [64] * 4 + [1], "tanh", "Glorot normal")
model = dde.Model(data, net)
with contextlib.redirect_stdout(io.StringIO()):
    model.compile("adam", lr=1e-3)
    if warmup:
        model.train(iterations=warmup, display_every=10**9)
    t = time.perf_counter()
    model.train(iterations=steps, display_every=10**9)
    dt = time.perf_counter() - t
print(json.dumps({"ms_per_step": 1000 * dt / steps}))
"""


def time_dlpde(d: int, steps: int, warmup: int, compile_: bool) -> float:
    import torch

    import dlpde
    from dlpde.settings import SolveSettings
    from dlpde.solvers import get_solver
    from dlpde.solvers.base import init_model

    problem = dlpde.problems.make("poisson-sin-Nd", dim=d)
    s = SolveSettings(batch=2000, boundary_batch=400, width=64, depth=4, activation="tanh", lr=1e-3,
                      options={"compile": compile_})
    solver = get_solver("pinn")
    model = init_model(lambda: solver.build_model(problem, s), 0)
    objective = solver.objective(problem, model, s)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)

    def step(i):
        opt.zero_grad(set_to_none=True)
        loss, _ = objective.loss(i, resample=(i == 0))
        loss.backward()
        opt.step()

    for i in range(warmup):
        step(i)
    t = time.perf_counter()
    for i in range(steps):
        step(warmup + i)
    return 1000 * (time.perf_counter() - t) / steps


DEFAULT_PATH_SCRIPT = r"""
import json, logging, sys
import torch
d, steps, threads = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
torch.set_num_threads(threads)
torch.compile(lambda x: torch.tanh(2 * x) + 1)(torch.ones(8))  # torch's one-time ISA probes, not timed
import dlpde
said = []
class Keep(logging.Handler):
    def emit(self, record):
        said.append(record.getMessage())
logging.getLogger("dlpde").addHandler(Keep())
logging.getLogger("dlpde").setLevel(logging.INFO)
sol = dlpde.solve("poisson-sin-Nd", "pinn", dim=d, steps=steps, lbfgs_steps=0, batch=2000, boundary_batch=400,
                  width=64, depth=4, activation="tanh", lr=1e-3, progress=False)
choice = next((m.split(": ", 1)[1] for m in said if "torch.compile" in m), "?")
print(json.dumps({"ms_per_step": 1000 * sol.wall_time_s / steps, "compile": choice}))
"""


def time_default_path(d: int, steps: int, threads: int, cache: str) -> dict:
    """A whole ``dlpde.solve`` run with default settings in a fresh process, torch.compile's cache in ``cache``."""
    env = dict(os.environ, TORCHINDUCTOR_CACHE_DIR=cache, OMP_NUM_THREADS=str(threads))
    out = subprocess.run([sys.executable, "-c", DEFAULT_PATH_SCRIPT, str(d), str(steps), str(threads)],
                         capture_output=True, text=True, env=env, timeout=7200)
    if out.returncode != 0:
        raise RuntimeError(f"dlpde default-path run failed: {out.stderr[-2000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def default_path(d: int, steps: int, threads: int) -> dict:
    """The default-path columns: dlpde with a new and with a cached compilation, DeepXDE over the same steps."""
    with tempfile.TemporaryDirectory(prefix="dlpde-inductor-") as cache:
        new = time_default_path(d, steps, threads, cache)
        cached = time_default_path(d, steps, threads, cache)
    dde = time_deepxde(d, steps, 0, threads)
    print(f"d = {d}, {steps} steps through dlpde.solve: DeepXDE {dde:.1f} ms/step, dlpde {new['ms_per_step']:.1f} "
          f"(new compile) / {cached['ms_per_step']:.1f} (cached) ms/step; {new['compile']}", flush=True)
    return {"steps": steps, "deepxde_ms": dde, "new_ms": new["ms_per_step"], "cached_ms": cached["ms_per_step"],
            "choice": new["compile"]}


def time_deepxde(d: int, steps: int, warmup: int, threads: int) -> float:
    env = dict(os.environ, DDE_BACKEND="pytorch")
    out = subprocess.run([sys.executable, "-c", DEEPXDE_SCRIPT, str(d), str(steps), str(warmup), str(threads)],
                         capture_output=True, text=True, env=env, timeout=3600)
    if out.returncode != 0:
        raise RuntimeError(f"deepxde run failed: {out.stderr[-2000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])["ms_per_step"]


HEAD = ("| d | DeepXDE ms/step | dlpde eager ms/step | dlpde compiled ms/step | speed-up eager | speed-up compiled |\n"
        "|---|---|---|---|---|---|")
HEAD_DEFAULT = ("| d | steps | DeepXDE ms/step | dlpde default, new compile ms/step | dlpde default, cached ms/step | "
                "speed-up new | speed-up cached | dlpde's choice |\n|---|---|---|---|---|---|---|---|")


def _ms(v) -> str:
    return "–" if v is None else f"{v:.1f}"


def _x(v) -> str:
    return "–" if v is None else f"{v:.2f}×"


def write(out: Path) -> Path:
    rows = sorted(_report.stored(_report.results_folder(out)), key=lambda r: r["d"])
    threads = "/".join(sorted({str(r["threads"]) for r in rows})) or "?"
    torch_v = ", ".join(sorted({r["torch"] for r in rows})) or "?"
    lines = [f"PINN step, poisson-sin-Nd, 4×64 tanh, 2000+400 points, Adam, float32, CPU ({threads} threads), "
             f"torch {torch_v}", "", HEAD]
    lines += [f"| {r['d']} | {_ms(r['deepxde_ms'])} | {_ms(r['eager_ms'])} | {_ms(r['compiled_ms'])} | "
              f"{_x(r['speedup_eager'])} | {_x(r['speedup_compiled'])} |" for r in rows]
    default_rows = [r for r in rows if r.get("default")]
    if default_rows:
        lines += ["", "Default path: whole `dlpde.solve` runs, defaults apart from network and points, training wall "
                  "time (torch.compile warm-up included) / steps, against DeepXDE's `model.train` over the same "
                  "steps:", "", HEAD_DEFAULT]
        for r in default_rows:
            g = r["default"]
            lines.append(f"| {r['d']} | {g['steps']} | {_ms(g['deepxde_ms'])} | {_ms(g['new_ms'])} | "
                         f"{_ms(g['cached_ms'])} | {_x(g['deepxde_ms'] / g['new_ms'])} | "
                         f"{_x(g['deepxde_ms'] / g['cached_ms'])} | {g['choice']} |")
    lines += ["", f"Rows stored in `{_report.results_folder(out).name}/` beside this file (one JSON file per d), "
              "rebuilt by `python benchmarks/pinn_step.py --report-only`. Runs (load average at the start):"]
    groups: dict[tuple, list[str]] = {}
    for r in rows:
        load = "load not recorded" if r.get("load") is None else f"load average {r['load']}"
        groups.setdefault((r["command"], r.get("measured") or "date not recorded", load), []).append(f"d = {r['d']}")
    lines += [f"- `{c}` ({m}, {ld}): {', '.join(ds)}" + (" (`--tiny`: checks the script, not the numbers)"
                                                           if any(r.get("tiny") for r in rows) else "")
              for (c, m, ld), ds in groups.items()]
    return _report.write(out, "\n".join(lines))


def main(argv=None) -> int:
    import torch

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--dims", type=int, nargs="+", default=[2, 100])
    ap.add_argument("--steps", type=int, default=None, help="timed steps (default: 200 at d ≤ 10, 10 above)")
    ap.add_argument("--threads", type=int, help="torch CPU threads for both libraries (default: torch's default)")
    ap.add_argument("--out", default=str(OUT), help="markdown file; the rows are stored in the folder beside it")
    ap.add_argument("--report-only", action="store_true", help="rebuild the markdown from the stored rows")
    ap.add_argument("--tiny", action="store_true", help="d = 2, 3 steps, no torch.compile (needs --out)")
    ap.add_argument("--default-steps", type=int, help="steps of the default-path runs (default: 3000 at d ≤ 10, "
                    "300 above; 0 skips them)")
    args = ap.parse_args(argv)
    _report.tiny_needs_out(ap, args, OUT)
    if args.threads:
        torch.set_num_threads(args.threads)
    threads = torch.get_num_threads()
    out = Path(args.out)
    if args.tiny:
        args.dims, args.steps = [2], args.steps or 3
    command = _report.command("pinn_step.py", argv, threads)
    for d in [] if args.report_only else args.dims:
        load = round(os.getloadavg()[0], 1) if hasattr(os, "getloadavg") else None
        steps = args.steps or (200 if d <= 10 else 10)
        warmup = 1 if args.tiny else max(3, steps // 10)
        eager = time_dlpde(d, steps, warmup, False)
        compiled = None if args.tiny else time_dlpde(d, steps, warmup, True)
        dde_ms = time_deepxde(d, steps, warmup, threads)
        n = 3 if args.tiny else (args.default_steps if args.default_steps is not None else (3000 if d <= 10 else 300))
        default = default_path(d, n, threads) if n else None
        r = {"default": default, "d": d, "deepxde_ms": dde_ms, "eager_ms": eager, "compiled_ms": compiled,
             "speedup_eager": dde_ms / eager, "speedup_compiled": None if compiled is None else dde_ms / compiled,
             "steps": steps, "warmup": warmup, "threads": threads, "torch": torch.__version__, "command": command,
             "machine": _report.machine(threads), "tiny": args.tiny, "measured": _report.when()["measured"],
             "load": load}
        _report.store(_report.results_folder(out), f"d{d}", r)
        print(f"d = {d}: DeepXDE {dde_ms:.1f} ms, dlpde eager {eager:.1f} ms, compiled {_ms(compiled)} ms", flush=True)
    print(f"wrote {write(out)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
