"""The shared training loop."""
from dlpde.training.history import History
from dlpde.training.trainer import TrainConfig, Trainer, TrainResult

__all__ = ["History", "TrainConfig", "Trainer", "TrainResult"]
