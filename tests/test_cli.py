import argparse
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
    r = run("solve", "poisson-sin-Nd", "--dim", "3", "--steps", "20", "--lbfgs-steps", "0", "--batch", "64",
            "--width", "16", "--depth", "2", "--out", str(out))
    assert r.returncode == 0, r.stderr
    line = r.stdout.strip().splitlines()[-1]
    for part in ("poisson-sin-Nd", "solver=pinn", "dim=3", "steps=20", "rel_l2=", f"out={out}"):
        assert part in line
    with h5py.File(out) as f:
        assert f.attrs["status"] == "ok" and f.attrs["steps"] == 20
    info = run("info", str(out))
    assert info.returncode == 0 and "case: poisson-sin-Nd" in info.stdout


def test_verbose_anywhere_threads_weight_progress_and_help_for_every_option():
    from dlpde.cli import UsageError, build_parser
    from dlpde.settings import settings_from_args
    p = build_parser()
    a = p.parse_args(["solve", "poisson-2d", "-v", "--threads", "1", "--boundary-weight", "0", "--no-progress"])
    assert a.verbose is True and a.threads == 1
    assert settings_from_args(a) == {"boundary_weight": 0.0, "progress": False, "threads": 1}
    assert p.parse_args(["-v", "cases"]).verbose is True and p.parse_args(["cases"]).verbose is False
    assert p.parse_args(["validate", "poisson-2d", "-v"]).verbose is True
    with pytest.raises(UsageError, match="boundary-weight must be a finite number ≥ 0"):
        p.parse_args(["solve", "poisson-2d", "--boundary-weight", "-1"])
    solve = next(a for a in p._actions if isinstance(a, argparse._SubParsersAction)).choices["solve"]
    assert all(action.help for action in solve._actions), [a.dest for a in solve._actions if not a.help]


def test_threads_are_set_for_the_solve_only_and_chosen_without_oversubscribing():
    import torch

    import dlpde
    from dlpde.settings import SolveSettings
    before = torch.get_num_threads()
    sol = dlpde.solve("poisson-2d", "pinn", steps=2, batch=16, boundary_batch=8, width=4, depth=1, progress=False,
                      threads=1, eval_points=100)
    assert sol.status == "ok" and torch.get_num_threads() == before  # the caller's setting is back
    auto = SolveSettings().cpu_threads()
    assert 1 <= auto <= torch.get_num_threads()
    assert SolveSettings(threads=3).cpu_threads() == 3
    with pytest.raises(ValueError, match="threads must be an integer from 1"):
        SolveSettings(threads=0)


def test_an_unknown_case_does_not_load_the_compiler():
    """Start-up (issue 17): `dlpde solve no-such-case` needs torch (the case registry) but not torch's compiler:
    ``torch._dynamo`` adds 1.7 s to the answer, and a decorator applied at import time (``torch.compiler.disable``
    in ``dlpde.nn.constraints``) once loaded it for every command."""
    _in_a_fresh_python("import sys, contextlib, io\n"
                       "from dlpde.cli import main\n"
                       "with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):\n"
                       "    assert main(['solve', 'no-such-case']) == 2\n"
                       "import dlpde.api, dlpde.nn, dlpde.solvers\n"
                       "assert 'torch' in sys.modules\n"
                       "assert 'torch._dynamo' not in sys.modules, 'the library loaded torch._dynamo at import time'\n")


def test_import_help_and_bad_input_do_not_load_torch():
    """Start-up (issue 17): `import dlpde`, `dlpde --help` and a mistyped command answer without importing torch
    (about 0.1 s instead of the 1.5–3 s torch's import takes here)."""
    _in_a_fresh_python("import sys, contextlib, io\n"
                       "import dlpde\n"
                       "assert 'torch' not in sys.modules, 'import dlpde loaded torch'\n"
                       "from dlpde.cli import main\n"
                       "with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):\n"
                       "    try:\n"
                       "        main(['--help'])\n"
                       "    except SystemExit:\n"
                       "        pass\n"
                       "    assert main(['slove', 'poisson-2d']) == 2\n"
                       "    assert main(['solve', 'poisson-2d', '--steps', '-3']) == 2\n"
                       "assert 'torch' not in sys.modules, 'the CLI loaded torch before it needed it'\n"
                       "assert callable(dlpde.solve) and 'torch' in sys.modules\n")


def _in_a_fresh_python(code: str) -> None:
    """Run ``code`` in a new interpreter (nothing imported yet) and fail with its stderr if it fails."""
    import subprocess
    import sys
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr


def test_a_reader_that_leaves_early_is_not_an_error():
    """`dlpde cases | head -1`: a closed pipe ends the command quietly with status 0 (it said 'Broken pipe', 2).
    The reading end is closed before the command writes, so every write meets the closed pipe."""
    import subprocess
    import sys
    proc = subprocess.Popen([sys.executable, "-m", "dlpde", "cases"], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    proc.stdout.close()
    err = proc.stderr.read().decode()
    assert proc.wait(timeout=60) == 0 and "Broken pipe" not in err, err


def test_settings_out_of_range_are_refused():
    from dlpde.settings import SolveSettings
    with pytest.raises(ValueError, match="threads must be an integer from 1 to 4096"):
        SolveSettings(threads=10 ** 9)  # OpenMP's allocation for it ended the process without an exception
    with pytest.raises(TypeError, match="progress must be True, False or None"):
        SolveSettings(progress="yes")
    with pytest.raises(ValueError, match="boundary_weight"):
        SolveSettings(boundary_weight=True)
    with pytest.raises(TypeError, match="non-empty file path"):
        SolveSettings(checkpoint_path="")
