"""Solvers by name. ``get_solver(name)`` raises a ValueError listing the valid names."""
from __future__ import annotations

from dlpde.solvers.base import Solver
from dlpde.solvers.bsde import DeepBSDE
from dlpde.solvers.dgm import DGM
from dlpde.solvers.mfg import MFG
from dlpde.solvers.pinn import PINN
from dlpde.solvers.ritz import DeepRitz  # noqa: F401 (steady Deep Ritz; DeepRitzTime adds gradient flows)
from dlpde.solvers.ritz_time import DeepRitzTime

SOLVERS: dict[str, Solver] = {s.name: s for s in (PINN(), DeepRitzTime(), DGM(), MFG(), DeepBSDE())}


def get_solver(name: str) -> Solver:
    try:
        return SOLVERS[name]
    except KeyError:
        raise ValueError(f"unknown solver {name!r}; choose one of {sorted(SOLVERS)}") from None


__all__ = ["Solver", "SOLVERS", "get_solver"]
