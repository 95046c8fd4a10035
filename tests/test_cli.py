import subprocess
import sys

import h5py
import pytest


def run(*args, cwd=None):
    return subprocess.run([sys.executable, "-m", "dlpde", *args], capture_output=True, text=True, cwd=cwd,
                          timeout=300)


def test_cases_lists_every_case():
    from dlpde.problems import CASES

    r = run("cases")
    assert r.returncode == 0
    for name in CASES:
        assert name in r.stdout


@pytest.mark.parametrize("args,hint", [
    (["solve", "no-such-case"], "dlpde cases"),
    (["solve", "poisson-2d", "--solver", "nope"], "choose one of"),
    (["solve", "poisson-sin-Nd", "--dim", "0"], "at least 1"),
    (["solve", "poisson-sin-Nd", "--steps", "-5"], "at least 1"),
    (["solve", "poisson-sin-Nd", "--steps", "ten"], "whole number"),
    (["solve", "poisson-sin-Nd", "--lr", "nan"], "positive finite"),
    (["solve", "poisson-2d", "--frobnicate"], "unrecognized"),
    (["solve", "poisson-2d", "--out", "/nonexistent-dir/x.h5"], "does not exist"),
    (["info", "/nonexistent.h5"], "no such file"),
    ([], "choose a command"),
])
def test_bad_input_is_one_line_and_exit_2(args, hint):
    r = run(*args)
    assert r.returncode == 2
    assert "Traceback" not in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1, r.stderr
    assert hint in r.stderr


def test_solve_end_to_end(tmp_path):
    out = tmp_path / "r.h5"
    r = run("solve", "poisson-sin-Nd", "--dim", "3", "--steps", "20", "--batch", "64", "--width", "16",
            "--depth", "2", "--out", str(out))
    assert r.returncode == 0, r.stderr
    line = r.stdout.strip().splitlines()[-1]
    for part in ("poisson-sin-Nd", "solver=pinn", "dim=3", "steps=20", "rel_l2=", f"out={out}"):
        assert part in line
    with h5py.File(out) as f:
        assert f.attrs["status"] == "ok" and f.attrs["steps"] == 20
    info = run("info", str(out))
    assert info.returncode == 0 and "case: poisson-sin-Nd" in info.stdout
