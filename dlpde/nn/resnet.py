"""The residual network of the Deep Ritz method (E & Yu, "The Deep Ritz method", Commun. Math. Stat. 2018).

Each block maps s ↦ φ(W₂ φ(W₁ s + b₁) + b₂) + s (two layers and a skip connection); the input x ∈ R^d is
padded with zeros to the width m (d ≤ m, as in the paper) or mapped to it by a trained linear layer (d > m);
the output is linear. The paper uses φ(z) = max(z, 0)³ ("relu3"); tanh works too.
"""
from __future__ import annotations

from typing import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from dlpde.nn.activations import get_activation
from dlpde.nn.jet import Jet
from dlpde.nn.mlp import InputNormalization

INPUT_MAPS = ("auto", "pad", "linear")


def _pad_jet(j: Jet, extra: int) -> Jet:
    """Zero-pad the last axis of every part of a jet (padding is linear, so the zeros stay zero)."""
    return Jet(F.pad(j.value, (0, extra)), F.pad(j.tangent, (0, extra)), F.pad(j.second, (0, extra)), j.weights)


class ResNet(nn.Module):
    """``blocks`` residual blocks of ``width`` units (2 layers each), activation φ, linear output.

    ``input_map``: "pad" (zeros up to the width; needs in_dim ≤ width), "linear" (a trained map R^d → R^m) or
    "auto" (pad when it fits). ``forward_jet`` carries value, directional derivatives and a weighted sum of
    second directional derivatives through the blocks in one pass (see ``dlpde.nn.jet``).
    """

    def __init__(self, in_dim: int, out_dim: int = 1, *, width: int = 64, blocks: int = 3,
                 activation: str = "relu3", input_map: str = "auto",
                 input_shift: Sequence[float] | None = None, input_scale: Sequence[float] | None = None):
        super().__init__()
        for name, v in (("in_dim", in_dim), ("out_dim", out_dim), ("width", width), ("blocks", blocks)):
            if isinstance(v, bool) or not isinstance(v, int) or v < 1:
                raise ValueError(f"{name} must be a positive integer, got {v!r}")
        if input_map not in INPUT_MAPS:
            raise ValueError(f"input_map must be one of {INPUT_MAPS}, got {input_map!r}")
        if input_map == "auto":
            input_map = "pad" if in_dim <= width else "linear"
        if input_map == "pad" and in_dim > width:
            raise ValueError(f"input_map='pad' needs in_dim <= width, got in_dim={in_dim} > width={width}; "
                             "use input_map='linear' or a larger width")
        self.act = get_activation(activation)
        self.arch = dict(in_dim=in_dim, out_dim=out_dim, width=width, blocks=blocks, activation=activation,
                         input_map=input_map)
        self.normalize = InputNormalization(in_dim, input_shift, input_scale)
        self.input = nn.Linear(in_dim, width) if input_map == "linear" else None
        self.first = nn.ModuleList(nn.Linear(width, width) for _ in range(blocks))
        self.second = nn.ModuleList(nn.Linear(width, width) for _ in range(blocks))
        self.out = nn.Linear(width, out_dim)
        # PyTorch's default uniform(±1/√fan_in) weights and biases: with zero biases and ReLU³ the blocks would
        # start nearly dead on the unit cube (z³ of small z); random biases spread the kinks.
        nn.init.zeros_(self.out.bias)

    def _lift(self, x: torch.Tensor) -> torch.Tensor:
        if self.input is not None:
            return self.input(x)
        return F.pad(x, (0, self.arch["width"] - x.shape[1]))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        s = self._lift(self.normalize(x))
        for l1, l2 in zip(self.first, self.second):
            s = self.act(l2(self.act(l1(s)))) + s
        return self.out(s)

    def forward_jet(self, jet: Jet) -> Jet:
        j = self.normalize.jet(jet)
        if self.input is not None:
            j = j.linear(self.input.weight, self.input.bias)
        else:
            j = _pad_jet(j, self.arch["width"] - j.value.shape[1])
        for l1, l2 in zip(self.first, self.second):
            j = j.linear(l1.weight, l1.bias).activate(self.act).linear(l2.weight, l2.bias).activate(self.act) + j
        return j.linear(self.out.weight, self.out.bias)

    def config(self) -> dict:
        return {"type": "ResNet", **self.arch, "input_shift": self.normalize.shift.tolist(),
                "input_scale": self.normalize.scale.tolist()}
