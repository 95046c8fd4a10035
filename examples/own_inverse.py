"""Your own inverse problem: find the diffusivity C in u_t = C u_xx + f from 10 observations of u at t = 1.
C starts at 2 (the truth is 1); it is trained with the network, logged, printed and saved with the solution.

    python examples/own_inverse.py           # a few minutes on one CPU thread
    python examples/own_inverse.py --quick
"""
import argparse
import math

import torch

import dlpde
from dlpde import PDE, Data, Dirichlet, Initial
from dlpde.geometry import Interval

ap = argparse.ArgumentParser()
ap.add_argument("--quick", action="store_true")
ap.add_argument("--out", default="inverse.h5")
args = ap.parse_args()

pi = math.pi
exact = lambda x: torch.exp(-x[:, 1]) * torch.sin(pi * x[:, 0])  # noqa: E731
source = lambda x: -torch.exp(-x[:, 1]) * (1 - pi**2) * torch.sin(pi * x[:, 0])  # noqa: E731
obs = torch.stack([torch.linspace(-1, 1, 10), torch.ones(10)], dim=1)  # (x, t = 1)
problem = PDE(Interval(-1, 1), lambda x, u, k: u.dt() - k["C"] * u.dxx(0) - source(x),
              [Dirichlet(0.0), Initial(lambda x: torch.sin(pi * x[:, 0])), Data(obs, exact(obs))],
              time=(0, 1), unknowns={"C": 2.0}, exact=exact)
budget = dict(steps=20, batch=128, width=16, lbfgs_steps=0) if args.quick else \
    dict(steps=3000, width=32, depth=3, boundary_weight=10.0, lbfgs_steps=1000)
sol = dlpde.solve(problem, "pinn", **budget)
print(sol.summary())
print("C =", sol.unknowns["C"])
sol.save(args.out)
