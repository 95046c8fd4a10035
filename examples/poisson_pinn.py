"""Poisson in 10 dimensions by a PINN with the forward Laplacian, then saved and reloaded.

    python examples/poisson_pinn.py            # about a minute on a laptop CPU
    python examples/poisson_pinn.py --quick    # a few steps (used by the tests)
"""
import argparse
import logging

import torch

import dlpde

ap = argparse.ArgumentParser()
ap.add_argument("--quick", action="store_true")
ap.add_argument("--out", default="poisson-sin-10d.h5")
args = ap.parse_args()
logging.basicConfig(level=logging.INFO)

problem = dlpde.problems.make("poisson-sin-Nd", dim=10)  # -Δu = π² Σ sin(πx_i) on (0,1)^10, u = Σ sin(πx_i)
budget = dict(steps=20, batch=128, width=16) if args.quick else dict(steps=2000)
sol = dlpde.solve(problem, "pinn", seed=0, **budget)
print(sol.summary())

x = torch.rand(5, 10, dtype=torch.float64)
print("u(x)      ", sol(x).numpy().round(4))
print("exact u(x)", problem.exact(x).numpy().round(4))

sol.save(args.out)
assert torch.equal(dlpde.load(args.out)(x), sol(x))
