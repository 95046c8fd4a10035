"""Fully connected networks u: R^d → R^o with a forward-Laplacian path."""
from __future__ import annotations

import math
from typing import Sequence

import torch
from torch import nn

from dlpde.nn.activations import get_activation
from dlpde.nn.jet import Jet


def check_sizes(**sizes: int) -> None:
    """Each size (in_dim, width, depth, ...) must be a positive integer."""
    for name, v in sizes.items():
        if isinstance(v, bool) or not isinstance(v, int) or v < 1:
            raise ValueError(f"{name} must be a positive integer, got {v!r}")


def check_output_affine(shift: float, scale: float) -> None:
    """The fixed output map y ↦ y·scale + shift needs a finite shift and a positive finite scale."""
    if not (math.isfinite(shift) and math.isfinite(scale) and scale > 0):
        raise ValueError(f"output_shift must be finite and output_scale positive, got {shift}, {scale}")


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

    Fixed (untrained) affine maps at both ends: x ↦ (x − input_shift)·input_scale before the first layer, and
    y ↦ y·output_scale + output_shift after the last, so that a network of unit-scale weights fits inputs and
    outputs of any scale.

    ``forward_jet`` propagates value, directional derivatives and a weighted sum of second directional
    derivatives through every layer in one pass (see ``dlpde.nn.jet``).
    """

    def __init__(self, in_dim: int, out_dim: int = 1, *, width: int = 64, depth: int = 4, activation: str = "tanh",
                 input_shift: Sequence[float] | None = None, input_scale: Sequence[float] | None = None,
                 output_shift: float = 0.0, output_scale: float = 1.0):
        super().__init__()
        check_sizes(in_dim=in_dim, out_dim=out_dim, width=width, depth=depth)
        self.act = get_activation(activation)
        self.arch = dict(in_dim=in_dim, out_dim=out_dim, width=width, depth=depth, activation=activation)
        self.normalize = InputNormalization(in_dim, input_shift, input_scale)
        check_output_affine(output_shift, output_scale)
        self.output_shift, self.output_scale = float(output_shift), float(output_scale)
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
        return self.out(h) * self.output_scale + self.output_shift

    def forward_jet(self, jet: Jet) -> Jet:
        layers = iter(self.hidden)
        basis = None
        if jet.identity or jet.tangent.stride(0) == 0:  # directions shared by all points: a seed, second = 0
            j, basis = self._first_layer_shared(jet, next(layers))
        else:
            j = self.normalize.jet(jet)
        for layer in layers:
            j = j.linear(layer.weight, layer.bias).activate(self.act)
        j = j.linear(self.out.weight, self.out.bias)
        tangent = j.tangent if basis is None else basis @ j.tangent  # back from the compressed directions
        # the incoming weights, one per direction (the compressed rows' weights belong to the rows, not the output)
        return Jet(j.value * self.output_scale + self.output_shift, tangent * self.output_scale,
                   j.second * self.output_scale, jet.weights)

    def _first_layer_shared(self, j: Jet, layer: nn.Linear) -> tuple[Jet, torch.Tensor | None]:
        """Input normalization and the first layer when every point shares the directions V (k, d) (e.g. the
        identity) of a seed jet: V diag(scale) Wᵀ is one small (k, m) product instead of n of them, and the
        second-order term Σ_j c_j (V diag(scale) Wᵀ)_j² one (m,) vector. Equals the general path (tested).

        More directions than units (k > m, e.g. the Laplacian in d = 100 with 64 units): see ``compress_directions``;
        the returned basis (k, r) maps the output's r compressed directional derivatives back to the k true ones."""
        scale = self.normalize.scale.to(j.value)
        z = torch.nn.functional.linear(self.normalize(j.value), layer.weight, layer.bias)
        if not j.identity:
            shared = (j.tangent[0] * scale) @ layer.weight.T
        elif scale.shape[0] <= layer.weight.shape[0]:
            # few inputs: as a product (a D × D diagonal, D ≤ width), not the broadcast diag(scale)·Wᵀ, whose
            # transposed read torch.compile fuses into the (n, m) activation kernel and leaves scalar (1.1 of 14 ms
            # per step at d = 2, 4 × 64)
            shared = torch.diag(scale) @ layer.weight.T
        else:  # for the identity seed V = I it is diag(scale) Wᵀ without the D × D × m product
            shared = scale[:, None] * layer.weight.T
        sq = shared * shared
        weighted_sq = sq.sum(0) if j.weights is None else j.weights @ sq  # (m,)
        rows, weights, basis = compress_directions(shared, j.weights, j.levels)
        f, d1, d2 = self.act.all3(z)
        return Jet(f, d1.unsqueeze(1) * rows, d2 * weighted_sq, weights), basis

    def config(self) -> dict:
        return {"type": "MLP", **self.arch, "input_shift": self.normalize.shift.tolist(),
                "input_scale": self.normalize.scale.tolist(), "output_shift": self.output_shift,
                "output_scale": self.output_scale}


def compress_directions(shared: torch.Tensor, weights: torch.Tensor | None, levels: tuple[float, ...] | None
                        ) -> tuple[torch.Tensor, torch.Tensor | None, torch.Tensor | None]:
    """The first layer's tangents T = V diag(scale) Wᵀ (k, m) of k > m directions as r ≤ k rows (r, m), their
    weights, and the basis B (k, r) with T = B·rows (None: no compression, rows = T).

    Every later layer acts on each direction's row alone and linearly, so the output's directional derivatives
    are B times those of the rows. For directions of one weight c, the thin QR factorisation T = Q R gives
    Σ_j c T_j² = c Σ_i R_i² at every later layer too (QᵀQ = I): the jet can carry the m rows of R·φ'(z) instead
    of the k rows of QR·φ'(z), k/m times less work in every hidden layer. Directions of different weights (e.g.
    the Laplacian over space beside the time column, weights 1…1, 0) are compressed group by group; this needs the
    weights as Python numbers (``levels``), so weights known only as a tensor are not compressed.

    The values are exact for any first layer; the gradients through the QR factorisation need each group's T to
    have full column rank (R invertible), which holds for trained and randomly initialised weights but not for
    hand-made degenerate ones (a unit with all-zero input weights, two identical units): there they are inexact
    or not finite, as they already were for the unweighted Laplacian."""
    k, m = shared.shape
    if k <= m:
        return shared, weights, None
    if weights is None:
        basis, rows = torch.linalg.qr(shared)  # (k, m), (m, m)
        return rows, None, basis
    if levels is None:
        return shared, weights, None
    groups: dict[float, list[int]] = {}
    for i, c in enumerate(levels):
        groups.setdefault(c, []).append(i)
    if all(len(idx) <= m for idx in groups.values()):
        return shared, weights, None
    rows, row_levels, blocks = [], [], []
    for c, idx in groups.items():
        part = shared[idx[0]:idx[-1] + 1] if idx[-1] - idx[0] + 1 == len(idx) else shared[idx]
        if len(idx) > m:
            q, part = torch.linalg.qr(part)
        else:
            q = torch.eye(len(idx), dtype=shared.dtype, device=shared.device)
        rows.append(part)
        row_levels += [c] * part.shape[0]
        blocks.append((idx, q))
    basis = shared.new_zeros(k, len(row_levels))
    col = 0
    for idx, q in blocks:
        basis[idx, col:col + q.shape[1]] = q
        col += q.shape[1]
    return torch.cat(rows), torch.tensor(row_levels, dtype=shared.dtype, device=shared.device), basis
