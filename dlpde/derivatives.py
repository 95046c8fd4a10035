"""The one derivative engine: value, gradient and (weighted) second derivatives of a scalar network.

Methods
  ``forward``    the forward Laplacian: one pass of a second-order jet through the network (networks with
                 ``forward_jet``). Exact; a first-order graph, so ``torch.compile`` and ``torch.func`` can fuse it.
  ``autograd``   reverse mode: ∇u by one backward pass, each second derivative by one more (d+1 passes in all).
                 Works for any ``nn.Module``; the checked fallback.
  ``hutchinson`` unbiased stochastic Laplacian, E[vᵀ Hess u v] with k Rademacher probes (Hutchinson 1989);
  ``sdgd``       unbiased stochastic Laplacian from k randomly chosen coordinates scaled by d/k
                 (Hu, Shukla, Karniadakis & Kawaguchi, Neural Networks 2024).
The stochastic methods cost k directions instead of d and return no full gradient.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import torch
from torch import nn

from dlpde.nn.jet import Jet

Tensor = torch.Tensor
METHODS = ("auto", "forward", "autograd", "hutchinson", "sdgd")


@dataclass
class FieldDerivatives:
    """value (n,); directional (n, k): ∂u along each direction (the gradient for identity directions);
    second (n,): Σ_j c_j ∂²u along direction j (the Laplacian for identity directions and unit weights)."""

    value: Tensor
    directional: Tensor | None
    second: Tensor


def _check_scalar(out: Tensor) -> Tensor:
    if out.ndim != 2 or out.shape[1] != 1:
        raise ValueError(f"derivatives need a scalar network (output shape (n, 1)), got {tuple(out.shape)}")
    return out[:, 0]


def directional_derivatives(model: nn.Module, x: Tensor, directions: Tensor | None,
                            weights: Tensor | Sequence[float] | None = None, *,
                            method: str = "auto") -> FieldDerivatives:
    """u, ∂_{v_j} u and Σ_j c_j ∂²_{v_j} u for directions (k, d) shared by all points or (n, k, d) per point;
    None: the d coordinate directions (the forward jet then never makes the d × d identity, ``Jet.identity_seed``).
    ``weights`` (k,) are the c_j; None means all ones."""
    if method == "auto":
        method = "forward" if hasattr(model, "forward_jet") else "autograd"
    if method == "forward":
        if not hasattr(model, "forward_jet"):
            raise ValueError(f"{type(model).__name__} has no forward_jet; use method='autograd'")
        seed = Jet.identity_seed(x, weights) if directions is None else Jet.seed(x, directions, weights)
        jet = model.forward_jet(seed)
        return FieldDerivatives(_check_scalar(jet.value), jet.tangent[..., 0], jet.second[:, 0])
    if method == "autograd":
        if directions is None:
            directions = torch.eye(x.shape[1], dtype=x.dtype, device=x.device)
        return _autograd_directional(model, x, directions, weights)
    raise ValueError(f"unknown method {method!r}; choose 'forward' or 'autograd' for given directions")


def trace_derivatives(model: nn.Module, x: Tensor, directions: Tensor, weights: Tensor | None = None, *,
                      method: str = "auto") -> FieldDerivatives:
    """u, the exact ∇u over all D inputs and Σ_j c_j ∂²u/∂v_j² along per-point directions v (n, k, D): the trace
    Tr(A Hess u) of A = Σ_j c_j v_j v_jᵀ, e.g. A = σσᵀ of a state-dependent diffusion (exact with the columns of σ,
    unbiased with k random combinations of them). The second derivatives come from one pass of the forward jet
    along the k directions (``method`` as in ``directional_derivatives``), ∇u from one reverse pass through that
    same pass's value: cost O(k), never d reverse passes."""
    xg = x if x.requires_grad else x.detach().requires_grad_(True)
    fd = directional_derivatives(model, xg, directions, weights, method=method)
    (grad,) = torch.autograd.grad(fd.value.sum(), xg, create_graph=True)
    return FieldDerivatives(fd.value, grad, fd.second)


def _autograd_directional(model, x, directions, weights) -> FieldDerivatives:
    x = x if x.requires_grad else x.detach().requires_grad_(True)
    u = _check_scalar(model(x))
    (grad,) = torch.autograd.grad(u.sum(), x, create_graph=True)
    if directions.ndim == 2:
        directions = directions.unsqueeze(0).expand(x.shape[0], -1, -1)
    directions = directions.to(x)
    first = torch.einsum("nkd,nd->nk", directions, grad)
    second = torch.zeros_like(u)
    w = [1.0] * directions.shape[1] if weights is None else torch.as_tensor(weights).tolist()
    for j, c in enumerate(w):
        if c == 0.0:
            continue
        (hv,) = torch.autograd.grad(first[:, j].sum(), x, create_graph=True)
        second = second + c * (hv * directions[:, j]).sum(dim=1)
    return FieldDerivatives(u, first, second)


def laplacian(model: nn.Module, x: Tensor, *, method: str = "auto", dims: int | None = None, probes: int = 16,
              generator: torch.Generator | None = None, gradient: bool = False) -> FieldDerivatives:
    """u, ∇u and Δu of a scalar network at points x (n, D).

    ``dims``: the Laplacian runs over the first ``dims`` coordinates (default all), e.g. the space coordinates of
    a space-time point (x, t); the gradient always covers all D coordinates (for exact methods).
    ``probes``/``generator``: for the stochastic methods ('hutchinson', 'sdgd'), whose ``directional`` is None
    unless ``gradient=True``: then it is the exact ∇u over all D inputs by one reverse pass (cost independent of d
    beyond the first layer), for residuals that need ∇u or u_t beside the estimated Laplacian (e.g. ``hjb-lq``).
    """
    if method not in METHODS:
        raise ValueError(f"unknown derivative method {method!r}; choose one of {METHODS}")
    if x.ndim != 2:
        raise ValueError(f"points must have shape (n, d), got {tuple(x.shape)}")
    D = x.shape[1]
    dims = D if dims is None else dims
    if not 1 <= dims <= D:
        raise ValueError(f"dims must lie in [1, {D}], got {dims}")
    if method in ("hutchinson", "sdgd"):
        v, w = stochastic_directions(x, dims, probes, method, generator)
        fd = directional_derivatives(model, x, v, w, method="auto")
        if not gradient:
            return FieldDerivatives(fd.value, None, fd.second)
        xg = x if x.requires_grad else x.detach().requires_grad_(True)
        (grad,) = torch.autograd.grad(_check_scalar(model(xg)).sum(), xg, create_graph=True)
        return FieldDerivatives(fd.value, grad, fd.second)
    levels = None if dims == D else (1.0,) * dims + (0.0,) * (D - dims)
    return directional_derivatives(model, x, None, levels, method=method)


def stochastic_directions(x: Tensor, dims: int, probes: int, method: str, generator: torch.Generator | None):
    """Probe directions (n, k, D) and weights (k,) with E[Σ_j c_j v_j v_jᵀ] = the identity on the first ``dims``."""
    if isinstance(probes, bool) or not isinstance(probes, int) or probes < 1:
        raise ValueError(f"probes must be a positive integer, got {probes!r}")
    n, D = x.shape
    gen_device = generator.device if generator is not None else x.device
    if method == "hutchinson":
        # the signs are drawn as bytes (the same numbers as int64 from the same generator, measured at a third of
        # the time and an eighth of the memory: at n·k·d = 5·10⁸ the int64 draw alone took 8.5 s) and turned
        # into ±1 in place
        signs = torch.randint(0, 2, (n, probes, dims), generator=generator, device=gen_device, dtype=torch.uint8)
        pm = signs.to(device=x.device, dtype=x.dtype).mul_(2).sub_(1)
        del signs
        if dims == D:
            v = pm
        else:
            v = torch.zeros(n, probes, D, dtype=x.dtype, device=x.device)
            v[:, :, :dims] = pm
        w = torch.full((probes,), 1.0 / probes, dtype=x.dtype, device=x.device)
    else:
        # one random subset of k coordinates for the whole batch (SDGD: Hu et al. 2024), as one (k, D) matrix
        # expanded to (n, k, D) without copies: the networks' first layers recognise directions shared by all
        # points (stride 0) and form the k tangents once, so a step costs O(k·d·m + n·k·m), not O(n·k·d·m)
        k = min(probes, dims)
        idx = torch.randperm(dims, generator=generator, device=gen_device)[:k].to(x.device)
        shared = torch.zeros(k, D, dtype=x.dtype, device=x.device)
        shared[torch.arange(k, device=x.device), idx] = 1.0
        v = shared.expand(n, k, D)
        w = torch.full((k,), dims / k, dtype=x.dtype, device=x.device)
    return v, w
