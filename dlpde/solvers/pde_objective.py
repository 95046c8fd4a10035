"""The strong-form loss of a user's ``PDE`` (PINN and DGM): residual terms from the derivative accessor
(``dlpde.fields``), one loss term per condition, and the unknown coefficients as trainable parameters.

    L = Σ_e mean r_e(x)² + boundary_weight · Σ_c w_c · mean e_c(x_c)²

Each point set (interior, each condition's) gets one ``FieldEvaluator``; the derivatives a residual or condition
asked for at its first evaluation are recorded (the plan), so later steps put the Jacobian and the first diagonal
second-derivative request into one forward-jet pass.
"""
from __future__ import annotations

import torch
from torch import nn

from dlpde.fields import FieldEvaluator, accessor
from dlpde.nn.constraints import active_conditions
from dlpde.problems.conditions import BoundaryResidual
from dlpde.problems.pde import PDE
from dlpde.settings import SolveSettings
from dlpde.solvers.collocation import CollocationSamples, Part, row_block, weighted_loss
from dlpde.training.compiled import CompiledOrEager, decide_for_loss, strong_form_unsupported

Tensor = torch.Tensor


class UndeclaredUnknown(KeyError):
    """k["name"] for a name that is not among a problem's unknowns."""


class _CheckedUnknowns(dict):
    """The unknowns passed to a residual at its first (eager) evaluation: reading an undeclared name raises
    ``UndeclaredUnknown``, so that only that mistake, not any KeyError of the user's code, is reported as one.
    Later evaluations (compiled among them) get a plain dict."""

    def __missing__(self, name):
        raise UndeclaredUnknown(name)


class PDEObjective(CollocationSamples):
    """Residual + condition losses of a ``PDE`` on collocation points redrawn every ``resample_every`` steps."""
    least_squares = True  # ENGD: the rows are residuals (dlpde.training.engd)

    def __init__(self, problem: PDE, model: nn.Module, s: SolveSettings):
        self.problem, self.model, self.s = problem, model, s
        self.gen = s.generator()
        self.conditions = active_conditions(problem, model)  # those a hard constraint does not satisfy already
        self.x: Tensor | None = None
        self.cond_points: list[tuple[Tensor, Tensor]] = []
        self.unknowns = nn.ParameterDict({
            name: nn.Parameter(torch.tensor(v, dtype=s.torch_dtype, device=s.torch_device))
            for name, v in problem.unknowns.items()})
        self._plans: dict[str, list] = {}
        self._checked = False
        self._terms = self._loss_terms
        self.compiled, self.compile_reason = decide_for_loss(problem, model, s, strong_form_unsupported(s, model))

    def extra_parameters(self) -> list[nn.Parameter]:
        """The unknown coefficients, trained with the network."""
        return list(self.unknowns.values())

    def results(self) -> dict[str, float]:
        """The unknowns' final values (solution attributes)."""
        return {name: float(p.detach()) for name, p in self.unknowns.items()}

    def condition_targets(self, c, xb: Tensor) -> Tensor:
        return c.data(xb)

    def _fields(self, key: str, x: Tensor):
        s, p = self.s, self.problem
        ev = FieldEvaluator(self.model, x, space_dims=p.dim, time_dependent=p.time_dependent, method=s.derivative,
                            probes=s.probes, generator=self.gen, plan=self._plans.get(key, ()))
        return ev, accessor(ev, p.output_names)

    def loss(self, step: int, *, resample: bool):
        if resample or self.x is None:
            self.sample()
        if not self._checked:  # eager: it records which derivatives each term asks for (the plans) and checks
            total, terms = self._loss_terms(self.x, self.cond_points)
            self._check(terms)
            if self.compiled:  # the plans are fixed from now on, so one graph serves every later step
                self._terms = CompiledOrEager(self._loss_terms, self.problem.case)
        else:
            total, terms = self._terms(self.x, self.cond_points)
        for name, param in self.unknowns.items():
            terms[name] = param.detach()
        return total, terms

    def load_state_dict(self, state: dict) -> None:
        """The samples and generator of a checkpoint; then one evaluation that records the plans (which
        derivatives each term asks for), as the interrupted run's first step did, so that the resumed steps compute
        as the uninterrupted run's (bit-identical; without it the first resumed step ran without a plan and rounded
        differently). The generator is restored afterwards (stochastic derivatives draw from it)."""
        super().load_state_dict(state)
        if not self._checked and self.x is not None:
            kept = self.gen.get_state()
            with torch.enable_grad():
                self.loss(0, resample=False)
            self.gen.set_state(kept)

    def _loss_terms(self, x: Tensor, cond_points: list[tuple[Tensor, Tensor]]):
        return weighted_loss(self._parts(x, cond_points))

    def current_loss(self) -> Tensor:
        """The loss at the current points (ENGD's line search)."""
        return self._terms(self.x, self.cond_points)[0]

    def plain_loss(self) -> Tensor:
        """The loss at the current points, never compiled (``relative_residual`` swaps the model)."""
        return weighted_loss(self._parts(self.x, self.cond_points))[0]

    def gram_blocks(self) -> list:
        """ENGD's rows: (r_e/√n for each residual e) at the collocation points, √(β w_c / n_c)·e_c at each
        condition's points; their squares sum to the loss."""
        blocks = [row_block((self.x,), lambda x: torch.stack(list(self._residuals(x).values()), dim=1), 1.0)]
        for c, (xb, data) in zip(self.conditions, self.cond_points):
            blocks.append(row_block((xb, data), lambda xb, data, c=c: self._condition_error(c, xb, data),
                                    float(self.s.boundary_weight * c.weight)))
        return blocks

    def _parts(self, x: Tensor, cond_points: list[tuple[Tensor, Tensor]]) -> list[Part]:
        """(term name, per-point values, weight in the loss) for each residual and condition."""
        parts = [(name, r, 1.0) for name, r in self._residuals(x).items()]
        for c, (xb, data) in zip(self.conditions, cond_points):
            parts.append((c.name, self._condition_error(c, xb, data), float(self.s.boundary_weight * c.weight)))
        return parts

    def _residuals(self, x: Tensor) -> dict[str, Tensor]:
        """Each residual of the PDE at points x, (n,) each."""
        k = (dict if self._checked else _CheckedUnknowns)(self.unknowns.items())
        ev, u = self._fields("pde", x)
        try:
            residuals = self.problem.residuals(x, u, k)
        except UndeclaredUnknown as e:  # k["name"] of an unknown that was not declared (checked at the first call)
            raise ValueError(f"the residual of {self.problem.case} reads k[{e.args[0]!r}], which is not one of its "
                             f"unknowns {sorted(k)}; declare it with PDE(..., unknowns={{{e.args[0]!r}: initial "
                             "value})") from None
        except (RuntimeError, TypeError, IndexError) as e:
            if self._checked:
                raise
            raise ValueError(f"the residual of {self.problem.case} cannot be computed at the first collocation "
                             f"points ({type(e).__name__}: {e}); points are (n, D) tensors, the accessor's "
                             "methods return (n,) tensors") from None
        self._plans.setdefault("pde", list(ev.requests))
        return residuals

    def _condition_error(self, c, xb: Tensor, data: Tensor) -> Tensor:
        """The condition's error at its points (n,)."""
        ev_c, u_c = self._fields(c.name, xb)
        field = u_c if not hasattr(u_c, "__len__") else u_c[c.component]
        e = c.error(xb, field, data)
        if isinstance(e, Tensor) and e.ndim == 2 and e.shape[1] == 1:  # (n, 1), as residuals may be
            e = e[:, 0]
        # a user's boundary residual gives one error per point; built-in conditions may pair points (Periodic)
        n = xb.shape[0] if isinstance(c, BoundaryResidual) else None
        if not isinstance(e, Tensor) or e.ndim != 1 or (n is not None and e.shape[0] != n):
            want = f"shape ({n},)" if n is not None else "a 1-D tensor"
            raise ValueError(f"the {c.name} condition must give one error per point, {want}, got "
                             f"{tuple(e.shape) if isinstance(e, Tensor) else type(e).__name__}")
        self._plans.setdefault(c.name, list(ev_c.requests))
        return e

    def _check(self, terms: dict[str, Tensor]) -> None:
        """At the first loss: NaN or infinity before any training comes from the problem's functions."""
        self._checked = True
        for c, (_, data) in zip(self.conditions, self.cond_points):
            if not bool(torch.isfinite(data).all()):
                raise ValueError(f"the {c.name} data of {self.problem.case} are NaN or infinite at some points; "
                                 "check the function that gives them")
        for name, v in terms.items():
            if name.startswith("loss_") and not bool(torch.isfinite(v)):
                raise ValueError(f"the {name[5:]} term of {self.problem.case} is NaN or infinite at the first "
                                 "points, before any training; check the problem's functions")
