"""Problems: PDEs as data plus pure functions, and the registry of named cases."""
from dlpde.problems.base import Condition, Problem
from dlpde.problems.poisson import Poisson
from dlpde.problems.registry import CASES, Case, get_case, make

__all__ = ["Problem", "Condition", "Poisson", "CASES", "Case", "get_case", "make"]
