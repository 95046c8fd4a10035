r"""Networks of time-stepping Deep Ritz (``dlpde.solvers.ritz_time``): one network per time step, and the field
they make together.

``StepNet``: u(x) = a(x) + φ(x)·N(x) on a box [lo, hi] with φ = ∏ 4(x_i − lo_i)(hi_i − x_i)/w_i² (zero on the
boundary, ``dlpde.nn.constraints.box_distance`` with the product form), so u = a on ∂Ω exactly; a is the lift of the
Dirichlet data: in 1-D the line through the two end values (buffers ``ends``, set per time step), in higher
dimensions zero (homogeneous data only). ``constrained=False``: u = N (natural, zero-Neumann boundary).

``TimeSteps``: the field u(x, t) of the steps u⁰ … u^K at times t_0 … t_K, linear in t between two steps (the
piecewise-linear interpolant of the implicit time stepping; O(τ²) between the nodes for a smooth solution), with an
optional change of variables between the problem's coordinates and the flow's (``map``): "identity", or
"black-scholes-log-price" (x = ln(S/K), s = T − t, V = K e^{αx + βs} w; see ``dlpde.problems.gradient_flow``).
Both networks store their configuration as plain JSON (``config``) and rebuild with ``dlpde.nn.build_network``.
"""
from __future__ import annotations

from typing import Callable, Sequence

import torch
from torch import nn

Tensor = torch.Tensor


class StepNet(nn.Module):
    """u = a + φ·N on a box (see the module docstring); N is any scalar network of x (n, d) → (n, 1)."""

    def __init__(self, inner: nn.Module, lo: Sequence[float], hi: Sequence[float], *, constrained: bool = True,
                 ends: Sequence[float] = (0.0, 0.0)):
        super().__init__()
        self.inner, self.constrained = inner, bool(constrained)
        self.register_buffer("lo", torch.as_tensor(lo, dtype=torch.float64).reshape(-1))
        self.register_buffer("hi", torch.as_tensor(hi, dtype=torch.float64).reshape(-1))
        self.register_buffer("ends", torch.as_tensor(ends, dtype=torch.float64).reshape(2))

    def set_ends(self, left: float, right: float) -> None:
        """The Dirichlet values at the two ends of a 1-D interval (the lift a is the line through them)."""
        if self.lo.numel() != 1 and (left != 0 or right != 0):
            raise ValueError("StepNet lifts nonzero Dirichlet data in 1-D only; in higher dimensions the data "
                             "must be 0")
        self.ends.copy_(torch.tensor([left, right], dtype=self.ends.dtype))

    def forward(self, x: Tensor) -> Tensor:
        out = self.inner(x)
        if not self.constrained:
            return out
        lo, hi = self.lo.to(x), self.hi.to(x)
        s = 4 * (x - lo) * (hi - x) / ((hi - lo) ** 2)
        u = s.prod(dim=1, keepdim=True) * out
        if self.lo.numel() == 1:
            e = self.ends.to(x)
            theta = (x - lo) / (hi - lo)
            u = u + e[0] * (1 - theta) + e[1] * theta
        return u

    def config(self) -> dict:
        return {"type": "StepNet", "inner": self.inner.config(), "lo": self.lo.tolist(), "hi": self.hi.tolist(),
                "constrained": self.constrained, "ends": self.ends.tolist()}

    @classmethod
    def from_config(cls, config: dict, build: Callable[[dict], nn.Module]) -> "StepNet":
        return cls(build(config["inner"]), config["lo"], config["hi"], constrained=config.get("constrained", True),
                   ends=config.get("ends", (0.0, 0.0)))


MAPS = ("identity", "black-scholes-log-price")


def _log_price_constants(m: dict) -> tuple[float, float]:
    """α = −(r − σ²/2)/σ², β = −r − (r − σ²/2)²/(2σ²) of V = K e^{αx + βs} w (w solves w_s = ½σ² w_xx)."""
    r, sigma = float(m["r"]), float(m["sigma"])
    drift = r - 0.5 * sigma * sigma
    return -drift / sigma**2, -r - drift * drift / (2 * sigma**2)


class TimeSteps(nn.Module):
    """u(x, t) from the step networks at ``times`` (see the module docstring); inputs (n, d + 1), time last."""

    def __init__(self, nets: Sequence[nn.Module], times: Sequence[float], map: dict | None = None):
        super().__init__()
        times = torch.as_tensor(times, dtype=torch.float64).reshape(-1)
        if len(nets) != times.numel() or len(nets) < 2:
            raise ValueError(f"TimeSteps needs one network per time (at least 2), got {len(nets)} networks and "
                             f"{times.numel()} times")
        if not bool((times[1:] > times[:-1]).all()):
            raise ValueError("the times of TimeSteps must increase")
        self.nets = nn.ModuleList(nets)
        self.register_buffer("times", times)
        self.map = dict(map or {"kind": "identity"})
        if self.map.get("kind") not in MAPS:
            raise ValueError(f"unknown map {self.map.get('kind')!r}; known: {MAPS}")

    def _to_flow(self, xt: Tensor) -> tuple[Tensor, Tensor]:
        if self.map["kind"] == "identity":
            return xt[:, :-1], xt[:, -1]
        K, T = float(self.map["K"]), float(self.map["T"])
        return torch.log(xt[:, :-1] / K), T - xt[:, -1]

    def _from_flow(self, x: Tensor, s: Tensor, w: Tensor) -> Tensor:
        if self.map["kind"] == "identity":
            return w
        alpha, beta = _log_price_constants(self.map)
        return float(self.map["K"]) * torch.exp(alpha * x[:, 0] + beta * s) * w

    def flow_forward(self, x: Tensor, s: Tensor) -> Tensor:
        """The flow's field at flow points x (n, d) and flow times s (n,), shape (n,)."""
        times = self.times.to(x)
        k = (torch.searchsorted(times, s.contiguous(), right=True) - 1).clamp(0, len(self.nets) - 2)
        theta = ((s - times[k]) / (times[k + 1] - times[k])).clamp(0.0, 1.0)
        out = x.new_zeros(x.shape[0])
        for j in torch.unique(k).tolist():
            m = k == j
            xm, th = x[m], theta[m]
            val = (1 - th) * self.nets[j](xm)[:, 0]
            val = val + th * self.nets[j + 1](xm)[:, 0]
            out = out.index_put((m.nonzero()[:, 0],), val)
        return out

    def forward(self, xt: Tensor) -> Tensor:
        x, s = self._to_flow(xt)
        return self._from_flow(x, s, self.flow_forward(x, s))[:, None]

    def config(self) -> dict:
        return {"type": "TimeSteps", "nets": [n.config() for n in self.nets], "times": self.times.tolist(),
                "map": self.map}

    @classmethod
    def from_config(cls, config: dict, build: Callable[[dict], nn.Module]) -> "TimeSteps":
        return cls([build(c) for c in config["nets"]], config["times"], config.get("map"))


__all__ = ["StepNet", "TimeSteps", "MAPS"]
