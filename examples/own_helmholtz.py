"""Your own PDE, no subclass: the Helmholtz equation −Δu − k₀²u = f on the unit square, u = 0 on the boundary.

    python examples/own_helmholtz.py           # about two minutes on one CPU thread
    python examples/own_helmholtz.py --quick   # a few steps (used by the tests)
"""
import argparse
import math

import torch

import dlpde
from dlpde import PDE, Dirichlet
from dlpde.geometry import Box

ap = argparse.ArgumentParser()
ap.add_argument("--quick", action="store_true")
ap.add_argument("--out", default="helmholtz.h5")
args = ap.parse_args()

k0 = 2 * math.pi


def exact(x):
    return torch.sin(k0 * x[:, 0]) * torch.sin(k0 * x[:, 1])


def helmholtz(x, u):  # x: points (n, 2); u: the network's field with its derivatives
    return -u.laplacian() - k0**2 * u() - k0**2 * exact(x)


problem = PDE(Box([0, 0], [1, 1]), helmholtz, [Dirichlet(0.0)], exact=exact)
# hard_constraint: u = φ·N with φ = 16x(1−x)y(1−y), so u = 0 on the boundary exactly and the loss is the residual;
# first_layer_scale: the sin network starts with the frequencies an oscillatory u needs (SIREN's ω₀)
budget = dict(steps=20, batch=128, width=16, lbfgs_steps=0) if args.quick else \
    dict(steps=1000, width=64, depth=3, activation="sin", first_layer_scale=8.0, hard_constraint=True,
         lbfgs_steps=2000, dtype="float64")
sol = dlpde.solve(problem, "pinn", **budget)
print(sol.summary())
sol.save(args.out)
