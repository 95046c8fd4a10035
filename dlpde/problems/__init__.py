"""Problems: PDEs as data plus pure functions, and the registry of named cases."""
from dlpde.problems.base import Condition, Problem
from dlpde.problems.bsde_cases import DefaultRisk, DiffRate, GeometricBasket
from dlpde.problems.mfg import MeanFieldGame, OptimalTransport
from dlpde.problems.parabolic import HJB, AllenCahn, BurgersType, Parabolic, QuadraticGradient, ReactionDiffusion
from dlpde.problems.conditions import (BoundaryResidual, Data, Dirichlet, Initial, InitialVelocity, Neumann, Terminal,
                                       Periodic, Robin)
from dlpde.problems.elliptic import Elliptic
from dlpde.problems.pde import PDE
from dlpde.problems.poisson import Poisson
from dlpde.problems.registry import CASES, Case, get_case, make

__all__ = ["Problem", "Condition", "PDE", "Elliptic", "Dirichlet", "Neumann", "Robin", "Periodic", "Initial", "InitialVelocity", "Terminal",
           "Data", "BoundaryResidual", "Poisson", "Parabolic", "HJB", "AllenCahn", "BurgersType", "QuadraticGradient",
           "ReactionDiffusion", "DefaultRisk", "DiffRate", "GeometricBasket", "MeanFieldGame", "OptimalTransport",
           "CASES", "Case", "get_case", "make"]
