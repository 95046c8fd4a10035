"""The problem × solver grid of README.md, generated from the stored validation results.

    python validation/grid.py           # rewrite the grid between the README's markers
    python validation/grid.py --check   # exit 1 if the README's grid differs from the stored results

Each cell lists the measured runs of that problem class with that solver (error, metric, training seconds; each
run's command is in its JSON file under validation/results/ or validation/mfg/results/ and in the REPORT/MFG
tables), or says why there is none: "does not apply" with the mathematical reason, or "not built yet" where the
method applies but dlpde does not offer the pairing, or "no validation run" where dlpde offers it but nothing was
measured. A class × solver pair without results and without a stated reason is an error here, so the grid has no
silent holes.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(ROOT))
README = ROOT / "README.md"
from dlpde.problems.mfg_strong import NO_ENERGY as MFG_NO_ENERGY  # noqa: E402

START, END = "<!-- grid:start (python validation/grid.py) -->", "<!-- grid:end -->"
SOLVERS = ("pinn", "dgm", "ritz", "deep-bsde", "mfg")

# (row label, cases in the class)
CLASSES = [
    ("Poisson, steady (boxes, ball, L-shape, slit, meshes; d ≤ 100)",
     ("poisson-2d", "poisson-sin-Nd", "poisson-10d", "poisson-100d", "poisson-ball-Nd", "poisson-slit",
      "poisson-lshape", "poisson-3d", "poisson-mesh")),
    ("Poisson / Allen–Cahn with inseparable solutions, d = 1 000 … 10 000",
     ("poisson-inseparable-Nd", "allen-cahn-inseparable-Nd")),
    ("Black–Scholes, d = 100 (default risk, different rates, geometric basket)",
     ("black-scholes-default-risk", "black-scholes-diff-rate", "black-scholes-basket")),
    ("Black–Scholes European call, 1-D", ("black-scholes-call",)),
    ("American put (free boundary): 1-D, and on a geometric basket of d = 20", ("american-put-1d",
                                                                                "american-basket-Nd")),
    ("Hamilton–Jacobi–Bellman, d = 100", ("hjb-lq",)),
    ("Allen–Cahn, parabolic, d = 100", ("allen-cahn",)),
    ("Other semilinear parabolic, d = 50 … 100", ("burgers-type", "quadratic-gradient", "reaction-diffusion")),
    ("Burgers 1-D and DeepXDE's examples (Neumann, Robin, Helmholtz, heat, wave, Navier–Stokes, inverse)",
     ("burgers-1d", "poisson-1d-neumann", "poisson-1d-robin", "helmholtz-2d", "diffusion-1d", "wave-1d",
      "kovasznay", "diffusion-inverse")),
    ("Optimal transport and mean-field games", ("ot-gaussian", "ot-mixture-2d", "crowd-motion", "mfg-lq")),
    ("Gradient flows on the unit square (heat, Allen–Cahn ε = 0.05)", ("heat-2d", "allen-cahn-2d")),
]

_NO_BSDE_BOX = ("does not apply: Deep BSDE needs a whole-space problem with terminal data, solved at one point x₀; "
                "this class has boundaries")
_NOT_MFG = "does not apply: not an optimal-transport or mean-field-game problem"
_MFG_ONLY = ("no validation run: the strong-form HJB–continuity system (mfg-lq) offers {solver}")
WHY = {
    **{(label, "mfg"): _NOT_MFG for label, _ in CLASSES if not label.startswith("Optimal transport")},
    **{(label, "deep-bsde"): _NO_BSDE_BOX for label in (CLASSES[0][0], CLASSES[1][0], CLASSES[8][0])},
    (CLASSES[1][0], "ritz"): ("not in the suite: `poisson-inseparable-Nd` d = 1000, hard constraint, output level "
                              "calibrated, 4000 Adam steps on 512 points, 2 ResNet blocks of 64 tanh: 1.5e-2 in 180 s "
                              "(the level of a constant fit, 1.6e-2: the Monte Carlo energy's noise hides the rest); "
                              "`dlpde.solve(\"poisson-inseparable-Nd\", \"ritz\", dim=1000, hard_constraint=True, "
                              "calibrate_output=True, steps=4000, batch=512, width=64, depth=2, activation=\"tanh\")`"),
    (CLASSES[1][0], "dgm"): "no validation run (both cases offer dgm)",
    (CLASSES[2][0], "pinn"): "not built yet: the strong form needs Tr(σσᵀ Hess u) with σ ∝ x (state-dependent); "
                             "PINN refuses it",
    (CLASSES[2][0], "dgm"): "not built yet (as for PINN)",
    (CLASSES[2][0], "ritz"): "does not apply as stated: not self-adjoint (drift, and a nonlinear driver for two of "
                             "the three)",
    (CLASSES[3][0], "deep-bsde"): _NO_BSDE_BOX + " (S ∈ [50, 150] with boundary data)",
    (CLASSES[4][0], "ritz"): "does not apply: a variational inequality in time, no energy to minimise",
    (CLASSES[4][0], "deep-bsde"): "does not apply: optimal stopping (a reflected BSDE), not the Deep BSDE recursion",
    (CLASSES[5][0], "ritz"): "does not apply: u_t + Δu − λ|∇u|² = 0 has no energy functional (time-dependent, "
                             "nonlinear in ∇u)",
    (CLASSES[6][0], "ritz"): ("does not apply: on R^100 the terminal data 1/(2 + 0.4|x|²) is not square-integrable "
                              "(|x|^-4 against r^99 dr), so the Ginzburg–Landau energy ∫½|∇u|² − ½u² + ¼u⁴ of the "
                              "fields along the flow is infinite and a minimizing-movement step has no finite objective "
                              "(time-stepping Ritz serves the bounded allen-cahn-2d)"),
    (CLASSES[7][0], "ritz"): "does not apply: time-dependent with gradient-dependent drivers, no energy",
    (CLASSES[7][0], "pinn"): "no validation run (the three cases offer pinn)",
    (CLASSES[7][0], "dgm"): "no validation run (the three cases offer dgm)",
    (CLASSES[8][0], "dgm"): "no validation run (every case offers dgm)",
    **{(CLASSES[9][0], s): _MFG_ONLY.format(solver=s) for s in ("pinn", "dgm")},
    (CLASSES[9][0], "ritz"): "does not apply: " + MFG_NO_ENERGY,
    (CLASSES[10][0], "pinn"): ("no validation run (heat-2d offers pinn; allen-cahn-2d's zero-Neumann boundary is "
                               "not a condition the strong-form solvers take here)"),
    (CLASSES[10][0], "dgm"): "not built yet (the strong form applies as for pinn)",
    (CLASSES[10][0], "deep-bsde"): _NO_BSDE_BOX,
    (CLASSES[9][0], "deep-bsde"): "does not apply: a coupled forward–backward system for a density, not one "
                                  "semilinear parabolic PDE",
}

# reasons shown beside a cell's runs, for the class's cases that the runs do not cover
BESIDE = {
    (CLASSES[8][0], "ritz"): ("the others do not apply: `poisson-1d-robin` (u'(1) = u(1)) is not coercive, "
                              "∫u'v' − u(1)v(1) at u = x + 1 is 2 − 4 < 0, so E(c(x + 1)) = 4c − c² → −∞; "
                              "`helmholtz-2d` is indefinite (k₀² = 16π² above −Δ's first eigenvalue 2π², a saddle "
                              "point); `kovasznay` is non-symmetric Navier–Stokes; `burgers-1d`, `diffusion-1d`, "
                              "`wave-1d` and `diffusion-inverse` are time-dependent without a gradient-flow energy"),
}


def load_results() -> list[dict]:
    """Every stored full run: validation/REPORT.md's, validation/MFG.md's, then the benchmarks' (BSDE.md and
    PINN_PARABOLIC.md, seed 0), the first source winning for a (case, solver, d) measured twice."""
    folders = (HERE / "results", HERE / "mfg" / "results", ROOT / "benchmarks" / "bsde",
               ROOT / "benchmarks" / "pinn_parabolic")
    rows, seen = [], set()
    for folder in folders:
        for path in sorted(folder.glob("*.json")) if folder.is_dir() else ():
            r = json.loads(path.read_text())
            if folder.parent.name == "mfg":  # MFG.md's runs: the mfg solver; seed and variant repeats left out
                if "-seed" in r.get("key", "") or r.get("key", "").endswith("-psd"):
                    continue
                r = {"solver": "mfg", **r}
            if r.get("quick") or r.get("tiny") or r.get("seed", 0) != 0 or _solver_of(r) not in SOLVERS:
                continue
            key = (r.get("case"), _solver_of(r), r.get("dim"), "engd" in str(r.get("solver", "")))
            if key not in seen:
                seen.add(key)
                rows.append(r)
    return rows


def _solver_of(r: dict) -> str:
    return str(r.get("solver", r.get("kind", ""))).split(" + ")[0].strip()


def _first_number(r: dict, keys: tuple[str, ...]):
    """(value, key) of the first of ``keys`` that holds a number in the result (the scripts name them apart)."""
    return next(((r[k], k) for k in keys if isinstance(r.get(k), (int, float))), (None, None))


def cell(results: list[dict], cases, solver: str, label: str) -> str:
    from dlpde.problems import CASES
    dimensional = {name for name, c in CASES.items() if c.default_dim is not None}  # cases of any dimension
    found = []
    for r in results:
        if r.get("case") in cases and _solver_of(r) == solver:
            err, _ = _first_number(r, ("error", "rel_error", "cost_L_rel_error"))
            secs, _ = _first_number(r, ("train_seconds", "seconds", "wall_time_s"))
            dim = f" d={r['dim']}" if r.get("dim") is not None and r.get("case") in dimensional else ""
            opt = " (engd)" if "engd" in str(r.get("solver", "")) else ""
            variant = " no entropy" if r.get("key", "").endswith("-noentropy") else ""
            if err is not None:
                value = f"{err:.1e}"
            elif isinstance(r.get("cost_L"), (int, float)) and isinstance(r.get("cost_F_obstacle"), (int, float)):
                value = f"L {r['cost_L']:.2f}, obstacle {r['cost_F_obstacle']:.3f}"  # compared across d in MFG.md
            else:
                continue
            found.append(f"`{r['case']}`{dim}{opt}{variant} {value}" + (f", {secs:.0f} s" if secs is not None else ""))
    if found:
        beside = f"<br>{BESIDE[(label, solver)]}" if (label, solver) in BESIDE else ""
        return "<br>".join(sorted(set(found))) + beside
    if (label, solver) in WHY:
        return WHY[(label, solver)]
    if (label, solver) in BESIDE:
        return BESIDE[(label, solver)]
    raise KeyError(f"grid cell ({label!r}, {solver!r}) has neither results nor a stated reason; add one to WHY")


def build(results: list[dict] | None = None) -> str:
    results = load_results() if results is None else results
    head = "| problem class | " + " | ".join(SOLVERS) + " |\n|---|" + "---|" * len(SOLVERS) + "\n"
    body = "".join(f"| {label} | " + " | ".join(cell(results, cases, s, label) for s in SOLVERS) + " |\n"
                   for label, cases in CLASSES)
    note = ("\nEach entry: case, error in the run's metric (relative L2 over the domain, or the relative error of "
            "u(0, x₀), cost, price, … as named in [validation/REPORT.md](validation/REPORT.md) and "
            "[validation/MFG.md](validation/MFG.md), which give every run's command), training seconds on this "
            "project's 2-core CPU, one thread. Generated by `python validation/grid.py` from the stored results.\n")
    return f"{START}\n{head}{body}{note}{END}"


def replace_block(text: str, block: str) -> str:
    if START not in text or END not in text:
        raise SystemExit(f"README.md lacks the grid markers {START} … {END}")
    a, b = text.index(START), text.index(END) + len(END)
    return text[:a] + block + text[b:]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--check", action="store_true", help="exit 1 if README.md's grid is not the generated one")
    args = ap.parse_args(argv)
    text = README.read_text(encoding="utf-8")
    new = replace_block(text, build())
    if args.check:
        if new != text:
            print("README.md's grid differs from the stored results; run python validation/grid.py", file=sys.stderr)
            return 1
        return 0
    if new != text:
        README.write_text(new, encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
