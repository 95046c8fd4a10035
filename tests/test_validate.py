"""``dlpde validate``: end to end on poisson-lshape (HDF5 with /validation, PNG, XDMF on the FE mesh), on an exact
case, on a mesh file, and its refusals (one line, exit 2, before any training)."""
from __future__ import annotations

import h5py
import meshio
import numpy as np
import pytest

import dlpde
from dlpde.cli import main
from dlpde.geometry.meshes import disk_with_hole_mesh, write_mesh
from dlpde.io.hdf5 import seal_matches
from dlpde.validate import validate
from tests.conftest import tiny

PNG = b"\x89PNG\r\n\x1a\n"
TINY_CLI = ["--steps", "20", "--batch", "64", "--boundary-batch", "32", "--width", "16", "--depth", "2",
            "--lbfgs-steps", "0"]


def test_validate_lshape_end_to_end(tmp_path, capsys):
    out = tmp_path / "l.h5"
    assert main(["validate", "poisson-lshape", "--solver", "pinn", *TINY_CLI, "--out", str(out)]) == 0
    line = capsys.readouterr().out.strip().splitlines()[-1]
    for part in ("poisson-lshape", "solver=pinn", "dim=2", "steps=20", "rel_l2=", "status=ok",
                 'reference="P2 FEM, 3 refinements', f"out={out}", f"plot={tmp_path / 'l.png'}",
                 f"xdmf={tmp_path / 'l-fem.xdmf'}"):
        assert part in line, line
    with h5py.File(out) as f:
        assert f.attrs["status"] == "ok" and f.attrs["case"] == "poisson-lshape"
        v = f["validation"]
        x, u, ref, diff = (np.asarray(v[k]) for k in ("x", "u_nn", "u_reference", "difference"))
        cells, u_fem = np.asarray(v["cells"]), np.asarray(v["u_fem"])
        a = dict(v.attrs)
    n = len(x)
    assert x.shape == (n, 2) and u.shape == ref.shape == diff.shape == (n,) and cells.shape[1] == 3
    np.testing.assert_array_equal(diff, u - ref)
    np.testing.assert_array_equal(ref, u_fem)  # no exact solution: the reference is the FE solution at its vertices
    assert a["points"] == "fem_vertices" and a["n_points"] == n and a["fem_converged"]
    assert a["fem_dofs"] > 3 * n > 0 and a["fem_last_change"] < 1e-4 and a["reference"].startswith("P2 FEM")
    for k in ("rel_l2_error", "max_error", "rel_l2_error_points", "max_error_points", "rel_l2_error_quadrature"):
        assert 0 < a[k] < 10, k
    assert np.isclose(a["max_error_points"], np.abs(diff).max())
    assert np.isclose(a["rel_l2_error_points"], np.linalg.norm(diff) / np.linalg.norm(ref))
    # the normal solution file is intact (its SHA-256 seal renewed after adding /validation) and reloads
    assert seal_matches(out) is True
    sol = dlpde.load(out)
    assert sol.steps_done == 20 and sol.problem is not None and not sol.problem.has_exact
    png = tmp_path / "l.png"
    assert png.read_bytes()[:8] == PNG and png.stat().st_size > 5000
    m = meshio.read(tmp_path / "l-fem.xdmf")
    assert {"u_nn", "u_fem", "difference"} <= set(m.point_data)
    assert len(m.points) == n and m.cells_dict["triangle"].shape == cells.shape
    np.testing.assert_allclose(m.point_data["difference"], diff)


def test_validate_an_exact_case_from_python(tmp_path):
    res = validate("poisson-2d", "pinn", out=tmp_path / "p.h5", **tiny(steps=10))
    assert res.solution.status == "ok" and res.xdmf is None and res.reference == "exact solution"
    with h5py.File(res.out) as f:
        v = f["validation"]
        assert v.attrs["points"] == "uniform_samples" and v.attrs["reference"] == "exact solution"
        assert np.isclose(v.attrs["rel_l2_error"], res.solution.metrics["rel_l2_error"])
        assert "cells" not in v and v["x"].shape[1] == 2
    assert res.plot.read_bytes()[:8] == PNG
    assert "poisson-2d solver=pinn dim=2 steps=10" in res.summary()


def test_validate_on_a_mesh_file(tmp_path):
    path = tmp_path / "annulus.vtu"
    write_mesh(disk_with_hole_mesh(0.25), path)
    res = validate("poisson-mesh", "pinn", mesh=str(path), out=tmp_path / "a.h5", **tiny(steps=5))
    assert res.xdmf is not None and res.errors["fem_converged"]
    assert set(meshio.read(res.xdmf).point_data) == {"u_nn", "u_fem", "difference"}


@pytest.mark.parametrize("args,hint", [
    (["poisson-2d", "--mesh", "x.msh"], "poisson-mesh"),
    (["poisson-lshape", "--out", "/nonexistent-dir/x.h5"], "does not exist"),
    (["poisson-lshape", "--solver", "nope"], "choose one of"),
    (["no-such-case"], "dlpde cases"),
])
def test_validate_refusals_are_one_line_and_exit_2(args, hint, capsys):
    assert main(["validate", *args, "--steps", "1"]) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and hint in err, err


def test_validate_leaves_a_foreign_plot_file_alone(tmp_path, capsys):
    plot = tmp_path / "notes.png"
    plot.write_text("my notes")
    assert main(["validate", "poisson-lshape", "--steps", "1", "--out", str(tmp_path / "x.h5"),
                 "--plot", str(plot)]) == 2
    assert "not a PNG" in capsys.readouterr().err and plot.read_text() == "my notes"
    assert not (tmp_path / "x.h5").exists()
