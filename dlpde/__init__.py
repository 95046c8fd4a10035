"""dlpde: neural-network PDE solvers (PINN, Deep Ritz, DGM, Deep BSDE, mean-field games), each checked against
classical references (finite elements, finite differences, closed forms, quadrature, Monte Carlo)."""
from __future__ import annotations

import logging

from dlpde.version import __version__

from dlpde import geometry, problems  # noqa: E402
from dlpde.problems import (PDE, BoundaryResidual, Data, Dirichlet, Elliptic, Initial,  # noqa: E402
                            InitialVelocity, Neumann, Periodic, Robin)
from dlpde.api import load, solve  # noqa: E402
from dlpde.solution import Solution  # noqa: E402

logging.getLogger(__name__).addHandler(logging.NullHandler())

__all__ = ["solve", "load", "problems", "geometry", "Solution", "PDE", "Elliptic", "Dirichlet", "Neumann", "Robin", "Periodic",
           "Initial", "InitialVelocity", "Data", "BoundaryResidual", "__version__"]
