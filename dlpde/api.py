"""The entry points: ``solve`` and ``load``."""
from __future__ import annotations

import logging

import torch

from dlpde.problems import Problem, get_case
from dlpde.settings import SolveSettings
from dlpde.solution import Solution
from dlpde.solvers import get_solver
from dlpde.training.allocator import keep_freed_memory

log = logging.getLogger(__name__)


def solve(problem: Problem | str, solver: str = "pinn", *, dim: int | None = None, **settings) -> Solution:
    """Solve ``problem`` (a Problem, or the name of a case) with ``solver``.

    Keyword settings (all optional) are those of ``dlpde.settings.SolveSettings`` — steps, batch, width, depth,
    activation, lr, lbfgs_steps, seed, device, dtype, derivative, ... — over the case's own defaults; names a
    solver does not know are refused. Returns a ``Solution``; check ``solution.status``.
    """
    defaults: dict = {}
    check_dim(dim)
    if not isinstance(solver, str):
        raise TypeError(f"solver must be a solver name (str), got {type(solver).__name__}")
    if isinstance(problem, str):
        case = get_case(problem)
        problem = case.make(dim)
    elif dim is not None:
        raise ValueError("dim is only for case names; a Problem object already has its dimension")
    if not isinstance(problem, Problem):
        raise TypeError(f"problem must be a dlpde Problem or a case name, got {type(problem).__name__}")
    from dlpde.problems import CASES
    case = CASES.get(problem.case)
    if case is not None:
        defaults = case.settings_for(solver, settings.get("optimizer"))
    s = get_solver(solver)
    why = s.refusal(problem)
    if why:
        from dlpde.solvers import SOLVERS
        fits = [n for n, other in SOLVERS.items() if not other.refusal(problem)]
        raise ValueError(f"solver {solver!r} cannot solve {problem.case}: {why}; solvers that apply: {fits}")
    ignored = sorted(k for k, v in settings.items() if v is not None and k in s.unused_settings)
    if ignored:
        raise ValueError(f"solver {solver!r} does not use " + "; ".join(f"{k} ({s.unused_settings[k]})"
                                                                        for k in ignored) + ": leave it out")
    settings_obj = SolveSettings.from_kwargs(defaults, **settings)
    allowed = set(getattr(s, "options", ()))
    unknown = sorted(set(settings_obj.options) - allowed)
    if unknown:
        raise ValueError(f"unknown setting(s) {unknown} for solver {solver!r}; "
                         f"see dlpde.settings.SolveSettings{' or options ' + str(sorted(allowed)) if allowed else ''}")
    from dlpde import distributed
    settings_obj.device = distributed.setup(settings_obj.device)  # under torchrun: join the group, cuda:LOCAL_RANK
    threads, before = settings_obj.cpu_threads(), torch.get_num_threads()
    log.info("solving %s (dim %d) with %s, %d CPU thread(s)", problem.case, problem.dim, solver, threads)
    torch.set_num_threads(threads)  # for this solve only: the caller's setting comes back afterwards
    keep = settings_obj.keep_freed_memory and settings_obj.torch_device.type == "cpu"
    try:
        with keep_freed_memory(keep):
            return s.run(problem, settings_obj)
    finally:
        torch.set_num_threads(before)


def check_dim(dim) -> None:
    """Refuse a dimension that is not a whole number in [1, MAX_DIM] before anything is built."""
    from dlpde.settings import MAX_DIM
    if dim is None:
        return
    if isinstance(dim, bool) or not isinstance(dim, int):
        raise TypeError(f"dim must be a whole number, got {type(dim).__name__} {dim!r}")
    if not 1 <= dim <= MAX_DIM:
        raise ValueError(f"dim must lie in [1, {MAX_DIM:,}], got {dim:,}")


def load(path, *, device: str = "cpu", problem: Problem | None = None) -> Solution:
    """Load a solution saved with ``Solution.save`` (plain HDF5, no pickle). A named case is rebuilt from the
    file; a problem of your own (a ``PDE``, whose functions cannot be stored) is not: pass it as ``problem=`` to
    attach it (and its hard constraint's φ and g), so that ``errors()`` and plots have a reference."""
    from dlpde.loading import load_solution
    return load_solution(path, device=device, problem=problem)
