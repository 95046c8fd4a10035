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
from dlpde.nn.mlp import InputNormalization, check_output_affine, check_sizes

INPUT_MAPS = ("auto", "pad", "linear")


def _shared(j: Jet) -> bool:
    """Whether every point carries the same directions (a seed jet from ``Jet.seed``: an expanded view)."""
    return j.tangent.shape[0] > 1 and j.tangent.stride(0) == 0


def _expand(t: torch.Tensor, n: int) -> torch.Tensor:
    return t.unsqueeze(0).expand(n, *t.shape)


def normalize_jet(norm: InputNormalization, j: Jet) -> Jet:
    """``norm.jet(j)``, keeping shared directions shared: one (k, d) product instead of n."""
    if not _shared(j):
        return norm.jet(j)
    scale = norm.scale.to(j.value)
    return Jet(norm(j.value), _expand(j.tangent[0] * scale, j.value.shape[0]), j.second * scale, j.weights)


def linear_jet(j: Jet, weight: torch.Tensor, bias: torch.Tensor | None) -> Jet:
    """``j.linear(weight, bias)``; shared directions V give the shared tangent V Wᵀ, computed once."""
    if not _shared(j):
        return j.linear(weight, bias)
    return Jet(F.linear(j.value, weight, bias), _expand(j.tangent[0] @ weight.T, j.value.shape[0]),
               j.second @ weight.T, j.weights)


def pad_jet(j: Jet, extra: int) -> Jet:
    """Zero-pad the feature axis of every part of a jet (padding is linear, so the zeros stay zero)."""
    t = _expand(F.pad(j.tangent[0], (0, extra)), j.value.shape[0]) if _shared(j) else F.pad(j.tangent, (0, extra))
    return Jet(F.pad(j.value, (0, extra)), t, F.pad(j.second, (0, extra)), j.weights)


def output_jet(j: Jet, scale: float, shift: float) -> Jet:
    """y ↦ y·scale + shift on a jet."""
    return Jet(j.value * scale + shift, j.tangent * scale, j.second * scale, j.weights)


class ResNet(nn.Module):
    """``blocks`` residual blocks of ``width`` units (2 layers each), activation φ, linear output.

    ``input_map``: "pad" (zeros up to the width; needs in_dim ≤ width), "linear" (a trained map R^d → R^m) or
    "auto" (pad when it fits). Fixed affine maps at both ends, as in ``MLP``: x ↦ (x − input_shift)·input_scale
    and y ↦ y·output_scale + output_shift. ``forward_jet`` carries value, directional derivatives and a weighted sum of
    second directional derivatives through the blocks in one pass (see ``dlpde.nn.jet``).
    """

    def __init__(self, in_dim: int, out_dim: int = 1, *, width: int = 64, blocks: int = 3,
                 activation: str = "relu3", input_map: str = "auto",
                 input_shift: Sequence[float] | None = None, input_scale: Sequence[float] | None = None,
                 output_shift: float = 0.0, output_scale: float = 1.0):
        super().__init__()
        check_sizes(in_dim=in_dim, out_dim=out_dim, width=width, blocks=blocks)
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
        check_output_affine(output_shift, output_scale)
        self.output_shift, self.output_scale = float(output_shift), float(output_scale)
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
        return self.out(s) * self.output_scale + self.output_shift

    def forward_jet(self, jet: Jet) -> Jet:
        j = normalize_jet(self.normalize, jet)
        if self.input is not None:
            j = linear_jet(j, self.input.weight, self.input.bias)
        else:
            j = pad_jet(j, self.arch["width"] - j.value.shape[1])
        for l1, l2 in zip(self.first, self.second):
            j = linear_jet(j, l1.weight, l1.bias).activate(self.act).linear(l2.weight, l2.bias).activate(self.act) + j
        return output_jet(j.linear(self.out.weight, self.out.bias), self.output_scale, self.output_shift)

    def config(self) -> dict:
        return {"type": "ResNet", **self.arch, "input_shift": self.normalize.shift.tolist(),
                "input_scale": self.normalize.scale.tolist(), "output_shift": self.output_shift,
                "output_scale": self.output_scale}
