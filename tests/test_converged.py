"""Honest status: a run whose final error is above ``error_threshold`` says so in the summary, the log and the file."""
import h5py
import pytest

import dlpde
from tests.conftest import tiny


def test_a_run_above_its_threshold_is_reported_not_converged(tmp_path, caplog):
    with caplog.at_level("WARNING"):
        sol = dlpde.solve("poisson-2d", "pinn", **tiny(steps=3))  # three steps: error ≈ 1
    assert sol.status == "ok" and sol.metrics["rel_l2_error"] > 0.1
    assert sol.converged is False
    assert "converged=no" in sol.summary()
    assert any("not converged" in r.getMessage() for r in caplog.records)
    path = sol.save(tmp_path / "a.h5")
    with h5py.File(path, "r") as f:
        assert not bool(f.attrs["converged"])
    back = dlpde.load(path)
    assert back.converged is False and "converged" not in back.extra


def test_the_threshold_is_a_setting(tmp_path):
    sol = dlpde.solve("poisson-2d", "pinn", **tiny(steps=3, error_threshold=10.0))
    assert sol.converged is True and "converged=no" not in sol.summary()
    with h5py.File(sol.save(tmp_path / "b.h5"), "r") as f:
        assert bool(f.attrs["converged"])
    with pytest.raises(ValueError, match="error_threshold"):
        dlpde.solve("poisson-2d", "pinn", **tiny(steps=3, error_threshold=0.0))
