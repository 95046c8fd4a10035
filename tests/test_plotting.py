"""Figures: fields on a grid for 2-D problems and for 1-D problems in space-time (x, t)."""
import pytest

import dlpde
from dlpde.plotting import plot_solution

from tests.conftest import tiny

PNG = b"\x89PNG\r\n\x1a\n"


@pytest.mark.parametrize("case,dim", [("poisson-2d", None), ("allen-cahn", 1)])
def test_plot_solution_writes_a_png(tmp_path, case, dim):
    sol = dlpde.solve(case, "pinn", dim=dim, **tiny(steps=3))
    path = plot_solution(sol, tmp_path / "f.png", n=17)
    assert (tmp_path / "f.png").read_bytes()[:8] == PNG and path.endswith("f.png")
