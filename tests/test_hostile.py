"""Hostile input, property-based: malformed settings, shapes, NaN/inf in user data, negative or huge dimensions,
bad output paths, truncated or corrupted files and files of a newer format each give one clear error (ValueError or
TypeError with a sentence; the CLI: exit 2, one line, no traceback), and no existing good file is touched."""
import contextlib
import io
import math
import random
import tempfile
from pathlib import Path

import h5py
import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import dlpde
from dlpde.cli import main
from dlpde.geometry import Ball, Box
from dlpde.problems import Poisson
from dlpde.settings import LIMITS, MAX_DIM, MAX_SEED
from dlpde.training import Trainer
from dlpde.training import checkpoint as ckpt

FAST = settings(max_examples=25, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])
TINY = dict(steps=4, batch=16, boundary_batch=8, width=8, depth=1, log_every=2, eval_every=2, eval_points=100,
            lbfgs_steps=0, progress=False)


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    """A good solution and checkpoint, and damaged or foreign variants of them."""
    d = tmp_path_factory.mktemp("files")
    with torch.random.fork_rng(devices=[]):
        torch.set_num_threads(1)
        sol = dlpde.solve("poisson-2d", **TINY, checkpoint_every=2, checkpoint_path=str(d / "good.ckpt.h5"))
    sol.save(d / "good.h5")
    paths = {"dir": d, "good": d / "good.h5", "ckpt": d / "good.ckpt.h5"}
    for name in ("good", "ckpt"):
        raw = paths[name].read_bytes()
        paths[f"{name}-cut"] = d / f"{name}-cut.h5"
        paths[f"{name}-cut"].write_bytes(raw[: len(raw) * 2 // 3])
        paths[f"{name}-newer"] = d / f"{name}-newer.h5"
        paths[f"{name}-newer"].write_bytes(raw)
        with h5py.File(paths[f"{name}-newer"], "a") as f:
            f.attrs["format_version"] = 7
    paths["junk"] = d / "junk.h5"
    paths["junk"].write_bytes(b"\x89HDF\r\n\x1a\n" + bytes(range(256)) * 4)
    paths["foreign"] = d / "foreign.h5"
    with h5py.File(paths["foreign"], "w") as f:
        f["data"] = np.arange(10.0)
    paths["text"] = d / "notes.txt"
    paths["text"].write_text("precious notes\n")
    paths["solution"] = sol
    return paths


def snapshot(folder: Path) -> dict:
    return {p.name: p.read_bytes() for p in folder.iterdir() if p.is_file()}


# -- settings and dimensions ------------------------------------------------------------------------------------
def bad_count(lower: int, upper: int):
    return st.one_of(st.integers(max_value=lower - 1), st.integers(min_value=upper + 1, max_value=10**30),
                     st.floats(allow_nan=True, allow_infinity=True), st.text(max_size=4), st.booleans(),
                     st.lists(st.integers(), max_size=2))


def bad_choice(valid):
    return st.one_of(st.text(max_size=8).filter(lambda s: s not in valid), st.integers(),
                     st.lists(st.text(), max_size=1))


def bad_positive_float(upper=None):
    nonpos = st.floats(max_value=0.0, allow_nan=False)
    odd = st.one_of(st.just(math.nan), st.just(math.inf), st.text(max_size=3), st.booleans(), st.lists(st.floats()))
    return st.one_of(nonpos, odd, st.floats(min_value=upper, exclude_min=True, allow_infinity=False)) if upper \
        else st.one_of(nonpos, odd)


BAD = {
    **{k: bad_count(1, LIMITS[k]) for k in LIMITS},
    "steps": bad_count(1, 10**9), "resample_every": bad_count(1, 10**9), "log_every": bad_count(1, 10**9),
    "eval_every": bad_count(1, 10**9), "lbfgs_steps": bad_count(0, 10**9), "checkpoint_every": bad_count(0, 10**9),
    "max_rollbacks": bad_count(0, 10**9), "seed": bad_count(0, MAX_SEED),
    "lr": bad_positive_float(), "lr_final_ratio": bad_positive_float(1.0),
    "boundary_weight": st.one_of(st.floats(max_value=-1e-300), st.just(math.nan), st.just(math.inf), st.text()),
    "activation": bad_choice({"tanh", "sin", "softplus", "gelu", "silu", "sigmoid", "relu", "elu"}),
    "schedule": bad_choice({"cosine", "exponential", "constant"}),
    "derivative": bad_choice({"auto", "forward", "autograd", "hutchinson", "sdgd"}),
    "sampling": bad_choice({"pseudo", "sobol"}), "dtype": bad_choice({"float32", "float64"}),
    "device": st.one_of(bad_choice({"cpu"}).filter(lambda s: not str(s).startswith("cuda")),
                        st.sampled_from(["cuda", "cuda:0", "cuda:x", "cpu:0"])),
    "checkpoint_path": st.one_of(st.integers(), st.lists(st.text(), max_size=1), st.just("")),
}


@FAST
@given(data=st.data())
def test_solve_refuses_bad_settings_before_training(data):
    key = data.draw(st.sampled_from(sorted(BAD)), label="setting")
    value = data.draw(BAD[key], label="value")
    if key == "steps" and value == 0:  # steps=0 is valid when L-BFGS steps remain; here there are none
        value = -1
    kw = dict(TINY, **{key: value})
    if key == "checkpoint_path":
        kw["checkpoint_every"] = 1
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(Trainer, "fit", lambda *a, **k: pytest.fail(f"training started with {key}={value!r}"))
        with pytest.raises((ValueError, TypeError)) as e:
            dlpde.solve("poisson-sin-Nd", dim=2, **kw)
    message = str(e.value)
    assert key.split("_")[0] in message and len(message.split()) >= 4, message


@FAST
@given(dim=st.one_of(st.integers(max_value=0), st.integers(min_value=MAX_DIM + 1, max_value=10**40),
                     st.floats(), st.text(max_size=3), st.booleans()))
def test_negative_or_huge_dimensions_are_refused_at_once(dim):
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(Box, "__init__", lambda *a, **k: pytest.fail("a domain was built"))
        with pytest.raises((ValueError, TypeError), match="dim"):
            dlpde.solve("poisson-sin-Nd", dim=dim, **TINY)


# -- user data ----------------------------------------------------------------------------------------------------
def zeros(x):
    return torch.zeros_like(x[:, 0])


@FAST
@given(kind=st.sampled_from(["column", "long", "scalar-nan", "nan-points", "inf-points", "string", "list"]),
       which=st.sampled_from(["source", "boundary"]), frac=st.floats(0.01, 1.0))
def test_nan_inf_or_misshapen_user_functions_give_one_clear_error(kind, which, frac):
    def bad(x):
        n = x.shape[0]
        if kind == "column":
            return torch.ones(n, 1, dtype=x.dtype)
        if kind == "long":
            return torch.ones(n + 1, dtype=x.dtype)
        if kind == "scalar-nan":
            return torch.tensor(math.nan, dtype=x.dtype)
        if kind in ("nan-points", "inf-points"):
            v = torch.ones(n, dtype=x.dtype)
            v[: max(1, int(frac * n))] = math.nan if kind == "nan-points" else -math.inf
            return v
        if kind == "string":
            return "one"
        return [1.0] * n

    source, boundary = (bad, zeros) if which == "source" else (zeros, bad)
    if which == "boundary" and kind == "scalar-nan":
        kind = "nan-points"  # a 0-d target is a shape error; keep the NaN case meaningful
    p = Poisson(Box.unit(2), source, boundary)
    with pytest.raises((ValueError, TypeError)) as e:
        dlpde.solve(p, **TINY)
    message = str(e.value)
    assert len(message.split()) >= 6 and ("shape" in message or "NaN" in message or "residual" in message), message


@FAST
@given(lo=st.lists(st.floats(allow_nan=True, allow_infinity=True), min_size=0, max_size=3),
       hi=st.lists(st.floats(allow_nan=True, allow_infinity=True), min_size=0, max_size=3))
def test_domains_refuse_nan_inf_and_empty_corners(lo, hi):
    ok = (len(lo) == len(hi) >= 1 and all(math.isfinite(v) for v in lo + hi) and all(b > a for a, b in zip(lo, hi)))
    if ok:
        assert Box(lo, hi).dim == len(lo)
    else:
        with pytest.raises(ValueError):
            Box(lo, hi)
    center_ok = len(lo) >= 1 and all(math.isfinite(v) for v in lo)
    if not center_ok:
        with pytest.raises(ValueError):
            Ball(lo, 1.0)
    for radius in (0.0, -1.0, math.nan, math.inf):
        with pytest.raises(ValueError):
            Ball([0.0, 0.0], radius)


@FAST
@given(points=hnp.arrays(np.float64, hnp.array_shapes(min_dims=0, max_dims=3, min_side=0, max_side=4),
                         elements=st.floats(allow_nan=True, allow_infinity=True, width=64)))
def test_evaluating_a_solution_checks_shapes_and_values(files, points):
    sol = files["solution"]
    with np.errstate(over="ignore"):  # values beyond float32 become infinite in the float32 network: refused too
        valid = points.ndim == 2 and points.shape[1] == 2 and np.isfinite(points.astype(np.float32)).all()
    if valid:
        assert sol(points).shape == (points.shape[0],)
        assert sol.grad(points).shape == points.shape
    else:
        with pytest.raises(ValueError):
            sol(points)
        with pytest.raises(ValueError):
            sol.grad(points)


# -- files --------------------------------------------------------------------------------------------------------
def corrupt(raw: bytes, seed: int, cut: bool) -> bytes:
    rng = random.Random(seed)
    if cut:
        return raw[: rng.randrange(len(raw))]
    b = bytearray(raw)
    for _ in range(rng.randint(1, 6)):
        b[rng.randrange(len(b))] = rng.randrange(256)
    return bytes(b)


@settings(max_examples=10, deadline=None, database=None)
@given(seed=st.integers(0, 2**32 - 1), cut=st.booleans())
def test_corrupted_or_truncated_solution_files_fail_cleanly(files, seed, cut):
    sol = files["solution"]
    with tempfile.TemporaryDirectory() as d:
        path = Path(d) / "damaged.h5"
        path.write_bytes(corrupt(files["good"].read_bytes(), seed, cut))
        x = torch.rand(16, 2, dtype=torch.float64, generator=torch.Generator().manual_seed(seed))
        try:
            loaded = dlpde.load(path)
        except ValueError as e:
            assert str(path) in str(e)
        else:  # the damage missed everything load reads (e.g. padding): then the network is intact
            assert torch.equal(loaded(x), sol(x))
        with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()) as err:
            rc = main(["info", str(path)])
        assert rc in (0, 2) and "Traceback" not in err.getvalue()


@settings(max_examples=8, deadline=None, database=None)
@given(seed=st.integers(0, 2**32 - 1), cut=st.booleans())
def test_corrupted_or_truncated_checkpoints_fail_cleanly(files, seed, cut):
    good_state, _, _ = ckpt.read(files["ckpt"])
    with tempfile.TemporaryDirectory() as d:
        path = Path(d) / "damaged.ckpt.h5"
        path.write_bytes(corrupt(files["ckpt"].read_bytes(), seed, cut))
        try:
            state, _, _ = ckpt.read(path)
        except ValueError as e:
            assert str(path) in str(e)
        else:
            assert all(torch.equal(a, b) for a, b in zip(state["params"], good_state["params"]))


def test_files_of_a_newer_format_are_refused(files):
    with pytest.raises(ValueError, match="newer"):
        dlpde.load(files["good-newer"])
    with pytest.raises(ValueError, match="newer"):
        ckpt.read(files["ckpt-newer"])
    with pytest.raises(ValueError, match="not a dlpde solution"):
        dlpde.load(files["foreign"])
    with pytest.raises(ValueError, match="not a dlpde checkpoint"):
        ckpt.read(files["good"])


def test_a_file_with_missing_parts_is_damaged_not_a_crash(files, tmp_path):
    for mutate in (lambda f: f.__delitem__("network"), lambda f: f.__delitem__("history"),
                   lambda f: f["network"].attrs.__setitem__("architecture", "{not json"),
                   lambda f: f["network"].attrs.__setitem__("architecture", '{"type": "MLP"}'),
                   lambda f: f.attrs.__setitem__("settings", "[1, 2]"),
                   lambda f: f.attrs.__delitem__("status")):
        path = tmp_path / "m.h5"
        path.write_bytes(files["good"].read_bytes())
        with h5py.File(path, "a") as f:
            mutate(f)
        with pytest.raises(ValueError, match="damaged"):
            dlpde.load(path)


def test_save_never_replaces_a_foreign_file(files, tmp_path):
    sol = files["solution"]
    for name in ("text", "foreign"):
        target = tmp_path / files[name].name
        target.write_bytes(files[name].read_bytes())
        with pytest.raises(ValueError, match="not a dlpde result"):
            sol.save(target)
        assert target.read_bytes() == files[name].read_bytes()
    sol.save(tmp_path / "mine.h5")
    sol.save(tmp_path / "mine.h5")  # an earlier result may be replaced
    with pytest.raises(ValueError, match="directory"):
        sol.save(tmp_path)
    with pytest.raises(ValueError, match="not a folder"):
        sol.save(tmp_path / "mine.h5" / "x.h5")


# -- the command line ---------------------------------------------------------------------------------------------
CLI_BAD = {
    "--dim": ["-1", "0", str(MAX_DIM + 1), "9" * 40, "1.5", "abc", ""],
    "--steps": ["0", "-3", "x", "1e3", str(10**9 + 1)],
    "--batch": ["0", str(LIMITS["batch"] + 1)], "--width": [str(LIMITS["width"] + 1)], "--depth": ["1001"],
    "--seed": ["-1", str(MAX_SEED + 1)], "--lr": ["0", "-1", "nan", "inf", "1e400", "1e-400", "fast"],
    "--device": ["tpu", "cuda"] if not torch.cuda.is_available() else ["tpu"], "--dtype": ["float16"],
    "--derivative": ["magic"], "--activation": ["relu7"], "--lbfgs-steps": ["-1"], "--log-every": ["0"],
    "--checkpoint-every": ["-1"], "--max-rollbacks": ["-2"], "--solver": ["nope", "deep-bsde"],
}
VALID = ["--steps", "2", "--batch", "16", "--boundary-batch", "8", "--width", "8", "--depth", "1",
         "--lbfgs-steps", "0"]


def run_cli(argv):
    with contextlib.redirect_stdout(io.StringIO()) as out, contextlib.redirect_stderr(io.StringIO()) as err:
        rc = main(argv)
    return rc, out.getvalue(), err.getvalue()


def assert_usage_error(rc, err, argv):
    assert rc == 2, (argv, err)
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1, (argv, err)


@FAST
@given(data=st.data())
def test_cli_bad_values_exit_2_with_one_line(files, data):
    flag = data.draw(st.sampled_from(sorted(CLI_BAD)), label="flag")
    value = data.draw(st.sampled_from(CLI_BAD[flag]), label="value")
    folder = files["dir"]
    before = snapshot(folder)
    argv = ["solve", "poisson-sin-Nd", *VALID, "--out", str(folder / "out.h5"), flag, value]
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(Trainer, "fit", lambda *a, **k: pytest.fail(f"training started with {flag} {value!r}"))
        rc, _, err = run_cli(argv)
    assert_usage_error(rc, err, argv)
    assert snapshot(folder) == before


@FAST
@given(case=st.text(max_size=12).filter(lambda s: not s.startswith("-")))
def test_cli_unknown_cases_exit_2(case):
    from dlpde.problems import CASES
    if case in CASES:
        return
    rc, _, err = run_cli(["solve", case, *VALID])
    assert_usage_error(rc, err, case)


def test_cli_bad_paths_exit_2_and_leave_every_file_alone(files, tmp_path):
    folder = files["dir"]
    long_name = str(tmp_path / ("x" * 300 + ".h5"))
    cases = [
        ["--out", str(tmp_path)],  # a directory
        ["--out", str(tmp_path / "missing" / "r.h5")],
        ["--out", str(files["text"])], ["--out", str(files["foreign"])], ["--out", str(files["good-newer"])],
        ["--out", str(files["junk"])],
        ["--out", str(files["text"] / "r.h5")],  # inside a file
        ["--out", long_name],
        ["--out", str(tmp_path / "r.h5"), "--plot", str(files["text"])],
        ["--out", str(tmp_path / "r.h5"), "--checkpoint", str(files["foreign"])],
        ["--out", str(tmp_path / "r.h5"), "--checkpoint", str(tmp_path / "r.h5")],
        ["--out", str(tmp_path / "r.h5"), "--resume", str(tmp_path / "missing.ckpt.h5")],
        ["--out", str(tmp_path / "r.h5"), "--resume", str(files["junk"])],
        ["--out", str(tmp_path / "r.h5"), "--resume", str(files["ckpt-cut"])],
        ["--out", str(tmp_path / "r.h5"), "--resume", str(files["ckpt-newer"])],
        ["--out", str(tmp_path / "r.h5"), "--resume", str(files["good"])],  # a result, not a checkpoint
    ]
    before = snapshot(folder)
    for extra in cases:
        argv = ["solve", "poisson-2d", *VALID, *extra]
        with pytest.MonkeyPatch.context() as mp:
            mp.setattr(Trainer, "fit", lambda *a, **k: pytest.fail(f"training started with {extra}"))
            rc, _, err = run_cli(argv)
        assert_usage_error(rc, err, extra)
        assert snapshot(folder) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == []  # nothing was written


def test_cli_info_on_damaged_files_exit_2(files):
    for name in ("good-cut", "good-newer", "junk", "foreign", "ckpt", "dir"):
        rc, _, err = run_cli(["info", str(files[name])])
        assert_usage_error(rc, err, name)
    rc, out, _ = run_cli(["info", str(files["good"])])
    assert rc == 0 and "case: poisson-2d" in out


def test_resume_with_a_checkpoint_of_another_run_exits_2(files, tmp_path):
    argv = ["solve", "poisson-sin-Nd", "--dim", "2", *VALID, "--out", str(tmp_path / "r.h5"), "--resume",
            str(files["ckpt"])]
    rc, _, err = run_cli(argv)
    assert_usage_error(rc, err, argv)
    assert "written for 'poisson-2d/pinn'" in err
    assert not (tmp_path / "r.h5").exists()


def test_files_without_the_checksum_seal_still_load(files, tmp_path):
    """Files written before dlpde sealed its files (no user block) are read after a check in a subprocess."""
    old = tmp_path / "old.h5"
    with h5py.File(files["good"], "r") as src, h5py.File(old, "w") as dst:
        for k, v in src.attrs.items():
            dst.attrs[k] = v
        for name in src:
            src.copy(src[name], dst, name=name)
    assert old.read_bytes()[:8] == b"\x89HDF\r\n\x1a\n"  # no user block
    x = torch.rand(8, 2, dtype=torch.float64)
    assert torch.equal(dlpde.load(old)(x), files["solution"](x))
