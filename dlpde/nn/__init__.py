"""Networks. Each has ``forward(x)`` and ``config()`` (a JSON-able dict with its ``type``); those with
``forward_jet`` give value, gradient and Laplacian in one pass (the forward Laplacian)."""
from __future__ import annotations

from torch import nn

from dlpde.nn.activations import ACTIVATIONS, get_activation
from dlpde.nn.bsde import BSDENetwork
from dlpde.nn.dgm import DGMNet
from dlpde.nn.jet import Jet
from dlpde.nn.mlp import MLP
from dlpde.nn.potential import PotentialNet
from dlpde.nn.resnet import ResNet

NETWORKS: dict[str, type[nn.Module]] = {"MLP": MLP, "ResNet": ResNet, "DGMNet": DGMNet, "PotentialNet": PotentialNet,
                                       "BSDENetwork": BSDENetwork}
from dlpde.nn.features import SingularFeatures  # noqa: E402  (corner singularities as inputs)

NETWORKS["SingularFeatures"] = SingularFeatures
from dlpde.nn.constraints import HardConstraint  # noqa: E402  (u = g + φN: exact Dirichlet data)

NETWORKS["HardConstraint"] = HardConstraint
from dlpde.nn.time_steps import StepNet, TimeSteps  # noqa: E402  (time-stepping Deep Ritz)

NETWORKS["StepNet"] = StepNet
NETWORKS["TimeSteps"] = TimeSteps


def build_network(config: dict) -> nn.Module:
    """Rebuild a network from its ``config()`` dict (the inverse of ``net.config()``), weights untrained."""
    config = dict(config)
    kind = config.pop("type", None)
    if kind not in NETWORKS:
        raise ValueError(f"unknown network type {kind!r}; known types: {sorted(NETWORKS)}")
    cls = NETWORKS[kind]
    if hasattr(cls, "from_config"):  # wrappers build their inner network with this function
        return cls.from_config(config, build_network)
    return cls(**config)


__all__ = ["MLP", "ResNet", "DGMNet", "PotentialNet", "Jet", "ACTIVATIONS", "get_activation", "NETWORKS", "build_network"]
