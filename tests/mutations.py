"""Break the code on purpose and show that the test suite notices (issue 18's mutation check).

    python tests/mutations.py            # every mutation, each against the tests that should catch it
    python tests/mutations.py --list     # the mutations and their tests
    python tests/mutations.py --only mfg-terminal-cost-dropped bsde-time-grid-flipped
    python tests/mutations.py --full     # each mutation against the whole CI suite (slow: minutes per mutation)

Each mutation is one textual edit (the old text must occur exactly once) applied to a fresh copy of the working
tree in a temporary directory; pytest then runs in that copy, with the copy first on the import path, over the test
files or test ids that are meant to catch it. A mutation is *caught* when pytest fails. The script prints one line
per mutation and exits 1 if any was missed; the working tree is never touched.

Why textual edits in a copy rather than monkeypatching: the tests run exactly as CI runs them (a separate
process, the library imported from files), so a bug that the suite misses here is one it would miss in CI.
"""
from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


@dataclass(frozen=True)
class Mutation:
    name: str
    path: str  # file relative to the repository root
    old: str
    new: str
    tests: tuple[str, ...]  # pytest arguments: files or node ids that must fail
    why: str


_PARTS_OLD = "parts.append((c.name, self.value_error(xb, target), float(self.s.boundary_weight * c.weight)))"
_PDE_PARTS_OLD = ("parts.append((c.name, self._condition_error(c, xb, data), "
                  "float(self.s.boundary_weight * c.weight)))")
_SAMPLE_OLD = "self.x = p.interior_points(batch or s.batch, method=s.sampling, **kw)"
_SAMPLE_QUARTER = "self.x = 0.5 * p.interior_points(batch or s.batch, method=s.sampling, **kw)"
_ACC = "tests/test_accuracy.py"

MUTATIONS = [
    Mutation("ritz-time-movement-dropped", "dlpde/solvers/ritz_time.py",
             'return movement + energy, {"movement": movement, "energy": energy}',
             'return energy, {"movement": movement, "energy": energy}',
             ("tests/test_time_ritz.py::test_heat_short_run_matches_the_exact_time_stepping",),
             "time-stepping Ritz without the |u − ū|²/(2τ) term (each step minimises the energy alone)"),
    Mutation("ritz-time-energy-dropped", "dlpde/solvers/ritz_time.py",
             "energy = (self.w * self.flow.energy_density(self.x, u, grad)).sum()",
             "energy = 0.0 * (self.w * self.flow.energy_density(self.x, u, grad)).sum()",
             ("tests/test_time_ritz.py::test_heat_short_run_matches_the_exact_time_stepping",),
             "time-stepping Ritz without the energy (u stays at ū)"),
    Mutation("ritz-time-bdf2-anchor-euler", "dlpde/reference/gradient_flow.py",
             "return [(1 + omega) / a, -omega * omega / (1 + omega) / a], tau / a",
             "return [1.0], tau / a",
             ("tests/test_time_ritz.py::test_bdf2_anchor_is_the_bdf2_formula_and_second_order",),
             "BDF2's anchor ū replaced by uⁿ (first order, wrong effective step)"),
    Mutation("mfg-terminal-cost-dropped", "dlpde/solvers/mfg.py", 'c["G"].mean()', '0.0 * c["G"].mean()',
             ("tests/test_mfg.py",), "the mean-field game's terminal cost G left out of the objective"),
    Mutation("mfg-running-cost-dropped", "dlpde/solvers/mfg.py", '(c["L"].mean(), c["F"]', '(0.0 * c["L"].mean(), c["F"]',
             ("tests/test_mfg.py::test_relaxed_terminal_cost_short_run_matches_the_closed_form_optimum",),
             "the kinetic (running) cost L left out of the objective"),
    Mutation("mfg-obstacle-term-dropped", "dlpde/solvers/mfg.py", 'c["F"].sum(dim=1).mean(), c["G"]',
             '0.0 * c["F"].sum(dim=1).mean(), c["G"]', ("tests/test_mfg.py::test_crowd_motion_goes_around_the_obstacle",),
             "the interaction/obstacle cost F left out of the objective"),
    Mutation("mfg-hjb-dF-sign", "dlpde/solvers/mfg.py", "- alpha[1] * dF\n", "+ alpha[1] * dF\n",
             ("tests/test_mfg.py::test_crowd_motion_costs_and_obstacle_statistics_of_a_known_flow",),
             "the sign of δF/δρ in the HJB residual flipped"),
    Mutation("pinn-collocation-in-a-quarter", "dlpde/solvers/collocation.py", _SAMPLE_OLD, _SAMPLE_QUARTER,
             (f"{_ACC}::test_pinn_poisson_2d",), "interior points x ↦ x/2: a quarter of (0, 1)²"),
    Mutation("pinn-terminal-value-collocation-in-a-quarter", "dlpde/solvers/collocation.py", _SAMPLE_OLD,
             _SAMPLE_QUARTER, (f"{_ACC}::test_pinn_black_scholes_call_with_adam",),
             "as above, caught by the Black–Scholes (S, t) test alone"),
    Mutation("dgm-terminal-value-collocation-in-a-quarter", "dlpde/solvers/collocation.py", _SAMPLE_OLD,
             _SAMPLE_QUARTER, (f"{_ACC}::test_dgm_black_scholes_call",),
             "as above, caught by the DGM Black–Scholes test alone"),
    Mutation("black-scholes-smoothed-payoff-dropped", "dlpde/problems/spacetime_cases.py",
             "return (lambda st: torch.ones_like(st[:, 0])), self.smoothed_payoff, ()",
             "return (lambda st: torch.ones_like(st[:, 0])), None, ()",
             (f"{_ACC}::test_pinn_black_scholes_call_with_adam", f"{_ACC}::test_dgm_black_scholes_call"),
             "u = N instead of u = smoothed payoff + N: the networks must form the payoff's kink themselves"),
    Mutation("black-scholes-smoothed-payoff-volatility", "dlpde/problems/spacetime_cases.py",
             "s = self.sigma * self.K * torch.sqrt(tau)", "s = self.sigma * torch.sqrt(tau)",
             ("tests/test_spacetime_cases.py::test_smoothed_payoff_is_the_heat_flow_of_the_payoff_not_the_price",),
             "the smoothed payoff spread with σ instead of the normal volatility σK"),
    Mutation("pinn-mesh-collocation-in-a-quarter", "dlpde/solvers/collocation.py", _SAMPLE_OLD, _SAMPLE_QUARTER,
             (f"{_ACC}::test_pinn_poisson_lshape_against_its_finite_element_reference",),
             "as above, caught by the L-shape (mesh domain) test alone"),
    Mutation("dgm-collocation-in-a-quarter", "dlpde/solvers/collocation.py", _SAMPLE_OLD, _SAMPLE_QUARTER,
             (f"{_ACC}::test_dgm_poisson_2d",), "as above, caught by the DGM test alone"),
    Mutation("ritz-quadrature-in-a-quarter", "dlpde/solvers/collocation.py", _SAMPLE_OLD, _SAMPLE_QUARTER,
             (f"{_ACC}::test_ritz_poisson_2d",), "as above, caught by the Deep Ritz test alone"),
    Mutation("spacetime-collocation-in-a-quarter", "dlpde/solvers/collocation.py", _SAMPLE_OLD, _SAMPLE_QUARTER,
             (f"{_ACC}::test_pinn_diffusion_1d_soft_conditions",),
             "space-time points x ↦ x/2: half of [−1, 1] × half of [0, 1], general PDE objective"),
    Mutation("pinn-boundary-term-dropped", "dlpde/solvers/pinn.py", _PARTS_OLD,
             "parts.append((c.name, self.value_error(xb, target), 0.0))",
             (f"{_ACC}::test_pinn_poisson_2d",), "the boundary term of the PINN loss weighted 0"),
    Mutation("dgm-boundary-term-dropped", "dlpde/solvers/pinn.py", _PARTS_OLD,
             "parts.append((c.name, self.value_error(xb, target), 0.0))",
             (f"{_ACC}::test_dgm_poisson_2d",), "as above (DGM shares the strong-form objective)"),
    Mutation("dgm-terminal-term-dropped", "dlpde/solvers/pinn.py", _PARTS_OLD,
             "parts.append((c.name, self.value_error(xb, target), 0.0))",
             (f"{_ACC}::test_dgm_black_scholes_call", f"{_ACC}::test_pinn_black_scholes_call_with_adam"),
             "the terminal and boundary terms weighted 0, caught by the Black–Scholes tests"),
    Mutation("ritz-boundary-penalty-dropped", "dlpde/solvers/ritz.py",
             "total = total + self.beta * c.weight * self.boundary_measure * terms[f\"loss_{c.name}\"]",
             "total = total + 0.0 * terms[f\"loss_{c.name}\"]",
             (f"{_ACC}::test_ritz_poisson_2d",), "the Deep Ritz boundary penalty left out of the loss"),
    Mutation("ritz-neumann-term-dropped", "dlpde/problems/conditions.py", "        return -data[:, 0] * u\n",
             "        return 0.0 * data[:, 0] * u\n",
             ("tests/test_ritz_dgm.py::test_short_ritz_run_solves_the_neumann_problem",),
             "Deep Ritz without the Neumann boundary term −∫ h u ds (the minimiser then has ∂u/∂n = 0)"),
    Mutation("pde-initial-term-dropped", "dlpde/solvers/pde_objective.py", _PDE_PARTS_OLD,
             "parts.append((c.name, self._condition_error(c, xb, data), "
             "0.0 if c.kind == 'initial' else float(self.s.boundary_weight * c.weight)))",
             (f"{_ACC}::test_pinn_diffusion_1d_soft_conditions",), "the initial condition weighted 0"),
    Mutation("initial-condition-at-the-final-time", "dlpde/problems/conditions.py",
             "return self.domain.sample_slice(n, self.domain.t0,", "return self.domain.sample_slice(n, self.domain.t1,",
             (f"{_ACC}::test_pinn_diffusion_1d_soft_conditions",), "the wrong time direction: u(·, t1) given"),
    Mutation("poisson-residual-sign", "dlpde/problems/poisson.py", "return -d.second - self.source(x)",
             "return d.second - self.source(x)", (f"{_ACC}::test_pinn_poisson_2d",), "−Δu − f written Δu − f"),
    Mutation("poisson-energy-sign", "dlpde/problems/poisson.py", "- self.source(x) * u",
             "+ self.source(x) * u", (f"{_ACC}::test_ritz_poisson_2d",), "½|∇u|² − fu written ½|∇u|² + fu"),
    Mutation("compressed-groups-merged", "dlpde/nn/mlp.py", "groups.setdefault(c, []).append(i)",
             "groups.setdefault(1.0, []).append(i)",
             ("tests/test_derivatives.py::test_directions_compressed_by_weight_equal_general_path",
              "tests/test_fields.py::test_more_inputs_than_units_compressed_by_weight_equals_autograd"),
             "directions of different weights (space and time) compressed as one group, weighted as the first"),
    Mutation("compressed-basis-columns-shifted", "dlpde/nn/mlp.py", "col += q.shape[1]", "col += 0",
             ("tests/test_fields.py::test_more_inputs_than_units_compressed_by_weight_equals_autograd",),
             "the groups' bases written over each other (u_t read from the space block)"),
    Mutation("eval-first-chunk-only", "dlpde/solution.py", "for start in range(0, n, per_chunk):",
             "for start in range(0, min(n, per_chunk), per_chunk):",
             ("tests/test_pde.py::test_errors_drawn_in_chunks_equal_the_errors_on_the_same_points",),
             "errors measured on the first chunk of evaluation points only"),
    Mutation("brownian-in-place-unshifted", "dlpde/sde.py", "out[1:].mul_(self.scale).add_(x0)",
             "out[1:].mul_(self.scale)",
             ("tests/test_parabolic.py::test_brownian_paths_written_in_place_equal_the_differentiable_ones",),
             "the in-place Brownian paths without their start x₀"),
    Mutation("bsde-skip-weight-rows-shifted", "dlpde/nn/bsde.py", "return p if rows == slice(None) else p[rows]",
             "return p if rows == slice(None) else p[rows + 1 if isinstance(rows, int) and rows + 1 < len(p) else rows]",
             ("tests/test_bsde.py::test_subnetworks_equal_plain_torch_layers",),
             "one-at-a-time sub-network n reading step n + 1's parameters"),
    Mutation("keep-memory-mmap-left-on", "dlpde/training/allocator.py",
             "libc.mallopt(M_MMAP_MAX, 0) and", "libc.mallopt(M_MMAP_MAX, 65536) and",
             ("tests/test_allocator.py",),
             "glibc left to give large blocks mappings of their own: every step faults its pages in again"),
    Mutation("keep-memory-not-restored", "dlpde/training/allocator.py",
             "                for option, value in RESTORED:\n                    libc.mallopt(option, value)\n",
             "", ("tests/test_allocator.py",),
             "the solve leaves glibc keeping every freed block for the rest of the process"),
    Mutation("sdgd-scale-dropped", "dlpde/derivatives.py", "w = torch.full((k,), dims / k,",
             "w = torch.full((k,), 1.0 / k,", ("tests/test_pinn.py::test_every_derivative_method_trains",),
             "SDGD's d/k weight written 1/k: a Laplacian estimate k/d times too small"),
    Mutation("hutchinson-scale-wrong", "dlpde/derivatives.py", "w = torch.full((probes,), 1.0 / probes,",
             "w = torch.full((probes,), 2.0 / probes,", ("tests/test_pinn.py::test_every_derivative_method_trains",),
             "Hutchinson's mean over probes written as twice the mean"),
    Mutation("american-early-exercise-dropped", "dlpde/problems/american.py",
             "return torch.minimum(hold, u() - _payoff(x))", "return hold",
             ("tests/test_american.py",), "the American put's complementarity residual reduced to Black–Scholes"),
    Mutation("allen-cahn-driver-sign", "dlpde/problems/parabolic.py", "return y - y * y * y",
             "return y + y * y * y",
             ("tests/test_parabolic.py", "tests/test_bsde.py", "tests/test_parabolic_collocation.py"),
             "u_t + Δu + u − u³ = 0 written with + u³"),
    Mutation("allen-cahn-driver-sign-dgm", "dlpde/problems/parabolic.py", "return y - y * y * y",
             "return y + y * y * y", ("tests/test_parabolic_collocation.py::test_dgm_allen_cahn_value_at_x0",),
             "as above, caught by the DGM test alone"),
    Mutation("hjb-driver-sign", "dlpde/problems/parabolic.py", "return -0.5 * self.lam * squared_norm(z)",
             "return 0.5 * self.lam * squared_norm(z)", ("tests/test_parabolic.py", "tests/test_bsde.py"),
             "u_t + Δu − λ|∇u|² = 0 written with + λ|∇u|²"),
    Mutation("allen-cahn-driver-sign-deep-bsde", "dlpde/problems/parabolic.py", "return y - y * y * y",
             "return y + y * y * y",
             ("tests/test_bsde.py::test_allen_cahn_at_d5_reaches_the_radial_finite_difference_value",),
             "as above, caught by the trained Deep BSDE against the radial finite differences alone"),
    Mutation("hjb-driver-sign-deep-bsde", "dlpde/problems/parabolic.py",
             "return -0.5 * self.lam * squared_norm(z)", "return 0.5 * self.lam * squared_norm(z)",
             ("tests/test_bsde.py::test_hjb_lq_at_d2_reaches_the_cole_hopf_value",),
             "as above, caught by the trained Deep BSDE against Cole–Hopf alone"),
    Mutation("bsde-time-grid-flipped-trained", "dlpde/solvers/bsde.py",
             "self.times = time_grid(problem.T, net.steps, device=s.torch_device, dtype=s.torch_dtype)",
             "self.times = time_grid(problem.T, net.steps, device=s.torch_device, dtype=s.torch_dtype).flip(0)",
             ("tests/test_bsde.py::test_reaction_diffusion_reaches_its_time_dependent_solution",),
             "as below, caught by the trained time-dependent case alone"),
    Mutation("bsde-time-grid-flipped", "dlpde/solvers/bsde.py",
             "self.times = time_grid(problem.T, net.steps, device=s.torch_device, dtype=s.torch_dtype)",
             "self.times = time_grid(problem.T, net.steps, device=s.torch_device, dtype=s.torch_dtype).flip(0)",
             ("tests/test_bsde.py",), "the Deep BSDE recursion run on the time grid T → 0"),
    Mutation("compiler-loaded-at-import", "dlpde/nn/constraints.py",
             "@eager_under_compile  # runs eagerly inside a compiled loss",
             "@torch.compiler.disable  # runs eagerly inside a compiled loss",
             ("tests/test_cli.py::test_an_unknown_case_does_not_load_the_compiler",),
             "the hard constraints' function jets disabled for torch.compile at import (loads torch._dynamo: 1.7 s "
             "on every command)"),
    Mutation("function-jet-compiled", "dlpde/nn/constraints.py",
             "        if not _is_compiling():\n            return fn(*args, **kwargs)",
             "        if True:\n            return fn(*args, **kwargs)",
             ("tests/test_compiled.py::test_user_pde_default_path_equals_eager",),
             "torch.func jets of φ and g traced into the compiled loss (torch 2.13 crashed on them)"),
    Mutation("output-scale-pooled-by-sample", "dlpde/solvers/pinn.py",
             "    means = torch.stack([v.mean() for v in values])",
             "    values = [torch.cat(values)]\n    means = torch.stack([v.mean() for v in values])",
             ("tests/test_pde.py::test_zero_boundary_data_beside_few_observations_keep_the_output_scale_of_the_data",),
             "the output scale from all condition samples pooled (2048 boundary zeros outweigh 10 observations)"),
    Mutation("trace-of-trained-matrix-by-eigenvectors", "dlpde/fields.py",
             "        if A_t.requires_grad:\n            return self._trace_by_entries(A_t)\n", "",
             ("tests/test_fields.py::test_trace_of_a_trained_matrix_has_the_gradient_of_the_plain_expression",),
             "trace(A) of a trained A through eigh (NaN gradient at repeated eigenvalues, e.g. D·I)"),
    Mutation("sidecar-not-checked", "dlpde/io/hdf5.py", "    if sidecar:\n        check_sidecar(path, overwrite=overwrite, beside_result=earlier)\n",
             "", ("tests/test_io.py::test_the_xdmf_file_beside_a_result_never_replaces_a_users_file",),
             "the XDMF file beside a result replaces whatever has its name (a user's file, a checkpoint)"),
    Mutation("bsde-generator-sees-a-late-time", "dlpde/solvers/bsde.py",
             "self._generator_rows(times[1:-1], x[1:-1], z_sub)",
             "self._generator_rows(times[2:], x[1:-1], z_sub)", ("tests/test_bsde.py",),
             "the driver f(t_n, …) of steps 1 … N−1 evaluated at t_{n+1} (batched path for drivers without y)"),
    Mutation("gbm-trace-dropped", "dlpde/problems/parabolic.py",
             "trace, z = d.second, self.diffusion_transpose(t, x, gx)",
             "trace, z = 0.0 * d.second, self.diffusion_transpose(t, x, gx)",
             ("tests/test_parabolic_collocation.py::test_dgm_basket_call_against_the_closed_form",),
             "the ½Tr(σσᵀ Hess u) term of a geometric-Brownian (Black–Scholes) case left out of the PINN/DGM residual"),
    Mutation("gbm-trace-diagonal-only", "dlpde/problems/parabolic.py",
             "v = self.diffusion(t.repeat_interleave(k), x.repeat_interleave(k, dim=0), xi.reshape(n * k, m))",
             "v = x.repeat_interleave(k, dim=0) * self.sde.sigma.to(x) * xi.reshape(n * k, m)",
             ("tests/test_parabolic_collocation.py::test_dgm_basket_call_against_the_closed_form",),
             "the correlation dropped from the directions of the trace (σ = σ̄·diag(x) instead of σ̄·diag(x)·L)"),
]


def _tracked_files() -> list[str]:
    out = subprocess.run(["git", "ls-files", "-co", "--exclude-standard"], cwd=ROOT, check=True,
                         capture_output=True, text=True).stdout
    return [f for f in out.splitlines() if (ROOT / f).is_file()]


def _copy_tree(dest: Path) -> None:
    for rel in _tracked_files():
        target = dest / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(ROOT / rel, target)


def _apply(m: Mutation, tree: Path) -> None:
    path = tree / m.path
    text = path.read_text()
    count = text.count(m.old)
    if count != 1:
        raise SystemExit(f"mutation {m.name}: expected the text once in {m.path}, found it {count} times; "
                         f"update tests/mutations.py to the code:\n  {m.old}")
    path.write_text(text.replace(m.old, m.new))


def _pytest(tree: Path, args: list[str], timeout: float) -> tuple[int, str, float]:
    env = {**os.environ, "PYTHONPATH": str(tree), "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS", "1")}
    cmd = [sys.executable, "-m", "pytest", "-q", "-x", "--tb=line", "-p", "no:cacheprovider", *args]
    start = time.perf_counter()
    try:
        proc = subprocess.run(cmd, cwd=tree, env=env, capture_output=True, text=True, timeout=timeout)
        code, out = proc.returncode, proc.stdout + proc.stderr
    except subprocess.TimeoutExpired:
        code, out = -1, "timed out"
    return code, out, time.perf_counter() - start


def _check_import(tree: Path) -> None:
    env = {**os.environ, "PYTHONPATH": str(tree)}
    where = subprocess.run([sys.executable, "-c", "import dlpde; print(dlpde.__file__)"], cwd=tree, env=env,
                           capture_output=True, text=True, check=True).stdout.strip()
    if not Path(where).resolve().is_relative_to(tree.resolve()):
        raise SystemExit(f"the copy's dlpde is not the one imported ({where}); cannot test mutations")


def _summary(out: str) -> str:
    """The first failing test and its error line (pytest --tb=line), else pytest's last line."""
    lines = [ln.strip() for ln in out.strip().splitlines() if ln.strip()]
    failed = next((ln.split(" - ")[0][len("FAILED "):] for ln in lines if ln.startswith("FAILED")), "")
    error = next((ln.split(": ", 1)[1] for ln in lines if ln.startswith("/") and ": " in ln), "")
    if failed:
        return f"{failed.split('::', 1)[-1]}: {error[:120]}"
    return lines[-1][:120] if lines else ""


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--list", action="store_true", help="list the mutations and the tests meant to catch them")
    ap.add_argument("--only", nargs="+", metavar="NAME", help="run only these mutations")
    ap.add_argument("--full", action="store_true", help="run the whole CI suite against each mutation")
    ap.add_argument("--baseline", action="store_true", help="first check that the unmutated tests pass")
    ap.add_argument("--timeout", type=float, default=900.0, help="seconds per pytest run (default 900)")
    args = ap.parse_args(argv)
    chosen = [m for m in MUTATIONS if not args.only or m.name in args.only]
    unknown = set(args.only or ()) - {m.name for m in MUTATIONS}
    if unknown:
        ap.error(f"unknown mutation(s) {sorted(unknown)}; --list shows them")
    if args.list:
        for m in chosen:
            print(f"{m.name:46s} {m.path}: {m.why}\n{'':46s} caught by: {' '.join(m.tests)}")
        return 0
    missed = []
    with tempfile.TemporaryDirectory(prefix="dlpde-mutations-") as tmp:
        clean = Path(tmp) / "clean"
        _copy_tree(clean)
        _check_import(clean)
        if args.baseline:
            tests = sorted({t for m in chosen for t in m.tests})
            code, out, secs = _pytest(clean, [] if args.full else tests, args.timeout)
            print(f"{'baseline (no mutation)':46s} {'passes' if code == 0 else 'FAILS'} in {secs:5.0f} s  {_summary(out)}")
            if code != 0:
                return 1
        for m in chosen:
            tree = Path(tmp) / m.name
            shutil.copytree(clean, tree)
            _apply(m, tree)
            code, out, secs = _pytest(tree, [] if args.full else list(m.tests), args.timeout)
            caught = code not in (0, 5)  # 5: no tests collected — a typo in the test ids, not a catch
            if not caught:
                missed.append(m.name)
            print(f"{m.name:46s} {'caught' if caught else 'MISSED'} in {secs:5.0f} s  {_summary(out)}", flush=True)
            shutil.rmtree(tree)
    print(f"{len(chosen) - len(missed)} of {len(chosen)} mutations caught" + (f"; missed: {missed}" if missed else ""))
    return 1 if missed else 0


if __name__ == "__main__":
    sys.exit(main())
