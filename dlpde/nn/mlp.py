"""Fully connected networks u: R^d → R^o with a forward-Laplacian path."""
from __future__ import annotations

from typing import Sequence

import torch
from torch import nn

from dlpde.nn.activations import get_activation
from dlpde.nn.jet import Jet


class InputNormalization(nn.Module):
    """x ↦ (x - shift) * scale with fixed (non-trained) buffers, e.g. to map a price range to [-1, 1]."""

    def __init__(self, in_dim: int, shift: Sequence[float] | None = None, scale: Sequence[float] | None = None):
        super().__init__()
        self.register_buffer("shift", torch.zeros(in_dim) if shift is None else torch.as_tensor(shift).float())
        self.register_buffer("scale", torch.ones(in_dim) if scale is None else torch.as_tensor(scale).float())

    def forward(self, x):
        return (x - self.shift.to(x)) * self.scale.to(x)

    def jet(self, j: Jet) -> Jet:
        return j.affine(self.scale.to(j.value), self.shift.to(j.value))

    def config(self) -> dict:
        return {"shift": self.shift.tolist(), "scale": self.scale.tolist()}


class MLP(nn.Module):
    """``depth`` hidden layers of ``width`` units with activation φ, then a linear output layer.

    ``forward_jet`` propagates value, directional derivatives and a weighted sum of second directional
    derivatives through every layer in one pass (see ``dlpde.nn.jet``).
    """

    def __init__(self, in_dim: int, out_dim: int = 1, *, width: int = 64, depth: int = 4, activation: str = "tanh",
                 input_shift: Sequence[float] | None = None, input_scale: Sequence[float] | None = None):
        super().__init__()
        for name, v in (("in_dim", in_dim), ("out_dim", out_dim), ("width", width), ("depth", depth)):
            if isinstance(v, bool) or not isinstance(v, int) or v < 1:
                raise ValueError(f"{name} must be a positive integer, got {v!r}")
        self.act = get_activation(activation)
        self.arch = dict(in_dim=in_dim, out_dim=out_dim, width=width, depth=depth, activation=activation)
        self.normalize = InputNormalization(in_dim, input_shift, input_scale)
        sizes = [in_dim] + [width] * depth
        self.hidden = nn.ModuleList(nn.Linear(a, b) for a, b in zip(sizes[:-1], sizes[1:]))
        self.out = nn.Linear(width, out_dim)
        for layer in self.hidden:
            nn.init.xavier_normal_(layer.weight)
            nn.init.zeros_(layer.bias)
        nn.init.xavier_normal_(self.out.weight)
        nn.init.zeros_(self.out.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.normalize(x)
        for layer in self.hidden:
            h = self.act(layer(h))
        return self.out(h)

    def forward_jet(self, jet: Jet) -> Jet:
        j = self.normalize.jet(jet)
        for layer in self.hidden:
            j = j.linear(layer.weight, layer.bias).activate(self.act)
        return j.linear(self.out.weight, self.out.bias)

    def config(self) -> dict:
        return {"type": "MLP", **self.arch, "input_shift": self.normalize.shift.tolist(),
                "input_scale": self.normalize.scale.tolist()}
