"""A trained solution: evaluate it, measure it against the reference, save it."""
from __future__ import annotations

import logging
import math
from dataclasses import dataclass, field

import numpy as np
import torch
from torch import nn

from dlpde.problems.base import Problem
from dlpde.settings import SolveSettings
from dlpde.training.history import History

Tensor = torch.Tensor
log = logging.getLogger(__name__)

# Coordinates per chunk of points where errors are measured or the network evaluated (256 MiB of float64 points):
# at d = 10⁵ the default 10 000 evaluation points alone are 8 GB, and the exact solution's temporaries several times
# that, so they are drawn and evaluated a chunk at a time (below the limit: one draw, as before)
EVAL_CHUNK_NUMBERS = 2 ** 25


@dataclass
class Solution:
    """u_θ for ``problem``: ``sol(x)`` (steady) or ``sol(t, x)`` (time-dependent), points of shape (n, dim),
    values of shape (n,). ``status`` is "ok" or "failed" (``message`` says why)."""

    problem: Problem | None
    model: nn.Module
    solver: str
    settings: SolveSettings
    history: History
    status: str = "ok"
    message: str = ""
    wall_time_s: float = math.nan
    steps_done: int = 0
    case: str = "custom"
    problem_params: dict = field(default_factory=dict)
    dim: int = 0
    time_dependent: bool = False
    metrics: dict = field(default_factory=dict)  # rel_l2_error, max_error, u0, ... (filled by ``evaluate``)
    extra: dict = field(default_factory=dict)  # solver-specific attributes saved at the file's root
    unknowns: dict = field(default_factory=dict)  # trained coefficients of the problem (saved at the file's root)

    # -- evaluation ---------------------------------------------------------------------------------------
    def _inputs(self, t, x) -> Tensor:
        if x is None:  # called as sol(x)
            if self.time_dependent:
                raise ValueError("this problem is time-dependent: call sol(t, x)")
            x, t = t, None
        elif not self.time_dependent and t is not None:
            raise ValueError("this problem is steady (no time coordinate): call sol(x), not sol(t, x)")
        p = next(self.model.parameters())
        x = torch.as_tensor(x, dtype=p.dtype, device=p.device)
        if x.ndim == 1 and self.dim == 1:
            x = x[:, None]
        if x.ndim != 2 or x.shape[1] != self.dim:
            raise ValueError(f"points must have shape (n, {self.dim}), got {tuple(x.shape)}")
        if not bool(torch.isfinite(x).all()):
            raise ValueError("points contain NaN or infinity")
        if t is not None:
            t = torch.as_tensor(t, dtype=p.dtype, device=p.device).reshape(-1)
            if t.numel() == 1:
                t = t.expand(x.shape[0])
            if t.shape[0] != x.shape[0]:
                raise ValueError(f"t must be a scalar or have one entry per point ({x.shape[0]}), got {t.shape[0]}")
            x = torch.cat([x, t[:, None]], dim=1)
        return x

    def __call__(self, t, x=None) -> Tensor:
        """u at the points: shape (n,) for one output, (n, outputs) for a system."""
        with torch.no_grad():
            out = self.model(self._inputs(t, x))
        return out[:, 0] if out.shape[1] == 1 else out

    def value_at(self, t=None, x=None) -> float | tuple[float, ...]:
        """u at one point, as a float, for a system a tuple of one float per output (``value_at(x)`` or
        ``value_at(x=...)``; time-dependent: ``value_at(t, x)``)."""
        if x is None and not self.time_dependent:  # value_at(x) for a steady problem
            t, x = None, t
        if x is None:
            raise ValueError("value_at needs the point x" + (" and the time t: value_at(t, x)"
                                                             if self.time_dependent else ": value_at(x)"))
        x = torch.as_tensor(x, dtype=torch.float64).reshape(1, -1)
        u = self(t, x)[0] if self.time_dependent else self(x)[0]
        return float(u) if u.ndim == 0 else tuple(float(v) for v in u)

    def grad(self, t, x=None) -> Tensor:
        """∇ₓu at the points, shape (n, dim)."""
        inp = self._inputs(t, x).detach().requires_grad_(True)
        u = self.model(inp)[:, 0]
        (g,) = torch.autograd.grad(u.sum(), inp)
        return g[:, : self.dim]

    def model_values(self, points: Tensor, chunk: int = 65_536, *, component: int | None = 0) -> np.ndarray:
        """The network at points of its own input space, shape (n, input_dim) ((x, t) stacked for time-dependent
        problems), as a float64 array of shape (n,) (output ``component``; None: all outputs, (n, outputs));
        evaluated without gradients, ``chunk`` points at a time."""
        p = next(self.model.parameters())
        chunk = max(1, min(chunk, EVAL_CHUNK_NUMBERS // 8 // max(points.shape[1], 1)))  # float32 copies of 2^22 numbers
        out = []
        with torch.no_grad():
            for start in range(0, points.shape[0], chunk):
                u = self.model(points[start:start + chunk].to(p))
                out.append((u if component is None else u[:, component]).double().cpu())
        return torch.cat(out).numpy() if out else np.zeros(0)

    def errors(self, n: int | None = None, seed: int = 12345) -> dict[str, float]:
        """Relative L2 and max error against the exact solution on fresh uniform samples of the domain (or, where
        there is no exact solution, against the problem's numerical ``reference``, e.g. finite elements)."""
        if self.problem is None:
            log.warning("%s: no problem attached (a reloaded solution of a problem of your own), so no errors; "
                        "reload it with dlpde.load(path, problem=...)", self.case)
            return {}
        if not (self.problem.has_exact or getattr(self.problem, "has_reference", False)):
            return {}
        n = n or self.settings.eval_points
        g = torch.Generator().manual_seed(seed)
        names = getattr(self.problem, "output_names", ("u",))
        components = len(names) > 1 and self.problem.has_exact
        per_chunk = max(1, EVAL_CHUNK_NUMBERS // self.problem.input_dim)
        values, truths = [], []
        for start in range(0, n, per_chunk):  # one chunk unless n × input_dim exceeds EVAL_CHUNK_NUMBERS
            x = self.problem.evaluation_points(min(per_chunk, n - start), generator=g, dtype=torch.float64)
            if components:
                values.append(torch.from_numpy(self.model_values(x, component=None)))
                truths.append(self.problem.exact_components(x).double().cpu())
            else:
                values.append(torch.from_numpy(self.model_values(x)))
                truths.append((self.problem.exact(x) if self.problem.has_exact else self.problem.reference(x))
                              .double().cpu())
        if components:
            return component_errors(torch.cat(values), torch.cat(truths), names)
        u, exact = torch.cat(values), torch.cat(truths)
        diff = u - exact
        return {"rel_l2_error": float(diff.norm() / exact.norm().clamp_min(1e-300)),
                "max_error": float(diff.abs().max())}

    def evaluate(self) -> dict[str, float]:
        """Fill ``metrics`` with the errors against the reference (and the unknowns' errors, where known)."""
        truth = getattr(self.problem, "exact_unknowns", {}) or {}
        for name, v in self.unknowns.items():
            if name in truth:
                self.metrics[f"{name}_rel_error"] = abs(v - truth[name]) / max(abs(truth[name]), 1e-300)
        self.metrics.update(self.errors())
        if hasattr(self.problem, "point_checks") and self.problem.has_reference:
            for name, (x, kind) in self.problem.point_checks().items():  # single points where users look
                ref = self.problem.reference(x).double().cpu()
                diff = (torch.from_numpy(self.model_values(x)) - ref).abs().max()
                scale = ref.abs().max() if kind == "rel" else 1.0
                self.metrics[name] = float(diff / scale)
        if hasattr(self.problem, "solution_checks"):  # checks of the whole field, e.g. a free boundary
            self.metrics.update(self.problem.solution_checks(self.model_values))
        self.metrics.update(self._value_at_x0_error())
        return self.metrics

    def _value_at_x0_error(self) -> dict[str, float]:
        """For a parabolic problem with a reference value u(0, x₀) (Cole–Hopf, radial finite differences, closed
        forms): the PINN/DGM network's relative error there, ``rel_error_u0`` (the Deep BSDE metric)."""
        if self.solver == "deep-bsde" or not callable(getattr(self.problem, "reference_value", None)) \
                or getattr(self.problem, "x0", None) is None:
            return {}
        ref = self.problem.reference_value()
        if ref is None or not math.isfinite(ref):
            return {}
        u0 = self.value_at(t=0.0, x=self.problem.x0.tolist())
        return {"rel_error_u0": abs(u0 - ref) / max(abs(ref), 1e-300)}

    def plot(self, path) -> str:
        """A PNG figure: the solution, the reference and their difference (2-D slices in higher dimensions)
        where a reference exists, and the loss and error history (``dlpde.plotting.plot_solution``)."""
        from dlpde.plotting import plot_solution
        return str(plot_solution(self, path))

    # -- files --------------------------------------------------------------------------------------------
    def save(self, path, *, overwrite: bool = True, xdmf: bool = True) -> str:
        """Write an HDF5 file (and for d = 2, 3 an XDMF sidecar); returns the path. See README "File layout"."""
        from dlpde.io.hdf5 import save_solution
        return save_solution(self, path, overwrite=overwrite, xdmf=xdmf)

    def judged_error(self) -> tuple[str, float] | None:
        """(name, value) of the error ``converged`` judges: the relative L2 error, for a system that of its worst
        output when it is larger (Φ's norm can hide a density 50 % wrong); where there is none, the case's own
        measure (``ERROR_MEASURES``: u at x₀, an MFG's transport cost). None without a finite one."""
        err = self.metrics.get("rel_l2_error")
        if err is not None and math.isfinite(err):
            parts = {k: v for k, v in self.metrics.items() if k.startswith("rel_l2_error_") and math.isfinite(v)}
            worst = max(parts, key=parts.get, default=None)
            return (worst, parts[worst]) if worst is not None and parts[worst] > err else ("rel_l2_error", err)
        known = {**self.extra, **self.metrics}
        for name in ERROR_MEASURES:
            v = known.get(name)
            if isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v):
                return name, float(v)
        return None

    @property
    def converged(self) -> bool | None:
        """Whether the final error (``judged_error``) is at most ``settings.error_threshold`` (default 10 %); None
        where there is no reference to measure it against (or no finite error)."""
        judged = self.judged_error()
        if judged is None:
            return None
        return bool(judged[1] <= getattr(self.settings, "error_threshold", 0.1))

    def summary(self) -> str:
        err = self.metrics.get("rel_l2_error")
        err_s = f"rel_l2={err:.3e}" if err is not None and math.isfinite(err) else "rel_l2=n/a"
        judged = self.judged_error()
        if judged is not None and judged[0] != "rel_l2_error":  # the worst output, or the case's own measure
            name = judged[0].replace("rel_l2_error_", "rel_l2_")
            if f" {name}=" not in f" {err_s}":
                err_s += f" {name}={judged[1]:.3e}"
        coefs = "".join(f" {k}={v:.6g}" for k, v in self.unknowns.items())
        res = self.metrics.get("relative_residual")  # the indicator where no reference exists
        res_s = f" relative_residual={res:.3e}" if res is not None else ""
        line = (f"case={self.case} solver={self.solver} dim={self.dim} steps={self.steps_done} "
                f"seconds={self.wall_time_s:.1f} {err_s}{res_s}{coefs} status={self.status}")
        if self.converged is False:
            line += (f" converged=no (relative error above {self.settings.error_threshold:g}: more steps, "
                     "another optimizer or larger network)")
        return line

    def evaluation_arrays(self, n: int = 2000, seed: int = 777) -> dict[str, np.ndarray]:
        """Points (and times) with u and, where known, the exact u: what the file's /evaluation group holds. A
        system (several outputs) gets one array per output, named as its outputs (u, v, p; phi, rho), and
        ``<name>_exact``; a name already taken (an output called x or t) gets ``_output`` appended."""
        if self.problem is None:
            return {}
        g = torch.Generator().manual_seed(seed)
        x = self.problem.evaluation_points(n, generator=g, dtype=torch.float64)
        out = {"x": x[:, : self.dim].numpy()}
        if self.time_dependent:
            out["t"] = x[:, -1].numpy()
        names = tuple(getattr(self.problem, "output_names", ("u",)))
        if len(names) == 1:
            out["u"] = self.model_values(x)
            if self.problem.has_exact:
                out["u_exact"] = self.problem.exact(x).double().numpy()
            return out
        values = self.model_values(x, component=None).reshape(len(x), len(names))
        exact = self.problem.exact_components(x).double().numpy() if self.problem.has_exact else None
        for i, name in enumerate(names):
            while name in out or (exact is not None and f"{name}_exact" in out):
                name += "_output"
            out[name] = values[:, i]
            if exact is not None:
                out[f"{name}_exact"] = exact[:, i]
        return out


ERROR_MEASURES = ("rel_error_u0", "cost_L_rel_error")  # a case's own error where there is no relative L2 error


def component_errors(u: Tensor, exact: Tensor, names) -> dict[str, float]:
    """Relative L2 and max errors of a system (n, m) per component (``rel_l2_error_<name>``) and of all
    components together (``rel_l2_error``, ``max_error``)."""
    diff = u - exact
    out = {"rel_l2_error": float(diff.norm() / exact.norm().clamp_min(1e-300)),
           "max_error": float(diff.abs().max())}
    for i, name in enumerate(names):
        out[f"rel_l2_error_{name}"] = float(diff[:, i].norm() / exact[:, i].norm().clamp_min(1e-300))
        out[f"max_error_{name}"] = float(diff[:, i].abs().max())
    return out
