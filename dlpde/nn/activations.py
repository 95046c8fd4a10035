"""Activations with their first and second derivatives, as the forward Laplacian needs them."""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable

import torch
import torch.nn.functional as F

Tensor = torch.Tensor


@dataclass(frozen=True)
class Activation:
    """φ with φ' and φ''; ``all3(z)`` returns the three at once, sharing work (e.g. tanh computed once)."""

    name: str
    all3: Callable[[Tensor], tuple[Tensor, Tensor, Tensor]]

    def __call__(self, z: Tensor) -> Tensor:
        return self.all3(z)[0]


def _tanh(z):
    t = torch.tanh(z)
    d1 = 1 - t * t
    return t, d1, -2 * t * d1


def _sin(z):
    s = torch.sin(z)
    return s, torch.cos(z), -s


def _softplus(z):
    s = torch.sigmoid(z)
    return F.softplus(z), s, s * (1 - s)


def _relu3(z):
    r = torch.relu(z)
    r2 = r * r
    return r2 * r, 3 * r2, 6 * r


def _logcosh(z):
    # log(e^z + e^-z) = |z| + log1p(e^{-2|z|}); φ' = tanh, φ'' = 1 - tanh² (Ruthotto et al. 2020)
    a = z.abs()
    t = torch.tanh(z)
    return a + torch.log1p(torch.exp(-2 * a)), t, 1 - t * t


ACTIVATIONS: dict[str, Activation] = {
    a.name: a
    for a in (
        Activation("tanh", _tanh),
        Activation("sin", _sin),
        Activation("softplus", _softplus),
        Activation("relu3", _relu3),
        Activation("logcosh", _logcosh),
    )
}
LOG2 = math.log(2.0)


def get_activation(name: str) -> Activation:
    try:
        return ACTIVATIONS[name]
    except KeyError:
        raise ValueError(f"unknown activation {name!r}; choose one of {sorted(ACTIVATIONS)}") from None
