"""Your own boundary conditions: u'' = 2 on [−1, 1] with u(−1) = 0 (Dirichlet, left end) and u'(1) = 4 (Neumann,
right end); exact u = (x + 1)².

    python examples/own_neumann.py           # about 15 s on one CPU thread
    python examples/own_neumann.py --quick
"""
import argparse

import dlpde
from dlpde import PDE, Dirichlet, Neumann
from dlpde.geometry import Interval

ap = argparse.ArgumentParser()
ap.add_argument("--quick", action="store_true")
ap.add_argument("--out", default="neumann.h5")
args = ap.parse_args()

problem = PDE(Interval(-1, 1), lambda x, u: u.dxx(0) - 2.0,
              [Dirichlet(0.0, on="left"), Neumann(4.0, on="right")],   # on= a face name or a predicate x -> mask
              exact=lambda x: (x[:, 0] + 1) ** 2)
budget = dict(steps=20, lbfgs_steps=0) if args.quick else dict(steps=2000, lbfgs_steps=500)
sol = dlpde.solve(problem, "pinn", batch=64, boundary_batch=16, width=20, depth=3, dtype="float64", **budget)
print(sol.summary())
sol.save(args.out)
