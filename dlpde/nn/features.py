"""Known corner singularities as extra network inputs: u(x) = N(x, s_1(x), ..., s_m(x)).

Near a corner of interior angle ω (a crack tip: ω = 2π; the L-shape's re-entrant corner: ω = 3π/2) the solution of
the Poisson problem with u = 0 on both edges behaves like r^α sin(αψ), α = π/ω, where (r, ψ) are polar coordinates
about the corner with ψ = 0 on one edge (Grisvard, "Elliptic problems in nonsmooth domains", 1985). Across a slit
this function has a kink (u ~ |y| there) that a smooth network cannot form: the strong-form residual of a tanh network
then grows like 1/ε in a layer of width ε around the slit and a PINN settles on a smeared solution (measured: 30 %
relative L2 error on ``poisson-slit``). Given s(x) = r^α sin(αψ) as an input, the network only has to learn a smooth
function of (x, s) — the idea of singular-function enrichment in finite elements (Fix, Gulati & Wakoff 1973).

Each feature is the imaginary part of the holomorphic F(z) = (e^{−iθ₀}(z − c))^α, hence harmonic; its gradient and
Hessian come in closed form from F' and F'' (Cauchy–Riemann: F' = s_y + i s_x, F'' = s_xy + i s_xx, s_yy = −s_xx), so
``forward_jet`` (the forward Laplacian) needs no autograd and is tested equal to it. A corner is given as a JSON-able
dict ``{"alpha": α, "theta0": θ₀, "centre": [c_x, c_y], "radius": R}``: ψ = arg(e^{−iθ₀}(z − c)) taken in [0, 2π)
(the branch cut, ψ = 0, along the ray at angle θ₀, which must be an edge of the domain), and the feature enters the
network as 2 s / R^α − 1, in [−1, 1] for r ≤ R.
"""
from __future__ import annotations

import math
from typing import Callable, Sequence

import torch
from torch import nn

from dlpde.nn.jet import Jet

Tensor = torch.Tensor


def _check_corner(corner: dict) -> dict:
    try:
        out = {"alpha": float(corner["alpha"]), "theta0": float(corner.get("theta0", 0.0)),
               "centre": [float(v) for v in corner.get("centre", (0.0, 0.0))], "radius": float(corner["radius"])}
    except (KeyError, TypeError, ValueError) as e:
        raise ValueError(f"a corner is a dict with 'alpha', 'radius' and optional 'theta0', 'centre' ([x, y]); got "
                         f"{corner!r} ({e})") from None
    if not (0 < out["alpha"] and math.isfinite(out["alpha"])) or not (out["radius"] > 0) or len(out["centre"]) != 2:
        raise ValueError(f"a corner needs alpha > 0, radius > 0 and a 2-d centre, got {corner!r}")
    return out


def corner_feature(x: Tensor, corner: dict, *, derivatives: bool = False):
    """s = r^α sin(αψ) at points x (n, 2) (see the module docstring); with ``derivatives`` also ∇s (n, 2) and the
    Hessian (n, 2, 2)."""
    a, t0 = corner["alpha"], corner["theta0"]
    cx, cy = corner["centre"]
    dx, dy = x[:, 0] - cx, x[:, 1] - cy
    c, s = math.cos(t0), math.sin(t0)
    wx, wy = c * dx + s * dy, -s * dx + c * dy  # e^{-iθ₀}(z - c)
    r = torch.sqrt(wx * wx + wy * wy)
    psi = torch.remainder(torch.atan2(wy, wx), 2 * math.pi)
    value = r.pow(a) * torch.sin(a * psi)
    if not derivatives:
        return value
    g = a * r.pow(a - 1)
    phase1 = (a - 1) * psi - t0
    grad = torch.stack([g * torch.sin(phase1), g * torch.cos(phase1)], dim=1)
    h = a * (a - 1) * r.pow(a - 2)
    phase2 = (a - 2) * psi - 2 * t0
    sxx, sxy = h * torch.sin(phase2), h * torch.cos(phase2)
    hess = torch.stack([torch.stack([sxx, sxy], dim=1), torch.stack([sxy, -sxx], dim=1)], dim=1)
    return value, grad, hess


class SingularFeatures(nn.Module):
    """u(x) = inner(x, f_1(x), ..., f_m(x)) with f_i = 2 s_i / R_i^α_i − 1 the scaled corner features (2-D inputs).

    ``inner`` takes 2 + m inputs. ``forward_jet`` carries the features' values, directional derivatives and second
    derivatives (closed form) into ``inner.forward_jet``.
    """

    def __init__(self, inner: nn.Module, corners: Sequence[dict]):
        super().__init__()
        self.corners = [_check_corner(c) for c in corners]
        if not self.corners:
            raise ValueError("SingularFeatures needs at least one corner")
        self.inner = inner

    def _scale(self, corner: dict) -> float:
        return 2.0 / corner["radius"] ** corner["alpha"]

    def _features(self, x: Tensor) -> Tensor:
        return torch.stack([self._scale(c) * corner_feature(x, c) - 1.0 for c in self.corners], dim=1)

    def forward(self, x: Tensor) -> Tensor:
        if x.ndim != 2 or x.shape[1] != 2:
            raise ValueError(f"SingularFeatures takes 2-d points of shape (n, 2), got {tuple(x.shape)}")
        return self.inner(torch.cat([x, self._features(x)], dim=1))

    def forward_jet(self, jet: Jet) -> Jet:
        """Chain rule for f(h): tangent T ∇f, second ∇f·S + Σ_j c_j T_jᵀ H_f T_j (T, S of the incoming jet h)."""
        if not hasattr(self.inner, "forward_jet"):
            raise ValueError(f"{type(self.inner).__name__} has no forward_jet; use derivative='autograd'")
        values, tangents, seconds = [jet.value], [jet.tangent], [jet.second]
        for corner in self.corners:
            k = self._scale(corner)
            v, g, hess = corner_feature(jet.value, corner, derivatives=True)
            t = jet.tangent @ g.unsqueeze(2)  # (n, k, 1)
            quad = torch.einsum("nkd,nde,nke->nk", jet.tangent, hess, jet.tangent)
            weighted = quad.sum(1) if jet.weights is None else quad @ jet.weights
            sec = (jet.second * g).sum(1) + weighted
            values.append(k * v[:, None] - 1.0)
            tangents.append(k * t)
            seconds.append(k * sec[:, None])
        return self.inner.forward_jet(Jet(torch.cat(values, 1), torch.cat(tangents, 2), torch.cat(seconds, 1),
                                          jet.weights))

    def config(self) -> dict:
        return {"type": "SingularFeatures", "corners": self.corners, "inner": self.inner.config()}

    @classmethod
    def from_config(cls, config: dict, build: Callable[[dict], nn.Module]) -> "SingularFeatures":
        """Rebuild from ``config()``; ``build`` makes the inner network (``dlpde.nn.build_network``)."""
        return cls(build(config["inner"]), config["corners"])
