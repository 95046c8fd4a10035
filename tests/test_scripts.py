"""Every validation and benchmark script runs in its tiny mode and writes its file (issue 18, item 5).

Each script runs as a subprocess (``sys.executable``, OMP_NUM_THREADS=1, DDE_BACKEND=pytorch) writing into a temporary
folder; the numbers are not checked, only that the file appears with its table header, the tiny run's row and the
command (with its thread count) that made it. The subprocesses start together when the first of these tests runs,
two at a time (the CI machine has two cores; most of each run is importing torch). The last test checks that no
committed file changed. The report tests rebuild each committed markdown file from its stored runs, in process, into
a temporary folder, and compare it with the committed file: the stored runs are what the file shows. (That
benchmarks/gpu.py without a GPU says so, writes nothing and exits 0 is tests/test_distributed.py's
test_gpu_benchmark_skips_cleanly_without_a_gpu; its CPU dry run is here.)
"""
from __future__ import annotations

import hashlib
import importlib.util
import json
import os
import shutil
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
BENCH = ROOT / "benchmarks"
HAS_DEEPXDE = importlib.util.find_spec("deepxde") is not None


# name: (command line with {d} for the output folder, file it writes, lines the file must hold, needs DeepXDE)
SCRIPTS = {
    "validation": (["validation/run.py", "--quick", "--threads", "1", "--out", "{d}", "--only", "poisson-2d-pinn"],
                   "REPORT.md", ["| case | solver | dim | steps | seconds | error | metric | target | reference | "
                                 "figure |", "| poisson-2d | pinn | 2 | 20 |"], False),
    "deepxde_examples": (["benchmarks/deepxde_examples.py", "--quick", "--only", "poisson-1d-neumann", "--out",
                          "{d}/DEEPXDE_EXAMPLES.md"], "DEEPXDE_EXAMPLES.md",
                         ["| case | dlpde error | DeepXDE error | dlpde s | DeepXDE s | error ratio | time ratio | "
                          "DeepXDE settings |", "| `poisson-1d-neumann` (quick) |",
                          "`python benchmarks/deepxde_examples.py --threads 1 --only poisson-1d-neumann --quick`"],
                         True),
    "bsde": (["benchmarks/bsde.py", "--tiny", "--out", "{d}/BSDE.md", "hjb-lq"], "BSDE.md",
             ["| case | d | seed | Adam steps | batch | N | seconds | u(0,x₀) | std last 10 % | reference | rel. error "
              "| target | met |", "| hjb-lq | 100 | 0 | 4 | 16 |",
              "`python benchmarks/bsde.py --threads 1 --tiny hjb-lq`"],
             False),
    "bsde_pinn": (["benchmarks/bsde.py", "--pinn", "--tiny", "--dims", "1", "--out", "{d}/PINN_PARABOLIC.md", "hjb-lq"],
                  "PINN_PARABOLIC.md",
                  ["| case | d | seed | Adam steps | batch | terminal batch | seconds | field rel. L2 | u(0,0) | "
                   "reference | rel. error u(0,0) | status |", "| hjb-lq | 1 | 0 | 4 | 64 | 32 |",
                   "`python benchmarks/bsde.py --threads 1 --pinn --tiny --dims 1 hjb-lq`"], False),
    "bsde_bias": (["benchmarks/bsde_bias.py", "--tiny", "--cases", "burgers-type", "--out", "{d}/BSDE.md"], "BSDE.md",
                  ["| case | N | paths | euler bias | ± s.e. | heun bias | ± s.e. | heun − euler | ± s.e. |",
                   "| burgers-type | 4 | 64 |",
                   "`python benchmarks/bsde_bias.py --threads 1 --tiny --cases burgers-type`"],
                  False),
    "pinn_step": (["benchmarks/pinn_step.py", "--tiny", "--threads", "1", "--out", "{d}/PINN_STEP.md"], "PINN_STEP.md",
                  ["| d | DeepXDE ms/step | dlpde eager ms/step | dlpde compiled ms/step | speed-up eager | "
                   "speed-up compiled |", "| 2 | ", "× | – |",  # no torch.compile in --tiny
                   "`python benchmarks/pinn_step.py --tiny --threads 1`"], True),
    "potential": (["benchmarks/potential_laplacian.py", "--tiny", "--out", "{d}/POTENTIAL.md"], "POTENTIAL.md",
                  ["| d | m | batch | exact value | jet value | autograd value | speed-up value | exact train | "
                   "jet train | autograd train | speed-up train |", "| 2 | 8 | 16 |",
                   "`python benchmarks/potential_laplacian.py --threads 1 --tiny`"], False),
    "optimizers": (["benchmarks/optimizers.py", "--tiny", "--out", "{d}/OPTIMIZERS.md"], "OPTIMIZERS.md",
                   ["| case | d | optimizer | rel. L2 error | training s | s to 1e-3 |", "| poisson-2d | 2 | Adam |",
                    "| poisson-2d | 2 | Adam + L-BFGS |", "| poisson-2d | 2 | ENGD |"], False),
    "engd": (["benchmarks/engd.py", "--tiny", "--out", "{d}/ENGD.md"], "ENGD.md",
             ["| optimizer | rel. L2 error | training s |", "| ENGD, 40 steps (fixed points) |",
              "`python benchmarks/engd.py --threads 1 --tiny`"], False),
    "scaling": (["benchmarks/scaling.py", "--tiny", "--only", "deep-bsde", "--out", "{d}/SCALING.md"], "SCALING.md",
                ["| solver | case | settings | d = 4 s/step | d = 8 s/step | growth d = 100 → 1000 |",
                 "| deep-bsde | hjb-lq |", "`python benchmarks/scaling.py --threads 1 --tiny --only deep-bsde`"], False),
    "keep_memory": (["benchmarks/keep_memory.py", "--tiny", "--out", "{d}/KEEP_MEMORY.md"], "KEEP_MEMORY.md",
                    ["| solver | case | d | setting | steps × rounds | glibc's defaults s/step | kept s/step | "
                     "speed-up | peak GB, defaults | peak GB, kept |", "| deep-bsde | hjb-lq | 4 | tiny | 2 × 1 |",
                     "| pinn | poisson-sin-Nd | 2 | tiny | 2 × 1 |", "`python benchmarks/keep_memory.py --threads 1 --tiny`"],
                    False),
    "gpu_dry_run": (["benchmarks/gpu.py", "--tiny", "--only", "deep-bsde", "--out", "{d}/GPU.md"], "GPU.md",
                    ["| solver | case | d | s/step (float32) | HtoD / step | DtoH / step | syncs / step | time to rel "
                     "≤ 0.1 | time to rel ≤ 0.01 | last error | steps run | float64 |", "| deep-bsde | hjb-lq | 100 |",
                     "`python benchmarks/gpu.py --tiny --only deep-bsde`"], False),
    "gpu_extreme_dry_run": (["benchmarks/gpu_extreme.py", "--tiny", "--out", "{d}/GPU_EXTREME.md"], "GPU_EXTREME.md",
                            ["| case | d | steps | rel. L2 error | seconds | error after one step (≈ the calibrated "
                             "constant) | status |", "| poisson-inseparable-Nd | 1000 | 3 |",
                             "`python benchmarks/gpu_extreme.py --tiny`"], False),
}
# what no run may change: the committed markdown files, stored runs and figures
COMMITTED = [BENCH, ROOT / "validation" / "REPORT.md", ROOT / "validation" / "results",
             ROOT / "validation" / "figures"]


def _skip_reason(name: str) -> str | None:
    if SCRIPTS[name][3] and not HAS_DEEPXDE:
        return "deepxde is not installed"
    return None


def _run(name: str, folder: Path) -> subprocess.CompletedProcess:
    folder.mkdir(parents=True)
    argv = [a.replace("{d}", str(folder)) for a in SCRIPTS[name][0]]
    # one thread, DeepXDE on PyTorch, and no GPU: tiny runs check the scripts on the CPU, alike everywhere
    env = dict(os.environ, OMP_NUM_THREADS="1", DDE_BACKEND="pytorch", CUDA_VISIBLE_DEVICES="")
    return subprocess.run([sys.executable, str(ROOT / argv[0]), *argv[1:]], capture_output=True, text=True,
                          timeout=300, cwd=folder, env=env)


def _digest() -> dict[str, str]:
    files = [p for top in COMMITTED for p in ([top] if top.is_file() else sorted(top.rglob("*")))
             if p.is_file() and "__pycache__" not in p.parts]
    return {str(p.relative_to(ROOT)): hashlib.sha256(p.read_bytes()).hexdigest() for p in files}


@pytest.fixture(scope="module")
def runs(request, tmp_path_factory):
    """Start every selected script's tiny run (two at a time) and hand out their futures."""
    here = Path(__file__).resolve()
    wanted = [item.callspec.params["name"] for item in request.session.items
              if Path(str(item.path)).resolve() == here
              and getattr(item, "originalname", "") == "test_script_runs_tiny_and_writes_its_file"]
    base = tmp_path_factory.mktemp("scripts")
    before = _digest()
    pool = ThreadPoolExecutor(max_workers=2)
    futures = {n: pool.submit(_run, n, base / n) for n in dict.fromkeys(wanted) if _skip_reason(n) is None}
    yield {"futures": futures, "base": base, "before": before}
    pool.shutdown(wait=True, cancel_futures=True)


@pytest.mark.parametrize("name", list(SCRIPTS))
def test_script_runs_tiny_and_writes_its_file(name, runs):
    why = _skip_reason(name)
    if why:
        pytest.skip(why)
    r = runs["futures"][name].result()
    assert r.returncode == 0, f"{SCRIPTS[name][0]}\n{r.stdout[-2000:]}\n{r.stderr[-3000:]}"
    folder = runs["base"] / name
    file, lines = SCRIPTS[name][1], SCRIPTS[name][2]
    text = (folder / file).read_text()
    for line in lines:
        assert line in text, f"{line!r} not in {file}:\n{text}"
    if name == "validation":
        res = json.loads((folder / "results" / "poisson-2d-pinn.json").read_text())
        assert res["quick"] is True and res["steps"] == 20 and res["error"] > 0
        assert res["command"] == "python validation/run.py --threads 1 --only poisson-2d-pinn --quick"
        assert res["machine"].split(", ")[1] == "1 threads"
        assert (folder / res["figure"]).stat().st_size > 1000
    if name == "deepxde_examples":
        stored = json.loads((folder / "deepxde_examples" / "poisson-1d-neumann.json").read_text())
        assert stored["quick"] and stored["deepxde"]["status"] == "ok", stored
        assert stored["deepxde"]["steps"] > 0 and stored["deepxde"]["seconds"] >= 0
        assert stored["dlpde"]["status"] == "ok", stored["dlpde"]
    if name == "bsde":  # the row is stored, the bias table is absent (nothing stored for it)
        assert json.loads((folder / "bsde" / "hjb-lq-seed0.json").read_text())["tiny"] is True
        assert "bias" not in text.lower()
    if name == "optimizers":
        assert (folder / "optimizers.png").stat().st_size > 1000
        stored = json.loads((folder / "optimizers.json").read_text())
        assert set(stored) == {"poisson-2d"}
        assert stored["poisson-2d"]["command"] == "python benchmarks/optimizers.py --threads 1 --tiny"


def test_no_committed_file_was_changed(runs):
    for future in runs["futures"].values():
        future.exception()  # wait for every run
    after = _digest()
    changed = sorted(k for k in set(runs["before"]) | set(after) if runs["before"].get(k) != after.get(k))
    assert not changed, f"a tiny run wrote into the repository: {changed}"


# ---------------------------------------------------------------------------------------------------------------
# the committed files are what their stored runs give (in process, into a temporary folder)
# ---------------------------------------------------------------------------------------------------------------
def _module(path: Path):
    for folder in (path.parent, ROOT):
        if str(folder) not in sys.path:
            sys.path.insert(0, str(folder))
    spec = importlib.util.spec_from_file_location(f"script_{path.stem}", path)
    mod = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = mod  # dataclasses look their module up there
    spec.loader.exec_module(mod)
    return mod


def _copy(tmp: Path, *names: str, src: Path = BENCH) -> None:
    for n in names:
        (shutil.copytree if (src / n).is_dir() else shutil.copy)(src / n, tmp / n)


@pytest.mark.parametrize("name", ["BSDE.md", "PINN_PARABOLIC.md", "PINN_STEP.md", "POTENTIAL.md", "OPTIMIZERS.md",
                                  "DEEPXDE_EXAMPLES.md", "validation/REPORT.md"])
def test_committed_markdown_is_rebuilt_from_its_stored_runs(name, tmp_path):
    if name == "validation/REPORT.md":
        _copy(tmp_path, "REPORT.md", "results", src=ROOT / "validation")
        _module(ROOT / "validation" / "run.py").write_report(tmp_path)
        assert (tmp_path / "REPORT.md").read_text() == (ROOT / name).read_text()
        return
    _copy(tmp_path, name)
    out = tmp_path / name
    if name in ("BSDE.md", "PINN_PARABOLIC.md"):
        _copy(tmp_path, name[:-3].lower())
        bsde = _module(BENCH / "bsde.py")
        (bsde.write_bsde if name == "BSDE.md" else bsde.write_pinn)(out)
    elif name == "PINN_STEP.md":
        _copy(tmp_path, "pinn_step")
        _module(BENCH / "pinn_step.py").write(out)
    elif name == "POTENTIAL.md":
        _copy(tmp_path, "potential")
        _module(BENCH / "potential_laplacian.py").write(out)
    elif name == "OPTIMIZERS.md":
        _copy(tmp_path, "optimizers.json")
        opt = _module(BENCH / "optimizers.py")
        results = json.loads((tmp_path / "optimizers.json").read_text())
        opt.write({c: results[c] for c in opt.CASES if c in results}, out)
        assert (tmp_path / "optimizers.png").read_bytes() == (BENCH / "optimizers.png").read_bytes()
    elif name == "DEEPXDE_EXAMPLES.md":
        _copy(tmp_path, "deepxde_examples")
        _module(BENCH / "deepxde_examples.py").write_markdown(out, tmp_path / "deepxde_examples")
    assert out.read_text() == (BENCH / name).read_text()


def test_report_helpers(tmp_path):
    """The command names the threads and leaves out where the file went; hand-written notes survive a rewrite; a
    tiny run refuses to write over the committed file."""
    import argparse

    report = _module(BENCH / "_report.py")
    assert report.command("bsde.py", ["--out", "/x/B.md", "--seeds", "1", "hjb-lq"], 1) == \
        "python benchmarks/bsde.py --threads 1 --seeds 1 hjb-lq"
    assert report.command("gpu.py", ["--out=/x.md", "--budget", "80", "--threads", "2"], 1) == \
        "python benchmarks/gpu.py --budget 80 --threads 2"
    md = tmp_path / "X.md"
    report.write(md, "# first\n")
    assert md.read_text() == "# first\n"
    md.write_text(md.read_text() + "\n" + report.MARKER + "\n\nkept note\n")
    report.write(md, "# second\n| a |")
    assert md.read_text() == "# second\n| a |\n\n" + report.MARKER + "\n\nkept note\n"
    ap = argparse.ArgumentParser()
    with pytest.raises(SystemExit):
        report.tiny_needs_out(ap, argparse.Namespace(tiny=True, out=str(md)), md)
    report.tiny_needs_out(ap, argparse.Namespace(tiny=True, out=str(tmp_path / "other.md")), md)


def _grid_module():
    spec = importlib.util.spec_from_file_location("validation_grid", ROOT / "validation" / "grid.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_readme_grid_is_generated_from_the_stored_results():
    """README's problem × solver grid equals `python validation/grid.py`'s output from the stored runs."""
    assert _grid_module().main(["--check"]) == 0


def test_a_grid_cell_without_results_or_reason_is_an_error():
    grid = _grid_module()
    label, cases = grid.CLASSES[4]  # the American put: measured for dgm and pinn
    assert grid.cell([], cases, "ritz", label).startswith("does not apply")
    with pytest.raises(KeyError, match="neither results nor a stated reason"):
        grid.cell([], cases, "dgm", label)
    row = {"case": cases[0], "solver": "dgm", "dim": 1, "error": 1.23e-3, "train_seconds": 45.0}
    assert grid.cell([row], cases, "dgm", label) == "`american-put-1d` 1.2e-03, 45 s"


def test_a_grid_cell_with_runs_keeps_the_reasons_for_the_cases_they_do_not_cover():
    grid = _grid_module()
    label, cases = grid.CLASSES[8]  # DeepXDE's examples: ritz applies to poisson-1d-neumann alone
    row = {"case": "poisson-1d-neumann", "solver": "ritz", "dim": 1, "error": 1.1e-5, "train_seconds": 3.0}
    text = grid.cell([row], cases, "ritz", label)
    assert text.startswith("`poisson-1d-neumann` 1.1e-05, 3 s<br>")
    assert all(f"`{c}`" in text for c in cases if c != "poisson-1d-neumann")
