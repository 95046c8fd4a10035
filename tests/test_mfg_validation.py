"""validation/mfg_runs.py: the quick pipeline with problem parameters, and the HJB residual's idle component."""
import json
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch

from dlpde.nn import PotentialNet
from dlpde.problems.mfg import crowd_motion

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "validation"))
from mfg_runs import RUNS, idle_residual  # noqa: E402


def zero_potential(dim: int) -> PotentialNet:
    net = PotentialNet(dim, width=4)
    with torch.no_grad():
        for p in net.parameters():
            p.zero_()
    return net


@pytest.mark.parametrize("entropy_weight", [0.01, 0.0])
def test_idle_residual_finds_the_entropy_terms_curvature(entropy_weight):
    """With Φ ≡ 0 nothing moves, so r = −λ log ρ₀(x) (no obstacle here, whose heavy tail would only add noise):
    its |x_idle|² part is λ/(2σ²)|x_idle|² (σ² = 0.3), up to the sampling noise of the (x₁, x₂) part; without the
    entropy term there is none."""
    problem = crowd_motion(10, entropy_weight=entropy_weight, obstacle_height=0.0)
    sol = SimpleNamespace(problem=problem, model=zero_potential(10), extra={"alpha": [1.0, 1.0, 5.0, 20.0, 1.0]})
    out = idle_residual(sol, n=4000)
    expected = entropy_weight / (2 * 0.3)
    assert len(out["idle_slopes"]) == 3
    for slope in out["idle_slopes"]:
        assert slope == pytest.approx(expected, abs=1e-12 + 0.03 * expected)
    assert out["idle_std"] == pytest.approx(expected * 0.3 * (2 * 8) ** 0.5, rel=0.1)  # χ²₈ spread
    assert idle_residual(SimpleNamespace(problem=crowd_motion(2), model=zero_potential(2), extra={})) == {}


def test_quick_crowd_run_records_its_problem_parameters(tmp_path):
    r = subprocess.run([sys.executable, str(ROOT / "validation" / "mfg_runs.py"), "--quick", "--out",
                        str(tmp_path / "out"), "--figures", str(tmp_path / "fig"), "--table", str(tmp_path / "MFG.md"),
                        "--only", "crowd-motion-d2-noentropy"], capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr[-3000:]
    res = json.loads((tmp_path / "out" / "crowd-motion-d2-noentropy.json").read_text())
    assert res["quick"] is True and res["problem_params"] == {"entropy_weight": 0.0}
    assert "cost_F_entropy" not in res  # the term is off, not reported as a number
    table = (tmp_path / "MFG.md").read_text()
    assert "### Without the entropy term" in table and '"entropy_weight": 0.0' in table


def test_run_keys_are_unique():
    assert len({r.key for r in RUNS}) == len(RUNS)
