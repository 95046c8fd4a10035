"""Solver settings: one dataclass of the options every solver understands, checked where they enter."""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field, fields

import torch

from dlpde.training import TrainConfig

DTYPES = {"float32": torch.float32, "float64": torch.float64}


@dataclass
class SolveSettings:
    steps: int = 2000
    batch: int = 2000  # interior collocation points (or paths) per step
    boundary_batch: int = 400  # points per boundary/initial/terminal condition per step
    width: int = 64
    depth: int = 4
    activation: str = "tanh"
    lr: float = 1e-3
    schedule: str = "cosine"
    lr_final_ratio: float = 1e-2
    lbfgs_steps: int = 0
    resample_every: int = 1
    boundary_weight: float = 1.0
    derivative: str = "auto"  # auto | forward | autograd | hutchinson | sdgd
    probes: int = 16  # directions for the stochastic Laplacians
    sampling: str = "pseudo"  # pseudo | sobol
    seed: int = 0
    device: str = "cpu"
    dtype: str = "float32"
    log_every: int = 100
    eval_every: int = 500
    eval_points: int = 10_000
    progress: bool | None = None
    options: dict = field(default_factory=dict)  # solver-specific extras

    def __post_init__(self):
        for name in ("batch", "boundary_batch", "width", "depth", "probes", "eval_points"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, int) or v < 1:
                raise ValueError(f"{name} must be a positive integer, got {v!r}")
        if isinstance(self.seed, bool) or not isinstance(self.seed, int) or self.seed < 0:
            raise ValueError(f"seed must be a non-negative integer, got {self.seed!r}")
        if not (isinstance(self.boundary_weight, (int, float)) and math.isfinite(self.boundary_weight)
                and self.boundary_weight >= 0):
            raise ValueError(f"boundary_weight must be a non-negative number, got {self.boundary_weight!r}")
        if self.dtype not in DTYPES:
            raise ValueError(f"dtype must be one of {sorted(DTYPES)}, got {self.dtype!r}")
        if self.sampling not in ("pseudo", "sobol"):
            raise ValueError(f"sampling must be 'pseudo' or 'sobol', got {self.sampling!r}")
        from dlpde.derivatives import METHODS
        if self.derivative not in METHODS:
            raise ValueError(f"derivative must be one of {METHODS}, got {self.derivative!r}")
        from dlpde.nn.activations import get_activation
        get_activation(self.activation)
        self.train_config()  # validates the training fields
        dev = str(self.device)
        if not (dev == "cpu" or dev.startswith("cuda")):
            raise ValueError(f"device must be 'cpu' or 'cuda[:N]', got {dev!r}")
        if dev.startswith("cuda") and not torch.cuda.is_available():
            raise ValueError("device 'cuda' was asked for but no CUDA GPU is visible to torch; use --device cpu")

    @classmethod
    def from_kwargs(cls, defaults: dict | None = None, **kwargs) -> "SolveSettings":
        """Settings from keyword arguments over a case's defaults; unknown names go to ``options``."""
        names = {f.name for f in fields(cls)}
        merged = {**(defaults or {}), **{k: v for k, v in kwargs.items() if v is not None}}
        known = {k: v for k, v in merged.items() if k in names and k != "options"}
        options = {**merged.get("options", {}), **{k: v for k, v in merged.items() if k not in names}}
        return cls(**known, options=options)

    @property
    def torch_dtype(self) -> torch.dtype:
        return DTYPES[self.dtype]

    @property
    def torch_device(self) -> torch.device:
        return torch.device(self.device)

    def generator(self, offset: int = 0) -> torch.Generator:
        """A generator on the training device seeded from ``seed`` (``offset`` gives independent streams)."""
        g = torch.Generator(device=self.torch_device)
        g.manual_seed(self.seed * 1_000_003 + offset)
        return g

    def train_config(self) -> TrainConfig:
        return TrainConfig(steps=self.steps, lr=self.lr, schedule=self.schedule, lr_final_ratio=self.lr_final_ratio,
                           lbfgs_steps=self.lbfgs_steps, resample_every=self.resample_every,
                           log_every=self.log_every, eval_every=self.eval_every, progress=self.progress)

    def to_dict(self) -> dict:
        return asdict(self)
