"""benchmarks/deepxde_examples.py runs end to end with tiny budgets and writes its table (numbers not checked)."""
import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parent.parent / "benchmarks" / "deepxde_examples.py"


@pytest.mark.skipif(importlib.util.find_spec("deepxde") is None, reason="deepxde is not installed")
def test_deepxde_examples_quick(tmp_path):
    out = tmp_path / "DEEPXDE_EXAMPLES.md"
    env = dict(os.environ, OMP_NUM_THREADS="1")
    r = subprocess.run([sys.executable, str(SCRIPT), "--quick", "--only", "poisson-1d-neumann", "--out", str(out)],
                       capture_output=True, text=True, timeout=120, cwd=tmp_path, env=env)
    assert r.returncode == 0, r.stderr[-3000:]
    rows = [line for line in out.read_text().splitlines() if line.startswith("| `poisson-1d-neumann`")]
    assert rows, out.read_text()
    stored = json.loads((tmp_path / "deepxde_examples" / "poisson-1d-neumann.json").read_text())
    assert stored["quick"] and stored["deepxde"]["status"] == "ok", stored
    assert stored["deepxde"]["steps"] > 0 and stored["deepxde"]["seconds"] >= 0
    assert stored["dlpde"]["status"] in ("ok", "case not available"), stored["dlpde"]
