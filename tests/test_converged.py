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


def _no_reference():
    """u'' = 2 on (−1, 1), u(−1) = 0, u(1) = 4 (solution (x + 1)²), given without its solution."""
    from dlpde import PDE, Dirichlet
    from dlpde.geometry import Interval
    return PDE(Interval(-1, 1), lambda x, u: u.dxx(0) - 2, [Dirichlet(lambda x: (x[:, 0] + 1) ** 2)])


def test_without_a_reference_the_relative_residual_is_reported_in_summary_and_file(tmp_path):
    """√(L(u)/L(0)) on fresh points: about 1 for a barely trained network, small for a trained one; in the summary
    line and the file's attributes."""
    import h5py

    import dlpde
    kw = dict(batch=64, boundary_batch=8, width=16, depth=2, dtype="float64", progress=False, lbfgs_steps=0)
    trained = dlpde.solve(_no_reference(), "pinn", steps=20, optimizer="engd", resample_every=100, **kw)
    barely = dlpde.solve(_no_reference(), "pinn", steps=1, **kw)
    assert "rel_l2_error" not in trained.metrics
    assert trained.metrics["relative_residual"] < 1e-3 < 0.3 < barely.metrics["relative_residual"] < 3
    assert f"relative_residual={trained.metrics['relative_residual']:.3e}" in trained.summary()
    path = trained.save(tmp_path / "r.h5")
    with h5py.File(path) as f:
        assert f.attrs["relative_residual"] == trained.metrics["relative_residual"]


def test_the_zero_field_has_relative_residual_one():
    import torch

    from dlpde.settings import SolveSettings
    from dlpde.solvers.collocation import ZeroField
    from dlpde.solvers.pde_objective import PDEObjective
    net = torch.nn.Sequential(torch.nn.Linear(1, 4), torch.nn.Tanh(), torch.nn.Linear(4, 1)).double()
    obj = PDEObjective(_no_reference(), ZeroField(net), SolveSettings(dtype="float64", batch=32))
    assert abs(obj.relative_residual(200) - 1.0) < 1e-12


def test_a_system_is_judged_by_its_worst_output_and_a_point_case_by_its_own_measure():
    """mfg-lq at d = 2: ‖Φ‖ ≈ 15 ‖ρ‖, so a density 50 % wrong was 3.4 % of the combined error and 'converged'.
    A system is judged by its worst output; a case whose error is u at x₀ (hjb-lq by PINN) by that error."""
    from dlpde.settings import SolveSettings
    from dlpde.solution import Solution
    s = SolveSettings()
    system = Solution(problem=None, model=None, solver="pinn", settings=s, history=None,
                      metrics={"rel_l2_error": 0.034, "rel_l2_error_phi": 0.0, "rel_l2_error_rho": 0.5})
    assert system.judged_error() == ("rel_l2_error_rho", 0.5) and system.converged is False
    assert "rel_l2_rho=5.000e-01" in system.summary() and "converged=no" in system.summary()
    point = Solution(problem=None, model=None, solver="pinn", settings=s, history=None,
                     metrics={"rel_error_u0": 2.4})
    assert point.converged is False and "rel_error_u0=2.400e+00" in point.summary()
    mfg = Solution(problem=None, model=None, solver="mfg", settings=s, history=None,
                   extra={"cost_L_rel_error": 0.01})
    assert mfg.converged is True and "cost_L_rel_error=1.000e-02" in mfg.summary()


def test_value_at_of_a_system_and_the_cli_line_of_deep_bsde(tmp_path, capsys):
    sol = dlpde.solve("kovasznay", "pinn", **tiny(steps=2))
    v = sol.value_at([0.1, 0.2])
    assert isinstance(v, tuple) and len(v) == 3 and v == pytest.approx(tuple(sol(torch_point()).tolist()[0]))
    from dlpde.cli import main
    assert main(["solve", "hjb-lq", "--solver", "deep-bsde", "--dim", "1", "--steps", "3", "--batch", "16",
                 "--no-progress", "--out", str(tmp_path / "b.h5"), "--plot", str(tmp_path / "b.png")]) == 0
    line = capsys.readouterr().out
    assert "u0=" in line and "rel_error_u0=" in line and (tmp_path / "b.png").exists()  # Deep BSDE at d = 1 plots


def torch_point():
    import torch
    return torch.tensor([[0.1, 0.2]], dtype=torch.float64)
