"""Classical reference solutions (numpy/scipy, float64, no torch) that neural solutions are checked against.

One small module per reference problem (see ``/work/shared/REFERENCES.md``):

- :mod:`dlpde.reference.hjb`: Hamilton–Jacobi–Bellman ``u_t + Δu − λ|∇u|² = 0`` by Cole–Hopf
  (χ² quadrature at the origin, Gauss–Hermite in 1-D/2-D, Monte Carlo anywhere).
- :mod:`dlpde.reference.allen_cahn`: Allen–Cahn ``u_t + Δu + u − u³ = 0`` by radial and box finite differences.
- :mod:`dlpde.reference.black_scholes`: European call/put and geometric-basket call closed forms.
- :mod:`dlpde.reference.burgers`: viscous Burgers by Hopf–Cole and Gauss–Hermite quadrature.
- :mod:`dlpde.reference.gaussian_ot`: Wasserstein-2 distance and optimal map between Gaussians.
- :mod:`dlpde.reference.discrete_ot`: exact discrete optimal transport cost between sample clouds (POT).

The modules are imported on demand (``from dlpde.reference.hjb import hjb_lq_value_at_origin``) so that importing
this package costs nothing and the optional POT dependency is only needed for :mod:`discrete_ot`.
"""
