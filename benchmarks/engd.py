"""ENGD against Adam and Adam + L-BFGS at about the same training time, on one problem, network and point set.

    python benchmarks/engd.py        # prints a markdown table (one thread; about a minute)

poisson-2d, PINN, 2 × 16 tanh, 300 interior + 100 points per condition, float64, seed 0. ENGD: 40 steps on fixed
points; Adam: 4000 steps (lr 3e-3, cosine, fresh points each step); Adam + L-BFGS: 2000 + 1000.
"""
import torch

import dlpde

RUNS = {
    "ENGD, 40 steps (fixed points)": dict(steps=40, optimizer="engd", resample_every=40, lbfgs_steps=0),
    "Adam, 4000 steps": dict(steps=4000, lbfgs_steps=0, lr=3e-3),
    "Adam 2000 + L-BFGS 1000": dict(steps=2000, lbfgs_steps=1000, lr=3e-3),
}
COMMON = dict(batch=300, boundary_batch=100, width=16, depth=2, dtype="float64", progress=False, eval_points=2000,
              seed=0, log_every=20, eval_every=10**6)

if __name__ == "__main__":
    torch.set_num_threads(1)
    print("| optimizer | rel. L2 error | training s |\n|---|---|---|")
    for name, kw in RUNS.items():
        sol = dlpde.solve("poisson-2d", "pinn", **kw, **COMMON)
        print(f"| {name} | {sol.metrics['rel_l2_error']:.2e} | {sol.wall_time_s:.1f} |")
