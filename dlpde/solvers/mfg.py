r"""Mean-field games and optimal transport along characteristics (Ruthotto, Osher, Li, Nurbekyan & Fung, PNAS 2020;
Onken et al., OT-Flow, AAAI 2021; REFERENCES.md §4).

A potential Φ(x, t) (``dlpde.nn.PotentialNet``) moves samples x₀ ~ ρ₀ along ẋ = −(1/α₁)∇ₓΦ(x, t). RK4 with ``nt``
steps integrates, together with the positions, the log-determinant ℓ (dℓ/dt = −(1/α₁)ΔₓΦ, so
log ρ(x(t), t) = log ρ₀(x₀) − ℓ(t)), the running cost L (dL/dt = ½|v|²), the interaction integrands F and the HJB
residual R (dR/dt = |−∂ₜΦ + |∇ₓΦ|²/(2α₁) − α₂ δF/δρ|). The objective (sample means over x₀) is

    J = α₁ L + α₂ F + α₃ G + α₄ R + α₅ E|Φ(x(T), T) − α₃ δG/δρ(x(T))|,

G = KL(ρ(T)‖ρ₁) = E[log ρ₀(x₀) − ℓ(T) − log ρ₁(x(T))] or E[g(x(T))] for a given terminal cost. Training uses the
shared Trainer (Adam, then optionally L-BFGS on a fixed batch). Options: ``alpha`` (5 weights; default the problem's),
``nt`` (RK4 steps in training, default 8), ``nt_eval`` (steps for the reported costs, default max(16, 2·nt)),
``quadratic`` (Φ's quadratic term, ``PotentialNet``), ``lbfgs_batch`` (samples of the L-BFGS phase's fixed batch).
"""
from __future__ import annotations

import logging
import math
from typing import Callable

import numpy as np
import torch
from torch import nn

from dlpde.nn.potential import PotentialNet
from dlpde.problems import Problem
from dlpde.problems.mfg import GaussianDensity, MeanFieldGame, check_alpha
from dlpde.settings import SolveSettings
from dlpde.solution import Solution
from dlpde.solvers.base import Solver, init_model, lbfgs_batch_option
from dlpde.training import Trainer

log = logging.getLogger(__name__)
Tensor = torch.Tensor
COST_NAMES = ("cost_L", "cost_F", "cost_G", "cost_HJB", "cost_HJB_final")


def _rk4(f: Callable, t: float, y: list[Tensor], h: float) -> list[Tensor]:
    k1 = f(t, y)
    k2 = f(t + h / 2, [a + (h / 2) * b for a, b in zip(y, k1)])
    k3 = f(t + h / 2, [a + (h / 2) * b for a, b in zip(y, k2)])
    k4 = f(t + h, [a + h * b for a, b in zip(y, k3)])
    return [a + (h / 6) * (b1 + 2 * b2 + 2 * b3 + b4) for a, b1, b2, b3, b4 in zip(y, k1, k2, k3, k4)]


def _time(x: Tensor, t: float) -> Tensor:
    return torch.cat([x, torch.full_like(x[:, :1], t)], dim=1)


def hjb_residual(grad: Tensor, dF: Tensor, alpha, d: int) -> Tensor:
    """The signed HJB residual −∂ₜΦ + |∇ₓΦ|²/(2α₁) − α₂ δF/δρ per sample, from ∇ₛΦ (n, d + 1) (space, then time)
    and δF/δρ (n,) at the same points."""
    gx, gt = grad[:, :d], grad[:, d]
    return -gt + (gx * gx).sum(dim=1) / (2 * alpha[0]) - alpha[1] * dF


def characteristics(potential, problem: MeanFieldGame, x0: Tensor, log_rho0: Tensor | None, *,
                    alpha, nt: int, path: bool = False) -> dict[str, Tensor]:
    """Integrate (x, ℓ, L, F, R) from x₀ over [0, T] with ``nt`` RK4 steps.

    ``potential`` has ``grad_laplacian(s)`` → (Φ, ∇ₛΦ, ΔₓΦ) and is callable as Φ(s) → (n, 1). Returns per-sample
    tensors: x (n, d), ell, L, F (n, k) (the active interaction terms), R, G, dG, final (the final-time HJB
    residual), log_rho (log ρ at x(T), None without log ρ₀), and ``path`` (nt+1, n, d) when asked for.
    """
    a1, a3 = alpha[0], alpha[2]
    d, T = problem.dim, problem.T
    n = x0.shape[0]
    k = len(problem.active_interactions)
    need_log_rho = problem.lam_e > 0 or problem.lam_c > 0

    def rhs(t, y):
        x, ell = y[0], y[1]
        _, grad, lap = potential.grad_laplacian(_time(x, t))
        gx = grad[:, :d]
        log_rho = log_rho0 - ell if (need_log_rho and log_rho0 is not None) else None
        F, dF = problem.interaction(x, t, log_rho)
        R = hjb_residual(grad, dF, alpha, d).abs()
        return [-gx / a1, -lap / a1, (gx * gx).sum(dim=1) / (2 * a1 * a1), F, R]

    zero = x0.new_zeros(n)
    y = [x0, zero, zero, x0.new_zeros(n, k), zero]
    h = T / nt
    xs = [x0] if path else None
    for i in range(nt):
        y = _rk4(rhs, i * h, y, h)
        if path:
            xs.append(y[0])
    x, ell, L, F, R = y
    log_rho = log_rho0 - ell if log_rho0 is not None else None
    G, dG = problem.terminal(x, log_rho)
    phi_T = potential(_time(x, T))[:, 0]
    out = {"x": x, "ell": ell, "L": L, "F": F, "R": R, "G": G, "dG": dG, "final": (phi_T - a3 * dG).abs(),
           "log_rho": log_rho}
    if path:
        out["path"] = torch.stack(xs)
    return out


def push_forward(potential, x0: Tensor, *, alpha1: float, T: float, nt: int, path: bool = False):
    """Positions x(T) (and the path (nt+1, n, d)) along ẋ = −(1/α₁)∇ₓΦ, using only the gradient (no Laplacian)."""
    d = x0.shape[1]
    grad_fn = getattr(potential, "gradient", None) or (lambda s: potential.grad_laplacian(s)[:2])

    def rhs(t, y):
        return [-grad_fn(_time(y[0], t))[1][:, :d] / alpha1]

    h, y, xs = T / nt, [x0], [x0]
    for i in range(nt):
        y = _rk4(rhs, i * h, y, h)
        xs.append(y[0])
    return (y[0], torch.stack(xs)) if path else y[0]


def density_on_grid(potential, problem: MeanFieldGame, times, n_grid: int, *, alpha1: float, nt: int):
    """ρ(x, t) on an n_grid × n_grid grid of ``problem.box`` (d = 2) by backward characteristics:
    from y at time t integrate to time 0, ρ(y, t) = ρ₀(x(0)) · exp(ℓ_back). Returns (x1 (G,), x2 (G,), ρ (k, G, G))."""
    if problem.dim != 2 or not problem.rho0.has_log_prob:
        raise ValueError("density_on_grid needs a 2-D problem whose rho0 has a log-density")
    p = next(potential.parameters())
    lo, hi = problem.box
    g1 = torch.linspace(lo[0], hi[0], n_grid, dtype=p.dtype, device=p.device)
    g2 = torch.linspace(lo[1], hi[1], n_grid, dtype=p.dtype, device=p.device)
    X1, X2 = torch.meshgrid(g1, g2, indexing="xy")  # rows follow x2, columns x1 (image layout)
    y0 = torch.stack([X1.reshape(-1), X2.reshape(-1)], dim=1)
    out = []
    for t in times:
        steps = max(1, math.ceil(nt * t / problem.T)) if t > 0 else 0
        x, ell = y0, torch.zeros_like(y0[:, 0])
        if steps:
            h = -t / steps

            def rhs(tau, y):
                _, grad, lap = potential.grad_laplacian(_time(y[0], tau))
                return [-grad[:, :2] / alpha1, -lap / alpha1]

            for i in range(steps):
                x, ell = _rk4(rhs, t + i * h, [x, ell], h)
        out.append((problem.rho0.log_prob(x) + ell).exp().reshape(n_grid, n_grid))
    return g1, g2, torch.stack(out)


class MFGObjective:
    """The sampled objective J (see the module docstring) for the shared Trainer."""

    def __init__(self, problem: MeanFieldGame, model: nn.Module, s: SolveSettings, alpha, nt: int,
                 lbfgs_batch: int | None = None):
        self.problem, self.model, self.s, self.alpha, self.nt = problem, model, s, alpha, nt
        self.lbfgs_batch, self.in_lbfgs = lbfgs_batch, False
        self.gen = s.generator(1)
        self.x0 = self.log_rho0 = None

    def begin_lbfgs(self) -> None:
        """Called by the Trainer as the L-BFGS phase starts: its one fixed batch has ``lbfgs_batch`` samples."""
        self.in_lbfgs = True

    def sample(self, n: int | None = None) -> None:
        p, s = self.problem, self.s
        self.x0 = p.rho0.sample(n or s.batch, generator=self.gen, device=s.torch_device, dtype=s.torch_dtype)
        self.log_rho0 = p.rho0.log_prob(self.x0) if p.rho0.has_log_prob else None

    def loss(self, step: int, *, resample: bool):
        if resample or self.x0 is None:
            # the L-BFGS phase keeps one batch: ``lbfgs_batch`` samples if given (less sampling bias), else ``batch``
            self.sample(self.lbfgs_batch if self.in_lbfgs else None)
        c = characteristics(self.model, self.problem, self.x0, self.log_rho0, alpha=self.alpha, nt=self.nt)
        terms = dict(zip(COST_NAMES, (c["L"].mean(), c["F"].sum(dim=1).mean(), c["G"].mean(), c["R"].mean(),
                                      c["final"].mean())))
        total = sum(a * terms[name] for a, name in zip(self.alpha, COST_NAMES) if a != 0)
        return total, terms


class MFG(Solver):
    name = "mfg"
    options = ("alpha", "nt", "nt_eval", "quadratic", "lbfgs_batch")
    unused_settings = {"derivative": "its potential network gives the exact gradient and Laplacian itself",
                       "probes": "its potential network gives the exact Laplacian itself"}
    description = "mean-field game / optimal transport along characteristics with an OT-Flow potential " \
                  "(Ruthotto et al. 2020; Onken et al. 2021)"

    def refusal(self, problem: Problem) -> str:
        if not isinstance(problem, MeanFieldGame):
            return f"{problem.case} is not a mean-field game or optimal-transport problem (dlpde.problems.mfg)"
        return ""

    def build_model(self, problem: Problem, s: SolveSettings) -> nn.Module:
        return PotentialNet(problem.dim, width=s.width, layers=s.depth, activation=s.activation,
                            quadratic=s.options.get("quadratic", "psd"))

    @staticmethod
    def _options(problem: MeanFieldGame, s: SolveSettings) -> tuple[tuple[float, ...], int, int, int | None]:
        alpha = check_alpha(s.options.get("alpha", problem.alpha))
        nt = s.options.get("nt", 8)
        if isinstance(nt, bool) or not isinstance(nt, int) or nt < 1:
            raise ValueError(f"nt (RK4 steps) must be a positive integer, got {nt!r}")
        nt_eval = s.options.get("nt_eval", max(16, 2 * nt))
        if isinstance(nt_eval, bool) or not isinstance(nt_eval, int) or nt_eval < 1:
            raise ValueError(f"nt_eval (RK4 steps for the reported costs) must be a positive integer, got {nt_eval!r}")
        if not problem.rho0.has_log_prob and alpha[4] > 0 and problem.rho1 is not None:
            raise ValueError("rho0 is given by samples (no log-density), so the final-time HJB penalty is unknown; "
                             "pass alpha with alpha[4] = 0")
        return alpha, nt, nt_eval, lbfgs_batch_option(s)

    def objective(self, problem: Problem, model: nn.Module, s: SolveSettings) -> MFGObjective:
        alpha, nt, _, lbfgs_batch = self._options(problem, s)
        return MFGObjective(problem, model, s, alpha, nt, lbfgs_batch)

    def run(self, problem: Problem, s: SolveSettings) -> Solution:
        alpha, nt, nt_eval, lbfgs_batch = self._options(problem, s)
        model = init_model(lambda: self.build_model(problem, s), s.seed).to(s.torch_device, s.torch_dtype)
        objective = MFGObjective(problem, model, s, alpha, nt, lbfgs_batch)
        solution = Solution(problem=problem, model=model, solver=self.name, settings=s, history=None,
                            case=problem.case, problem_params=problem.params(), dim=problem.dim,
                            time_dependent=True)
        result = Trainer(s.train_config(), label=f"{problem.case}/{self.name}").fit(list(model.parameters()),
                                                                                     objective)
        solution.history, solution.status, solution.message = result.history, result.status, result.message
        solution.wall_time_s, solution.steps_done = result.wall_time_s, result.steps_done
        solution.extra.update({"alpha": np.asarray(alpha), "nt": nt, "nt_eval": nt_eval})
        if result.status == "ok":
            solution.extra.update(evaluate_mfg(model, problem, alpha=alpha, nt=nt_eval, n=s.eval_points,
                                               generator=s.generator(2)))
        return solution


def evaluate_mfg(potential, problem: MeanFieldGame, *, alpha, nt: int, n: int = 10_000,
                 generator: torch.Generator | None = None, chunk: int = 4096, n_paths: int = 2000,
                 n_traj: int = 50, n_grid: int = 64, density_times=(0.0, 0.25, 0.5, 0.75, 1.0)) -> dict:
    """The cost terms on n fresh samples of ρ₀ (RK4 with ``nt`` steps) with their Monte Carlo standard errors
    (``<term>_stderr``), pushed-forward statistics against a
    Gaussian ρ₁, the reference cost, sample paths, trajectories and (d = 2) the density on a grid: the entries of
    ``Solution.extra`` (scalars become HDF5 root attributes, arrays go to /extra/)."""
    alpha = check_alpha(alpha)
    p = next(potential.parameters())
    dev, dt = p.device, p.dtype
    x0 = problem.rho0.sample(n, generator=generator, device=dev, dtype=dt)
    sums: dict[str, float] = {}
    squares: dict[str, float] = {}
    ends = []
    with torch.no_grad():
        for i in range(0, n, chunk):
            xb = x0[i:i + chunk]
            lr = problem.rho0.log_prob(xb) if problem.rho0.has_log_prob else None
            c = characteristics(potential, problem, xb, lr, alpha=alpha, nt=nt)
            ends.append(c["x"])
            parts = {"cost_L": c["L"], "cost_F": c["F"].sum(dim=1), "cost_G": c["G"], "cost_HJB": c["R"],
                     "cost_HJB_final": c["final"]}
            for j, name in enumerate(problem.active_interactions):
                parts[f"cost_F_{name}"] = c["F"][:, j]
            for k, v in parts.items():
                sums[k] = sums.get(k, 0.0) + float(v.double().sum())
                squares[k] = squares.get(k, 0.0) + float(v.double().square().sum())
        out: dict = {k: v / n for k, v in sums.items()}
        for k in sums:  # the Monte Carlo standard error of each sample mean
            out[f"{k}_stderr"] = math.sqrt(max(squares[k] / n - out[k] ** 2, 0.0) / max(n - 1, 1))
        out["objective"] = sum(a * out[name] for a, name in zip(alpha, COST_NAMES))
        out["eval_samples"] = n
        xT = torch.cat(ends).double()
        ref = problem.reference_cost()
        if ref is not None:
            out["reference_cost"] = ref
            out["reference_description"] = problem.reference_description()
            out["cost_L_rel_error"] = abs(out["cost_L"] - ref) / abs(ref)
        if isinstance(problem.rho1, GaussianDensity):
            out.update(gaussian_statistics(xT, problem.rho1))
            exact = getattr(problem, "exact_map", lambda x: None)(x0.double())
            if exact is not None:
                out.update({f"{k}_exact_map": v for k, v in gaussian_statistics(exact, problem.rho1).items()})
                out.update(same_sample_statistics(xT, exact, problem.rho1))
        if problem.obstacle is not None:
            out.update(obstacle_statistics(potential, problem, x0[: min(n, 2000)], alpha1=alpha[0], nt=nt))
        # arrays for files and pictures
        m = min(n, n_paths)
        _, paths = push_forward(potential, x0[:m], alpha1=alpha[0], T=problem.T, nt=nt, path=True)
        out["path_times"] = np.linspace(0.0, problem.T, nt + 1)
        out["sample_paths"] = paths[:, :, :2].transpose(0, 1).double().cpu().numpy()  # (m, nt+1, 2)
        out["trajectories"] = paths[:, : min(m, n_traj)].transpose(0, 1).double().cpu().numpy()  # (k, nt+1, d)
        lo, hi = problem.box
        g1 = torch.linspace(lo[0], hi[0], n_grid, dtype=dt, device=dev)
        g2 = torch.linspace(lo[1], hi[1], n_grid, dtype=dt, device=dev)
        out["grid_x1"], out["grid_x2"] = g1.double().cpu().numpy(), g2.double().cpu().numpy()
        if problem.obstacle is not None:
            X1, X2 = torch.meshgrid(g1, g2, indexing="xy")
            pts = torch.zeros(n_grid * n_grid, problem.dim, dtype=dt, device=dev)
            pts[:, 0], pts[:, 1] = X1.reshape(-1), X2.reshape(-1)
            out["obstacle"] = problem.obstacle(pts).reshape(n_grid, n_grid).double().cpu().numpy()
        if problem.dim == 2 and problem.rho0.has_log_prob:
            times = [float(t) * problem.T for t in density_times]
            _, _, rho = density_on_grid(potential, problem, times, n_grid, alpha1=alpha[0], nt=nt)
            out["density_times"] = np.asarray(times)
            out["density"] = rho.double().cpu().numpy()
    return out


def gaussian_statistics(x: Tensor, rho1: GaussianDensity) -> dict[str, float]:
    """Relative errors of the sample mean (‖m̂ − m₁‖/‖m₁‖, or absolute when m₁ = 0) and covariance
    (‖Σ̂ − Σ₁‖_F/‖Σ₁‖_F) of the points x against ρ₁ = N(m₁, Σ₁)."""
    x = x.double().cpu()
    m1, c1 = torch.as_tensor(rho1.mean_np), torch.as_tensor(rho1.cov_np)
    mean = x.mean(0)
    xc = x - mean
    cov = xc.T @ xc / (x.shape[0] - 1)
    mn = float(m1.norm())
    err = float((mean - m1).norm())
    return {"mean_rel_error": err / mn if mn > 0 else err,
            "cov_rel_error": float((cov - c1).norm() / c1.norm())}


def same_sample_statistics(x: Tensor, x_exact: Tensor, rho1: GaussianDensity) -> dict[str, float]:
    """The learned push-forward against the exact map applied to the same samples (no sampling noise):
    ‖m̂ − m̂_exact‖/‖m₁‖ and ‖Σ̂ − Σ̂_exact‖_F/‖Σ₁‖_F, and the root-mean-square distance of the end points."""
    x, y = x.double().cpu(), x_exact.double().cpu()
    cx, cy = x - x.mean(0), y - y.mean(0)
    dcov = (cx.T @ cx - cy.T @ cy) / (x.shape[0] - 1)
    m1, c1 = torch.as_tensor(rho1.mean_np), torch.as_tensor(rho1.cov_np)
    mn = float(m1.norm())
    dm = float((x.mean(0) - y.mean(0)).norm())
    return {"mean_rel_error_vs_exact_map": dm / mn if mn > 0 else dm,
            "cov_rel_error_vs_exact_map": float(dcov.norm() / c1.norm()),
            "map_rmse": float(((x - y) ** 2).sum(1).mean().sqrt())}


def obstacle_statistics(potential, problem: MeanFieldGame, x0: Tensor, *, alpha1: float, nt: int) -> dict:
    """How the paths meet the obstacle: the fraction of paths entering the region where Q exceeds half its
    maximum (for the crowd-motion Gaussian: an ellipse around the origin), and the mean over paths of max_t Q."""
    _, paths = push_forward(potential, x0, alpha1=alpha1, T=problem.T, nt=nt, path=True)
    q = problem.obstacle(paths.reshape(-1, problem.dim)).reshape(paths.shape[0], paths.shape[1])
    zero = torch.zeros(1, problem.dim, dtype=x0.dtype, device=x0.device)
    q_peak = float(problem.obstacle(zero)[0])
    qmax = q.max(dim=0).values
    return {"paths_in_obstacle_core": float((qmax > 0.5 * q_peak).double().mean()),
            "obstacle_max_along_path": float(qmax.double().mean()), "obstacle_peak": q_peak}
