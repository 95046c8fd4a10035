"""validation/mfg_runs.py: the tiny pipeline, the table rebuilt from the stored results, and the HJB residual's idle
component."""
import json
import shutil
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
from mfg_runs import RUNS, idle_residual, load_results, main, write_table  # noqa: E402


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


def _snapshot(folder: Path) -> dict:
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def test_tiny_run_writes_its_result_and_table_under_out_only(tmp_path):
    """``--tiny`` trains one case for a handful of steps (a few seconds) and writes the solution, its result, figures
    and a one-row table under --out; the committed table and stored results are not touched."""
    committed_table = (ROOT / "validation" / "MFG.md").read_bytes()
    committed = _snapshot(ROOT / "validation" / "mfg")
    out = tmp_path / "out"
    r = subprocess.run([sys.executable, str(ROOT / "validation" / "mfg_runs.py"), "--tiny", "--out", str(out),
                        "--only", "crowd-motion-d2-noentropy"], capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr[-3000:]
    res = json.loads((out / "results" / "crowd-motion-d2-noentropy.json").read_text())
    assert res["tiny"] is True and res["status"] == "ok" and res["steps"] == 5
    assert res["problem_params"] == {"entropy_weight": 0.0} and res["settings"]["lbfgs_steps"] == 0
    assert "cost_F_entropy" not in res  # the term is off, not reported as a number
    assert (out / "crowd-motion-d2-noentropy.h5").is_file()
    assert sorted(p.name for p in (out / "figures").iterdir()) == ["crowd-motion-d2-noentropy-density.png",
                                                                   "crowd-motion-d2-noentropy-trajectories.png"]
    table = (out / "MFG.md").read_text()
    rows = [line for line in table.splitlines() if line.startswith("| ") and not line.startswith("| d |")]
    assert len(rows) == 1 and rows[0].startswith("| 2 | 0 | 5 | ")  # d, seed, steps
    assert "### Without the entropy term" in table and "## Optimal transport" not in table
    assert "(figures/crowd-motion-d2-noentropy-density.png)" in table
    assert '"entropy_weight": 0.0}` (tiny)' in table and "--tiny" in table.splitlines()[2]
    assert (ROOT / "validation" / "MFG.md").read_bytes() == committed_table
    assert _snapshot(ROOT / "validation" / "mfg") == committed
    with pytest.raises(SystemExit):  # --tiny needs a folder of its own
        main(["--tiny"])


def test_committed_table_is_rebuilt_from_the_stored_results(tmp_path):
    """validation/MFG.md is what ``--table-only`` makes of validation/mfg/results (no training): a fresh clone
    regenerates it, with one stored result per run of the script and the thread count in its command line."""
    results = ROOT / "validation" / "mfg" / "results"
    stored = load_results(results)
    assert set(stored) == {r.key for r in RUNS}
    assert all(r["status"] == "ok" and not r.get("tiny") for r in stored.values())
    copy = tmp_path / "validation" / "mfg" / "results"  # the same layout, so that the links come out the same
    shutil.copytree(results, copy)
    rebuilt = write_table(copy, tmp_path / "validation" / "MFG.md", tmp_path / "validation" / "mfg").read_text()
    committed = (ROOT / "validation" / "MFG.md").read_text()
    assert rebuilt == committed
    assert "`python validation/mfg_runs.py --threads 1`" in committed.splitlines()[2]
    rows = [line for line in committed.splitlines() if line.startswith("| ") and line[2].isdigit()]
    assert len(rows) == len(RUNS)  # one row per run (the mixture's starts with its steps, the others with d)


def test_run_keys_are_unique():
    assert len({r.key for r in RUNS}) == len(RUNS)
