"""Optimal transport and mean-field-game checks (issue 5; REFERENCES.md §4), with the settings that were used.

    python validation/mfg_runs.py --threads 1              # every run (hours on a shared 2-core CPU)
    python validation/mfg_runs.py --threads 1 --only ot-gaussian-d2 crowd-motion-d2
    python validation/mfg_runs.py --device cuda --only ot-gaussian-d100
    python validation/mfg_runs.py --table-only             # rebuild validation/MFG.md from the stored results
    python validation/mfg_runs.py --tiny --out /tmp/mfg    # the pipeline in seconds, everything under /tmp/mfg

Each run trains ``dlpde.solve(case, "mfg", ...)``, saves the solution to ``<out>/<key>.h5`` (default out/mfg, git-
ignored), its numbers to ``<results>/<key>.json`` (default validation/mfg/results, committed: small JSON, no
networks) and, where asked, PNG figures to ``validation/mfg/``. The table ``validation/MFG.md`` is rebuilt from every
stored result, so a run replaces only its own entry and the file can be regenerated on a fresh clone without
training (``--table-only``); runs can be made one at a time and on other machines. ``--tiny`` runs one case (the
first of ``--only``, default ot-gaussian-d2) for a handful of steps and writes its solution, result, figures and
table under ``--out`` only (never the committed files): a check of the pipeline, not of the accuracy.

Checks (targets from the issue, reported, not asserted):
  ot-gaussian d = 2, 10, 50, 100: learned kinetic cost L within 1 % of ½W₂² (closed form); the mean and covariance of
    ρ₀ samples pushed through the learned flow within 2 % of ρ₁'s (relative norms, on ``stat_samples`` samples; the
    same statistic for the exact map on the same samples gives the Monte Carlo floor, and the learned flow against
    the exact map on the same samples gives the error without sampling noise);
  ot-mixture-2d: L within 3 % of ½W₂² estimated by exact discrete OT (POT) between 4000 + 4000 samples, mean of 4 draws;
  crowd-motion d = 2 and 100: L and the obstacle cost ∫∫Qρ agree within 2 % between the two dimensions; the
    trajectories avoid the obstacle (figure, and the fraction of paths entering the region where Q > ½ max Q; the
    comparison with an obstacle-free run is tests/test_mfg.py::test_crowd_motion_goes_around_the_obstacle).
"""
from __future__ import annotations

import argparse
import json
import logging
import math
import os
import platform
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(ROOT))

import torch  # noqa: E402

import dlpde  # noqa: E402
from dlpde.problems.registry import make  # noqa: E402

log = logging.getLogger("mfg-validation")


@dataclass(frozen=True)
class Run:
    case: str
    dim: int | None
    settings: dict
    figures: bool = False
    stat_samples: int = 200_000  # ρ₀ samples pushed forward for the mean/covariance check
    variant: str = ""  # a suffix of the key for an ablation of the same case and dimension
    params: dict = field(default_factory=dict)  # the problem's own parameters (the case factory's keywords)

    @property
    def key(self) -> str:
        key = self.case if self.dim is None else f"{self.case}-d{self.dim}"
        return f"{key}-{self.variant}" if self.variant else key


OT = dict(steps=1500, batch=1024, width=32, nt=4, lr=0.01, alpha=[1, 0, 2000, 10, 0])
CROWD = dict(steps=5000, batch=1024, width=32, nt=4, lr=0.01, alpha=[1, 1, 5, 20, 1], eval_points=50_000,
             lbfgs_steps=300, lbfgs_batch=16384)
# the Gaussian runs add the full symmetric quadratic term (PotentialNet(quadratic="full")): with the paper's
# ½ sᵀAᵀAs alone the expanding axes were not learned at d = 50 and 100 (the notes below)
OT_GAUSSIAN = dict(OT, quadratic="full")
NO_ENTROPY = {"entropy_weight": 0.0}
RUNS = [
    Run("ot-gaussian", 2, OT_GAUSSIAN, figures=True, stat_samples=1_000_000),
    Run("ot-gaussian", 10, OT_GAUSSIAN, stat_samples=1_000_000),
    Run("ot-gaussian", 50, OT_GAUSSIAN, stat_samples=1_000_000),
    Run("ot-gaussian", 100, dict(OT_GAUSSIAN, steps=3000), stat_samples=1_000_000),
    Run("ot-gaussian", 50, dict(OT, quadratic="psd"), stat_samples=1_000_000, variant="psd"),  # the paper's Φ
    Run("ot-mixture-2d", None, dict(OT, steps=2000), figures=True),
    Run("crowd-motion", 2, CROWD, figures=True),
    Run("crowd-motion", 100, CROWD, figures=True),
    # the spread of the d = 2 optimum over training seeds (initialisation and samples), for the d-consistency check
    *(Run("crowd-motion", 2, dict(CROWD, seed=k), variant=f"seed{k}") for k in (1, 2)),
    # the same without the entropy term (REFERENCES.md §4's crowd motion: the obstacle alone)
    *(Run("crowd-motion", d, CROWD, figures=True, params=NO_ENTROPY, variant="noentropy") for d in (2, 100)),
    *(Run("crowd-motion", 2, dict(CROWD, seed=k), params=NO_ENTROPY, variant=f"noentropy-seed{k}") for k in (1, 2)),
    Run("crowd-motion", 100, dict(CROWD, seed=1), params=NO_ENTROPY, variant="noentropy-seed1"),
]
TINY = dict(steps=5, batch=64, width=8, nt=2, eval_points=300, lbfgs_steps=0)  # --tiny: the pipeline, not accuracy
TINY_SAMPLES = 2000  # pushed samples for the mean/covariance statistics in --tiny (idle residual: 500)
DEFAULT_TINY = "ot-gaussian-d2"

# The notes under the table. Numbers from stored results are computed from them (``notes``); text about trials
# whose code or output was not kept is marked with the date it was recorded and is not recomputed.
RECORDED = "*[recorded 2026-11-27; not recomputed]*"
# ½ W₂² of exact discrete OT (POT) between n + n samples for ot-mixture-2d: (n, mean, standard error, draws)
POT_ESTIMATES = [(1000, 5.623, 0.010, 4), (2000, 5.650, 0.028, 4), (4000, 5.650, 0.016, 4), (8000, 5.630, 0.008, 2)]


def _signed(v: float, fmt: str) -> str:
    return format(v, fmt).replace("-", "−")


def _crowd(results: dict, dim: int, entropy: bool) -> list[dict]:
    """The crowd-motion results of one dimension with or without the entropy term, seed 0 first."""
    rs = [r for r in results.values() if r.get("case") == "crowd-motion" and r.get("dim") == dim
          and ("cost_F_entropy" in r) == entropy and not r.get("tiny")]
    return sorted(rs, key=lambda r: r["settings"].get("seed", 0))


def _rel(a: float, b: float) -> float:
    return abs(a - b) / abs(b)


def notes(results: dict) -> list[str]:
    """The notes of MFG.md: sentences with numbers from the stored results are left out when those are missing."""
    get = results.get
    out = []

    timing = [f"d = {r['dim']} {r['train_seconds'] / r['steps']:.2f} s"
              for key in ("ot-gaussian-d50", "ot-gaussian-d100") if (r := get(key)) and r.get("steps")]
    out.append("All runs of the table on one 2-core CPU, one thread each (`--threads 1`), two runs at a time, so "
               f"seconds are upper bounds {RECORDED}. Seconds per Adam step (train seconds / steps of the stored "
               "rows): "
               + (f"`ot-gaussian` {', '.join(timing)}; " if timing else "")
               + f"`crowd-motion` at d = 100 0.24 s in its Adam-only runs {RECORDED} (the table's crowd rows add "
                 "300 L-BFGS iterations on 16 384 samples).")

    psd, d100 = get("ot-gaussian-d50-psd"), get("ot-gaussian-d100")
    text = "Why `ot-gaussian` uses `quadratic=\"full\"`: "
    if psd:
        text += (f"with the paper's Φ (row *psd*, the same settings) d = 50 misses by "
                 f"{_signed(100 * (psd['cost_L'] - psd['reference_cost']) / psd['reference_cost'], '.1f')} % in cost "
                 f"and {100 * psd['cov_rel_error']:.1f} % in covariance. ")
    text += (f"{RECORDED}: an earlier d = 100 run on an H200 missed by −4.6 % and 10.5 %. Pushing "
             "20 000 samples through that d = 100 flow gave standard deviations (0.598, 1.013, 0.803, 0.994) for the "
             "four moving coordinates against (0.6, 1.4, 0.8, 1.2): the contractions were learned, the expansions not "
             "at all — the terminal KL stayed at 0.12, the KL of exactly those two unlearned axes (0.092 + 0.030). The "
             "optimal potential is quadratic in x with Hessian −(σᵢ − 1)/(1 + t(σᵢ − 1)) per axis, negative where "
             "σᵢ > 1; ½sᵀAᵀAs is positive semi-definite, and a logcosh unit only gives negative curvature along its "
             "own direction K₀ⱼ with wⱼ < 0, which in 50 or 100 dimensions also expands the 46 or 96 axes that must "
             "stay put. In 300-step trials at d = 50 (cosine schedule over the 300 steps; terminal KL on 20 000 "
             "samples): paper's Φ 0.123; a signed ½Σλₖ(aₖᵀs)² (λ = 1 at start) 0.123; ½sᵀ(AᵀA − BᵀB)s 0.191; a "
             "full symmetric S without the scaling 0.014, standard deviations (0.596, 1.400, 0.801, 1.204) (the two "
             "rejected variants were trial code, not kept). Without the scaling, over 1500 steps Adam's steps on the "
             "(d+1)² entries of S add random curvature of size lr·√(d+1) in every direction: the d = 100 loss at "
             "step 300 was 1555 against 257 with S = (P + Pᵀ)/(2√(d+1)). With 1500 steps d = 100 missed by +1.29 % "
             "in cost and 1.82 % in covariance")
    if d100:
        text += (f"; the table's row with {d100['steps']} steps: {100 * d100['cost_L_rel_error']:.2f} % and "
                 f"{100 * d100['cov_rel_error']:.2f} %")
    out.append(text + ".")

    mix = get("ot-mixture-2d")
    text = ("POT reference for `ot-mixture-2d` (½ W₂² of the exact discrete OT between n + n samples, mean ± standard "
            f"error over draws) {RECORDED}: "
            + ", ".join(f"n = {n}: {v:.3f} ± {se:.3f} ({k} draws)" for n, v, se, k in POT_ESTIMATES)
            + "; no trend with n is visible beyond the noise")
    if mix:
        big = [v for n, v, _, _ in POT_ESTIMATES if n >= 2000]
        text += (f". The table's reference is {mix['reference_cost']:.4f}, and the learned {mix['cost_L']:.3f} is "
                 f"{100 * (mix['cost_L'] / max(big) - 1):.1f}–{100 * (mix['cost_L'] / min(big) - 1):.1f} % above "
                 "the estimates with n ≥ 2000")
    out.append(text + ".")

    text = (f"`crowd-motion` history {RECORDED} (triples: L, obstacle cost, HJB residual, on 50 000 samples): 2500 "
            "Adam steps (d = 100 on an H200): d = 2 21.319, 5.195, 0.162; d = 100 21.244, 5.300, 0.154 — obstacle "
            "2.01 % apart. 5000 Adam steps: d = 2 seeds 0/1/2 21.107/21.126/21.180, 5.297/5.317/5.291, "
            "0.096/0.105/0.106; d = 100 20.957, 5.425, 0.127 — 2.41 % apart, while L + obstacle agreed within 0.3 % "
            "(26.40–26.47 against 26.38).")
    two, hundred = _crowd(results, 2, True), _crowd(results, 100, True)
    if len(two) >= 2 and hundred:
        h = hundred[0]
        lq = [r["cost_L"] + r["cost_F_obstacle"] for r in two]
        obst = [r["cost_F_obstacle"] for r in two]
        hjb = [r["cost_HJB"] for r in two]
        text += (f" The table's runs add 300 L-BFGS iterations on one batch of 16 384 samples (`lbfgs_batch`): the "
                 f"HJB residual is lower (d = 2: {min(hjb):.3f}–{max(hjb):.3f}; d = 100: {h['cost_HJB']:.3f}) but "
                 f"the obstacle costs stay {100 * _rel(h['cost_F_obstacle'], two[0]['cost_F_obstacle']):.1f} % apart "
                 f"({h['cost_F_obstacle']:.3f} against the d = 2 seeds' {min(obst):.3f}–{max(obst):.3f}), while "
                 f"L + obstacle agree within "
                 f"{100 * max(_rel(h['cost_L'] + h['cost_F_obstacle'], v) for v in lq):.1f} % — not met. The "
                 f"{len(two)} d = 2 seeds' obstacle costs agree within {100 * (max(obst) - min(obst)) / min(obst):.0f} "
                 "%, so the gap is not training noise (the next note has the cause).")
    out.append(text)

    text = ("Why the entropy term moves the d = 100 optimum (`python validation/mfg_runs.py --diagnose "
            "crowd-motion-d100`, column *idle slope*): ")
    if hundred and "idle_slope" in hundred[0]:
        h = hundred[0]
        case = make("crowd-motion", 2)  # the case's entropy weight and variance
        lam, var = case.lam_e, float(case.rho0.cov_np[0, 0])
        slopes = h.get("idle_slopes")
        text += (f"along the d = 100 trajectories the HJB residual contains {h['idle_slope']:.4f}·(|x_idle|² − mean)"
                 + (f" (slopes {'/'.join(f'{v:.4f}' for v in slopes)} at t = ¼, ½, ¾; " if slopes else " (")
                 + f"that component's standard deviation {h['idle_std']:.3f}), which is λ/(2σ²) = "
                 f"{lam}/(2·{var}) = {lam / (2 * var):.4f} from the term λ log ρ over the 98 idle coordinates: the "
                 "trained potential cancelled none of it. ")
    text += ("Cancelling it needs Φ ∋ ½κ(t)|x_idle|² with κ′ ≈ λ/σ², an isotropic, time-dependent curvature in 98 "
             "dimensions, which the paper's Φ (rank-10 ½sᵀAᵀAs, 32 logcosh units) cannot form. So the HJB penalty "
             "(α₄ = 20")
    if two and hundred:
        text += f"; E|r| grows from {two[0]['cost_HJB']:.3f} at d = 2 to {hundred[0]['cost_HJB']:.3f}"
    text += (") holds a d-dependent part the optimiser cannot remove but can trade against the other terms, and the "
             "penalised optimum differs from d = 2's — a limit of the method with this F, not of training length. "
             f"{RECORDED}: in a 1500-step trial without the entropy term the slopes were 0.0009/0.0002/−0.0002. "
             "Trials that gave Φ such a curvature (1500 Adam steps, d = 100, entropy on; terminal KL and obstacle "
             "cost against 0.29 and 5.38 for the paper's Φ): + ½sᵀ(S₀ + tS₁)s with full symmetric S₀, S₁ 2.83 and "
             "3.84; + ½xᵀ(D₀ + tD₁)x with diagonal D₀, D₁ 9.70 and 3.23; + ½(a₀ + a₁t)|x|² 15.4 and 3.06 — each "
             "made training worse (the penalty bends the new curvature to shift its residual at the cost of the "
             "terminal density); that trial code was not kept. The rows *without the entropy term* "
             "(`entropy_weight=0`, the obstacle alone as REFERENCES.md §4 states the problem) are the "
             "d-consistency check of the method itself")
    n2, n100 = _crowd(results, 2, False), _crowd(results, 100, False)
    if two and n2:
        text += (f"; at d = 2 the entropy term hardly matters (seed 0: obstacle {two[0]['cost_F_obstacle']:.3f} "
                 f"with it, {n2[0]['cost_F_obstacle']:.3f} without)")
    if n2 and n100:
        def mean(rs, key):
            return sum(r[key] for r in rs) / len(rs)

        L2, L100 = mean(n2, "cost_L"), mean(n100, "cost_L")
        Q2, Q100 = mean(n2, "cost_F_obstacle"), mean(n100, "cost_F_obstacle")
        text += (f". Without it, d = 2 ({len(n2)} seeds) and d = 100 ({len(n100)} seeds) agree: seed means L "
                 f"{L2:.3f} against {L100:.3f}, obstacle {Q2:.3f} against {Q100:.3f} ({100 * _rel(L100, L2):.2f} % "
                 f"and {100 * _rel(Q100, Q2):.2f} %); seed 0 each {100 * _rel(n100[0]['cost_L'], n2[0]['cost_L']):.2f} "
                 f"% and {100 * _rel(n100[0]['cost_F_obstacle'], n2[0]['cost_F_obstacle']):.2f} %")
        slopes = [r["idle_slope"] for r in n100 if "idle_slope" in r]
        if slopes:
            text += f"; the d = 100 idle slopes are {' and '.join(_signed(v, '.4f') for v in slopes)}"
    out.append(text + ".")

    out.append("`crowd-motion`: runs break the left/right symmetry either way (mirror images, same costs). The "
               "obstacle is Q = 50·exp(−½(x₁² + x₂²/0.5)) (a bump of height 50, REFERENCES.md §4); with MFGnet.jl's "
               "normalised Gaussian of mass 50 (peak 11.25, `obstacle_height=11.25`) and its α = (1, 2, 4, 2, 2) the "
               f"crowd went straight through the obstacle in a 1000-step d = 2 trial {RECORDED}.")
    return out


def push_statistics(sol, n: int, seed: int = 99) -> dict:
    """Mean/covariance errors of n ρ₀ samples pushed through the learned flow (gradient only, chunks of 50 000)."""
    from dlpde.solvers.mfg import gaussian_statistics, push_forward, same_sample_statistics

    p, model = sol.problem, sol.model
    par = next(model.parameters())
    g = torch.Generator(device=par.device).manual_seed(seed)
    xs, ys = [], []
    with torch.no_grad():
        for i in range(0, n, 50_000):
            x0 = p.rho0.sample(min(50_000, n - i), generator=g, device=par.device, dtype=par.dtype)
            xs.append(push_forward(model, x0, alpha1=float(sol.extra["alpha"][0]), T=p.T,
                                   nt=int(sol.extra["nt_eval"])).double().cpu())
            ys.append(p.exact_map(x0.double()).cpu())
    x, y = torch.cat(xs), torch.cat(ys)
    out = {f"{k}": v for k, v in gaussian_statistics(x, p.rho1).items()}
    out.update({f"{k}_exact_map": v for k, v in gaussian_statistics(y, p.rho1).items()})
    out.update(same_sample_statistics(x, y, p.rho1))
    out["stat_samples"] = n
    return out


def run_one(run: Run, out: Path, results: Path, figures: Path | None, device: str, tiny: bool, threads: int) -> dict:
    """Train one run; its solution goes to ``<out>/<key>.h5``, its numbers to ``<results>/<key>.json`` (replacing
    only that entry), figures (if the run makes them and ``figures`` is given) to ``figures``."""
    settings = dict(run.settings, progress=False, device=device)
    if tiny:
        settings.update(TINY)
    t0 = time.perf_counter()
    sol = dlpde.solve(make(run.case, run.dim, **run.params), "mfg", **settings)
    e = sol.extra
    command = f"python validation/mfg_runs.py --threads {threads} --only {run.key}"
    result = {"key": run.key, "case": run.case, "dim": sol.dim, "status": sol.status, "steps": sol.steps_done,
              "train_seconds": round(sol.wall_time_s, 1), "device": device,
              "machine": torch.cuda.get_device_name() if device.startswith("cuda") else
              f"CPU {platform.machine()}, {torch.get_num_threads()} thread(s)",
              "torch": torch.__version__, "tiny": tiny,
              "settings": {k: v for k, v in settings.items() if k not in ("progress", "device")},
              "problem_params": dict(run.params),
              "command": command + (f" --device {device}" if device != "cpu" else "")
              + (" --tiny --out DIR" if tiny else "")}
    result.update({k: (float(v) if hasattr(v, "item") and getattr(v, "ndim", 0) == 0 else v)
                   for k, v in e.items() if isinstance(v, (int, float, str))})
    result["alpha"] = [float(a) for a in e.get("alpha", [])]
    if sol.status == "ok" and run.case == "ot-gaussian":
        result.update(push_statistics(sol, TINY_SAMPLES if tiny else run.stat_samples))
    if sol.status == "ok" and run.case == "crowd-motion":
        result.update(idle_residual(sol, n=500 if tiny else 4000))
    out.mkdir(parents=True, exist_ok=True)
    sol.save(out / f"{run.key}.h5", xdmf=False)
    if run.figures and figures is not None and sol.status == "ok":
        from dlpde.plotting_mfg import plot_density, plot_trajectories
        figures.mkdir(parents=True, exist_ok=True)
        result["figures"] = [Path(plot_density(sol, figures / f"{run.key}-density.png")).name,
                             Path(plot_trajectories(sol, figures / f"{run.key}-trajectories.png")).name]
    result["total_seconds"] = round(time.perf_counter() - t0, 1)
    _store(results, result)
    log.info("%s: L %.4f (reference %s) in %.0f s", run.key, e.get("cost_L", math.nan),
             e.get("reference_cost", "-"), sol.wall_time_s)
    return result


def _store(results: Path, result: dict) -> Path:
    results.mkdir(parents=True, exist_ok=True)
    path = results / f"{result['key']}.json"
    path.write_text(json.dumps(result, indent=1, ensure_ascii=False, default=float) + "\n")
    return path


def idle_residual(sol, n: int = 4000, times=(0.25, 0.5, 0.75), seed: int = 3) -> dict:
    """How much of the HJB residual r = −∂ₜΦ + |∇Φ|²/(2α₁) − α₂δF/δρ along the trajectories is a multiple of
    |x_idle|² (the coordinates 3 … d, which carry no cost in crowd motion): the least-squares slope of r on
    |x_idle|² at each time (both centred), and that component's standard deviation, averaged over ``times``.
    The entropy term λ log ρ contributes λ/(2σ²)|x_idle|² to r, which a potential must cancel with a curvature
    κ(t) growing like λ/σ² along every idle axis. Float64, n samples; {} for d = 2 (no idle coordinates)."""
    import copy

    from dlpde.solvers.mfg import _time, characteristics, hjb_residual

    p = sol.problem
    if p.dim <= 2:
        return {}
    model = copy.deepcopy(sol.model).double().cpu()
    alpha, d = sol.extra["alpha"], p.dim
    x0 = p.rho0.sample(n, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)
    log_rho0 = p.rho0.log_prob(x0)
    slopes, stds = [], []
    with torch.no_grad():
        for t in times:
            q = copy.copy(p)
            q.T = t  # integrate the characteristics up to time t
            c = characteristics(model, q, x0, log_rho0, alpha=alpha, nt=max(1, round(16 * t)))
            x = c["x"]
            _, grad = model.gradient(_time(x, t))
            _, dF = p.interaction(x, t, log_rho0 - c["ell"])
            r = hjb_residual(grad, dF, alpha, d)
            z = (x[:, 2:] ** 2).sum(1)
            r, z = r - r.mean(), z - z.mean()
            beta = float((r * z).sum() / (z * z).sum())
            slopes.append(beta)
            stds.append(float((beta * z).std()))
    return {"idle_slope": sum(slopes) / len(slopes), "idle_std": sum(stds) / len(stds),
            "idle_slopes": slopes, "idle_times": list(times)}


def diagnose(key: str, out: Path, results: Path) -> dict:
    """Add ``idle_residual`` of the saved run ``<out>/<key>.h5`` to its stored result ``<results>/<key>.json``."""
    sol = dlpde.load(out / f"{key}.h5")
    result = json.loads((results / f"{key}.json").read_text())
    result.update(idle_residual(sol))
    _store(results, result)
    return result


def reevaluate(key: str, out: Path, results: Path, n: int, seed: int = 7) -> dict:
    """Recompute the cost terms of a saved run (``<out>/<key>.h5``) on n fresh ρ₀ samples on this machine's CPU,
    e.g. for a run trained on a GPU with fewer evaluation samples; updates its stored result."""
    from dlpde.solvers.mfg import evaluate_mfg

    sol = dlpde.load(out / f"{key}.h5")
    e = sol.extra
    t0 = time.perf_counter()
    new = evaluate_mfg(sol.model, sol.problem, alpha=e["alpha"], nt=int(e["nt_eval"]), n=n,
                       generator=torch.Generator().manual_seed(seed))
    result = json.loads((results / f"{key}.json").read_text())
    result.update({k: v for k, v in new.items() if isinstance(v, (int, float, str))})
    result["reevaluated"] = (f"cost terms recomputed on {n} samples on CPU {platform.machine()} in "
                             f"{time.perf_counter() - t0:.0f} s (python validation/mfg_runs.py --reevaluate {key} "
                             f"--eval-samples {n})")
    _store(results, result)
    return result


def _spread(values: list) -> str:
    """min – max, mean ± sample standard deviation, and the range relative to the mean."""
    lo, hi, n = min(values), max(values), len(values)
    mean = sum(values) / n
    sd = math.sqrt(sum((v - mean) ** 2 for v in values) / (n - 1))
    return f"{lo:.4f} – {hi:.4f} (mean {mean:.4f} ± {sd:.4f}, range {_pct((hi - lo) / mean)})"


def _se(r: dict, key: str) -> str:
    se = r.get(f"{key}_stderr")
    return "" if se is None else f" ± {se:.4f}"


def _pct(v) -> str:
    return "–" if v is None or (isinstance(v, float) and math.isnan(v)) else f"{100 * v:.2f} %"


def _ok(v, target) -> str:
    return "" if v is None else (" ✓" if v <= target else " ✗")


def _crowd_table(group: dict) -> list[str]:
    """Rows of one crowd-motion group (same problem parameters), the d = 2 against d = 100 comparison (seed 0
    each) and the spread of the d = 2 runs over training seeds."""
    lines = ["| d | seed | steps | seconds | machine | eval samples | L | obstacle ∫∫Qρ | L + obstacle | "
             "entropy term | G = KL | HJB residual | idle slope (std) | paths entering Q > ½ max Q |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    ordered = sorted(group.values(), key=lambda r: (r["dim"], r["settings"].get("seed", 0)))
    for r in ordered:
        lq = r.get("cost_L", math.nan) + r.get("cost_F_obstacle", math.nan)
        idle = (f"{r['idle_slope']:.4f} ({r['idle_std']:.3f})" if "idle_slope" in r else "–")
        entropy = f"{r['cost_F_entropy']:.4f}" if "cost_F_entropy" in r else "–"
        lines.append(f"| {r['dim']} | {r['settings'].get('seed', 0)} | {r['steps']} | {r['train_seconds']} | "
                     f"{r['machine']} | "
                     f"{r.get('eval_samples', '–')} | {r.get('cost_L', math.nan):.4f}{_se(r, 'cost_L')} | "
                     f"{r.get('cost_F_obstacle', math.nan):.4f}{_se(r, 'cost_F_obstacle')} | {lq:.4f} | "
                     f"{entropy} | {r.get('cost_G', math.nan):.2e} | "
                     f"{r.get('cost_HJB', math.nan):.3f} | {idle} | {_pct(r.get('paths_in_obstacle_core'))} |")
    first = {r["dim"]: r for r in ordered if r["settings"].get("seed", 0) == 0}
    a, b = first.get(2), first.get(100)
    if a and b:
        dl = abs(a["cost_L"] - b["cost_L"]) / a["cost_L"]
        dq = abs(a["cost_F_obstacle"] - b["cost_F_obstacle"]) / a["cost_F_obstacle"]
        lines += ["", f"d = 2 against d = 100 (seed 0 each): L differs by {_pct(dl)}{_ok(dl, 0.02)}, the obstacle "
                      f"cost by {_pct(dq)}{_ok(dq, 0.02)} (target ≤ 2 % each)."
                      + (" The entropy term differs by construction (98 more coordinates of ∫ρ log ρ)."
                         if "cost_F_entropy" in a else "")]
    for dim in sorted({r["dim"] for r in ordered}):
        seeds = [r for r in ordered if r["dim"] == dim]
        if len(seeds) > 1:
            lines += ["", f"d = {dim} over {len(seeds)} training seeds (the spread of one dimension's optimum "
                          "alone): " + "; ".join(f"{name} {_spread([r[key] for r in seeds])}" for name, key in
                                                 (("L", "cost_L"), ("obstacle", "cost_F_obstacle")))
                          + "; L + obstacle " + _spread([r["cost_L"] + r["cost_F_obstacle"] for r in seeds]) + "."]
    return lines


def load_results(results: Path) -> dict:
    """Every stored result ``<results>/*.json`` by key, in file-name order."""
    return {p.stem: json.loads(p.read_text()) for p in sorted(results.glob("*.json"))}


def _link(path: Path, table: Path) -> str:
    return Path(os.path.relpath(path.resolve(), table.resolve().parent)).as_posix()


def write_table(results_dir: Path, table: Path, figures: Path | None = HERE / "mfg", *, with_notes: bool = True,
                command: str = "python validation/mfg_runs.py --threads 1") -> Path:
    """Rebuild the Markdown table ``table`` from every stored result in ``results_dir`` (no training)."""
    results = load_results(results_dir)
    order = [r.key for r in RUNS]
    converted = [k for k, r in results.items() if r.get("source")]
    lines = ["# Optimal transport and mean-field games: validation", "",
             f"Generated by `{command}` from the stored results in [{_link(results_dir, table)}/]"
             f"({_link(results_dir, table)}/) (one JSON per run, with the command that reruns it; `--table-only` "
             "rebuilds this file from them without training, `--only KEY` reruns one run and replaces only its "
             "entry; the checks are in the script's docstring). Seconds are training wall time on the machine named "
             "in the row; CPU times were measured on a 2-core machine shared with other jobs and are inflated by "
             "their load. ✓/✗: the issue's target met or not."
             + (f" {len(converted)} of the {len(results)} results were converted from the table itself (its version "
                "of commit 2de72c4; the runs' own files were not kept), so they carry its rounding (each says so "
                "in its `source`)." if converted else "")]
    gaussian = [k for k in order if k.startswith("ot-gaussian") and k in results] + sorted(
        k for k in results if k.startswith("ot-gaussian") and k not in order)
    if gaussian:
        lines += ["",
                 "## Optimal transport between Gaussians (`ot-gaussian`, reference ½W₂² in closed form)", "",
                 "Mean and covariance errors: ‖m̂ − m₁‖/‖m₁‖ and ‖Σ̂ − Σ₁‖_F/‖Σ₁‖_F of the pushed-forward samples; "
                 "*floor*: the same for the exact optimal map on the same samples (Monte Carlo noise alone); *vs map*: "
                 "the learned flow against the exact map on the same samples (no sampling noise).", "",
                 "Φ's quadratic term: *psd* = the paper's ½sᵀAᵀAs, *full* = plus ½sᵀSs with a full symmetric S "
                 "(`PotentialNet(quadratic=\"full\")`, the case's default).", "",
                 "| d | Φ quadratic | steps | seconds | machine | L | ½W₂² | L error (≤ 1 %) | mean error (≤ 2 %) | "
                 "mean floor | mean vs map | cov error (≤ 2 %) | cov floor | cov vs map | samples | G = KL |",
                 "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for key in gaussian:
        r = results[key]
        lines.append(
            f"| {r['dim']} | {r['settings'].get('quadratic', 'psd')} | {r['steps']} | {r['train_seconds']} | "
            f"{r['machine']} | {r.get('cost_L', math.nan):.4f} | "
            f"{r.get('reference_cost', math.nan):.4f} | {_pct(r.get('cost_L_rel_error'))}"
            f"{_ok(r.get('cost_L_rel_error'), 0.01)} | {_pct(r.get('mean_rel_error'))}"
            f"{_ok(r.get('mean_rel_error'), 0.02)} | {_pct(r.get('mean_rel_error_exact_map'))} | "
            f"{_pct(r.get('mean_rel_error_vs_exact_map'))} | {_pct(r.get('cov_rel_error'))}"
            f"{_ok(r.get('cov_rel_error'), 0.02)} | {_pct(r.get('cov_rel_error_exact_map'))} | "
            f"{_pct(r.get('cov_rel_error_vs_exact_map'))} | {r.get('stat_samples', '–')} | "
            f"{r.get('cost_G', math.nan):.2e} |")
    r = results.get("ot-mixture-2d")
    if r is not None:
        lines += ["", "## Eight Gaussians to one (`ot-mixture-2d`)", "",
                  "| steps | seconds | machine | L | reference (POT) | reference method | L error (≤ 3 %) | G = KL |",
                  "|---|---|---|---|---|---|---|---|",
                  f"| {r['steps']} | {r['train_seconds']} | {r['machine']} | {r.get('cost_L', math.nan):.4f} | "
                  f"{r.get('reference_cost', math.nan):.4f} | {r.get('reference_description', '')} | "
                  f"{_pct(r.get('cost_L_rel_error'))}{_ok(r.get('cost_L_rel_error'), 0.03)} | "
                  f"{r.get('cost_G', math.nan):.2e} |"]
    crowd = {k: v for k, v in results.items() if k.startswith("crowd-motion")}
    if crowd:
        lines += ["", "## Crowd motion (`crowd-motion`): d-consistency", "",
                  "± : the Monte Carlo standard error of the sample mean over the evaluation samples. *idle slope*: "
                  "the HJB residual's regression slope on |x_idle|² (the d − 2 coordinates without cost) along the "
                  "trajectories, mean over t = ¼, ½, ¾, with the standard deviation of that component "
                  "(`idle_residual`); the entropy term puts λ/(2σ²) = 0.0167 there, which Φ must cancel."]
        for entropy, title in ((True, "with the entropy term 0.01 ∫ρ log ρ (the paper's scripts, the case's "
                                      "default)"),
                               (False, "without the entropy term (`entropy_weight=0`: REFERENCES.md §4's obstacle "
                                       "alone)")):
            # a run with the entropy term active reports its cost (cost_F_entropy); one without does not
            group = {k: r for k, r in crowd.items() if ("cost_F_entropy" in r) == entropy}
            if group:
                lines += ["", f"### {title[0].upper()}{title[1:]}", ""] + _crowd_table(group)
    figs = [f for r in results.values() for f in r.get("figures", [])] if figures is not None else []
    if figs:
        lines += ["", "## Figures", ""] + [f"![{f}]({_link(figures / f, table)})" for f in figs]
    if with_notes:
        lines += ["", "## Notes", ""] + [f"- {n}" for n in notes(results)]
    lines += ["", "Settings per run (beyond each case's defaults):", ""]
    for key, r in results.items():
        params = f", problem `{json.dumps(r['problem_params'])}`" if r.get("problem_params") else ""
        lines.append(f"- `{key}`: `{json.dumps(r['settings'])}`{params}" + (" (tiny)" if r.get("tiny") else ""))
    table.parent.mkdir(parents=True, exist_ok=True)
    table.write_text("\n".join(lines) + "\n")
    return table


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--only", nargs="*", help=f"run keys: {[r.key for r in RUNS]}")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--threads", type=int, default=1, help="torch threads (default 1, as for the table's timings)")
    ap.add_argument("--tiny", action="store_true",
                    help=f"one run (the first of --only, default {DEFAULT_TINY}) with a handful of steps, everything "
                         "written under --out (which it needs): checks the pipeline, not the accuracy")
    ap.add_argument("--out", default=None, help="solutions (.h5; default out/mfg, git-ignored); with --tiny also "
                                                "the results, figures and table")
    ap.add_argument("--results", default=None, help="stored results, one JSON per run (default "
                                                    "validation/mfg/results; with --tiny <out>/results)")
    ap.add_argument("--figures", default=None, help="PNG figures (default validation/mfg; with --tiny <out>/figures)")
    ap.add_argument("--table", default=None, help="the Markdown table (default validation/MFG.md; with --tiny "
                                                  "<out>/MFG.md)")
    ap.add_argument("--table-only", action="store_true", help="rebuild the table from the stored results, no training")
    ap.add_argument("--reevaluate", nargs="*", default=[], help="run keys whose saved .h5 to re-evaluate on CPU")
    ap.add_argument("--eval-samples", type=int, default=50_000)
    ap.add_argument("--diagnose", nargs="*", default=[],
                    help="crowd-motion run keys whose saved .h5 to check for the HJB residual's idle component")
    args = ap.parse_args(argv)
    if args.tiny and args.out is None:
        ap.error("--tiny writes everything under --out: give it a (temporary) folder")
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    torch.set_num_threads(args.threads)
    out = Path(args.out) if args.out else ROOT / "out" / "mfg"
    under = (lambda name: out / name) if args.tiny else (lambda name: None)
    results = Path(args.results) if args.results else under("results") or HERE / "mfg" / "results"
    figures = Path(args.figures) if args.figures else under("figures") or HERE / "mfg"
    table = Path(args.table) if args.table else under("MFG.md") or HERE / "MFG.md"
    for key in args.reevaluate:
        reevaluate(key, out, results, args.eval_samples)
    for key in args.diagnose:
        diagnose(key, out, results)
    command = f"python validation/mfg_runs.py --threads {args.threads}"
    if not args.table_only and not args.reevaluate and not args.diagnose:
        keys = {r.key for r in RUNS}
        unknown = sorted(set(args.only or []) - keys)
        if unknown:
            raise SystemExit(f"unknown run(s) {unknown}; choose from {sorted(keys)}")
        by_key = {r.key: r for r in RUNS}
        chosen = args.only or list(by_key)  # in the order asked for
        if args.tiny:
            chosen = (args.only or [DEFAULT_TINY])[:1]
            command += f" --tiny --only {chosen[0]} --out DIR"
        for key in chosen:
            run_one(by_key[key], out, results, figures, args.device, args.tiny, args.threads)
    print(write_table(results, table, figures, with_notes=not args.tiny, command=command).read_text())


if __name__ == "__main__":
    main()
