"""Poisson in 10 dimensions by the Deep Ritz method (E & Yu 2018): minimise ∫ ½|∇u|² − f u + a boundary penalty.

    python examples/poisson_ritz.py            # a few minutes
    python examples/poisson_ritz.py --quick    # a handful of steps (used by the tests)
"""
import argparse

import dlpde

ap = argparse.ArgumentParser()
ap.add_argument("--quick", action="store_true")
ap.add_argument("--out", default="poisson10-ritz.h5")
args = ap.parse_args()

sol = dlpde.solve("poisson-10d", "ritz", seed=0, **(dict(steps=20, batch=128) if args.quick else {}))
print(sol.summary())
sol.save(args.out)
