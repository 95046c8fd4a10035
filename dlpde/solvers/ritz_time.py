r"""Time-stepping Deep Ritz: gradient flows u_t = −δE/δu by minimizing movements, one Ritz problem per step.

For a problem whose ``gradient_flow()`` gives a ``dlpde.problems.gradient_flow.GradientFlow`` (an energy
E(u) = ∫_Ω e(x, u, ∇u) on a box, initial data, Dirichlet data or the natural zero-Neumann condition), each step
t_n → t_{n+1} trains a network u_θ on

    L(θ) = Σ_q w_q [ (u_θ(x_q) − ū(x_q))²/(2τ̃) + e(x_q, u_θ, ∇u_θ) ]                    (De Giorgi's minimizing
                                                                                         movement; E & Yu 2018)

with ū, τ̃ from the scheme (``dlpde.reference.gradient_flow.bdf_anchor``: implicit Euler ū = uⁿ, τ̃ = τ; or
variable-step BDF2, second order). The sums run over a fixed tensor Gauss–Legendre rule (``quadrature_points`` per
cell per axis on ``quadrature_cells`` cells per axis, cells split at the flow's ``quadrature_breaks``, e.g. a
payoff's kink): deterministic, so the minimiser of the discrete loss is the Ritz minimiser up to the rule's
error, where Monte Carlo energies stall Deep Ritz at 1e-2…1e-3. Dirichlet data are exact, u = a + φ·N
(``dlpde.nn.time_steps.StepNet``); a Neumann boundary needs nothing. Each step starts from the previous step's
network (warm start) and ū is stored as values at the quadrature points, so a step costs one network. Step 0
fits the initial data (L2 projection, same rule) to give step 1 its start; step 1's ū is the exact initial data.

The training loop is the shared Trainer, run once per time step: ``steps`` (Adam or ENGD iterations) and
``lbfgs_steps`` are per time step. ENGD (``optimizer="engd"``) is the energy natural gradient of the step's loss:
its Gram is the Hessian of the step density in (u, ∇u) (``dlpde.solvers.ritz.density_hessian_factor``), 1/τ̃ + F''
and κI, so for the heat equation an ENGD step is Newton's step for the quadratic step problem on the network's
tangent space. ``batch``, ``boundary_batch``, ``sampling`` and ``resample_every`` are not used.

Solver options: ``time_steps`` (K, default the flow's ``default_time_steps(scheme)``) or ``time_step`` (τ > 0:
K = ⌈T/τ⌉ uniform steps; it overrides ``time_steps``), ``scheme``
("euler" or "bdf2", default "euler"), ``grading`` (t_k = T(k/K)^grading, default 1), ``quadrature_cells``
(default 16), ``quadrature_points`` (default 4), ``initial_steps`` (iterations of the step-0 fit, default 3·steps).

History: one row per time step (its optimizer iterations summed in ``step``, ``time_step``, ``t``, the loss and its
terms) and, where the reference is cheap (``cheap_reference``), ``rel_l2_error``: the error at that row's time t
(the flow's time and variables: for the Black–Scholes call the time to maturity and w over the log-price).

Result: a ``dlpde.nn.time_steps.TimeSteps`` field (piecewise linear in t between the steps) in the problem's own
coordinates, the usual metrics over space-time, and at the final time (quadrature over the flow's box, in the
flow's variables): ``final_rel_l2_error`` against the reference, ``final_rel_l2_error_same_step`` against the same
scheme on the same grid solved exactly in space (the network's own error), ``time_error`` between those two
references (the scheme's) and, for a BDF2 run with a cheap reference, ``time_error_euler`` (implicit Euler's
on the same grid).
"""
from __future__ import annotations

import copy
import logging
import math
import time
from dataclasses import replace

import numpy as np
import torch
from torch import nn

from dlpde.nn import MLP
from dlpde.nn.time_steps import StepNet, TimeSteps
from dlpde.problems import Problem
from dlpde.reference.gradient_flow import SCHEMES, bdf_anchor, time_grid
from dlpde.settings import SolveSettings
from dlpde.solution import Solution
from dlpde.solvers.base import init_model, record_run
from dlpde.solvers.ritz import DeepRitz, density_hessian_factor, field_and_gradient, field_jacobian, gauss_box
from dlpde.training import Trainer
from dlpde.training.history import History
from dlpde.training.progress import Progress

Tensor = torch.Tensor
log = logging.getLogger(__name__)

TIME_OPTIONS = ("time_steps", "time_step", "scheme", "grading", "quadrature_cells", "quadrature_points",
                "initial_steps")
DEFAULT_CELLS, DEFAULT_POINTS = 16, 4


# ---------------------------------------------------------------------------------------------------------
# settings and quadrature


def _count(name: str, value, lower: int = 1) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < lower:
        raise ValueError(f"{name} must be an integer >= {lower}, got {value!r}")
    return value


def time_settings(T: float, options: dict, default_steps: int = 20) -> tuple[np.ndarray, str]:
    """The time grid and scheme from the solver options (checked; see the module docstring); without
    ``time_steps`` or ``time_step``, ``default_steps`` steps (the flow's own choice for its T)."""
    scheme = options.get("scheme", "euler")
    if scheme not in SCHEMES:
        raise ValueError(f"scheme must be one of {SCHEMES}, got {scheme!r}")
    grading = options.get("grading", 1.0)
    if "time_step" in options:  # τ given: it overrides time_steps (a case's default included)
        tau = options["time_step"]
        if isinstance(tau, bool) or not isinstance(tau, (int, float)) or not math.isfinite(tau) or tau <= 0:
            raise ValueError(f"time_step must be a positive number (the step τ), got {tau!r}")
        if grading != 1.0:
            raise ValueError("time_step gives uniform steps; use time_steps with grading for a graded grid")
        return time_grid(T, max(1, math.ceil(T / tau - 1e-9))), scheme
    steps = _count("time_steps", options.get("time_steps", default_steps))
    return time_grid(T, steps, grading), scheme


# ---------------------------------------------------------------------------------------------------------
# one step's loss


class _StepDensity:
    """The step's density s(x, u, ∇u) = (u − ū)²/(2τ̃) + e(x, u, ∇u) (e left out for the initial fit), for
    ``density_hessian_factor``; ū given at the same points."""

    def __init__(self, flow, anchor: Tensor, inv_tau: float, energy: bool):
        self.flow, self.anchor, self.inv_tau, self.energy = flow, anchor, inv_tau, energy

    def energy_density(self, x: Tensor, u: Tensor, grad: Tensor) -> Tensor:
        d = u - self.anchor
        out = 0.5 * self.inv_tau * d * d
        return out + self.flow.energy_density(x, u, grad) if self.energy else out


class MovementObjective:
    """Σ_q w_q [(u − ū)²/(2τ̃) + e(x_q, u, ∇u)] on the fixed rule (x_q, w_q); ``energy=False``: the L2 fit
    Σ w (u − ū)²/2 of the initial data. ENGD rows: √w_q·Lᵀ(u, ∇u), L the factor of the density's Hessian."""

    least_squares = False

    def __init__(self, flow, model: nn.Module, x: Tensor, w: Tensor, anchor: Tensor, tau: float, *,
                 energy: bool = True):
        self.flow, self.model, self.x, self.w, self.anchor = flow, model, x, w, anchor
        self.inv_tau, self.energy = 1.0 / tau, energy

    def _evaluate(self) -> tuple[Tensor, dict[str, Tensor]]:
        u, grad = field_and_gradient(self.model, self.x)
        d = u - self.anchor
        movement = 0.5 * self.inv_tau * (self.w * d * d).sum()
        if not self.energy:
            return movement, {"movement": movement}
        energy = (self.w * self.flow.energy_density(self.x, u, grad)).sum()
        return movement + energy, {"movement": movement, "energy": energy}

    def loss(self, step: int, *, resample: bool):  # noqa: ARG002 (one fixed rule: nothing to resample)
        return self._evaluate()

    def current_loss(self) -> Tensor:
        return self._evaluate()[0]

    def sample(self) -> None:
        """Nothing to draw (the rule is fixed); for the Trainer's protocol."""

    def gram_blocks(self) -> list:
        return [self]

    def jacobian(self, params: list[Tensor], chunk: int = 2048) -> tuple[Tensor, Tensor]:
        """ENGD's rows √w_q·Lᵀ(u, ∇u)(x_q) and their Jacobian in ``params`` (M·r, P), L the factor of the step
        density's Hessian at the current (u, ∇u) (``density_hessian_factor``, held fixed: Gauss–Newton). ∂(u, ∇u)/∂θ
        comes from ``torch.func`` (jacrev of u and ∇ₓu, vmapped over the points), ``chunk`` points at a time: a few
        batched passes instead of one backward pass per row (``dlpde.training.engd.block_jacobian``)."""
        Js, rs = [], []
        for start in range(0, self.x.shape[0], chunk):
            sl = slice(start, start + chunk)
            x, w = self.x[sl], self.w[sl]
            v, jv = field_jacobian(self.model, params, x, chunk=chunk)  # (m, 1 + d), (m, 1 + d, P)
            factor = density_hessian_factor(_StepDensity(self.flow, self.anchor[sl], self.inv_tau, self.energy),
                                            x, v[:, 0], v[:, 1:])
            sw = w.sqrt()
            Js.append((torch.einsum("nkr,nkp->nrp", factor, jv) * sw[:, None, None]).reshape(-1, jv.shape[2]))
            rs.append((torch.einsum("nkr,nk->nr", factor, v) * sw[:, None]).reshape(-1))
        return torch.cat(Js), torch.cat(rs)


# ---------------------------------------------------------------------------------------------------------
# the solver


def _weighted_rel(u: Tensor, ref: Tensor, w: Tensor) -> float:
    num = (w * (u - ref) ** 2).sum()
    return float(torch.sqrt(num / (w * ref * ref).sum().clamp_min(1e-300)))


class TimeStepping:
    """One run of time-stepping Deep Ritz on ``problem`` with settings ``s`` (see the module docstring)."""

    def __init__(self, problem: Problem, s: SolveSettings):
        unused = sorted(set(s.options) - set(TIME_OPTIONS))
        if unused:
            raise ValueError(f"option(s) {unused} are for steady Deep Ritz; time-stepping Ritz takes {TIME_OPTIONS}")
        if s.resume is not None or s.checkpoint_every:  # (checkpoint_path alone, the CLI's default, is ignored)
            raise ValueError("time-stepping Ritz does not write or resume checkpoints (each time step is short); "
                             "drop checkpoint_every/resume")
        self.problem, self.s = problem, s
        self.flow = problem.gradient_flow()
        scheme = s.options.get("scheme", "euler")
        default = self.flow.default_time_steps(scheme) if scheme in SCHEMES else 1
        self.times, self.scheme = time_settings(float(self.flow.T), s.options, default)
        self.cells = _count("quadrature_cells", s.options.get("quadrature_cells", DEFAULT_CELLS))
        self.points = _count("quadrature_points", s.options.get("quadrature_points", DEFAULT_POINTS))
        self.initial_steps = _count("initial_steps", s.options.get("initial_steps", 3 * max(s.steps, 1)), 0)
        self.dtype, self.device = s.torch_dtype, s.torch_device
        lo, hi = self.flow.space.bounds
        self.lo, self.hi = lo, hi
        self.x, self.w = gauss_box(lo, hi, self.cells, self.points, self.flow.quadrature_breaks(), dtype=self.dtype,
                                   device=self.device)
        self.cheap_reference = bool(getattr(self.flow, "cheap_reference", False))  # measured at every step

    def build(self) -> StepNet:
        lo, hi, s = self.lo, self.hi, self.s
        inner = MLP(lo.numel(), 1, width=s.width, depth=s.depth, activation=s.activation,
                    input_shift=((lo + hi) / 2).tolist(), input_scale=(2 / (hi - lo)).tolist())
        return StepNet(inner, lo.tolist(), hi.tolist(), constrained=bool(self.flow.dirichlet))

    def _set_boundary(self, net: StepNet, t: float) -> None:
        if self.flow.dirichlet and self.lo.numel() == 1:
            ends = torch.stack([self.lo, self.hi])[:, None].to(self.dtype)
            g = self.flow.boundary_value(ends, t)
            net.set_ends(float(g[0]), float(g[1]))

    def _train(self, net: StepNet, anchor: Tensor, tau: float, *, energy: bool, steps: int, label: str):
        s = self.s
        config = replace(s.train_config(), steps=steps, progress=False, log_every=max(steps + s.lbfgs_steps, 1),
                         eval_every=10**9, checkpoint_every=0, checkpoint_path=None, resume=None)
        objective = MovementObjective(self.flow, net, self.x, self.w, anchor, tau, energy=energy)
        result = Trainer(config, label=label).fit(list(net.parameters()), objective)
        loss, terms = objective._evaluate()
        return result, float(loss.detach()), {k: float(v.detach()) for k, v in terms.items()}

    def run(self) -> Solution:
        problem, s, flow = self.problem, self.s, self.flow
        label = f"{problem.case}/ritz"
        if getattr(problem, "has_reference", False) and not getattr(problem, "has_exact", False):
            problem.prepare_reference()  # e.g. finite elements: before the training clock starts
        same_step = flow.discrete_reference(self.times, self.scheme)
        started = time.perf_counter()
        net = init_model(self.build, s.seed).to(self.device, self.dtype)
        self._set_boundary(net, float(self.times[0]))
        u0 = flow.initial(self.x).to(self.dtype)
        history, iterations, status, message, rollbacks = History(), 0, "ok", "", 0
        if self.initial_steps + s.lbfgs_steps > 0:
            result, loss, _ = self._train(net, u0, 1.0, energy=False, steps=self.initial_steps, label=f"{label} fit")
            iterations += result.steps_done
            status, message = result.status, result.message
            with torch.no_grad():
                err0 = _weighted_rel(net(self.x)[:, 0], u0, self.w)
            history.append(step=iterations, time_step=0, t=float(self.times[0]), phase="fit", loss=loss,
                           seconds=time.perf_counter() - started, rel_l2_error=err0)
            log.info("%s: initial data fitted, relative L2 %.3e (%d iterations)", label, err0, result.steps_done)
        nets, values = [copy.deepcopy(net)], [u0]
        K = len(self.times) - 1
        progress = Progress(K, f"{label} time steps", s.progress)
        for n in range(K):
            if status != "ok":
                break
            t1 = float(self.times[n + 1])
            c, tau = bdf_anchor(self.times, n, self.scheme)
            anchor = sum(ci * values[-1 - i] for i, ci in enumerate(c))
            self._set_boundary(net, t1)
            result, loss, terms = self._train(net, anchor, tau, energy=True, steps=s.steps,
                                              label=f"{label} step {n + 1}")
            iterations += result.steps_done
            rollbacks += result.rollbacks
            status, message = result.status, (f"time step {n + 1}: {result.message}" if result.message else "")
            with torch.no_grad():
                un = net(self.x)[:, 0].detach()
            values.append(un)
            nets.append(copy.deepcopy(net))
            row = dict(step=iterations, time_step=n + 1, t=t1, phase=s.optimizer, loss=loss,
                       seconds=time.perf_counter() - started, **terms)
            if self.cheap_reference:
                ref = flow.reference_at(self.x, t1)
                if ref is not None:
                    row["rel_l2_error"] = _weighted_rel(un, ref.to(un), self.w)
            history.append(**row)
            log.info("%s: step %d/%d t=%.4g loss %.6e%s (%d iterations)", label, n + 1, K, t1, loss,
                     f" rel_l2_error(t) {row['rel_l2_error']:.3e}" if "rel_l2_error" in row else "",
                     result.steps_done)
            progress.update(n + 1, f"t {t1:.3g}, loss {loss:.3e}"
                            + (f", rel_l2(t) {row['rel_l2_error']:.2e}" if "rel_l2_error" in row else ""))
        progress.close()
        wall = time.perf_counter() - started
        if len(nets) < 2:  # nothing stepped (a failed fit): keep a constant-in-time field of the fit
            nets.append(copy.deepcopy(net))
        model = TimeSteps(nets, self.times[: len(nets)].tolist(), flow.solution_map())
        solution = Solution(problem=problem, model=model, solver="ritz", settings=s, history=history,
                            status=status, message=message, wall_time_s=wall, steps_done=iterations,
                            case=problem.case, problem_params=problem.params(), dim=problem.dim,
                            time_dependent=True)
        if rollbacks:
            solution.extra["rollbacks"] = rollbacks
        record_run(solution, None)
        solution.extra.update(time_steps=K, scheme=self.scheme, final_time=float(self.times[-1]),
                              quadrature_nodes=int(self.x.shape[0]))
        if status == "ok":
            solution.evaluate()
            solution.metrics.update(self.final_errors(values[-1], same_step))
            if solution.converged is False:
                log.warning("%s: %s %.3g is above error_threshold %g: not converged", label,
                            *solution.judged_error(), s.error_threshold)
        return solution

    def final_errors(self, u: Tensor, same_step) -> dict[str, float]:
        """Errors at the final time in the flow's variables, by the training rule (see the module docstring)."""
        T, out = float(self.times[-1]), {}
        ref = self.flow.reference_at(self.x, T)
        discrete = same_step(self.x).to(u) if same_step is not None else None
        if ref is not None:
            ref = ref.to(u)
            out["final_rel_l2_error"] = _weighted_rel(u, ref, self.w)
        if discrete is not None:
            out["final_rel_l2_error_same_step"] = _weighted_rel(u, discrete, self.w)
            if ref is not None:
                out["time_error"] = _weighted_rel(discrete, ref, self.w)
        if ref is not None and self.scheme != "euler" and self.cheap_reference:
            euler = self.flow.discrete_reference(self.times, "euler")
            if euler is not None:
                out["time_error_euler"] = _weighted_rel(euler(self.x).to(u), ref, self.w)
        return out


class DeepRitzTime(DeepRitz):
    """Deep Ritz: the energy minimiser of a steady problem (``DeepRitz``) and, for a gradient flow (a problem with
    ``gradient_flow()``), the minimizing-movement time stepping of this module."""

    description = ("Deep Ritz: minimise the energy (E & Yu 2018); gradient flows by minimizing movements, one Ritz "
                   "problem per time step")
    options = tuple(DeepRitz.options) + TIME_OPTIONS

    def refusal(self, problem: Problem) -> str:
        if not problem.time_dependent:
            return super().refusal(problem)
        if not callable(getattr(problem, "gradient_flow", None)):
            return (f"{problem.case} is time-dependent and not a gradient flow u_t = −δE/δu of an energy "
                    "(time-stepping Ritz needs one)")
        return ""

    def run(self, problem: Problem, s: SolveSettings) -> Solution:
        if not problem.time_dependent:
            given = sorted(set(s.options) & set(TIME_OPTIONS))
            if given:
                raise ValueError(f"option(s) {given} are for time-dependent problems; {problem.case} is steady")
            return super().run(problem, s)
        return TimeStepping(problem, s).run()


__all__ = ["DeepRitzTime", "TimeStepping", "MovementObjective", "gauss_box", "time_settings", "TIME_OPTIONS"]
