"""Result and checkpoint files honour the umask, as a plain open() would (they are written to a temporary file
first, which mkstemp creates 0600)."""
import os
import stat

import pytest

import dlpde
from dlpde.io.atomic import atomic_path
from tests.conftest import tiny


@pytest.fixture
def umask():
    old = os.umask(0o022)
    yield lambda m: os.umask(m)
    os.umask(old)


@pytest.mark.parametrize("mask, mode", [(0o022, 0o644), (0o077, 0o600), (0o002, 0o664)])
def test_atomic_files_get_the_umask_mode(tmp_path, umask, mask, mode):
    umask(mask)
    with atomic_path(tmp_path / "f.txt") as tmp:
        tmp.write_text("x")
    assert stat.S_IMODE(os.stat(tmp_path / "f.txt").st_mode) == mode


def test_result_and_checkpoint_files_are_0644_under_umask_0022(tmp_path, umask):
    umask(0o022)
    ckpt = tmp_path / "run.ckpt.h5"
    sol = dlpde.solve("poisson-2d", "pinn", **tiny(steps=4, checkpoint_every=2, checkpoint_path=str(ckpt)))
    out = sol.save(tmp_path / "run.h5")
    for f in (ckpt, out):
        assert stat.S_IMODE(os.stat(f).st_mode) == 0o644, f
