"""The README's Python example runs as written, and a reloaded solution of a problem of one's own can be given
its problem back."""
import logging
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import torch

import dlpde
from dlpde import PDE, Dirichlet
from dlpde.geometry import Interval
from dlpde.problems import make

ROOT = Path(__file__).resolve().parents[1]


def test_the_python_example_of_the_readme_runs_as_written(tmp_path):
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    section = text[text.index("## Solving from Python"):]
    code = re.search(r"```python\n(.*?)```", section, re.S).group(1)
    env = dict(os.environ, OMP_NUM_THREADS="1")
    run = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, env=env, capture_output=True, text=True,
                         timeout=600)
    assert run.returncode == 0, run.stderr[-2000:]
    assert "case=poisson-2d" in run.stdout and "status=ok" in run.stdout
    assert (tmp_path / "poisson-2d.h5").stat().st_size > 0 and (tmp_path / "poisson-2d.png").stat().st_size > 1000


def _own_problem():
    """u'' = 2 on (−1, 1), u = (x + 1)² at both ends, as a user writes it (hard constraint: φ and g are its own)."""
    def exact(x):
        return (x[:, 0] + 1) ** 2
    return PDE(Interval(-1, 1), lambda x, u: u.dxx(0) - 2, [Dirichlet(exact)], exact=exact)


def test_a_reloaded_solution_of_ones_own_problem_says_why_it_has_no_errors_and_takes_the_problem_back(
        tmp_path, caplog):
    sol = dlpde.solve(_own_problem(), "pinn", steps=30, batch=32, width=8, depth=1, hard_constraint=True,
                      lbfgs_steps=0, progress=False, eval_points=200)
    path = sol.save(tmp_path / "own.h5")
    bare = dlpde.load(path)
    with caplog.at_level(logging.WARNING):
        assert bare.errors() == {}
    assert "problem=" in caplog.text
    back = dlpde.load(path, problem=_own_problem())
    x = torch.linspace(-1, 1, 7, dtype=torch.float64)[:, None]
    assert torch.allclose(back(x).double(), sol(x).double(), atol=1e-6)  # φ and g bound again: the same u
    assert back.errors()["rel_l2_error"] == pytest.approx(sol.errors()["rel_l2_error"], rel=1e-6)
    with pytest.raises(ValueError, match="trained on dim 1"):
        dlpde.load(path, problem=make("poisson-2d"))
