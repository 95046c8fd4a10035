"""dlpde: neural-network PDE solvers (PINN, Deep Ritz, DGM, Deep BSDE, mean-field games), each checked against
classical references (finite elements, finite differences, closed forms, quadrature, Monte Carlo).

The public names are imported on first use (PEP 562): ``import dlpde`` alone does not load torch, so the command
line answers ``--help`` and a mistyped command at once; ``dlpde.solve`` and the rest load what they need.
"""
from __future__ import annotations

import importlib
import logging

from dlpde.version import __version__

# public name → the module that defines it
_WHERE = {
    "solve": "dlpde.api", "load": "dlpde.api", "Solution": "dlpde.solution",
    **{name: "dlpde.problems" for name in ("PDE", "BoundaryResidual", "Data", "Dirichlet", "Elliptic", "Initial",
                                           "InitialVelocity", "Neumann", "Periodic", "Robin", "Terminal")},
}
_SUBPACKAGES = ("geometry", "problems")

logging.getLogger(__name__).addHandler(logging.NullHandler())

__all__ = ["solve", "load", "problems", "geometry", "Solution", "PDE", "Elliptic", "Dirichlet", "Neumann", "Robin",
           "Periodic", "Initial", "InitialVelocity", "Terminal", "Data", "BoundaryResidual", "__version__"]


def __getattr__(name: str):
    if name in _SUBPACKAGES:
        return importlib.import_module(f"dlpde.{name}")
    if name in _WHERE:
        value = getattr(importlib.import_module(_WHERE[name]), name)
        globals()[name] = value  # later look-ups skip this function
        return value
    raise AttributeError(f"module 'dlpde' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
