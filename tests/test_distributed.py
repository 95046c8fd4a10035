"""Data parallel training: two processes started by torchrun (gloo on the CPU) train exactly as one process on
the union of their samples, and only rank 0 writes files and prints."""
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import h5py
import numpy as np
import pytest
import torch

from dlpde import distributed
from dlpde.problems import get_case
from dlpde.settings import SolveSettings
from dlpde.solvers.base import init_model
from dlpde.solvers.pinn import PINN, StrongFormObjective
from dlpde.training import Trainer
from dlpde.training import checkpoint as ckpt

ROOT = Path(__file__).resolve().parent.parent
RUN = dict(steps=30, batch=64, boundary_batch=32, width=16, depth=2, lbfgs_steps=10, log_every=5, seed=3,
           dtype="float64")

WORKER = textwrap.dedent("""
    import builtins, os, runpy, sys
    import h5py
    record = open(os.path.join({logdir!r}, "writes-" + os.environ["RANK"] + ".txt"), "w")

    def note(what):
        record.write(what + "\\n")
        record.flush()

    real_replace, real_open, RealFile = os.replace, builtins.open, h5py.File

    def replace(src, dst, *a, **k):
        note(f"replace {{dst}}")
        return real_replace(src, dst, *a, **k)

    def open_(file, mode="r", *a, **k):
        if any(c in mode for c in "wax+"):
            note(f"open {{file}} {{mode}}")
        return real_open(file, mode, *a, **k)

    class File(RealFile):
        def __init__(self, name, mode="r", *a, **k):
            if mode != "r":
                note(f"h5py {{name}} {{mode}}")
            super().__init__(name, mode, *a, **k)

    os.replace, builtins.open, h5py.File = replace, open_, File
    sys.argv = ["dlpde"] + {argv!r}
    runpy.run_module("dlpde", run_name="__main__")
""")


def test_stream_seeds():
    assert distributed.stream_seed(7, 2, 0) == 7 * 1_000_003 + 2  # rank 0 draws what one process draws
    seeds = {distributed.stream_seed(s, o, r) for s in range(20) for o in range(3) for r in range(8)}
    assert len(seeds) == 20 * 3 * 8
    assert all(0 <= x < 2**64 for x in seeds)
    s = SolveSettings(seed=7)
    a, b = s.generator(0), s.generator(0, rank=1)
    assert not torch.equal(torch.rand(5, generator=a), torch.rand(5, generator=b))
    assert torch.equal(torch.rand(5, generator=s.generator()), torch.rand(5, generator=s.generator(rank=0)))


def test_launch_is_read_from_the_environment():
    assert distributed.launch_from_env({}) is None
    assert distributed.launch_from_env({"RANK": "1", "WORLD_SIZE": "4", "LOCAL_RANK": "1"}) == \
        distributed.Launch(1, 4, 1)
    for bad in ({"RANK": "x", "WORLD_SIZE": "2"}, {"RANK": "3", "WORLD_SIZE": "2"}):
        with pytest.raises(ValueError, match="torchrun"):
            distributed.launch_from_env(bad)
    assert distributed.setup("cpu", {}) == "cpu"  # no torchrun: nothing started
    assert not distributed.is_initialized() and distributed.world_size() == 1 and distributed.is_main()


class Union:
    """One process, both ranks' samples: the mean of the two objectives' losses (equal batch sizes, so this is
    the loss on the union of the samples)."""

    def __init__(self, objectives):
        self.objectives = objectives

    def loss(self, step, *, resample):
        parts = [o.loss(step, resample=resample) for o in self.objectives]
        total = sum(p[0] for p in parts) / len(parts)
        terms = {k: sum(p[1][k] for p in parts) / len(parts) for k in parts[0][1]}
        return total, terms


def union_run():
    case = get_case("poisson-sin-Nd")
    problem = case.make(3)
    s = SolveSettings.from_kwargs(case.settings_for("pinn"), progress=False, **RUN)  # as dlpde.solve merges them
    model = init_model(lambda: PINN().build_model(problem, s), s.seed).to(s.torch_device, s.torch_dtype)
    objectives = [StrongFormObjective(problem, model, s) for _ in range(2)]
    objectives[1].gen = s.generator(rank=1)
    result = Trainer(s.train_config(), label="poisson-sin-Nd/pinn").fit(list(model.parameters()),
                                                                        Union(objectives))
    return result, model


def test_two_processes_equal_one_process_on_the_union_of_their_samples(tmp_path):
    out, ckpt_path, logdir = tmp_path / "ddp.h5", tmp_path / "ddp.ckpt.h5", tmp_path / "log"
    logdir.mkdir()
    argv = ["solve", "poisson-sin-Nd", "--dim", "3", "--out", str(out), "--checkpoint-every", "10"]
    for k, v in RUN.items():
        argv += [f"--{k.replace('_', '-')}", str(v)]
    worker = tmp_path / "worker.py"
    worker.write_text(WORKER.format(logdir=str(logdir), argv=argv))
    env = dict(os.environ, PYTHONPATH=str(ROOT), OMP_NUM_THREADS="1")
    for name in ("RANK", "WORLD_SIZE", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT"):
        env.pop(name, None)
    r = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2",
                        str(worker)], capture_output=True, text=True, cwd=tmp_path, env=env, timeout=300)
    assert r.returncode == 0, r.stderr[-4000:]
    summary = [line for line in r.stdout.splitlines() if "solver=pinn" in line]
    assert len(summary) == 1 and "status=ok" in summary[0]  # only rank 0 printed

    writes = {rank: (logdir / f"writes-{rank}.txt").read_text().split("\n") for rank in (0, 1)}
    assert [w for w in writes[1] if w] == []  # rank 1 wrote nothing
    assert f"replace {out}" in writes[0] and f"replace {ckpt_path}" in writes[0]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ddp.ckpt.h5", "ddp.h5", "ddp.xdmf", "log",
                                                          "worker.py"]
    assert int(ckpt.read_attrs(ckpt_path)["world_size"]) == 2

    with torch.random.fork_rng(devices=[]):
        before = torch.get_num_threads()
        torch.set_num_threads(1)
        try:
            result, model = union_run()
        finally:
            torch.set_num_threads(before)
    with h5py.File(out, "r") as f:
        assert f.attrs["processes"] == 2 and f.attrs["status"] == "ok"
        ddp_loss = np.asarray(f["history/loss"])
        ddp_steps = np.asarray(f["history/step"])
        ddp_params = {k: np.asarray(v) for k, v in f["network"].items()}
    one_loss = np.array([row["loss"] for row in result.history.rows])
    one_steps = np.array([row["step"] for row in result.history.rows])
    assert result.status == "ok" and len(one_loss) == 8  # 6 Adam rows + 2 L-BFGS rows
    np.testing.assert_array_equal(ddp_steps, one_steps)
    np.testing.assert_allclose(ddp_loss, one_loss, rtol=1e-10, atol=0)
    for name, value in model.state_dict().items():
        np.testing.assert_allclose(ddp_params[name], value.numpy(), rtol=1e-9, atol=1e-12)


@pytest.mark.skipif(torch.cuda.is_available(), reason="the skip path needs a machine without a GPU")
def test_gpu_benchmark_skips_cleanly_without_a_gpu(tmp_path):
    out = tmp_path / "GPU.md"
    r = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "gpu.py"), "--out", str(out)], capture_output=True,
                       text=True, timeout=120)
    assert r.returncode == 0 and "no CUDA GPU" in r.stdout and not out.exists()


@pytest.mark.slow
def test_gpu_benchmark_dry_run_on_the_cpu(tmp_path):
    out = tmp_path / "GPU.md"
    r = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "gpu.py"), "--device", "cpu", "--quick",
                        "--budget", "10", "--only", "pinn", "--out", str(out)], capture_output=True, text=True,
                       timeout=600)
    assert r.returncode == 0, r.stderr[-2000:]
    assert "| pinn | poisson-100d | 100 |" in out.read_text()
