"""Checkpoints: plain HDF5, atomic, and a resumed run equals an uninterrupted one bit for bit on the CPU, whether
it was stopped by Ctrl-C (in Adam or in L-BFGS) or killed with SIGKILL between checkpoints."""
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import h5py
import numpy as np
import pytest
import torch

import dlpde
from dlpde.solvers.pinn import StrongFormObjective
from dlpde.training import checkpoint as ckpt

ROOT = Path(__file__).resolve().parent.parent
BASE = dict(steps=60, batch=64, boundary_batch=32, width=16, depth=2, log_every=10, eval_every=30, eval_points=500,
            lbfgs_steps=0, progress=False, dtype="float64", seed=5)
KILL = dict(BASE, steps=300)  # the runs a subprocess is killed in


def solve(**kw):
    return dlpde.solve("poisson-sin-Nd", dim=3, **kw)


def same_network(a, b) -> bool:
    return all(torch.equal(p, q) for p, q in zip(a.model.parameters(), b.model.parameters()))


def interrupt_at(monkeypatch, call: int):
    """Make the objective raise KeyboardInterrupt (as Ctrl-C would) at its ``call``-th loss evaluation."""
    original = StrongFormObjective.loss
    count = {"n": 0}

    def loss(self, step, *, resample):
        count["n"] += 1
        if count["n"] == call:
            raise KeyboardInterrupt
        return original(self, step, resample=resample)

    monkeypatch.setattr(StrongFormObjective, "loss", loss)


@pytest.mark.parametrize("lbfgs_steps,call", [(0, 37), (30, 75)], ids=["adam", "lbfgs"])
def test_ctrl_c_saves_a_checkpoint_and_resume_is_bit_identical(tmp_path, monkeypatch, lbfgs_steps, call):
    kw = dict(BASE, lbfgs_steps=lbfgs_steps)
    reference = solve(**kw)
    path = tmp_path / "run.ckpt.h5"
    interrupt_at(monkeypatch, call)
    stopped = solve(**kw, checkpoint_path=str(path))
    monkeypatch.undo()
    assert stopped.status == "interrupted"
    assert str(path) in stopped.message and "--resume" in stopped.message
    step = int(ckpt.read_attrs(path)["step"])
    assert 0 < step < kw["steps"] + lbfgs_steps
    if lbfgs_steps:
        assert ckpt.read_attrs(path)["phase"] == "lbfgs"
    resumed = solve(**kw, resume=str(path))
    assert resumed.status == "ok" and resumed.steps_done == reference.steps_done
    assert same_network(resumed, reference)
    assert [r["loss"] for r in resumed.history.rows] == [r["loss"] for r in reference.history.rows]


def test_checkpoint_file_is_plain_hdf5(tmp_path):
    path = tmp_path / "c.h5"
    sol = solve(**dict(BASE, steps=20), checkpoint_every=10, checkpoint_path=str(path))
    assert sol.extra["checkpoint"] == str(path)
    with h5py.File(path, "r") as f:
        assert f.attrs["format"] == "dlpde-checkpoint" and f.attrs["step"] == 20
        datasets = []
        f.visititems(lambda name, obj: datasets.append(obj) if isinstance(obj, h5py.Dataset) else None)
        assert datasets and all(ds.dtype.kind in "fiub" for ds in datasets)  # numbers only: nothing pickled
        assert all(ds.fletcher32 for ds in datasets if ds.size)
    state, history, _ = ckpt.read(path)
    assert [r["step"] for r in history] == [10, 20]
    assert len(state["params"]) == len(list(sol.model.parameters()))
    assert all(torch.equal(a, b) for a, b in zip(state["params"], sol.model.parameters()))
    assert set(state["objective"][0]) == {"generator", "x", "cond_points"}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["c.h5"]  # no temporary left behind


def test_resume_refuses_other_settings_and_bad_files(tmp_path):
    path = tmp_path / "c.h5"
    solve(**dict(BASE, steps=20), checkpoint_every=10, checkpoint_path=str(path))
    with pytest.raises(ValueError, match="batch=64"):
        solve(**dict(BASE, steps=20, batch=32), resume=str(path))
    with pytest.raises(ValueError, match="another shape"):
        dlpde.solve("poisson-sin-Nd", dim=4, **dict(BASE, steps=20), resume=str(path))
    with pytest.raises(ValueError, match="written for 'poisson-sin-Nd/pinn'"):
        dlpde.solve("poisson-sin-Nd", "dgm", dim=3, **dict(BASE, steps=20), resume=str(path))
    raw = path.read_bytes()
    (tmp_path / "cut.h5").write_bytes(raw[: len(raw) // 2])
    with pytest.raises(ValueError, match="truncated or corrupted"):
        solve(**dict(BASE, steps=20), resume=str(tmp_path / "cut.h5"))
    newer = tmp_path / "newer.h5"
    newer.write_bytes(raw)
    with h5py.File(newer, "a") as f:
        f.attrs["format_version"] = 99
    with pytest.raises(ValueError, match="newer"):
        solve(**dict(BASE, steps=20), resume=str(newer))
    flipped = bytearray(raw)
    with h5py.File(path, "r") as f:
        offset = f["arrays/a0"].id.get_chunk_info(0).byte_offset
    flipped[offset + 3] ^= 0xFF  # a byte inside the first parameter array: the checksum notices
    (tmp_path / "flipped.h5").write_bytes(bytes(flipped))
    with pytest.raises(ValueError, match="damaged"):
        solve(**dict(BASE, steps=20), resume=str(tmp_path / "flipped.h5"))
    with pytest.raises(ValueError, match="no such checkpoint"):
        solve(**dict(BASE, steps=20), resume=str(tmp_path / "missing.h5"))


def test_a_foreign_file_is_never_used_as_checkpoint(tmp_path):
    precious = tmp_path / "data.h5"
    with h5py.File(precious, "w") as f:
        f["x"] = np.arange(3)
    before = precious.read_bytes()
    with pytest.raises(ValueError, match="not a dlpde checkpoint"):
        solve(**dict(BASE, steps=20), checkpoint_every=10, checkpoint_path=str(precious))
    assert precious.read_bytes() == before
    with pytest.raises(ValueError, match="checkpoint_path"):
        solve(**dict(BASE, steps=20), checkpoint_every=10)


SCRIPT = textwrap.dedent("""
    import signal, sys, time
    import torch
    # A shell that starts a job in the background makes it ignore SIGINT, and Python keeps that; a user's Ctrl-C
    # reaches a foreground process, so give the run Python's usual handler whatever started the test.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    torch.set_num_threads(1)
    from dlpde.solvers.pinn import StrongFormObjective
    original = StrongFormObjective.loss
    def slow(self, step, *, resample):  # the same arithmetic, slowed so that the test can stop it mid-run
        time.sleep(0.02)
        return original(self, step, resample=resample)
    StrongFormObjective.loss = slow
    {body}
""")


def start(tmp_path, body: str) -> subprocess.Popen:
    script = tmp_path / "run.py"
    script.write_text(SCRIPT.format(body=body))
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    return subprocess.Popen([sys.executable, str(script)], cwd=tmp_path, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)


def wait_for_checkpoint(proc, path: Path, min_step: int, timeout: float = 120.0) -> None:
    t0 = time.time()
    while time.time() - t0 < timeout:
        if path.exists():
            try:
                if int(ckpt.read_attrs(path)["step"]) >= min_step:
                    return
            except ValueError:
                pass
        if proc.poll() is not None:
            raise AssertionError(f"the run ended before it could be stopped: {proc.stderr.read()[-2000:]}")
        time.sleep(0.01)
    proc.kill()
    raise AssertionError("no checkpoint appeared in time")


@pytest.fixture(scope="module")
def kill_reference():
    with torch.random.fork_rng(devices=[]):
        before = torch.get_num_threads()
        torch.set_num_threads(1)
        try:
            return solve(**KILL)
        finally:
            torch.set_num_threads(before)


def test_sigkill_between_checkpoints_then_resume_is_bit_identical(tmp_path, kill_reference):
    path = tmp_path / "k.ckpt.h5"
    body = f"import dlpde\ndlpde.solve('poisson-sin-Nd', dim=3, checkpoint_every=10, " \
           f"checkpoint_path={str(path)!r}, **{KILL!r})"
    proc = start(tmp_path, body)
    wait_for_checkpoint(proc, path, 50)
    time.sleep(0.015)  # somewhere between two checkpoints
    proc.send_signal(signal.SIGKILL)
    proc.communicate(timeout=60)
    assert proc.returncode == -signal.SIGKILL
    step = int(ckpt.read_attrs(path)["step"])
    assert 50 <= step < KILL["steps"] and step % 10 == 0
    resumed = solve(**KILL, resume=str(path))
    assert resumed.status == "ok" and resumed.steps_done == KILL["steps"]
    assert same_network(resumed, kill_reference)


def cli_argv(out) -> list[str]:
    """The CLI form of ``KILL`` (the run ``kill_reference`` makes), writing ``out``."""
    return ["solve", "poisson-sin-Nd", "--dim", "3", "--steps", str(KILL["steps"]), "--batch", "64",
            "--boundary-batch", "32", "--width", "16", "--depth", "2", "--lbfgs-steps", "0", "--dtype", "float64",
            "--seed", "5", "--log-every", "10", "--out", str(out)]


def test_sigterm_checkpoints_exits_143_and_resume_is_bit_identical(tmp_path, kill_reference):
    """SIGTERM (what schedulers send before killing a job) takes the Ctrl-C path: the last good state is written,
    the CLI exits 143 with one message naming the step that ran and the checkpoint's step, and --resume finishes
    the run bit for bit."""
    out = tmp_path / "t.h5"
    argv = cli_argv(out)
    body = f"from dlpde.cli import main\nraise SystemExit(main({argv + ['--checkpoint-every', '50']!r}))"
    proc = start(tmp_path, body)
    path = tmp_path / "t.ckpt.h5"
    wait_for_checkpoint(proc, path, 50)
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 143, err
    assert "Traceback" not in err and err.count("SIGTERM") == 1 and str(path) in err, err
    step = int(ckpt.read_attrs(path)["step"])
    assert 50 <= step < KILL["steps"] and f"checkpoint of step {step}" in err
    assert not out.exists()
    from dlpde.cli import main
    assert main(argv + ["--resume", str(path)]) == 0
    assert same_network(dlpde.load(out), kill_reference)


def test_cli_ctrl_c_prints_the_checkpoint_and_resume_finishes_the_run(tmp_path, kill_reference):
    out = tmp_path / "r.h5"
    argv = cli_argv(out)
    body = f"from dlpde.cli import main\nraise SystemExit(main({argv + ['--checkpoint-every', '50']!r}))"
    proc = start(tmp_path, body)
    path = tmp_path / "r.ckpt.h5"  # the default checkpoint name beside --out
    wait_for_checkpoint(proc, path, 50)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    assert "Traceback" not in err and str(path) in err and "--resume" in err
    assert not out.exists()  # an interrupted run leaves its checkpoint, not a result file
    step = int(ckpt.read_attrs(path)["step"])
    assert 50 <= step < KILL["steps"]
    from dlpde.cli import main
    assert main(argv + ["--resume", str(path)]) == 0
    resumed = dlpde.load(out)
    assert resumed.steps_done == KILL["steps"]
    assert all(torch.equal(p, q) for p, q in zip(resumed.model.parameters(), kill_reference.model.parameters()))


@pytest.mark.parametrize("data,extra", [(False, dict(steps=4, lbfgs_steps=9)), (True, dict(steps=12))])
def test_a_resumed_own_pde_is_bit_identical(data, extra, tmp_path):
    """An own PDE (heat equation; with a Data condition in the Adam phase, in the L-BFGS phase without): the
    resumed run records the derivative plans again before its first step, as the interrupted run had, so its
    network is bit-identical to an uninterrupted run's (the first resumed step used to run without a plan)."""
    import math
    from dlpde import PDE, Data, Dirichlet, Initial
    from dlpde.geometry import Interval
    pi = math.pi
    exact = lambda x: torch.exp(-x[:, 1]) * torch.sin(pi * x[:, 0])
    source = lambda x: -torch.exp(-x[:, 1]) * (1 - pi ** 2) * torch.sin(pi * x[:, 0])
    obs = torch.stack([torch.linspace(-1, 1, 10), torch.ones(10)], dim=1)
    conds = [Dirichlet(0.0), Initial(lambda x: torch.sin(pi * x[:, 0]))] + ([Data(obs, exact(obs))] if data else [])
    heat = lambda: PDE(Interval(-1, 1), lambda x, u: u.dt() - u.dxx(0) - source(x), conds, time=(0, 1), exact=exact)
    kw = dict(batch=24, boundary_batch=6, width=6, depth=2, progress=False, threads=1, dtype="float64", log_every=3,
              **extra)
    ck = str(tmp_path / "h.ckpt.h5")
    full = dlpde.solve(heat(), "pinn", checkpoint_every=8, checkpoint_path=ck, **kw)
    resumed = dlpde.solve(heat(), "pinn", resume=ck, **kw)
    flat = lambda s: torch.cat([p.detach().reshape(-1) for p in s.model.parameters()])
    assert torch.equal(flat(full), flat(resumed))
