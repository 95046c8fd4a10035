"""The validation suite's entries name real cases and solvers; the tiny run of validation/run.py (which checks the
pipeline, not the accuracy) is in tests/test_scripts.py with the other scripts."""
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def test_every_suite_entry_names_a_known_case_and_solver():
    sys.path.insert(0, str(ROOT / "validation"))
    from suite import RUNS

    from dlpde.problems import CASES

    for run in RUNS:
        assert run.case in CASES, run.case
        assert run.solver in CASES[run.case].solvers, run.key
    assert len({r.key for r in RUNS}) == len(RUNS)


def test_quick_run_refuses_to_write_over_the_committed_report(capsys):
    sys.path.insert(0, str(ROOT / "validation"))
    import run

    with pytest.raises(SystemExit):
        run.main(["--quick", "--only", "poisson-2d-pinn"])
    assert "--quick measures nothing worth keeping" in capsys.readouterr().err
