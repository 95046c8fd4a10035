"""The Deep Galerkin Method (Sirignano & Spiliopoulos, "DGM: A deep learning algorithm for solving partial
differential equations", J. Comput. Phys. 375, 2018).

Loss = mean residual² at interior points + ``boundary_weight`` · Σ mean (u − g)² over each boundary/initial/
terminal condition, with the points drawn afresh at every step (the paper's Algorithm 1: a stochastic gradient
method on the integral form of the loss). The network is the paper's gated DGM network (``dlpde.nn.DGMNet``;
``depth`` = number of DGM layers). The residual's Laplacian comes from the shared derivative engine: the forward
Laplacian through the gates (exact) by default, or the unbiased stochastic estimators (``derivative=
"hutchinson"`` or ``"sdgd"`` with ``probes`` directions) in high dimension.
"""
from __future__ import annotations

from torch import nn

from dlpde.nn import DGMNet
from dlpde.problems import Problem
from dlpde.settings import SolveSettings
from dlpde.solvers.base import Solver
from dlpde.solvers.pinn import PINN, scale_first_layer, scaled_network, strong_form_objective


class DGM(Solver):
    name = "dgm"
    options = ("compile", "hard_constraint", "first_layer_scale", "calibrate_output")
    description = "Deep Galerkin: gated DGM network, residual on fresh samples every step (Sirignano & " \
                  "Spiliopoulos 2018)"

    def refusal(self, problem: Problem) -> str:
        return PINN().refusal(problem)

    def build_model(self, problem: Problem, s: SolveSettings) -> nn.Module:
        return scale_first_layer(scaled_network(problem, s, lambda in_dim, **sc: DGMNet(
            in_dim, getattr(problem, "n_outputs", 1), width=s.width, layers=s.depth, activation=s.activation, **sc)), s)

    def objective(self, problem: Problem, model: nn.Module, s: SolveSettings):
        if s.resample_every != 1:
            raise ValueError(f"DGM draws fresh points at every step; resample_every must be 1, "
                             f"got {s.resample_every}")
        return strong_form_objective(problem, model, s)
