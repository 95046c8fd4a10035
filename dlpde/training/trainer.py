"""The one training loop every solver shares.

Adam with a learning-rate schedule, then an optional L-BFGS phase on a fixed batch; progress on a terminal;
a history row every ``log_every`` steps; errors against the reference every ``eval_every`` steps; a guard that
stops at the first non-finite loss and names its step. The loop never calls ``.item()`` between log points:
losses stay on the device and are read in one transfer per ``log_every`` steps.
"""
from __future__ import annotations

import logging
import math
import time
from dataclasses import asdict, dataclass
from typing import Callable, Protocol

import torch

from dlpde.training.history import History
from dlpde.training.progress import Progress

log = logging.getLogger(__name__)
Tensor = torch.Tensor
SCHEDULES = ("cosine", "exponential", "constant")


class Objective(Protocol):
    def loss(self, step: int, *, resample: bool) -> tuple[Tensor, dict[str, Tensor]]:
        """The total loss and its named terms (scalar tensors) at ``step``; new samples when ``resample``."""


@dataclass
class TrainConfig:
    steps: int = 2000
    lr: float = 1e-3
    schedule: str = "cosine"
    lr_final_ratio: float = 1e-2  # final lr = lr * ratio (cosine, exponential)
    lbfgs_steps: int = 0
    resample_every: int = 1
    log_every: int = 100
    eval_every: int = 500
    progress: bool | None = None  # None: only on a terminal

    def __post_init__(self):
        for name in ("steps", "lbfgs_steps", "resample_every", "log_every", "eval_every"):
            v = getattr(self, name)
            lower = 0 if name in ("lbfgs_steps", "steps") else 1
            if isinstance(v, bool) or not isinstance(v, int) or v < lower:
                raise ValueError(f"{name} must be an integer >= {lower}, got {v!r}")
        if self.steps + self.lbfgs_steps < 1:
            raise ValueError("steps + lbfgs_steps must be at least 1")
        if not (isinstance(self.lr, (int, float)) and math.isfinite(self.lr) and self.lr > 0):
            raise ValueError(f"lr must be a positive number, got {self.lr!r}")
        if self.schedule not in SCHEDULES:
            raise ValueError(f"schedule must be one of {SCHEDULES}, got {self.schedule!r}")
        if not 0 < self.lr_final_ratio <= 1:
            raise ValueError(f"lr_final_ratio must lie in (0, 1], got {self.lr_final_ratio}")

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass
class TrainResult:
    history: History
    status: str  # "ok" | "failed"
    message: str
    wall_time_s: float
    steps_done: int


class Trainer:
    def __init__(self, config: TrainConfig, *, evaluate: Callable[[], dict[str, float]] | None = None,
                 label: str = "train"):
        self.config, self.evaluate, self.label = config, evaluate, label

    def _scheduler(self, optimizer):
        c = self.config
        if c.schedule == "constant" or c.steps == 0:
            return torch.optim.lr_scheduler.LambdaLR(optimizer, lambda s: 1.0)
        if c.schedule == "exponential":
            gamma = c.lr_final_ratio ** (1.0 / max(c.steps, 1))
            return torch.optim.lr_scheduler.ExponentialLR(optimizer, gamma)
        return torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=c.steps, eta_min=c.lr * c.lr_final_ratio)

    def fit(self, params: list[Tensor], objective: Objective) -> TrainResult:
        c = self.config
        self._history = History()
        self._start = time.perf_counter()
        self._progress = Progress(c.steps + c.lbfgs_steps, self.label, c.progress)
        self._pending: list[tuple[int, Tensor, dict[str, Tensor]]] = []
        status, message, step = "ok", "", 0
        optimizer = torch.optim.Adam(params, lr=c.lr)
        scheduler = self._scheduler(optimizer)
        try:
            for step in range(1, c.steps + 1):
                optimizer.zero_grad(set_to_none=True)
                loss, terms = objective.loss(step, resample=(step - 1) % c.resample_every == 0)
                loss.backward()
                optimizer.step()
                scheduler.step()
                self._pending.append((step, loss.detach(), terms))
                if step % c.log_every == 0 or step == c.steps:
                    message = self._flush("adam", scheduler.get_last_lr()[0])
                    if message:
                        status = "failed"
                        break
            if status == "ok" and c.lbfgs_steps:
                message, step = self._lbfgs(params, objective, step)
                status = "failed" if message else "ok"
        except KeyboardInterrupt:
            status, message = "failed", f"interrupted at step {step}"
        self._progress.close()
        wall = time.perf_counter() - self._start
        if status == "failed":
            log.warning("%s stopped: %s", self.label, message)
        return TrainResult(self._history, status, message, wall, step)

    def _flush(self, phase: str, lr: float) -> str:
        """Move the pending losses to the host in one transfer, append a history row; return a failure
        message naming the first step whose loss is not finite (empty string when all is well)."""
        c, pending = self.config, self._pending
        if not pending:
            return ""
        losses = torch.stack([p[1] for p in pending]).cpu()
        bad = (~torch.isfinite(losses)).nonzero()
        if len(bad):
            i = int(bad[0])
            return f"loss became {losses[i].item()} at step {pending[i][0]}; lower --lr or use --dtype float64"
        s, _, terms = pending[-1]
        row = {"step": s, "phase": phase, "loss": float(losses[-1]), "seconds": time.perf_counter() - self._start,
               "lr": lr}
        row.update({k: float(v.detach()) for k, v in terms.items()})
        if self.evaluate is not None and (s % c.eval_every == 0 or s == c.steps + c.lbfgs_steps):
            row.update(self.evaluate())
        self._history.append(**row)
        log.info("%s step %d loss %.3e%s", self.label, s, row["loss"],
                 "".join(f" {k} {v:.3e}" for k, v in row.items() if k.startswith("rel_")))
        self._progress.update(s, f"loss {row['loss']:.2e}")
        pending.clear()
        return ""

    def _lbfgs(self, params, objective: Objective, step: int) -> tuple[str, int]:
        """L-BFGS with a strong-Wolfe line search on one fixed batch (fresh at the start of the phase), run in
        chunks of ``log_every`` iterations; a history row after each chunk."""
        c = self.config
        optimizer = torch.optim.LBFGS(params, lr=1.0, max_iter=c.log_every, history_size=50,
                                      tolerance_grad=1e-12, tolerance_change=1e-14, line_search_fn="strong_wolfe")
        objective.loss(step, resample=True)  # draw the batch L-BFGS keeps
        done = 0
        while done < c.lbfgs_steps:
            chunk = min(c.log_every, c.lbfgs_steps - done)
            optimizer.param_groups[0]["max_iter"] = chunk
            optimizer.param_groups[0]["max_eval"] = chunk * 5 // 4 + 1
            last: dict = {}

            def closure():
                optimizer.zero_grad(set_to_none=True)
                loss, terms = objective.loss(step, resample=False)
                loss.backward()
                last["loss"], last["terms"] = loss.detach(), terms
                return loss

            before = optimizer.state[optimizer._params[0]].get("n_iter", 0)
            optimizer.step(closure)
            iters = optimizer.state[optimizer._params[0]].get("n_iter", 0) - before
            done += chunk
            step += chunk
            loss, terms = objective.loss(step, resample=False)  # the loss at the accepted point
            self._pending.append((step, loss.detach(), {k: v.detach() for k, v in terms.items()}))
            message = self._flush("lbfgs", 1.0)
            if message:
                return message, step
            if iters < chunk:  # converged (no further progress possible on this batch)
                log.info("L-BFGS stopped after %d iterations: no further progress", done - chunk + iters)
                break
        return "", step
