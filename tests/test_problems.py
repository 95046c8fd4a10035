"""Every named case with an exact solution satisfies its own residual (float64, autograd derivatives)."""
import pytest
import torch

from dlpde.derivatives import laplacian, trace_derivatives
from dlpde.problems import CASES, make

from tests.conftest import ExactField


def _has_laplacian_strong_form(p) -> bool:
    """True for the cases whose ``residual`` reads the derivative engine's output (the Laplacian, or for the
    Black–Scholes cases the trace Tr(σσᵀ Hess u) along ``second_order_directions``; their exact solutions are also
    checked with ``pde_residual`` in tests/test_parabolic.py). False for ``PDE`` cases (the DeepXDE examples): their
    residuals go through the derivative accessor, checked in tests/test_pde.py."""
    if hasattr(p, "equation"):
        return False
    try:
        p.conditions()
    except NotImplementedError:
        return False
    return True


# american-basket-Nd's "solution" is its finite-difference reference (tests/test_american.py), not a closed form
EXACT_CASES = [name for name, c in CASES.items() if c.make().has_exact and _has_laplacian_strong_form(c.make())
               and name != "american-basket-Nd"]


@pytest.mark.parametrize("name", EXACT_CASES)
def test_exact_solution_satisfies_residual(name):
    p = make(name)
    g = torch.Generator().manual_seed(0)
    x = p.interior_points(200, generator=g, dtype=torch.float64)
    spec = getattr(p, "second_order_directions", lambda *a, **k: None)(x, method="autograd", probes=1)
    if spec is None:
        d = laplacian(ExactField(p), x, method="autograd", dims=p.laplacian_dims)
    else:  # Tr(σσᵀ Hess u) along the columns of σ(x), as the PINN/DGM objective asks for it
        d = trace_derivatives(ExactField(p), x, *spec, method="autograd")
    r = p.residual(x, d)
    assert r.abs().max().item() <= 1e-8 * (1 + d.second.abs().max().item())
    for c in p.conditions():
        xb = c.sample(100, generator=g, dtype=torch.float64)
        assert torch.allclose(c.target(xb), p.exact(xb), atol=1e-12)


def test_residual_test_can_fail():
    p = make("poisson-2d")
    wrong = make("poisson-sin-Nd", dim=2)
    x = p.interior_points(50, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    d = laplacian(ExactField(wrong), x, method="autograd")
    assert p.residual(x, d).abs().max() > 1


def test_case_parameters_are_checked():
    with pytest.raises(ValueError, match="fixed dimension"):
        make("poisson-2d", dim=3)
    with pytest.raises(ValueError, match="even"):
        make("poisson-10d", dim=7)
    with pytest.raises(ValueError, match="unknown case"):
        make("poisson-99")
    with pytest.raises(ValueError, match="takes parameters"):
        CASES["poisson-100d"].make(None, lam=2)
