"""Optimal transport N(0, I) → N(m, Σ) in 2-D by the potential-network solver of Ruthotto et al. (PNAS 2020),
compared with the closed form ½W₂².

    python examples/ot_gaussian_mfg.py            # a couple of minutes
    python examples/ot_gaussian_mfg.py --quick    # a handful of steps (used by the tests)
"""
import argparse

import dlpde

ap = argparse.ArgumentParser()
ap.add_argument("--quick", action="store_true")
ap.add_argument("--out", default="ot2.h5")
args = ap.parse_args()

sol = dlpde.solve("ot-gaussian", "mfg", dim=2, seed=0, **(dict(steps=10, batch=64) if args.quick else {}))
print(sol.summary())
print("transport cost", sol.extra.get("cost_L"), " closed form ½W₂²", sol.extra.get("reference_cost"))
sol.save(args.out)
