"""Milliseconds per PINN training step on poisson-sin-Nd: dlpde against DeepXDE (PyTorch backend).

Same network (4 hidden layers × 64 tanh, Glorot normal), same points (2000 interior + 400 boundary, fixed),
Adam, float32, CPU. DeepXDE runs in a subprocess with DDE_BACKEND=pytorch and computes the Laplacian the way its
documentation does (a sum of ``dde.grad.hessian`` diagonal entries). Run: ``python benchmarks/pinn_step.py``.
Prints a markdown table; ``--out FILE`` also writes it.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time

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


def time_deepxde(d: int, steps: int, warmup: int, threads: int) -> float:
    env = dict(os.environ, DDE_BACKEND="pytorch")
    out = subprocess.run([sys.executable, "-c", DEEPXDE_SCRIPT, str(d), str(steps), str(warmup), str(threads)],
                         capture_output=True, text=True, env=env, timeout=3600)
    if out.returncode != 0:
        raise RuntimeError(f"deepxde run failed: {out.stderr[-2000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])["ms_per_step"]


def main() -> None:
    import torch

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--dims", type=int, nargs="+", default=[2, 100])
    ap.add_argument("--steps", type=int, default=None, help="timed steps (default: 200 at d ≤ 10, 10 above)")
    ap.add_argument("--out")
    args = ap.parse_args()
    threads = torch.get_num_threads()
    rows = []
    for d in args.dims:
        steps = args.steps or (200 if d <= 10 else 10)
        warmup = max(3, steps // 10)
        eager = time_dlpde(d, steps, warmup, False)
        compiled = time_dlpde(d, steps, warmup, True)
        dde_ms = time_deepxde(d, steps, warmup, threads)
        rows.append((d, dde_ms, eager, compiled))
    lines = [f"PINN step, poisson-sin-Nd, 4×64 tanh, 2000+400 points, Adam, float32, CPU ({threads} threads), "
             f"torch {torch.__version__}", "",
             "| d | DeepXDE ms/step | dlpde eager ms/step | dlpde compiled ms/step | speed-up eager | speed-up compiled |",
             "|---|---|---|---|---|---|"]
    for d, a, b, c in rows:
        lines.append(f"| {d} | {a:.1f} | {b:.1f} | {c:.1f} | {a / b:.2f}× | {a / c:.2f}× |")
    text = "\n".join(lines)
    print(text)
    if args.out:
        with open(args.out, "w") as f:
            f.write(text + "\n")


if __name__ == "__main__":
    main()
