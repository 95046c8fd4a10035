"""Loading a saved solution: the file's network, settings, history and problem back into a ``Solution``.

It stands above io (which only reads and writes files): rebuilding needs the network registry, the case registry
and the solvers' ``Solution`` classes."""
from __future__ import annotations

import dataclasses
import json
import logging
import re

import h5py
import numpy as np
import torch

from dlpde.io.hdf5 import read_attrs
from dlpde.nn import build_network
from dlpde.nn.constraints import HardConstraint
from dlpde.problems.registry import CASES
from dlpde.settings import MAX_DIM, SolveSettings
from dlpde.solution import Solution
from dlpde.solvers import SOLVERS  # a solver may return its own Solution subclass (e.g. Deep BSDE)
from dlpde.training.history import History

log = logging.getLogger(__name__)


def bind_constraints(model: torch.nn.Module, problem) -> None:
    """Give a reloaded hard-constrained network its problem's φ and g (a stored config holds neither)."""
    for m in model.modules():
        if isinstance(m, HardConstraint):
            try:
                m.bind(problem)
            except ValueError as e:
                log.warning("could not attach %s's hard constraint to the reloaded network: %s", problem.case, e)


def load_solution(path, *, device: str = "cpu", problem=None):
    """Rebuild a ``Solution`` from a file written by ``Solution.save``; a damaged file gives a ValueError."""
    if not isinstance(device, str) or not re.fullmatch(r"cpu|cuda(:\d{1,4})?", device):
        raise ValueError(f"device must be 'cpu' or 'cuda[:N]', got {device!r}")
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise ValueError("device 'cuda' was asked for but no CUDA GPU is visible to torch; use device='cpu'")
    attrs = read_attrs(path)
    if problem is not None and (problem.dim, bool(problem.time_dependent)) != (
            int(attrs.get("dim", -1)), bool(attrs.get("time_dependent", False))):
        raise ValueError(f"the problem given has dim {problem.dim} (time-dependent: {problem.time_dependent}) but "
                         f"{str(path)!r} was trained on dim {attrs.get('dim')} (time-dependent: "
                         f"{bool(attrs.get('time_dependent'))}); pass the problem it was trained on")
    if problem is not None and str(attrs.get("case")) != problem.case and (
            str(attrs.get("case")) in CASES or problem.case in CASES):
        raise ValueError(f"{str(path)!r} holds a solution of {attrs.get('case')}, not of the problem given "
                         f"({problem.case}); pass the problem it was trained on")
    try:
        return _build_solution(path, attrs, device, problem)
    except _Mismatch as e:
        raise ValueError(str(e)) from None
    except (KeyError, OSError, ValueError, TypeError, RuntimeError, AttributeError, IndexError) as e:
        raise ValueError(f"{str(path)!r} is damaged or incomplete ({type(e).__name__}: {e})") from None


def _build_solution(path, attrs: dict, device: str, given=None):
    with h5py.File(path, "r") as f:
        arch = json.loads(f["network"].attrs["architecture"])
        state = {k: torch.as_tensor(np.asarray(v)) for k, v in f["network"].items()}
        cols = {k: np.asarray(v) for k, v in f["history"].items()}
        extra_arrays = {k: np.asarray(v) for k, v in f["extra"].items()} if "extra" in f else {}
    model = build_network(arch)
    outputs = _out_dim(arch)
    if given is not None and outputs is not None and outputs != getattr(given, "n_outputs", 1):
        raise _Mismatch(f"the network in {str(path)!r} has {outputs} output(s) but the problem given has "
                        f"{getattr(given, 'n_outputs', 1)}; pass the problem it was trained on")
    dtype = next(iter(state.values())).dtype if state else torch.float32
    model = model.to(dtype)
    model.load_state_dict(state)
    model.to(device)
    params = json.loads(attrs["problem_params"])
    settings_dict = json.loads(attrs["settings"])
    if not isinstance(params, dict) or not isinstance(settings_dict, dict):
        raise TypeError("problem_params and settings must be JSON objects")
    known_fields = {f.name for f in dataclasses.fields(SolveSettings)}
    dropped = sorted(set(settings_dict) - known_fields)
    if dropped:
        log.warning("%s: ignoring settings this version does not know: %s", path, dropped)
    settings_dict = {k: v for k, v in settings_dict.items() if k in known_fields}
    settings_dict["device"] = device
    settings = SolveSettings(**settings_dict)
    problem = given
    case = str(attrs["case"])
    dim_ok = isinstance(params.get("dim", 1), int) and 1 <= params.get("dim", 1) <= MAX_DIM
    if given is None and case in CASES and dim_ok:
        try:
            problem = CASES[case].rebuild(params)
        except (ValueError, TypeError) as e:
            log.warning("could not rebuild problem %s(%s): %s", case, params, e)
    known = {"format", "format_version", "case", "solver", "dim", "time_dependent", "steps", "wall_time_s",
             "status", "message", "seed", "dlpde_version", "torch_version", "created", "problem_params", "settings",
             "unknowns", "converged", "metric_names"}
    unknowns = json.loads(attrs["unknowns"]) if "unknowns" in attrs else {}
    known |= {f"unknown_{k}" for k in unknowns}
    if "metric_names" in attrs:  # written since load kept them apart: exactly the metrics the solution had
        names = set(json.loads(attrs["metric_names"]))
        metrics = {k: _plain(v) for k, v in attrs.items() if k in names}
    else:  # older files: by name
        metrics = {k: _plain(v) for k, v in attrs.items() if k.startswith(("rel_l2_error", "max_error"))
                   or k.endswith("_rel_error") or k == "relative_residual"}
    extra = {k: _plain(v) for k, v in attrs.items() if k not in known and k not in metrics}
    extra.update(extra_arrays)
    if problem is not None:
        bind_constraints(model, problem)
    cls = getattr(SOLVERS.get(str(attrs["solver"])), "solution_class", Solution)
    return cls(problem=problem, model=model, solver=str(attrs["solver"]), settings=settings,
                    history=History.from_columns(cols), status=str(attrs["status"]), message=str(attrs["message"]),
                    wall_time_s=float(attrs["wall_time_s"]), steps_done=int(attrs["steps"]), case=case,
                    problem_params=params, dim=int(attrs["dim"]), time_dependent=bool(attrs["time_dependent"]),
                    metrics=metrics, extra=extra, unknowns=unknowns)


class _Mismatch(Exception):
    """A file that is sound but does not belong to the problem given (not reported as damaged)."""


def _out_dim(arch) -> int | None:
    """The network's number of outputs from its architecture record (nested for wrapped networks), or None."""
    if isinstance(arch, dict):
        if isinstance(arch.get("out_dim"), int):
            return arch["out_dim"]
        for v in arch.values():
            found = _out_dim(v)
            if found is not None:
                return found
    return None


def _plain(v):
    return v.item() if hasattr(v, "item") and np.ndim(v) == 0 else v
