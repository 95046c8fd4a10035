"""Your own system: steady Navier–Stokes (Kovasznay flow, Re = 20) for (u, v, p) with one network of three
outputs; each equation and each condition is its own loss term.

    python examples/own_system.py           # several minutes on one CPU thread
    python examples/own_system.py --quick
"""
import argparse
import math

import torch

import dlpde
from dlpde import PDE, Dirichlet
from dlpde.geometry import Box

ap = argparse.ArgumentParser()
ap.add_argument("--quick", action="store_true")
ap.add_argument("--out", default="kovasznay.h5")
args = ap.parse_args()

nu = 1 / 20
lam = 1 / (2 * nu) - math.sqrt(1 / (4 * nu**2) + 4 * math.pi**2)


def exact(x):  # (n, 3): u, v, p
    e = torch.exp(lam * x[:, 0])
    y = 2 * math.pi * x[:, 1]
    return torch.stack([1 - e * torch.cos(y), lam / (2 * math.pi) * e * torch.sin(y), 0.5 * (1 - e * e)], dim=1)


def navier_stokes(x, q):
    u, v, p = q
    return [u() * u.dx(0) + v() * u.dx(1) + p.dx(0) - nu * u.laplacian(),
            u() * v.dx(0) + v() * v.dx(1) + p.dx(1) - nu * v.laplacian(),
            q.div()]                                           # ∂u/∂x + ∂v/∂y


problem = PDE(Box([-0.5, -0.5], [1.0, 1.5]), navier_stokes,
              [Dirichlet(lambda x: exact(x)[:, 0], component="u"), Dirichlet(lambda x: exact(x)[:, 1], component="v"),
               Dirichlet(lambda x: exact(x)[:, 2], component="p", on="right")],
              outputs=("u", "v", "p"), exact=exact)
budget = dict(steps=20, batch=128, width=16, lbfgs_steps=0) if args.quick else \
    dict(steps=3000, width=50, depth=4, boundary_weight=10.0, lbfgs_steps=1000)
sol = dlpde.solve(problem, "pinn", **budget)
print(sol.summary())
print({k: f"{v:.2e}" for k, v in sol.metrics.items() if k.startswith("rel_l2_error_")})
sol.save(args.out)
