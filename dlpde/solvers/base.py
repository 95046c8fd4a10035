"""What a solver is: which loss on which samples. The training loop is shared (``dlpde.training.Trainer``)."""
from __future__ import annotations

import logging
import time

import torch
from torch import nn

from dlpde.nn.mlp import check_sizes
from dlpde.problems import Problem
from dlpde.settings import SolveSettings
from dlpde.solution import Solution
from dlpde.training import Trainer
from dlpde.training.trainer import Objective

log = logging.getLogger(__name__)


def lbfgs_batch_option(s: SolveSettings) -> int | None:
    """Solver option ``lbfgs_batch``: the size of the L-BFGS phase's one fixed batch (None: Adam's ``batch``),
    checked; objectives that take it switch to it in ``begin_lbfgs`` (see ``dlpde.training.trainer.Objective``)."""
    n = s.options.get("lbfgs_batch")
    if n is not None:
        check_sizes(lbfgs_batch=n)
    return n


def init_model(build, seed: int) -> nn.Module:
    """Build a network with weights drawn from ``seed`` without touching torch's global random state."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return build()


def record_run(solution: Solution, result) -> None:
    """Note in ``solution.extra`` how the run went beyond its history: processes (under torchrun), rollbacks of
    the divergence guard, the last checkpoint."""
    from dlpde import distributed
    if distributed.world_size() > 1:
        solution.extra["processes"] = distributed.world_size()
    if getattr(result, "rollbacks", 0):
        solution.extra["rollbacks"] = result.rollbacks
    if getattr(result, "checkpoint", ""):
        solution.extra["checkpoint"] = result.checkpoint


class Solver:
    """Subclasses set ``name`` and ``description`` and implement ``refusal`` and ``run`` (or, for solvers that
    train one network on an ``Objective``, ``build_model`` and ``objective`` and inherit ``run``)."""

    name: str = ""
    description: str = ""
    # settings of SolveSettings this solver never reads, with what to use instead: given explicitly they are refused
    # (a silently ignored --width once built a network of another size than the file's settings said)
    unused_settings: dict[str, str] = {}

    def refusal(self, problem: Problem) -> str:
        """Why this solver cannot solve ``problem`` ("" when it can)."""
        return ""

    def build_model(self, problem: Problem, s: SolveSettings) -> nn.Module:
        raise NotImplementedError

    def objective(self, problem: Problem, model: nn.Module, s: SolveSettings) -> Objective:
        raise NotImplementedError

    def run(self, problem: Problem, s: SolveSettings) -> Solution:
        model = init_model(lambda: self.build_model(problem, s), s.seed).to(s.torch_device, s.torch_dtype)
        objective = self.objective(problem, model, s)
        solution = Solution(problem=problem, model=model, solver=self.name, settings=s, history=None,
                            case=problem.case, problem_params=problem.params(), dim=problem.dim,
                            time_dependent=problem.time_dependent)
        has_reference = problem.has_exact or getattr(problem, "has_reference", False)
        evaluate = (lambda: solution.errors(min(s.eval_points, 4000))) if has_reference else None
        if has_reference and not problem.has_exact:
            problem.prepare_reference()  # e.g. a finite element solve: done before the training clock starts
        calibration_s = 0.0  # counted in the training time
        if s.options.get("calibrate_output"):
            from dlpde.solvers.collocation import calibrate_output
            started = time.perf_counter()
            objective.sample()
            calibrated = calibrate_output(objective, model)
            calibration_s = time.perf_counter() - started
            if calibrated is not None:
                log.info("%s/%s: output level calibrated to %.4g", problem.case, self.name, calibrated)
        extra_params = list(getattr(objective, "extra_parameters", lambda: [])())  # e.g. unknown coefficients
        result = Trainer(s.train_config(), evaluate=evaluate, label=f"{problem.case}/{self.name}").fit(
            list(model.parameters()) + extra_params, objective)
        solution.history, solution.status, solution.message = result.history, result.status, result.message
        solution.wall_time_s, solution.steps_done = result.wall_time_s + calibration_s, result.steps_done
        record_run(solution, result)
        solution.unknowns.update(getattr(objective, "results", dict)())
        if result.status == "ok":
            solution.evaluate()
            if not has_reference and hasattr(objective, "relative_residual"):
                indicator = objective.relative_residual(min(s.eval_points, 4000))
                if indicator is not None:
                    solution.metrics["relative_residual"] = indicator
            if solution.converged is False:
                name, value = solution.judged_error()
                log.warning("%s/%s: %s %.3g is above error_threshold %g: not converged",
                            problem.case, self.name, name, value, s.error_threshold)
        return solution
