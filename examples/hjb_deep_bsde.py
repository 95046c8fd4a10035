"""The 100-dimensional Hamilton–Jacobi–Bellman equation by Deep BSDE (Han, Jentzen & E, PNAS 2018).

    python examples/hjb_deep_bsde.py            # a few seconds
    python examples/hjb_deep_bsde.py --quick    # a handful of steps (used by the tests)
"""
import argparse

import dlpde

ap = argparse.ArgumentParser()
ap.add_argument("--quick", action="store_true")
ap.add_argument("--out", default="hjb100.h5")
args = ap.parse_args()

p = dlpde.problems.HJB(dim=100, lam=1.0, T=1.0)  # u_t + Δu − λ|∇u|² = 0, u(T, x) = ln((1 + |x|²)/2)
sol = dlpde.solve(p, solver="deep-bsde", seed=0, **(dict(steps=20) if args.quick else {}))
print(sol.summary())
print("u(0, x0) =", sol.value_at(t=0.0, x=p.x0), " Cole–Hopf reference:", p.reference_value())
sol.save(args.out)
