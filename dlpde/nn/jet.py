"""Second-order forward jets: the data the forward Laplacian carries through a network.

A jet of a field h(x) at a batch of points holds
    value  (n, m)      h(x)
    tangent (n, k, m)  the directional derivatives ∂_{v_j} h for k directions v_j
    second (n, m)      Σ_j c_j ∂²_{v_j} h, a weighted sum of directional second derivatives.
With the identity directions and unit weights, ``tangent`` is the Jacobian and ``second`` the Laplacian
(Li et al., "A computational framework for neural network-based variational Monte Carlo with Forward
Laplacian", Nature Machine Intelligence 2024). With Rademacher directions and weights 1/k, ``second`` is the
Hutchinson estimate of the Laplacian; with columns of σ it is Tr(σσᵀ Hess h).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import torch

from dlpde.nn.activations import Activation

Tensor = torch.Tensor


@dataclass
class Jet:
    value: Tensor
    tangent: Tensor
    second: Tensor
    weights: Tensor | None  # (k,) the c_j; None means all ones (the exact Laplacian), which skips a product
    identity: bool = False  # a seed whose directions are the unit vectors e_1 … e_D (the tangent is then I)
    levels: tuple[float, ...] | None = None  # a seed's weights as Python numbers, when known (see ``seed``)

    @classmethod
    def seed(cls, x: Tensor, directions: Tensor, weights: Tensor | Sequence[float] | None = None) -> "Jet":
        """The jet of the identity map x ↦ x: tangents are the directions themselves, second derivative zero.
        Weights given as Python numbers are kept as ``levels`` too: directions of equal weight can then be
        compressed together (``MLP._first_layer_shared``) without reading a tensor back."""
        n = x.shape[0]
        if directions.ndim == 2:
            directions = directions.unsqueeze(0).expand(n, -1, -1)
        levels, weights = _levels(weights, x)
        return cls(x, directions.to(x), torch.zeros_like(x), weights, levels=levels)

    @staticmethod
    def identity_seed(x: Tensor, weights: Tensor | Sequence[float] | None = None) -> "Jet":
        """``seed(x, I, weights)`` marked as the identity (``identity``: the first layer and closed-form jets skip
        their products with the directions, D² work per step in high dimension) and without the D × D identity
        itself: it is built only if a network reads ``tangent`` (the MLP and the ball's distance never do)."""
        return IdentitySeed(x, weights)

    def linear(self, weight: Tensor, bias: Tensor | None) -> "Jet":
        """h ↦ h Wᵀ + b: linear maps act on all three parts; the bias only shifts the value."""
        value = torch.nn.functional.linear(self.value, weight, bias)
        return Jet(value, self.tangent @ weight.T, self.second @ weight.T, self.weights)

    def affine(self, scale: Tensor, shift: Tensor) -> "Jet":
        """h ↦ (h - shift) * scale, elementwise."""
        return Jet((self.value - shift) * scale, self.tangent * scale, self.second * scale, self.weights)

    def activate(self, act: Activation) -> "Jet":
        """h ↦ φ(h) elementwise: T' = φ'(h) T, S' = φ'(h) S + φ''(h) Σ_j c_j T_j²."""
        f, d1, d2 = act.all3(self.value)
        sq = self.tangent * self.tangent
        weighted_sq = sq.sum(1) if self.weights is None else torch.einsum("nkm,k->nm", sq, self.weights)
        return Jet(f, d1.unsqueeze(1) * self.tangent, d1 * self.second + d2 * weighted_sq, self.weights)

    def __add__(self, other: "Jet") -> "Jet":
        return Jet(self.value + other.value, self.tangent + other.tangent, self.second + other.second, self.weights)

    def scale(self, h: float) -> "Jet":
        return Jet(self.value * h, self.tangent * h, self.second * h, self.weights)


class IdentitySeed(Jet):
    """The seed along e_1 … e_D whose tangent, the identity expanded over the points, is made on first read."""

    def __init__(self, x: Tensor, weights: Tensor | Sequence[float] | None = None):
        levels, weights = _levels(weights, x)
        super().__init__(x, None, torch.zeros_like(x), weights, identity=True, levels=levels)

    @property
    def tangent(self) -> Tensor:
        if self._eye is None:
            n, D = self.value.shape
            try:
                eye = torch.eye(D, dtype=self.value.dtype, device=self.value.device)
            except RuntimeError as e:  # out of memory: say which network asked, and what avoids it
                raise RuntimeError(f"this network reads the {D} x {D} identity seed of the exact forward derivatives "
                                   f"({D * D * self.value.element_size() / 2**30:.1f} GiB); at this dimension use an "
                                   "MLP (which never forms it) or derivative='hutchinson'/'sdgd'") from e
            self._eye = eye.unsqueeze(0).expand(n, -1, -1)
        return self._eye

    @tangent.setter
    def tangent(self, value: Tensor | None) -> None:  # the dataclass __init__ stores None: nothing made yet
        self._eye = value


def _levels(weights: Tensor | Sequence[float] | None, x: Tensor) -> tuple[tuple[float, ...] | None, Tensor | None]:
    """(the weights as Python numbers or None, the weights as a tensor like x or None)."""
    if weights is None:
        return None, None
    if isinstance(weights, Tensor):
        return None, weights.to(x)
    levels = tuple(float(w) for w in weights)
    return levels, torch.tensor(levels, dtype=x.dtype, device=x.device)
