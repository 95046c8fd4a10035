"""Domains: where the PDE lives and how points are sampled from it."""
from dlpde.geometry.ball import Ball
from dlpde.geometry.base import Domain
from dlpde.geometry.box import Box, Interval
from dlpde.geometry.deepxde_adapter import DeepXDEDomain
from dlpde.geometry.spacetime import SpaceTime

__all__ = ["Domain", "Box", "Interval", "Ball", "SpaceTime", "DeepXDEDomain"]
