"""A named case: name → factory, default dimension, the solvers that apply, a one-line description and the
suggested settings (dlpde.problems.registry lists them; each family module makes its own)."""
from __future__ import annotations

import inspect
from dataclasses import dataclass, field
from typing import Callable

from dlpde.problems.base import Problem

# what every case's optimizer="engd" settings share (README "Optimizers"): float64, one fixed point set (Gauss–Newton
# converges to the minimiser on the points it is given), no L-BFGS phase, and a history row every few steps
ENGD_BASE = dict(dtype="float64", resample_every=100_000, lbfgs_steps=0, log_every=5, eval_every=10)


@dataclass(frozen=True)
class Case:
    name: str
    factory: Callable[..., Problem]
    solvers: tuple[str, ...]
    description: str
    default_dim: int | None = None  # None: the dimension is fixed by the case
    dims: tuple[int, ...] | None = None  # allowed dimensions (None: any ≥ 1)
    # suggested settings for this case: common ones at the top, a solver's under its name, and under "engd" a
    # solver's settings for optimizer="engd" (network, points and steps measured for that optimizer)
    defaults: dict = field(default_factory=dict)

    def settings_for(self, solver: str, optimizer: str | None = None) -> dict:
        """The case's default settings for ``solver``: the common ones, then the solver's own, then — where the
        optimizer (``optimizer``, else the solver's default) is ENGD — the case's ENGD settings for the solver."""
        merged = {k: v for k, v in self.defaults.items() if not isinstance(v, dict)}
        merged.update(self.defaults.get(solver, {}))
        if (optimizer or merged.get("optimizer", "adam")) == "engd":
            merged.update(self.defaults.get("engd", {}).get(solver, {}))
        return merged

    def rebuild(self, params: dict) -> Problem:
        """The problem saved as ``problem.params()`` (e.g. in a result file)."""
        params = dict(params)
        dim = params.pop("dim", None)
        return self.make(dim if self.default_dim is not None else None, **params)

    def make(self, dim: int | None = None, **params) -> Problem:
        if dim is not None:
            if isinstance(dim, bool) or not isinstance(dim, int) or dim < 1:
                raise ValueError(f"dim must be a positive integer, got {dim!r}")
            if self.default_dim is None:
                raise ValueError(f"case {self.name!r} has a fixed dimension; drop --dim")
            if self.dims is not None and dim not in self.dims:
                raise ValueError(f"case {self.name!r} supports dim in {self.dims}, got {dim}")
            params["dim"] = dim
        accepted = inspect.signature(self.factory).parameters
        unknown = sorted(set(params) - set(accepted))
        if unknown:
            raise ValueError(f"case {self.name!r} takes parameters {sorted(accepted)}, not {unknown}")
        return self.factory(**params)
