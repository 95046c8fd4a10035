"""The DGM network (Sirignano & Spiliopoulos, "DGM: A deep learning algorithm for solving partial differential
equations", J. Comput. Phys. 375, 2018, §4): LSTM-like gated layers that see the input x at every layer,

    S¹      = σ(W¹x + b¹)
    Zˡ      = σ(U^{z,l} x + W^{z,l} Sˡ + b^{z,l})
    Gˡ      = σ(U^{g,l} x + W^{g,l} Sˡ + b^{g,l})
    Rˡ      = σ(U^{r,l} x + W^{r,l} Sˡ + b^{r,l})
    Hˡ      = σ(U^{h,l} x + W^{h,l} (Sˡ ⊙ Rˡ) + b^{h,l})
    Sˡ⁺¹    = (1 − Gˡ) ⊙ Hˡ + Zˡ ⊙ Sˡ,          l = 1, …, L
    f(x; θ) = W S^{L+1} + b.

All U·x products of all layers are one matrix product. Fixed affine maps at both ends, as in ``MLP``:
x ↦ (x − input_shift)·input_scale and f ↦ f·output_scale + output_shift. ``forward_jet`` needs the product rule for jets
(``jet_mul``), since the gates multiply.
"""
from __future__ import annotations

from typing import Sequence

import torch
from torch import nn

from dlpde.nn.activations import get_activation
from dlpde.nn.jet import Jet
from dlpde.nn.mlp import InputNormalization, check_output_affine, check_sizes
from dlpde.nn.resnet import linear_jet, normalize_jet, output_jet


def jet_mul(a: Jet, b: Jet) -> Jet:
    """The jet of the elementwise product f·g: value fg, tangent f'g + fg',
    second S_f g + f S_g + 2 Σ_j c_j T_{f,j} T_{g,j} (c_j the jet's weights; all ones when None)."""
    cross = a.tangent * b.tangent
    cross = cross.sum(1) if a.weights is None else torch.einsum("nkm,k->nm", cross, a.weights)
    return Jet(a.value * b.value,
               a.tangent * b.value.unsqueeze(1) + a.value.unsqueeze(1) * b.tangent,
               a.second * b.value + a.value * b.second + 2 * cross,
               a.weights)


def jet_chunk(j: Jet, chunks: int) -> list[Jet]:
    """Split a jet into ``chunks`` equal jets along its feature axis."""
    return [Jet(v, t, s, j.weights) for v, t, s in zip(j.value.chunk(chunks, -1), j.tangent.chunk(chunks, -1),
                                                       j.second.chunk(chunks, -1))]


class DGMNet(nn.Module):
    """``layers`` DGM layers of ``width`` units with activation σ (the paper: tanh), linear output."""

    def __init__(self, in_dim: int, out_dim: int = 1, *, width: int = 50, layers: int = 3, activation: str = "tanh",
                 input_shift: Sequence[float] | None = None, input_scale: Sequence[float] | None = None,
                 output_shift: float = 0.0, output_scale: float = 1.0):
        super().__init__()
        check_sizes(in_dim=in_dim, out_dim=out_dim, width=width, layers=layers)
        self.act = get_activation(activation)
        self.arch = dict(in_dim=in_dim, out_dim=out_dim, width=width, layers=layers, activation=activation)
        self.normalize = InputNormalization(in_dim, input_shift, input_scale)
        check_output_affine(output_shift, output_scale)
        self.output_shift, self.output_scale = float(output_shift), float(output_scale)
        self.first = nn.Linear(in_dim, width)
        self.U = nn.Linear(in_dim, 4 * width * layers)  # U^{z,g,r,h} of every layer, with the biases b^{z,g,r,h}
        self.W_zgr = nn.ModuleList(nn.Linear(width, 3 * width, bias=False) for _ in range(layers))
        self.W_h = nn.ModuleList(nn.Linear(width, width, bias=False) for _ in range(layers))
        self.out = nn.Linear(width, out_dim)
        for m in self.modules():
            if isinstance(m, nn.Linear):
                nn.init.xavier_normal_(m.weight)
                if m.bias is not None:
                    nn.init.zeros_(m.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.normalize(x)
        act, L = self.act, self.arch["layers"]
        s = act(self.first(x))
        ux = self.U(x).chunk(L, -1)
        for l in range(L):
            uz, ug, ur, uh = ux[l].chunk(4, -1)
            wz, wg, wr = self.W_zgr[l](s).chunk(3, -1)
            z, g, r = act(uz + wz), act(ug + wg), act(ur + wr)
            h = act(uh + self.W_h[l](s * r))
            s = (1 - g) * h + z * s
        return self.out(s) * self.output_scale + self.output_shift

    def forward_jet(self, jet: Jet) -> Jet:
        x = normalize_jet(self.normalize, jet)  # directions shared by all points stay one (k, d) matrix
        act, L = self.act, self.arch["layers"]
        s = linear_jet(x, self.first.weight, self.first.bias).activate(act)
        ux = jet_chunk(linear_jet(x, self.U.weight, self.U.bias), L)
        for l in range(L):
            uz, ug, ur, uh = jet_chunk(ux[l], 4)
            wz, wg, wr = jet_chunk(s.linear(self.W_zgr[l].weight, None), 3)
            z, g, r = (uz + wz).activate(act), (ug + wg).activate(act), (ur + wr).activate(act)
            h = (uh + jet_mul(s, r).linear(self.W_h[l].weight, None)).activate(act)
            s = h + jet_mul(g, h).scale(-1.0) + jet_mul(z, s)  # (1 − G) ⊙ H + Z ⊙ S
        return output_jet(s.linear(self.out.weight, self.out.bias), self.output_scale, self.output_shift)

    def config(self) -> dict:
        return {"type": "DGMNet", **self.arch, "input_shift": self.normalize.shift.tolist(),
                "input_scale": self.normalize.scale.tolist(), "output_shift": self.output_shift,
                "output_scale": self.output_scale}
