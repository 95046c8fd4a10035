"""The validation pipeline runs end to end with tiny budgets (it checks plumbing, not accuracy)."""
import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_quick_validation_writes_report(tmp_path):
    r = subprocess.run([sys.executable, str(ROOT / "validation" / "run.py"), "--quick", "--out", str(tmp_path),
                        "--only", "poisson-2d-pinn", "poisson-sin-Nd-pinn-d5"],
                       capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr[-3000:]
    report = (tmp_path / "REPORT.md").read_text()
    assert "| poisson-2d | pinn | 2 |" in report
    res = json.loads((tmp_path / "results" / "poisson-2d-pinn.json").read_text())
    assert res["quick"] is True and res["steps"] == 20 and res["error"] > 0
    assert (tmp_path / res["figure"]).stat().st_size > 1000


def test_every_suite_entry_names_a_known_case_and_solver():
    sys.path.insert(0, str(ROOT / "validation"))
    from suite import RUNS

    from dlpde.problems import CASES

    for run in RUNS:
        assert run.case in CASES, run.case
        assert run.solver in CASES[run.case].solvers, run.key
    assert len({r.key for r in RUNS}) == len(RUNS)
