"""Short trainings of DeepXDE's example cases with accuracy bounds that a broken solver misses.

Each bound sits far below what the run reaches with a term of its loss dropped (named in each docstring) and
above what the correct solver reaches on the tiny budget.
"""
import dlpde

TINY = dict(progress=False, eval_points=2000, seed=0)


def test_neumann_case_trains_to_its_exact_solution():
    """u'' = 2, u(−1) = 0, u'(1) = 4: without the Neumann term any (x + 1)² + a(x + 1) fits (error ~ 1)."""
    sol = dlpde.solve("poisson-1d-neumann", "pinn", steps=500, lbfgs_steps=200, **TINY)
    assert sol.metrics["rel_l2_error"] < 1e-3


def test_hard_constrained_diffusion_trains_to_its_exact_solution():
    """diffusion-1d with the default hard constraint: without the residual N is free (error ~ 1)."""
    sol = dlpde.solve("diffusion-1d", "pinn", steps=200, lbfgs_steps=200, batch=500, **TINY)
    assert sol.metrics["rel_l2_error"] < 2e-3


def test_inverse_case_recovers_its_coefficient():
    """diffusion-inverse: C starts at 2 and must come to within 1 % of 1 (without the data term it cannot move
    towards 1: the residual alone is satisfied by other (u, C) pairs)."""
    sol = dlpde.solve("diffusion-inverse", "pinn", steps=300, lbfgs_steps=300, batch=500, **TINY)
    assert abs(sol.unknowns["C"] - 1.0) < 1e-2
    assert sol.metrics["rel_l2_error"] < 1e-2
