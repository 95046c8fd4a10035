import h5py
import numpy as np
import pytest
import torch

import dlpde
from tests.conftest import tiny


@pytest.fixture(scope="module")
def solution():
    return dlpde.solve("poisson-2d", **tiny())


def test_save_load_roundtrip(solution, tmp_path):
    path = solution.save(tmp_path / "p.h5")
    loaded = dlpde.load(path)
    x = torch.rand(64, 2, dtype=torch.float64)
    assert torch.equal(loaded(x), solution(x))
    assert loaded.case == "poisson-2d" and loaded.solver == "pinn" and loaded.status == "ok"
    assert loaded.metrics["rel_l2_error"] == pytest.approx(solution.metrics["rel_l2_error"])
    assert loaded.problem is not None and loaded.errors()["rel_l2_error"] == pytest.approx(
        solution.errors()["rel_l2_error"])
    assert len(loaded.history) == len(solution.history)


def test_file_is_plain_hdf5_without_pickle(solution, tmp_path):
    path = solution.save(tmp_path / "p.h5")
    with h5py.File(path, "r") as f:
        for key in ("case", "solver", "dim", "steps", "wall_time_s", "status", "rel_l2_error", "seed",
                    "dlpde_version", "torch_version", "settings", "problem_params"):
            assert key in f.attrs, key
        datasets = []
        f.visititems(lambda name, obj: datasets.append(obj) if isinstance(obj, h5py.Dataset) else None)
        assert datasets
        for ds in datasets:
            assert ds.dtype.kind in "fiubS", (ds.name, ds.dtype)  # numbers and bytes only: nothing pickled
        for v in f.attrs.values():
            assert not (isinstance(v, (bytes, np.bytes_)) and v[:1] == b"\x80")  # no pickle protocol header
        assert f["evaluation/u"].shape == f["evaluation/u_exact"].shape
        assert f["grid/u"].shape == (129 * 129,)


def test_xdmf_sidecar_opens_with_meshio(solution, tmp_path):
    import meshio

    solution.save(tmp_path / "p.h5")
    mesh = meshio.read(tmp_path / "p.xdmf")
    assert set(mesh.point_data) >= {"u", "u_exact", "error"}
    assert (tmp_path / "p.h5").exists()  # the sidecar did not clobber the solution file


def test_failed_write_leaves_existing_file_intact(solution, tmp_path, monkeypatch):
    path = tmp_path / "good.h5"
    solution.save(path)
    before = path.read_bytes()
    import dlpde.io.hdf5 as hdf5

    def broken(*a, **k):
        raise RuntimeError("disk full")

    monkeypatch.setattr(hdf5, "grid_fields", broken)
    with pytest.raises(RuntimeError):
        solution.save(path)
    monkeypatch.undo()
    monkeypatch.setattr(hdf5.json, "dumps", broken)
    with pytest.raises(RuntimeError):
        solution.save(path, xdmf=False)
    assert path.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["good.h5", "good.xdmf"]  # no temporary left behind


def test_load_refuses_foreign_and_damaged_files(tmp_path, solution):
    with pytest.raises(ValueError, match="no such file"):
        dlpde.load(tmp_path / "missing.h5")
    (tmp_path / "junk.h5").write_bytes(b"not hdf5 at all")
    with pytest.raises(ValueError, match="not a readable HDF5"):
        dlpde.load(tmp_path / "junk.h5")
    with h5py.File(tmp_path / "other.h5", "w") as f:
        f["x"] = 1
    with pytest.raises(ValueError, match="not a dlpde solution"):
        dlpde.load(tmp_path / "other.h5")
    path = solution.save(tmp_path / "new.h5")
    with h5py.File(path, "a") as f:
        f.attrs["format_version"] = 99
    with pytest.raises(ValueError, match="newer"):
        dlpde.load(path)
    data = (tmp_path / "p.h5")
    solution.save(data)
    raw = data.read_bytes()
    (tmp_path / "cut.h5").write_bytes(raw[: len(raw) // 2])
    with pytest.raises(ValueError):
        dlpde.load(tmp_path / "cut.h5")


def test_evaluation_shapes_are_checked(solution):
    with pytest.raises(ValueError, match=r"shape \(n, 2\)"):
        solution(torch.zeros(5, 3))
    with pytest.raises(ValueError, match="NaN"):
        solution(torch.full((2, 2), float("nan")))
    assert solution(torch.zeros(5, 2)).shape == (5,)
    assert solution.grad(torch.zeros(5, 2)).shape == (5, 2)


def test_the_xdmf_file_beside_a_result_never_replaces_a_users_file(solution, tmp_path):
    """The XDMF file written beside a steady 2-D/3-D result (stem + .xdmf) may replace only dlpde's own: a result
    named .xdmf, a user's file of that name (also with overwrite=False), or a read-only one are refused before
    anything is written; dlpde's own is replaced, also one written before dlpde marked its files."""
    from dlpde.io.xdmf import MARK, written_by_dlpde
    with pytest.raises(ValueError, match="cannot end in .xdmf"):
        solution.save(tmp_path / "r.xdmf")
    assert not list(tmp_path.iterdir())
    mine = tmp_path / "p.xdmf"
    mine.write_text("my own ParaView state")
    with pytest.raises(ValueError, match="not the XDMF file dlpde wrote"):
        solution.save(tmp_path / "p.h5")
    assert mine.read_text() == "my own ParaView state" and not (tmp_path / "p.h5").exists()
    mine.unlink()
    path = solution.save(tmp_path / "p.h5")
    assert written_by_dlpde(mine) and MARK in mine.read_text()
    import meshio
    assert "u" in meshio.read(mine).point_data  # the mark keeps the file readable
    solution.save(path)  # dlpde's own sidecar is replaced
    legacy = mine.read_text().replace(MARK + "\n", "")  # as written before the mark existed
    mine.write_text(legacy)
    solution.save(path)
    assert written_by_dlpde(mine)
    (tmp_path / "q.xdmf").write_text("x")
    with pytest.raises(ValueError, match="exists"):
        solution.save(tmp_path / "q.h5", overwrite=False)
    assert not (tmp_path / "q.h5").exists()


def test_a_result_without_a_grid_removes_the_stale_xdmf_of_the_one_it_replaces(solution, tmp_path):
    path = solution.save(tmp_path / "p.h5")
    side = tmp_path / "p.xdmf"
    assert side.exists()
    nd = dlpde.solve("poisson-sin-Nd", dim=5, **tiny(steps=3))
    nd.save(path)
    assert dlpde.load(path).dim == 5 and not side.exists()
    side.write_text("a user's file")  # not dlpde's: left alone
    nd.save(path)
    assert side.read_text() == "a user's file"


@pytest.mark.parametrize("argv", [["--checkpoint", "{d}/r.xdmf"], ["--plot", "{d}/r.xdmf"]])
def test_cli_refuses_an_output_named_like_the_xdmf_file_before_training(argv, tmp_path, capsys):
    from dlpde.cli import main
    args = ["solve", "poisson-2d", "--steps", "2", "--out", f"{tmp_path}/r.h5"] + [a.format(d=tmp_path) for a in argv]
    assert main(args) == 2
    assert "must name different files" in capsys.readouterr().err and not list(tmp_path.iterdir())


def test_validate_refuses_a_checkpoint_named_like_another_output(tmp_path):
    from dlpde.validate import validate
    with pytest.raises(ValueError, match="must be different files"):
        validate("poisson-2d", out=tmp_path / "v.h5", checkpoint_path=str(tmp_path / "v.png"), steps=2)
    assert not list(tmp_path.iterdir())


def test_load_refuses_a_problem_the_file_was_not_trained_on(solution, tmp_path):
    """dlpde.load(path, problem=...) checks more than the dimension: another named case, or a problem with another
    number of outputs than the network, is an error (errors were measured against the wrong reference)."""
    from dlpde import PDE, Dirichlet
    from dlpde.geometry import Box
    from dlpde.problems import make
    path = solution.save(tmp_path / "p.h5")
    with pytest.raises(ValueError, match="holds a solution of poisson-2d, not of the problem given"):
        dlpde.load(path, problem=make("helmholtz-2d"))
    box = Box([0, 0], [1, 1])
    two = PDE(box, lambda x, q: [-q[0].laplacian() - 1.0, -q[1].laplacian()],
              [Dirichlet(0.0, component=0), Dirichlet(0.0, component=1)], outputs=("a", "b"))
    one = PDE(box, lambda x, u: -u.laplacian() - 1.0, [Dirichlet(0.0)])
    sys_path = dlpde.solve(two, **tiny(steps=2)).save(tmp_path / "two.h5")
    with pytest.raises(ValueError, match=r"has 2 output\(s\) but the problem given has 1"):
        dlpde.load(sys_path, problem=one)
    assert dlpde.load(sys_path, problem=two).problem is two


def test_saving_through_a_symbolic_link_writes_where_it_points(solution, tmp_path):
    real, link = tmp_path / "real.h5", tmp_path / "link.h5"
    link.symlink_to(real)
    solution.save(link)
    assert link.is_symlink() and dlpde.load(real).case == "poisson-2d"


def test_loading_a_checkpoint_says_it_is_one(tmp_path):
    from dlpde.training import checkpoint as ckpt
    path = tmp_path / "c.ckpt.h5"
    dlpde.solve("poisson-2d", **tiny(steps=2, checkpoint_every=1, checkpoint_path=str(path)))
    assert path.exists()
    assert ckpt.read_attrs(path)
    with pytest.raises(ValueError, match="is a dlpde checkpoint, not a result.*--resume"):
        dlpde.load(path)


def test_the_xdmf_file_is_removed_only_with_the_result_it_showed(solution, tmp_path):
    """Only the replaced result's own XDMF file goes: not with overwrite=False, not a finite element file."""
    nd = dlpde.solve("poisson-sin-Nd", dim=5, **tiny(steps=2))
    solution.save(tmp_path / "a.h5")
    (tmp_path / "a.h5").rename(tmp_path / "archive.h5")
    nd.save(tmp_path / "a.h5", overwrite=False)
    assert (tmp_path / "a.xdmf").exists()  # stands on its own (inline data): kept
    fem = tmp_path / "v-fem.xdmf"
    fem.write_text((tmp_path / "a.xdmf").read_text())
    nd.save(tmp_path / "v-fem.h5")
    assert fem.exists()


def test_a_link_to_a_missing_folder_is_refused_before_training(tmp_path, capsys):
    from dlpde.cli import main
    (tmp_path / "link.h5").symlink_to(tmp_path / "missing" / "r.h5")
    assert main(["solve", "poisson-2d", "--steps", "2", "--out", str(tmp_path / "link.h5")]) == 2
    assert "missing" in capsys.readouterr().err


def test_a_system_output_named_like_a_coordinate_keeps_the_points(tmp_path):
    from dlpde import PDE, Dirichlet
    from dlpde.geometry import Box
    p = PDE(Box([0, 0], [1, 1]), lambda x, q: [-q[0].laplacian() - 1.0, -q[1].laplacian()],
            [Dirichlet(0.0, component=0), Dirichlet(0.0, component=1)], outputs=("u", "x"))
    arrays = dlpde.solve(p, **tiny(steps=2)).evaluation_arrays(n=50)
    assert arrays["x"].shape == (50, 2) and arrays["x_output"].shape == (50,) and arrays["u"].shape == (50,)
