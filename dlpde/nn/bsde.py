"""The Deep BSDE network: Y₀ = u(0, x₀), Z₀ = σᵀ∇u(0, x₀) and one sub-network X_{t_n} ↦ Z_n per time step
n = 1, …, N−1 (Han, Jentzen & E, PNAS 2018: d → d+10 → d+10 → d, optional batch normalisation). The hidden width
is d + 10 up to d = 100, the paper's largest case, and ``MAX_DEFAULT_HIDDEN`` = 110 beyond, so a step costs O(d)
rather than O(d²): hjb-lq at d = 1000 took 0.56 s per step with width 1010 (benchmarks/SCALING.md) and reached
2.7e-4 relative error in 21 s for the 600 default steps with width 110.

The sub-networks read only the simulated paths, so all of them run at once: their weights are stored stacked, shape
(N−1, in, out), and ``subnetworks(x)`` evaluates every time step with one batched matrix product per layer
(``torch.baddbmm``) instead of N−1 separate modules; ``subnetwork(n, x)`` is the one-at-a-time path (tested equal).

Besides the paper's sub-network, ``skip=True`` adds a per-step diagonal linear term c_n ⊙ x̂ (x̂ the normalised input,
c_n ∈ R^d, zero at the start; Z = output_scale·(net_n(x̂) + 10 c_n ⊙ x̂), the factor 10 a larger effective
learning rate for c): in high dimension Z is close to linear in x on the shell where X_t lives, and a ReLU
network of width d+10 learns that map only slowly from the noisy Deep BSDE gradient (measured on hjb-lq, d = 100:
without it the loss stays at Var g(X_T) for 2000 steps and Y₀ stays near E g(X_T), +0.18 %; with it the loss falls
twentyfold within 1000 steps). The last layer starts at zero, so Z starts at 0 (Z₀ and c too).
"""
from __future__ import annotations

import math
from typing import Sequence

import torch
from torch import nn

from dlpde.nn.rowwise import batch_dots, makes_fresh_pages

MAX_DEFAULT_HIDDEN = 110  # the default width d + 10 stops growing at the paper's d = 100 (see the docstring)

Tensor = torch.Tensor


def _activation(name: str):
    if name == "relu":
        return torch.relu
    from dlpde.nn.activations import get_activation
    try:
        return get_activation(name)
    except ValueError:
        raise ValueError(f"unknown activation {name!r} for the Deep BSDE sub-networks; use 'relu' or one of "
                         "dlpde.nn.ACTIVATIONS") from None


class _DiagonalSkip(torch.autograd.Function):
    """h + w ⊙ x̂ written into h, with w (…, 1, d) one weight per step and column: autograd's own backward pass for
    the product (``addcmul``) makes two (…, batch, d) tensors to sum w's gradient over the batch, this one none
    (``batch_dots``). h must be a fresh tensor that nothing saved for its backward pass (a product's output).
    Used for tensors that ``makes_fresh_pages``; smaller ones take ``addcmul_`` (no Python backward)."""

    @staticmethod
    def forward(ctx, h: Tensor, w: Tensor, xn: Tensor) -> Tensor:
        ctx.mark_dirty(h)
        ctx.save_for_backward(w, xn)
        return h.addcmul_(w, xn)

    @staticmethod
    def backward(ctx, g: Tensor):
        w, xn = ctx.saved_tensors
        gw = batch_dots(g, xn) if ctx.needs_input_grad[1] else None
        gx = g * w if ctx.needs_input_grad[2] else None
        return g, gw, gx


def _rows(p: Tensor, rows: slice | int) -> Tensor:
    """The stacked parameter's rows; all of them as the parameter itself, since slicing even with ``[:]`` makes
    the backward pass allocate and zero a parameter-sized tensor to copy the gradient into (at d = 10⁵, 400 MB per
    weight stack and step)."""
    return p if rows == slice(None) else p[rows]


class BSDENetwork(nn.Module):
    """Y₀, Z₀ and stacked per-step sub-networks R^d → R^d.

    ``forward(xt)`` gives the one value this network knows, u(0, x₀) = Y₀, at rows (x, t) = (x₀, 0) and refuses other
    points; ``subnetworks``/``z_all`` give Z along simulated paths.
    """

    def __init__(self, dim: int, steps: int, *, x0: Sequence[float], T: float, hidden: int | None = None,
                 hidden_layers: int = 2, activation: str = "relu", batch_norm: bool = False, skip: bool = True,
                 input_shift: Sequence[float] | None = None, input_scale: Sequence[float] | None = None,
                 output_scale: float | None = None, y0: float = 0.0, y_scale: float = 1.0):
        super().__init__()
        for name, v, low in (("dim", dim, 1), ("steps", steps, 1), ("hidden_layers", hidden_layers, 0)):
            if isinstance(v, bool) or not isinstance(v, int) or v < low:
                raise ValueError(f"{name} must be an integer >= {low}, got {v!r}")
        hidden = min(dim + 10, MAX_DEFAULT_HIDDEN) if hidden is None else hidden
        if isinstance(hidden, bool) or not isinstance(hidden, int) or hidden < 1:
            raise ValueError(f"hidden must be a positive integer (default d + 10, at most {MAX_DEFAULT_HIDDEN}), "
                             f"got {hidden!r}")
        self.act = _activation(activation)
        self.dim, self.steps, self.batch_norm, self.skip = dim, steps, bool(batch_norm), bool(skip)
        self.output_scale = 1.0 / dim if output_scale is None else float(output_scale)
        self.skip_gain = 10.0  # c_n enters as 10·c_n: a larger effective step for the diagonal term (measured)
        if not (isinstance(y_scale, (int, float)) and math.isfinite(y_scale) and y_scale > 0):
            raise ValueError(f"y_scale must be a positive number, got {y_scale!r}")
        self.y_scale = float(y_scale)
        self.arch = dict(dim=dim, steps=steps, hidden=hidden, hidden_layers=hidden_layers, activation=activation,
                         batch_norm=self.batch_norm, skip=self.skip, T=float(T), output_scale=self.output_scale,
                         y_scale=self.y_scale)
        m = steps - 1
        self.register_buffer("x0", torch.as_tensor(x0, dtype=torch.float32).reshape(dim).clone())
        self.register_buffer("shift", torch.zeros(dim) if input_shift is None
                             else torch.as_tensor(input_shift, dtype=torch.float32).reshape(dim).clone())
        self.register_buffer("scale", torch.ones(dim) if input_scale is None
                             else torch.as_tensor(input_scale, dtype=torch.float32).reshape(dim).clone())
        self.y0_unit = nn.Parameter(torch.full((1,), float(y0) / self.y_scale))  # Y₀ = y_scale · y0_unit
        self.z0 = nn.Parameter(torch.zeros(dim))
        sizes = [dim] + [hidden] * hidden_layers + [dim]
        self.weights = nn.ParameterList()
        self.biases = nn.ParameterList()
        gain = math.sqrt(2.0) if activation == "relu" else 1.0
        for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:])):
            last = i == len(sizes) - 2
            w = torch.zeros(m, a, b) if (last and not self.batch_norm) else torch.randn(m, a, b) * gain / math.sqrt(a)
            self.weights.append(nn.Parameter(w))
            self.biases.append(nn.Parameter(torch.zeros(m, 1, b)))
        if self.batch_norm:  # normalise the input and every layer's pre-activation (paper), per time step
            self.bn_gamma = nn.ParameterList()
            self.bn_beta = nn.ParameterList()
            for i, k in enumerate(sizes):
                g = torch.empty(m, 1, k).uniform_(0.1, 0.5) if i == len(sizes) - 1 else torch.ones(m, 1, k)
                self.bn_gamma.append(nn.Parameter(g))
                self.bn_beta.append(nn.Parameter(torch.zeros(m, 1, k)))
                self.register_buffer(f"bn_mean_{i}", torch.zeros(m, 1, k))
                self.register_buffer(f"bn_var_{i}", torch.ones(m, 1, k))
        if self.skip:
            self.skip_weight = nn.Parameter(torch.zeros(m, 1, dim))

    @property
    def y0(self) -> Tensor:
        """Y₀ = u(0, x₀), shape (1,). Stored in units of ``y_scale`` (the spread of g(X_T)), so that Adam's step
        on Y₀ is relative to the problem's own noise level."""
        return self.y0_unit * self.y_scale

    # -- configuration -----------------------------------------------------------------------------------
    def config(self) -> dict:
        return {"type": "BSDENetwork", **self.arch, "x0": self.x0.tolist(), "input_shift": self.shift.tolist(),
                "input_scale": self.scale.tolist()}

    @classmethod
    def from_config(cls, config: dict, build=None) -> "BSDENetwork":  # noqa: ARG003 (no inner network)
        return cls(**config)

    # -- evaluation ------------------------------------------------------------------------------------
    def _bn(self, h: Tensor, i: int, rows: slice | int) -> Tensor:
        """Batch normalisation of layer i over the batch axis, separately per time step."""
        mean_buf, var_buf = getattr(self, f"bn_mean_{i}"), getattr(self, f"bn_var_{i}")
        gamma, beta = self.bn_gamma[i][rows], self.bn_beta[i][rows]
        if self.training:
            mean = h.mean(dim=-2, keepdim=True)
            var = h.var(dim=-2, keepdim=True, unbiased=False)
            with torch.no_grad():
                mean_buf[rows] = 0.99 * mean_buf[rows] + 0.01 * mean.to(mean_buf)
                var_buf[rows] = 0.99 * var_buf[rows] + 0.01 * var.to(var_buf)
        else:
            mean, var = mean_buf[rows].to(h), var_buf[rows].to(h)
        return (h - mean) * torch.rsqrt(var + 1e-6) * gamma + beta

    def _net(self, x: Tensor, rows: slice | int, mm) -> Tensor:
        # Each elementwise pass over (steps, batch, d) costs about what a layer's matrix product costs at large d
        # (Deep BSDE at d = 10⁴ was memory-bound: elementwise products took more time than the products), so the
        # input normalisation is one fused pass (addcmul), the output scale is applied to the (batch, hidden)
        # activations before the last product, and the skip term is added by one more fused pass.
        scale = self.scale.to(x)
        xn = torch.addcmul(-self.shift.to(x) * scale, x, scale)  # (x − shift)·scale
        h = xn
        if self.batch_norm:
            h = self._bn(h, 0, rows)
        n_layers = len(self.weights)
        for i in range(n_layers):
            w, b = _rows(self.weights[i], rows), _rows(self.biases[i], rows)
            last = i == n_layers - 1
            if self.batch_norm:
                h = self._bn(mm(None, h, w), i + 1, rows)
                if last:
                    h = h * self.output_scale
            elif last:  # output_scale·(h W + b) with the scale on the narrow side
                h = mm(b * self.output_scale, h * self.output_scale, w)
            else:
                h = mm(b, h, w)
            if not last:
                h = self.act(h)
        if self.skip:  # in place: h is fresh, and no product before it saved its output for the backward pass
            w = _rows(self.skip_weight, rows) * (self.output_scale * self.skip_gain)
            grad = torch.is_grad_enabled() and makes_fresh_pages(h)
            h = _DiagonalSkip.apply(h, w, xn) if grad else h.addcmul_(w, xn)
        return h

    @staticmethod
    def _bmm(b, h, w):
        return torch.bmm(h, w) if b is None else torch.baddbmm(b, h, w)

    @staticmethod
    def _mm(b, h, w):
        return h @ w if b is None else torch.addmm(b, h, w)

    def subnetworks(self, x: Tensor) -> Tensor:
        """Z_n = net_n(X_{t_n}) for n = 1, …, N−1 at once: x (N−1, batch, d) → (N−1, batch, d)."""
        if x.ndim != 3 or x.shape[0] != self.steps - 1 or x.shape[2] != self.dim:
            raise ValueError(f"x must have shape ({self.steps - 1}, batch, {self.dim}), got {tuple(x.shape)}")
        return self._net(x, slice(None), self._bmm)

    def subnetwork(self, n: int, x: Tensor) -> Tensor:
        """Z_n = net_n(X_{t_n}) for one step n ∈ [1, N−1]: x (batch, d) → (batch, d) (the one-at-a-time path)."""
        if not 1 <= n <= self.steps - 1:
            raise ValueError(f"n must lie in [1, {self.steps - 1}], got {n}")
        return self._net(x, n - 1, self._mm)

    def z_all(self, x: Tensor) -> Tensor:
        """Z along paths: x = X_{t_0..t_{N−1}} (N, batch, d) → (N, batch, d), Z_0 = z₀ for every path."""
        z0 = self.z0.expand(1, x.shape[1], self.dim)
        if self.steps == 1:
            return z0
        return torch.cat([z0, self.subnetworks(x[1:])], dim=0)

    def forward(self, xt: Tensor) -> Tensor:
        """u(0, x₀) = Y₀ for every row of xt (n, d + 1) = (x, t), which must be (x₀, 0); shape (n, 1)."""
        if xt.ndim != 2 or xt.shape[1] != self.dim + 1:
            raise ValueError(f"points must have shape (n, {self.dim + 1}) = (x, t), got {tuple(xt.shape)}")
        x0 = self.x0.to(xt)
        tol = 1e-6 * (1.0 + float(x0.abs().max()))
        ok = ((xt[:, :-1] - x0).abs().max(dim=1).values <= tol) & (xt[:, -1].abs() <= 1e-9 + 1e-6 * self.arch["T"])
        if not bool(ok.all()):
            raise ValueError("Deep BSDE learns u only at t = 0, x = x0; solve again with another x0 for another point")
        return self.y0.expand(xt.shape[0], 1)
