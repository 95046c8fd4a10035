"""Solver settings: one dataclass of the options every solver understands, checked where they enter."""
from __future__ import annotations

import json
import math
import os
import re
from dataclasses import asdict, dataclass, field, fields

import torch

DTYPES = {"float32": torch.float32, "float64": torch.float64}
MAX_DIM = 1_000_000  # larger dimensions are refused up front (a Box of 10⁹ corners alone is 8 GB)
MAX_SEED = 2**32 - 1
# upper bounds that keep a typo (--batch 10000000000) from exhausting memory before any check could run
MAX_THREADS = 4096
LIMITS = {"batch": 10**8, "boundary_batch": 10**8, "eval_points": 10**8, "width": 2**16, "depth": 1000,
          "probes": 10**6}


SCHEDULES = ("cosine", "exponential", "constant")
OPTIMIZERS = ("adam", "engd")
MAX_COUNT = 10**9  # steps, intervals and rollbacks above this are typos, not plans


@dataclass
class TrainConfig:
    steps: int = 2000
    lr: float = 1e-3
    schedule: str = "cosine"
    lr_final_ratio: float = 1e-2  # final lr = lr * ratio (cosine, exponential)
    lbfgs_steps: int = 0
    optimizer: str = "adam"  # the first phase: "adam", or "engd" (Gauss–Newton / energy natural gradient)
    engd_damping: float = 1e-10  # ENGD's damping, relative to the Gram's mean diagonal
    resample_every: int = 1
    log_every: int = 100
    eval_every: int = 500
    progress: bool | None = None  # None: a bar on a terminal, a line every 10 s elsewhere; False: nothing
    checkpoint_every: int = 0  # 0: no periodic checkpoints
    checkpoint_path: str | None = None  # where checkpoints (periodic and on Ctrl-C) go; None: nowhere
    resume: str | None = None  # a checkpoint to continue from
    max_rollbacks: int = 3  # divergence guard: rollbacks (lr halved each time) before giving up
    fingerprint: str = ""  # JSON of the settings a resumed run must share with the checkpoint

    def __post_init__(self):
        for name in ("steps", "lbfgs_steps", "resample_every", "log_every", "eval_every", "checkpoint_every",
                     "max_rollbacks"):
            v = getattr(self, name)
            lower = 0 if name in ("lbfgs_steps", "steps", "checkpoint_every", "max_rollbacks") else 1
            if isinstance(v, bool) or not isinstance(v, int) or v < lower:
                raise ValueError(f"{name} must be an integer >= {lower}, got {v!r}")
            if v > MAX_COUNT:
                raise ValueError(f"{name} must be at most {MAX_COUNT:,}, got {v:,}")
        if self.progress is not None and not isinstance(self.progress, bool):
            raise TypeError(f"progress must be True, False or None (automatic), got {self.progress!r}")
        if self.steps + self.lbfgs_steps < 1:
            raise ValueError("steps + lbfgs_steps must be at least 1")
        if not (isinstance(self.lr, (int, float)) and not isinstance(self.lr, bool) and math.isfinite(self.lr)
                and self.lr > 0):
            raise ValueError(f"lr must be a positive number, got {self.lr!r}")
        if not isinstance(self.optimizer, str) or self.optimizer not in OPTIMIZERS:
            raise ValueError(f"optimizer must be one of {OPTIMIZERS}, got {self.optimizer!r}")
        if not (isinstance(self.engd_damping, (int, float)) and not isinstance(self.engd_damping, bool)
                and math.isfinite(self.engd_damping) and self.engd_damping > 0):
            raise ValueError(f"engd_damping must be a positive number, got {self.engd_damping!r}")
        if not isinstance(self.schedule, str) or self.schedule not in SCHEDULES:
            raise ValueError(f"schedule must be one of {SCHEDULES}, got {self.schedule!r}")
        if not (isinstance(self.lr_final_ratio, (int, float)) and not isinstance(self.lr_final_ratio, bool)
                and 0 < self.lr_final_ratio <= 1):
            raise ValueError(f"lr_final_ratio must lie in (0, 1], got {self.lr_final_ratio!r}")
        for name in ("checkpoint_path", "resume"):
            v = getattr(self, name)
            if v is not None:
                if not isinstance(v, (str, os.PathLike)) or not str(v):
                    raise TypeError(f"{name} must be a non-empty file path (str), got {type(v).__name__} {v!r}")
                setattr(self, name, str(v))
        if self.checkpoint_every and self.checkpoint_path is None:
            raise ValueError("checkpoint_every needs checkpoint_path (the file the checkpoints go to)")
        if not isinstance(self.fingerprint, str):
            raise TypeError("fingerprint must be a JSON string")

    def to_dict(self) -> dict:
        return asdict(self)

    def lr_factor(self, k: int) -> float:
        """The schedule's factor after ``k`` completed Adam steps (closed form, so a resumed run needs no
        scheduler state): 1 (constant), ratio^(k/steps) (exponential), cosine annealing to ``ratio``."""
        if self.schedule == "constant" or self.steps == 0:
            return 1.0
        r = self.lr_final_ratio
        if self.schedule == "exponential":
            return r ** (k / self.steps)
        return r + (1 - r) * (1 + math.cos(math.pi * k / self.steps)) / 2

    def _resume_keys(self) -> dict:
        keys = {k: getattr(self, k) for k in ("steps", "lr", "schedule", "lr_final_ratio", "lbfgs_steps",
                                               "optimizer", "resample_every")}
        if self.lbfgs_steps:
            keys["log_every"] = self.log_every  # it sets L-BFGS's chunks (max_iter), so it shapes the trajectory
        if self.optimizer == "engd":
            keys["engd_damping"] = self.engd_damping
        if self.fingerprint:
            keys.update(json.loads(self.fingerprint))
        return keys


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
    optimizer: str = "adam"  # adam | engd (Gauss–Newton / energy natural gradient: pinn, dgm, ritz)
    engd_damping: float = 1e-10
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
    checkpoint_every: int = 0  # write a checkpoint every k steps (0: only on Ctrl-C, when checkpoint_path is set)
    checkpoint_path: str | None = None  # checkpoint file (periodic, on Ctrl-C); None: no checkpoints
    resume: str | None = None  # continue from this checkpoint at its step
    max_rollbacks: int = 3  # divergence guard: rollbacks with the lr halved before training stops
    error_threshold: float = 0.1  # a final relative L2 error above this is reported as not converged
    threads: int | None = None  # torch CPU threads during the solve; None: ``cpu_threads()`` (no oversubscription)
    # on the CPU under glibc, freed memory stays in the process during the solve (dlpde.training.allocator): much
    # faster at d ≥ 10⁴; False: glibc's defaults (memory goes back to the system as soon as it is freed)
    keep_freed_memory: bool = True
    options: dict = field(default_factory=dict)  # solver-specific extras

    def __post_init__(self):
        for name in ("activation", "schedule", "derivative", "sampling", "device", "dtype", "optimizer"):
            v = getattr(self, name)
            if not isinstance(v, (str, torch.device)) or (name != "device" and not isinstance(v, str)):
                raise TypeError(f"{name} must be a string, got {type(v).__name__} {v!r}")
        if not isinstance(self.options, dict):
            raise TypeError(f"options must be a dict of solver-specific settings, got {type(self.options).__name__}")
        for name in ("batch", "boundary_batch", "width", "depth", "probes", "eval_points"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, int) or v < 1:
                raise ValueError(f"{name} must be a positive integer, got {v!r}")
            if v > LIMITS[name]:
                raise ValueError(f"{name} must be at most {LIMITS[name]:,}, got {v:,}")
        if isinstance(self.seed, bool) or not isinstance(self.seed, int) or not 0 <= self.seed <= MAX_SEED:
            raise ValueError(f"seed must be an integer in [0, {MAX_SEED}], got {self.seed!r}")
        if not (isinstance(self.boundary_weight, (int, float)) and not isinstance(self.boundary_weight, bool)
                and math.isfinite(self.boundary_weight) and self.boundary_weight >= 0):
            raise ValueError(f"boundary_weight must be a non-negative number, got {self.boundary_weight!r}")
        if not (isinstance(self.error_threshold, (int, float)) and not isinstance(self.error_threshold, bool)
                and math.isfinite(self.error_threshold) and self.error_threshold > 0):
            raise ValueError(f"error_threshold must be a positive number, got {self.error_threshold!r}")
        if not isinstance(self.keep_freed_memory, bool):
            raise TypeError(f"keep_freed_memory must be True or False, got {self.keep_freed_memory!r}")
        if self.threads is not None and (isinstance(self.threads, bool) or not isinstance(self.threads, int)
                                         or not 1 <= self.threads <= MAX_THREADS):
            # an upper bound: OpenMP allocates per thread, and 10⁹ threads ended the process without an exception
            raise ValueError(f"threads must be an integer from 1 to {MAX_THREADS} (or None: chosen from the free "
                             f"cores), got {self.threads!r}")
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
        if not re.fullmatch(r"cpu|cuda(:\d{1,4})?", dev):
            raise ValueError(f"device must be 'cpu' or 'cuda[:N]', got {dev!r}")
        if dev.startswith("cuda") and not torch.cuda.is_available():
            raise ValueError("device 'cuda' was asked for but no CUDA GPU is visible to torch; use --device cpu")
        if dev.startswith("cuda:") and int(dev[5:]) >= torch.cuda.device_count():
            raise ValueError(f"device {dev!r} does not exist: {torch.cuda.device_count()} GPU(s) are visible")

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

    def generator(self, offset: int = 0, *, rank: int | None = None) -> torch.Generator:
        """A generator on the training device seeded from ``seed`` (``offset`` gives independent streams).
        Under torchrun each process gets its own stream (``rank``: default this process's rank; rank 0 draws what
        a single process draws), see ``dlpde.distributed.stream_seed``."""
        from dlpde import distributed
        g = torch.Generator(device=self.torch_device)
        g.manual_seed(distributed.stream_seed(self.seed, offset, distributed.rank() if rank is None else rank))
        return g

    def train_config(self) -> TrainConfig:
        return TrainConfig(steps=self.steps, lr=self.lr, schedule=self.schedule, lr_final_ratio=self.lr_final_ratio,
                           lbfgs_steps=self.lbfgs_steps, optimizer=self.optimizer,
                           engd_damping=self.engd_damping, resample_every=self.resample_every,
                           log_every=self.log_every, eval_every=self.eval_every, progress=self.progress,
                           checkpoint_every=self.checkpoint_every, checkpoint_path=self.checkpoint_path,
                           resume=self.resume, max_rollbacks=self.max_rollbacks, fingerprint=self.fingerprint())

    def cpu_threads(self) -> int:
        """Torch's CPU threads for the solve: ``threads`` if set, else the cores this process may use, less the
        machine's 1-minute load average (other jobs' busy cores), shared among this node's torchrun processes;
        at least 1 and at most torch's own default. On a busy 2-core machine torch's default of 2 threads was
        measured 4–11× slower than 1 (issue 15), which is what this avoids."""
        if self.threads is not None:
            return self.threads
        cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
        busy = os.getloadavg()[0] if hasattr(os, "getloadavg") else 0.0
        local = max(1, int(os.environ.get("LOCAL_WORLD_SIZE", "1") or 1))
        return max(1, min(torch.get_num_threads(), int((cores - busy) // local)))

    def fingerprint(self) -> str:
        """JSON of the settings that shape the training trajectory; a resumed run must match its checkpoint's."""
        keys = ("batch", "boundary_batch", "width", "depth", "activation", "boundary_weight", "derivative", "probes",
                "sampling", "seed", "dtype")
        d = {k: getattr(self, k) for k in keys}
        d["options"] = self.options
        return json.dumps(d, sort_keys=True, default=repr)

    def to_dict(self) -> dict:
        return asdict(self)


# the solver settings the command line takes (dlpde solve, dlpde validate): argparse destinations = field names
CLI_SETTINGS = ("steps", "batch", "boundary_batch", "boundary_weight", "width", "depth", "activation", "lr",
                "lbfgs_steps", "optimizer", "derivative", "seed", "device", "dtype", "log_every", "checkpoint_every",
                "resume", "max_rollbacks", "progress", "threads")


def settings_from_args(args) -> dict:
    """The solver settings given on a command line (an argparse namespace); those left out are absent."""
    given = {k: getattr(args, k) for k in CLI_SETTINGS if getattr(args, k, None) is not None}
    if getattr(args, "compile", None) is not None:  # a solver option: auto | on | off
        given["compile"] = {"auto": "auto", "on": True, "off": False}[args.compile]
    return given
