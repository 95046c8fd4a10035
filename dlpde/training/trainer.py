"""The one training loop every solver shares.

Adam with a learning-rate schedule, then an optional L-BFGS phase on a fixed batch; progress on a terminal;
a history row every ``log_every`` steps; errors against the reference every ``eval_every`` steps.

No host sync in the hot loop: each step leaves its loss and a flag "every gradient is finite" on the device; they
are read in one transfer per log point.

Divergence guard: the state that passed the last check (parameters, optimizer, the objective's random state and
samples) is kept in memory at each log point and checkpoint. A non-finite loss or gradient rolls training back to
it and halves the learning rate, at most ``max_rollbacks`` times; each event is a history row with phase
"rollback" (``step`` the step that failed, ``rollback_to`` the step returned to). One failure more stops training
with a message naming the step; the network is then the last good state.

Checkpoints (``dlpde.training.checkpoint``): every ``checkpoint_every`` steps the last good state is written to
``checkpoint_path`` (atomically); ``resume`` continues from such a file at the same step, bit for bit on the CPU.
Ctrl-C writes the last good state to ``checkpoint_path`` and returns with status "interrupted"; SIGTERM (sent by
schedulers before they kill a job) does the same with status "terminated" (the CLI then exits 143, Ctrl-C 130).

Several processes (``torchrun``, ``dlpde.distributed``): the loss goes through ``DistributedDataParallel`` (the
gradients are averaged over the processes), the logged losses are averaged, and only rank 0 evaluates, logs and
writes checkpoints.
"""
from __future__ import annotations

import json
import logging
import math
import signal
import threading
import time
from dataclasses import dataclass
from typing import Callable, Protocol

import torch
from torch import nn

from dlpde import distributed
from dlpde.settings import TrainConfig
from dlpde.training import checkpoint as ckpt
from dlpde.training.history import History
from dlpde.training.progress import Progress

log = logging.getLogger(__name__)
ADDED_RESUME_KEYS = ("log_every", "engd_damping")  # in the fingerprint since 2026-12-07: older checkpoints lack them
Tensor = torch.Tensor


class Terminated(KeyboardInterrupt):
    """SIGTERM (what Slurm, Kubernetes and most schedulers send before killing a job), raised in the main thread
    while ``fit`` runs so that it takes the Ctrl-C path: the last good state is checkpointed."""


def _on_sigterm() -> Callable[[], None]:
    """Turn SIGTERM into ``Terminated`` while training; returns the function that restores the old handler.
    Signal handlers can only be set from the main thread; elsewhere nothing changes."""
    if threading.current_thread() is not threading.main_thread():
        return lambda: None

    def raise_terminated(signum, frame):  # noqa: ARG001
        raise Terminated()
    old = signal.signal(signal.SIGTERM, raise_terminated)
    return lambda: signal.signal(signal.SIGTERM, old)


class Objective(Protocol):
    """``loss`` is required. Optionally ``state_dict()`` / ``load_state_dict(state)``: the objective's random
    state (generator states as uint8 tensors) and current samples, as a tree of tensors, numbers and strings;
    ``load_state_dict`` gets the tensors on the CPU and moves them where they belong. Without these methods the
    Trainer saves the objective's ``torch.Generator`` and tensor attributes (``checkpoint.sampling_state``).
    Optionally ``begin_lbfgs()``: called once when the L-BFGS phase starts (or is resumed), before it draws its
    fixed batch, e.g. to make that batch larger than Adam's."""

    def loss(self, step: int, *, resample: bool) -> tuple[Tensor, dict[str, Tensor]]:
        """The total loss and its named terms (scalar tensors) at ``step``; new samples when ``resample``."""


@dataclass
class TrainResult:
    history: History
    status: str  # "ok" | "failed" | "interrupted" | "terminated"
    message: str
    wall_time_s: float
    steps_done: int
    checkpoint: str = ""  # the last checkpoint written ("" when none)
    rollbacks: int = 0


def grads_finite(params: list[Tensor]) -> Tensor:
    """A 0-d bool tensor on the parameters' device: every gradient entry is finite (no host sync)."""
    grads = [p.grad for p in params if p.grad is not None and p.grad.numel()]
    if not grads:
        return torch.ones((), dtype=torch.bool, device=params[0].device if params else "cpu")
    if hasattr(torch, "_foreach_norm"):
        norms = torch._foreach_norm(grads, float("inf"))
    else:  # pragma: no cover - old torch
        norms = [g.abs().max() for g in grads]
    return torch.isfinite(torch.stack([n.to(norms[0].dtype) for n in norms])).all()


class _LossModule(nn.Module):
    """The objective's loss as a module holding the trained parameters, so that DistributedDataParallel can
    wrap it (DDP averages the gradients of the parameters its forward used)."""

    def __init__(self, objective, params: list[Tensor]):
        super().__init__()
        self.objective = objective
        self.params = nn.ParameterList(params)

    def forward(self, step: int, resample: bool):
        return self.objective.loss(step, resample=resample)


class Trainer:
    def __init__(self, config: TrainConfig, *, evaluate: Callable[[], dict[str, float]] | None = None,
                 label: str = "train"):
        self.config, self.evaluate, self.label = config, evaluate, label

    # -- the loop -------------------------------------------------------------------------------------------
    def fit(self, params: list[Tensor], objective: Objective) -> TrainResult:
        c = self.config
        params = list(params)
        if not params:
            raise ValueError("fit needs at least one parameter tensor to train")
        self._params, self._objective = params, objective
        self._device = params[0].device
        self._rank, self._world = distributed.rank(), distributed.world_size()
        self._main = self._rank == 0
        self._history = History()
        self._pending: list[tuple[int, Tensor, Tensor]] = []
        self._terms: dict[str, Tensor] = {}
        self._lr_scale, self._lbfgs_lr, self._rollbacks = 1.0, 1.0, 0
        self._first_failure: tuple[int, str] | None = None
        self._written, self._written_step = "", -1
        self._snap: dict | None = None
        self._start = time.perf_counter()
        if c.checkpoint_path is not None and self._main:
            ckpt.check_target(c.checkpoint_path)
        self._loss_fn = self._distributed_loss() if self._world > 1 else objective.loss
        adam = self._first_optimizer(params, objective)
        step, phase, lbfgs_state, done = 0, "adam", None, False
        if c.resume is not None:
            step, phase, lbfgs_state, done = self._resume(c.resume, adam)
        self._progress = Progress(c.steps + c.lbfgs_steps, self.label, c.progress if self._main else False)
        status, message = "ok", ""
        self._step = step
        restore_sigterm = _on_sigterm()
        try:
            if phase == "adam":
                self._snapshot(step, "adam", adam)
                status, message, step = self._adam(adam, step)
                lbfgs_state, done = None, False
            if status == "ok" and c.lbfgs_steps and not done:
                status, message, step = self._lbfgs(step, lbfgs_state)
        except KeyboardInterrupt as e:
            status = "terminated" if isinstance(e, Terminated) else "interrupted"
            message = self._interrupted(status)
        finally:
            restore_sigterm()
        self._progress.close()
        wall = time.perf_counter() - self._start
        if status != "ok" and self._main:
            # a stop that was asked for (Ctrl-C, SIGTERM) is no warning: the CLI prints its message once
            (log.warning if status == "failed" else log.info)("%s stopped: %s", self.label, message)
        steps_done = self._snap["step"] if status == "failed" and self._snap else step
        return TrainResult(self._history, status, message, wall, steps_done, self._written, self._rollbacks)

    def _first_optimizer(self, params: list[Tensor], objective: Objective) -> torch.optim.Optimizer:
        """Adam, or ENGD (``dlpde.training.engd``) on the objective's residual vector or energy."""
        c = self.config
        if c.optimizer == "adam":
            return torch.optim.Adam(params, lr=c.lr, fused=True)  # one kernel for all parameters
        if self._world > 1:
            raise ValueError("optimizer='engd' runs in one process only (its Gram matrix is not reduced across "
                             "processes); run without torchrun or use optimizer='adam'")
        from dlpde.training.engd import ENGD
        if hasattr(objective, "gram_blocks"):  # least squares (PINN, DGM, general PDEs) or an energy (Deep Ritz)
            return ENGD(params, objective.gram_blocks, objective.current_loss,
                        least_squares=objective.least_squares, damping=c.engd_damping)
        raise ValueError(f"optimizer='engd' needs a least-squares loss or an energy (pinn, dgm, ritz); "
                         f"{type(objective).__name__} has neither; use optimizer='adam'")

    def _adam(self, adam, step: int) -> tuple[str, str, int]:
        """The first phase: Adam steps, or ENGD steps (no gradient needed: the step builds its own Jacobian)."""
        c, params = self.config, self._params
        engd = c.optimizer == "engd"
        while step < c.steps:
            step += 1
            self._step = step
            for group in adam.param_groups:
                group["lr"] = self._lr(step - 1)
            adam.zero_grad(set_to_none=True)
            loss, terms = self._loss_fn(step, resample=(step - 1) % c.resample_every == 0)
            if engd:
                finite = torch.isfinite(loss.detach())
            else:
                loss.backward()
                finite = grads_finite(params)
            adam.step()
            self._pending.append((step, loss.detach(), finite))
            self._terms = {k: v.detach() if isinstance(v, Tensor) else v for k, v in terms.items()}
            due = self._checkpoint_due(step - 1, step)
            if step % c.log_every == 0 or step == c.steps or due:
                bad = self._flush(c.optimizer, self._lr(step) if not engd else adam.last_step.get("eta", math.nan))
                if bad:
                    failure = self._rollback(bad, adam, "adam")
                    if failure:
                        return "failed", failure, step
                    step = self._snap["step"]
                    continue
                self._snapshot(step, "adam", adam)
                if due:
                    self._write_checkpoint()
        return "ok", "", step

    def _lr(self, k: int) -> float:
        return self.config.lr * self.config.lr_factor(k) * self._lr_scale

    def _checkpoint_due(self, before: int, after: int) -> bool:
        k = self.config.checkpoint_every
        return bool(k) and after // k > before // k

    def _distributed_loss(self):
        if not all(isinstance(p, nn.Parameter) for p in self._params):
            raise TypeError("distributed training needs the parameters as nn.Parameter objects "
                            "(pass list(model.parameters()))")
        dev = self._device
        ddp = nn.parallel.DistributedDataParallel(
            _LossModule(self._objective, self._params), device_ids=[dev.index] if dev.type == "cuda" else None,
            broadcast_buffers=False)

        def loss(step: int, *, resample: bool):
            return ddp(step, resample)
        return loss

    # -- log points -----------------------------------------------------------------------------------------
    def _flush(self, phase: str, lr: float) -> tuple[int, str, float] | None:
        """Move the pending losses and gradient flags to the host in one transfer (averaged over the processes)
        and append a history row; return (step, what, loss) for the first step whose loss or gradient is not
        finite, None when all is well."""
        c, pending = self.config, self._pending
        if not pending:
            return None
        n = len(pending)
        losses = torch.stack([p[1].reshape(()) for p in pending])
        dtype = losses.dtype if losses.dtype.is_floating_point else torch.float64
        names = list(self._terms)
        parts = [losses.to(dtype), torch.stack([p[2] for p in pending]).to(dtype)]
        if names:
            parts.append(torch.stack([torch.as_tensor(self._terms[k], device=losses.device).detach()
                                      .reshape(()).to(dtype) for k in names]))
        packed = distributed.average_(torch.cat(parts)).cpu()
        losses, flags, terms = packed[:n], packed[n:2 * n], packed[2 * n:]
        good = torch.isfinite(losses) & (flags == 1)
        if not bool(good.all()):
            i = int((~good).nonzero()[0])
            value = float(losses[i])
            what = f"loss became {value}" if not math.isfinite(value) else \
                f"a gradient became non-finite (loss {value:.6g})"
            step = pending[i][0]
            pending.clear()
            return step, what, value
        s = pending[-1][0]
        row = {"step": s, "phase": phase, "loss": float(losses[-1]), "seconds": time.perf_counter() - self._start,
               "lr": lr}
        row.update({k: float(v) for k, v in zip(names, terms)})
        if (self.evaluate is not None and self._main
                and (s % c.eval_every == 0 or s == c.steps + c.lbfgs_steps)):
            row.update(self.evaluate())
        self._history.append(**row)
        if self._main:
            log.info("%s step %d loss %.3e%s", self.label, s, row["loss"],
                     "".join(f" {k} {v:.3e}" for k, v in row.items() if k.startswith("rel_")))
        self._progress.update(s, f"loss {row['loss']:.2e}"
                              + "".join(f", {k} {v:.2e}" for k, v in row.items() if k.startswith("rel_")))
        pending.clear()
        return None

    # -- the guard ------------------------------------------------------------------------------------------
    def _snapshot(self, step: int, phase: str, optimizer, done: bool = False) -> None:
        """Keep the current state in memory (on its device): what a rollback or a checkpoint restores."""
        self._snap = {
            "step": step, "phase": phase, "done": done,
            "params": [p.detach().clone() for p in self._params],
            "optimizer": ckpt.clone_tree(optimizer.state_dict()),
            "objective": ckpt.clone_tree(ckpt.objective_state(self._objective)),
            "elapsed_s": time.perf_counter() - self._start,
        }

    def _restore(self, optimizer) -> None:
        snap = self._snap
        with torch.no_grad():
            for p, saved in zip(self._params, snap["params"]):
                p.copy_(saved)
        optimizer.load_state_dict(ckpt.clone_tree(snap["optimizer"]))
        ckpt.load_objective_state(self._objective, ckpt.clone_tree(snap["objective"]), self._device)

    def _rollback(self, bad: tuple[int, str, float], optimizer, phase: str) -> str:
        """Roll back to the last good state and halve the learning rate; return a failure message instead when
        the rollbacks are used up."""
        c = self.config
        step, what, value = bad
        if self._first_failure is None:
            self._first_failure = (step, what)
        self._restore(optimizer)
        if self._rollbacks >= c.max_rollbacks:
            first_step, first_what = self._first_failure
            msg = f"{what} at step {step}"
            if self._rollbacks:
                msg += (f" after {self._rollbacks} rollback(s) to earlier steps with the learning rate halved each "
                        f"time (first: {first_what} at step {first_step})")
            return msg + "; lower --lr or use --dtype float64"
        self._rollbacks += 1
        if phase == "adam":
            self._lr_scale *= 0.5
            lr = self._lr(self._snap["step"])
        else:
            self._lbfgs_lr *= 0.5
            lr = self._lbfgs_lr
            for group in optimizer.param_groups:
                group["lr"] = lr
        self._history.append(step=step, phase="rollback", loss=value, rollback_to=self._snap["step"], lr=lr,
                             seconds=time.perf_counter() - self._start)
        if self._main:
            log.warning("%s: %s at step %d; rolled back to step %d with the learning rate halved (%d of %d)",
                        self.label, what, step, self._snap["step"], self._rollbacks, c.max_rollbacks)
        return ""

    # -- L-BFGS ---------------------------------------------------------------------------------------------
    def _lbfgs(self, step: int, resume_state: dict | None) -> tuple[str, str, int]:
        """L-BFGS with a strong-Wolfe line search on one fixed batch (fresh at the start of the phase), run in
        chunks of ``log_every`` iterations; a history row after each chunk."""
        c = self.config
        begin = getattr(self._objective, "begin_lbfgs", None)
        if begin is not None:
            begin()
        optimizer = torch.optim.LBFGS(self._params, lr=self._lbfgs_lr, max_iter=c.log_every, history_size=50,
                                      tolerance_grad=1e-12, tolerance_change=1e-14, line_search_fn="strong_wolfe")
        if resume_state is not None:
            optimizer.load_state_dict(resume_state)
            for group in optimizer.param_groups:
                group["lr"] = self._lbfgs_lr
        else:
            self._objective.loss(step, resample=True)  # draw the batch L-BFGS keeps
            self._snapshot(step, "lbfgs", optimizer)
        while step - c.steps < c.lbfgs_steps:
            chunk = min(c.log_every, c.lbfgs_steps - (step - c.steps))
            self._step = step + 1
            optimizer.param_groups[0]["max_iter"] = chunk
            optimizer.param_groups[0]["max_eval"] = chunk * 5 // 4 + 1
            at = step

            def closure():
                optimizer.zero_grad(set_to_none=True)
                loss, _ = self._loss_fn(at, resample=False)
                loss.backward()
                return distributed.average_(loss.detach().clone())

            st = optimizer.state[optimizer._params[0]]
            before, evals_before = st.get("n_iter", 0), st.get("func_evals", 0)
            optimizer.step(closure)
            st = optimizer.state[optimizer._params[0]]
            iters, evals = st.get("n_iter", 0) - before, st.get("func_evals", 0) - evals_before
            step += chunk
            loss, terms = self._objective.loss(step, resample=False)  # the loss at the accepted point
            self._pending.append((step, loss.detach(), torch.ones((), dtype=torch.bool, device=loss.device)))
            self._terms = {k: v.detach() if isinstance(v, Tensor) else v for k, v in terms.items()}
            bad = self._flush("lbfgs", self._lbfgs_lr)
            if bad:
                failure = self._rollback(bad, optimizer, "lbfgs")
                if failure:
                    return "failed", failure, step
                step = self._snap["step"]
                continue
            # stopped short of its iterations without using up its evaluations: the gradient or the change fell
            # below tolerance, no further progress is possible on this batch
            converged = iters < chunk and evals < optimizer.param_groups[0]["max_eval"]
            self._snapshot(step, "lbfgs", optimizer, done=converged)
            if self._checkpoint_due(step - chunk, step) or (converged and c.checkpoint_every):
                self._write_checkpoint()
            if converged:
                log.info("L-BFGS stopped after %d iterations: no further progress", step - chunk + iters - c.steps)
                break
        return "ok", "", step

    # -- checkpoints ----------------------------------------------------------------------------------------
    def _fingerprint(self) -> dict:
        return json.loads(json.dumps(self.config._resume_keys(), default=repr))

    def _write_checkpoint(self) -> str:
        """Write the last good state to ``checkpoint_path`` (rank 0; the objectives' states of every process are
        gathered to it). Returns the path ("" on other ranks)."""
        c, snap = self.config, self._snap
        local = ckpt.map_tensors(snap["objective"], lambda t: t.detach().cpu())
        objectives = distributed.gather_to_main(local)
        if not self._main:
            return ""
        state = {k: snap[k] for k in ("step", "phase", "done", "params", "optimizer", "elapsed_s")}
        state.update(objective=objectives, lr_scale=self._lr_scale, lbfgs_lr=self._lbfgs_lr,
                     rollbacks=self._rollbacks, first_failure=list(self._first_failure or []),
                     fingerprint=json.dumps(self._fingerprint(), sort_keys=True))
        self._written = ckpt.write(c.checkpoint_path, state, self._history.rows, label=self.label)
        self._written_step = snap["step"]
        log.info("%s: checkpoint of step %d written to %s", self.label, snap["step"], self._written)
        return self._written

    def _interrupted(self, how: str) -> str:
        """The message of a run stopped by Ctrl-C ("interrupted") or SIGTERM ("terminated"), after writing the last
        good state to the checkpoint: it names the step that was running and the step the checkpoint holds."""
        c = self.config
        msg = f"{how} by {'SIGTERM' if how == 'terminated' else 'Ctrl-C'} during step {self._step}"
        if c.checkpoint_path is None or self._snap is None:
            return msg + "; no checkpoint was kept (set checkpoint_path to keep one)"
        if self._world > 1:  # the other processes cannot be asked for their state any more
            if self._written:
                return msg + (f"; the last checkpoint (step {self._written_step}) is {self._written}; resume with "
                              f"--resume {self._written}")
            return msg + "; no checkpoint had been written yet"
        try:
            path = self._write_checkpoint()
        except (OSError, ValueError) as e:
            return msg + f"; the checkpoint could not be written: {e}"
        return msg + f"; checkpoint of step {self._snap['step']} saved to {path} (resume with --resume {path})"

    def _resume(self, path: str, adam) -> tuple[int, str, dict | None, bool]:
        """Restore parameters, optimizer, objective state, history and guard state from a checkpoint."""
        state, rows, attrs = ckpt.read(path)
        if attrs.get("label") != self.label:
            raise ValueError(f"the checkpoint {path!r} was written for {attrs.get('label')!r}, not for "
                             f"{self.label!r}; resume with the same case and solver")
        try:
            old = json.loads(state.get("fingerprint") or "{}")
        except ValueError:
            raise ValueError(f"{path!r} is a damaged dlpde checkpoint (unreadable settings)") from None
        new = self._fingerprint()
        # keys added to the fingerprint later are compared only where the checkpoint has them
        diff = sorted(k for k in set(old) | set(new) if old.get(k) != new.get(k)
                      and (k in old or k not in ADDED_RESUME_KEYS))
        if diff:
            what = ", ".join(f"{k}={old.get(k)!r} (now {new.get(k)!r})" for k in diff)
            raise ValueError(f"the checkpoint {path!r} was written with other settings: {what}; resume with the "
                             "settings it was written with")
        objectives = state.get("objective") or [None]
        if len(objectives) != self._world:
            raise ValueError(f"the checkpoint {path!r} was written by {len(objectives)} process(es); resume it with "
                             f"as many (this run has {self._world})")
        saved = state["params"]
        if len(saved) != len(self._params) or any(
                s.shape != p.shape or s.dtype != p.dtype for s, p in zip(saved, self._params)):
            raise ValueError(f"the checkpoint {path!r} holds a network of another shape or dtype than this run's; "
                             "resume with the same width, depth, dimension and dtype")
        phase = state["phase"]
        if phase not in ("adam", "lbfgs"):
            raise ValueError(f"{path!r} is a damaged dlpde checkpoint (unknown phase {phase!r})")
        with torch.no_grad():
            for p, s in zip(self._params, saved):
                p.copy_(s)
        try:
            if phase == "adam":
                adam.load_state_dict(state["optimizer"])
            ckpt.load_objective_state(self._objective, objectives[self._rank], self._device)
        except (KeyError, RuntimeError, TypeError) as e:
            raise ValueError(f"{path!r} does not fit this run's optimizer or objective ({e})") from None
        self._history = History(rows)
        self._lr_scale = float(state.get("lr_scale", 1.0))
        self._lbfgs_lr = float(state.get("lbfgs_lr", 1.0))
        self._rollbacks = int(state.get("rollbacks", 0))
        first = state.get("first_failure") or []
        self._first_failure = (int(first[0]), str(first[1])) if len(first) == 2 else None
        self._start = time.perf_counter() - float(state.get("elapsed_s", 0.0))
        step = int(state["step"])
        self._snap = {"step": step, "phase": phase, "done": bool(state.get("done", False)),
                      "params": [p.detach().clone() for p in self._params],
                      "optimizer": ckpt.clone_tree(state["optimizer"]),
                      "objective": objectives[self._rank],
                      "elapsed_s": float(state.get("elapsed_s", 0.0))}
        if self._main:
            log.info("%s: resumed from %s at step %d (%s)", self.label, path, step, phase)
        lbfgs_state = state["optimizer"] if phase == "lbfgs" else None
        return step, phase, lbfgs_state, bool(state.get("done", False))
