"""Your own time-dependent PDE: the heat equation u_t = u_xx + f on [−1, 1] × [0, 1] with boundary and initial
data. Points are (x, t): time is the last column; the solution is called as sol(t, x).

    python examples/own_heat.py           # a few minutes on one CPU thread
    python examples/own_heat.py --quick
"""
import argparse
import math

import torch

import dlpde
from dlpde import PDE, Dirichlet, Initial
from dlpde.geometry import Interval

ap = argparse.ArgumentParser()
ap.add_argument("--quick", action="store_true")
ap.add_argument("--out", default="heat.h5")
args = ap.parse_args()

pi = math.pi
source = lambda x: -torch.exp(-x[:, 1]) * (1 - pi**2) * torch.sin(pi * x[:, 0])  # noqa: E731
problem = PDE(Interval(-1, 1), lambda x, u: u.dt() - u.dxx(0) - source(x),
              [Dirichlet(0.0), Initial(lambda x: torch.sin(pi * x[:, 0]))], time=(0, 1),
              exact=lambda x: torch.exp(-x[:, 1]) * torch.sin(pi * x[:, 0]))
budget = dict(steps=20, batch=128, width=16, lbfgs_steps=0) if args.quick else \
    dict(steps=2000, width=32, depth=3, boundary_weight=10.0, lbfgs_steps=500)
sol = dlpde.solve(problem, "pinn", **budget)
print(sol.summary())
print("u(t=0.5, x=0.5) =", float(sol(0.5, torch.tensor([[0.5]]))), " exact", math.exp(-0.5))
sol.save(args.out)
