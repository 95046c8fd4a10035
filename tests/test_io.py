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
