"""The divergence guard: a non-finite loss or gradient rolls back to the last good state with the learning rate
halved, each event is a history row, and after ``max_rollbacks`` the run stops naming the step."""
import math

import pytest
import torch

import dlpde
from dlpde.solvers.pinn import StrongFormObjective
from dlpde.training import TrainConfig, Trainer

BASE = dict(steps=40, batch=64, boundary_batch=32, width=16, depth=2, log_every=10, eval_every=10, eval_points=500,
            lbfgs_steps=0, progress=False, seed=2)


def solve(**kw):
    return dlpde.solve("poisson-sin-Nd", dim=3, **kw)


def inject(monkeypatch, bad_steps, kind="loss", permanent=False):
    """Corrupt the objective's loss (kind='loss': NaN value) or its gradient only (kind='grad': the value stays
    finite, the gradient is NaN) at the first evaluation at each of ``bad_steps`` (every evaluation there when
    ``permanent``); records (step, samples) of every call."""
    original = StrongFormObjective.loss
    calls = []

    def loss(self, step, *, resample):
        total, terms = original(self, step, resample=resample)
        first = all(s != step for s, _ in calls)
        calls.append((step, self.x.clone()))
        if step in bad_steps and (first or permanent):
            if kind == "loss":
                total = total * math.nan
            else:
                w = next(self.model.parameters())
                z = (w - w.detach()).sum()  # 0 with gradient 1, so sqrt(z) has an infinite derivative
                total = total + 0.0 * torch.sqrt(z)
        return total, terms

    monkeypatch.setattr(StrongFormObjective, "loss", loss)
    return calls


def test_a_transient_nan_rolls_back_halves_the_lr_and_training_finishes(monkeypatch):
    reference = solve(**BASE)
    calls = inject(monkeypatch, {17})
    sol = solve(**BASE)
    assert sol.status == "ok" and sol.steps_done == 40
    rows = [r for r in sol.history.rows if r["phase"] == "rollback"]
    assert len(rows) == 1 and rows[0]["step"] == 17 and rows[0]["rollback_to"] == 10
    assert math.isnan(rows[0]["loss"])
    assert sol.extra["rollbacks"] == 1
    # training went on from step 10 with the same samples as the first time, at half the learning rate
    first_11, again_11 = [x for s, x in calls if s == 11]
    assert torch.equal(first_11, again_11)
    lr = {r["step"]: r["lr"] for r in reference.history.rows}
    after = [r for r in sol.history.rows if r["phase"] == "adam" and r["step"] > 10]
    assert after and all(r["lr"] == pytest.approx(0.5 * lr[r["step"]]) for r in after)
    assert all(math.isfinite(r["loss"]) for r in after)
    assert [r["loss"] for r in sol.history.rows[:1]] == [reference.history.rows[0]["loss"]]


def test_a_non_finite_gradient_with_a_finite_loss_is_caught(monkeypatch):
    inject(monkeypatch, {23}, kind="grad")
    sol = solve(**BASE)
    assert sol.status == "ok"
    rows = [r for r in sol.history.rows if r["phase"] == "rollback"]
    assert [(r["step"], r["rollback_to"]) for r in rows] == [(23, 20)]
    assert math.isfinite(rows[0]["loss"])  # the loss was fine, the gradient was not
    assert all(torch.isfinite(p).all() for p in sol.model.parameters())


def test_a_permanent_nan_stops_after_max_rollbacks_naming_the_step(monkeypatch):
    inject(monkeypatch, set(range(27, 1000)), permanent=True)
    sol = solve(**BASE, max_rollbacks=2)
    assert sol.status == "failed"
    assert "at step 27" in sol.message and "2 rollback(s)" in sol.message
    rows = [r for r in sol.history.rows if r["phase"] == "rollback"]
    assert len(rows) == 2 and rows[0]["step"] == 27 and all(r["rollback_to"] == 20 for r in rows)
    assert sol.steps_done == 20  # the network is the last good state
    assert all(torch.isfinite(p).all() for p in sol.model.parameters())


def test_without_rollbacks_the_first_nan_stops_training(monkeypatch):
    inject(monkeypatch, set(range(7, 1000)), permanent=True)
    sol = solve(**BASE, max_rollbacks=0)
    assert sol.status == "failed" and sol.message.startswith("loss became nan at step 7;")
    assert not [r for r in sol.history.rows if r["phase"] == "rollback"]


def test_the_guard_works_in_the_lbfgs_phase(monkeypatch):
    inject(monkeypatch, {60})  # the loss at the point the second L-BFGS chunk (steps 51-60) accepted
    sol = solve(**dict(BASE, lbfgs_steps=30))
    rows = [r for r in sol.history.rows if r["phase"] == "rollback"]
    assert sol.status == "ok" and len(rows) == 1 and (rows[0]["step"], rows[0]["rollback_to"]) == (60, 50)
    assert rows[0]["lr"] == 0.5  # L-BFGS's step length halved
    assert sol.history.rows[-1]["phase"] == "lbfgs" and math.isfinite(sol.history.rows[-1]["loss"])


class Quadratic:
    """loss = |p - 1|², NaN the first time each listed step is reached."""

    def __init__(self, p, bad):
        self.p, self.bad = p, set(bad)

    def loss(self, step, *, resample):
        value = ((self.p - 1) ** 2).sum()
        if step in self.bad:
            self.bad.discard(step)
            return value * math.nan, {}
        return value, {}


def test_trainer_guard_without_a_solver():
    p = torch.nn.Parameter(torch.zeros(3))
    result = Trainer(TrainConfig(steps=30, lr=0.1, log_every=5, progress=False)).fit([p], Quadratic(p, {12}))
    assert result.status == "ok" and result.rollbacks == 1 and result.steps_done == 30
    phases = [(r["phase"], r["step"]) for r in result.history.rows]
    assert phases[:3] == [("adam", 5), ("adam", 10), ("rollback", 12)]
    with pytest.raises(ValueError, match="max_rollbacks"):
        TrainConfig(max_rollbacks=-1)
