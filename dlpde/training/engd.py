"""Energy natural gradient descent (ENGD) for least-squares losses: a Gauss–Newton step in sample space.

Müller & Zeinhofer, "Achieving high accuracy with PINNs via energy natural gradient descent", ICML 2023. For a
loss L(θ) = ‖r(θ)‖², r the weighted residuals at all collocation and condition points (``residual_vector()`` of
the strong-form objectives, so that L equals their loss), the Gram matrix is G = JᵀJ with J = ∂r/∂θ (M × P).
For a linear PDE this is the paper's energy Gram matrix; for a nonlinear one it is the Gauss–Newton matrix of
the linearised residual. The step direction

    δ = (JᵀJ + λI)⁻¹ Jᵀ r = Jᵀ (JJᵀ + λI)⁻¹ r        (Woodbury; the second form when M ≤ P)

is solved in sample space when there are fewer residuals than parameters, in parameter space otherwise, with a
Cholesky factorisation (least squares if that fails). λ = ``damping`` × the mean diagonal of the Gram (relative,
so one default serves every scale of residual). θ ← θ − ηδ with η from a line search over η = 2⁰, 2⁻¹, …, 2⁻ᴷ on
the same points, as in the paper. The damping adapts as in Levenberg–Marquardt: ×100 when no η lowers the loss
(θ then stays), ×10 when the best η is below ¼, ÷10 after a full step (η = 1).

J is built by reverse mode: its rows are vector–Jacobian products with unit vectors, batched over ``chunk`` rows
at a time (``torch.autograd.grad(..., is_grads_batched=True)``, a vmap over the backward pass). This works on any
objective, network and derivative method the solvers use, hard constraints included, at the price of M
backward passes' worth of arithmetic per step; so ENGD is meant for small networks and batches (hundreds to a
few thousand of each), where it reaches errors that Adam does not (README, "Optimizers"). float64 is
recommended: the Gram's condition number grows as the residual falls.
"""
from __future__ import annotations

import math
from typing import Callable, Iterable

import torch

Tensor = torch.Tensor
MIN_DAMPING = 1e-14


def jacobian_rows(r: Tensor, params: list[Tensor], *, chunk: int = 256) -> Tensor:
    """J = ∂r/∂θ as an (M, P) matrix (parameters flattened in order), from the graph of ``r`` (kept)."""
    m = r.numel()
    p_total = sum(p.numel() for p in params)
    out = r.new_zeros(m, p_total)
    flat = r.reshape(-1)
    for start in range(0, m, chunk):
        stop = min(start + chunk, m)
        eye = torch.zeros(stop - start, m, dtype=r.dtype, device=r.device)
        eye[torch.arange(stop - start), torch.arange(start, stop)] = 1
        grads = torch.autograd.grad(flat, params, grad_outputs=eye, is_grads_batched=True, retain_graph=True,
                                    allow_unused=True)
        col = 0
        for p, g in zip(params, grads):
            n = p.numel()
            if g is not None:
                out[start:stop, col:col + n] = g.reshape(stop - start, n)
            col += n
    return out


def gauss_newton_direction(J: Tensor, r: Tensor, damping: float) -> Tensor:
    """δ = (JᵀJ + λI)⁻¹Jᵀr with λ = damping × mean diagonal of the Gram; in sample space when M ≤ P."""
    m, p = J.shape
    sample_space = m <= p
    K, rhs = (J @ J.T, r.reshape(-1, 1)) if sample_space else (J.T @ J, J.T @ r.reshape(-1, 1))
    K.diagonal().add_(damping * max(float(K.diagonal().mean()), torch.finfo(J.dtype).tiny))
    factor, info = torch.linalg.cholesky_ex(K)
    if int(info) == 0:
        y = torch.cholesky_solve(rhs, factor)
    else:  # not positive definite in floating point: least squares
        y = torch.linalg.lstsq(K, rhs).solution
    return (J.T @ y).reshape(-1) if sample_space else y.reshape(-1)


class ENGD(torch.optim.Optimizer):
    """ENGD / Gauss–Newton with a grid line search (see the module docstring).

    ``residuals()``: the weighted residual vector at the objective's current points (loss = its squared norm);
    ``step()`` linearises it at the current parameters, solves for δ and takes the best step on the grid. The
    learning rate of the param group is not used (the line search chooses the step)."""

    def __init__(self, params: Iterable[Tensor], residuals: Callable[[], Tensor], *, damping: float = 1e-10,
                 halvings: int = 20, chunk: int = 256):
        if not (isinstance(damping, (int, float)) and math.isfinite(damping) and damping > 0):
            raise ValueError(f"engd_damping must be a positive number, got {damping!r}")
        super().__init__(params, dict(lr=1.0, damping=float(damping)))
        self.residuals, self.halvings, self.chunk = residuals, int(halvings), int(chunk)
        self.last_step: dict = {}

    def _params(self) -> list[Tensor]:
        return [p for group in self.param_groups for p in group["params"]]

    @staticmethod
    def _move(params, base, delta, eta) -> None:
        """θ = θ₀ − ηδ."""
        offset = 0
        with torch.no_grad():
            for p, b in zip(params, base):
                n = p.numel()
                p.copy_(b - eta * delta[offset:offset + n].reshape(p.shape))
                offset += n

    def _loss_at(self, params, base, delta, eta) -> float:
        self._move(params, base, delta, eta)
        with torch.enable_grad():  # derivative methods may need autograd; no backward is taken
            r = self.residuals().detach()
        value = float((r * r).sum())
        return value if math.isfinite(value) else math.inf

    def step(self, closure=None) -> Tensor:  # noqa: ARG002 (the residuals come from the objective)
        params = self._params()
        group = self.param_groups[0]
        with torch.enable_grad():
            r = self.residuals()
            J = jacobian_rows(r, params, chunk=self.chunk)
        r = r.detach().reshape(-1)
        loss0 = float((r * r).sum())
        delta = gauss_newton_direction(J, r, group["damping"])
        base = [p.detach().clone() for p in params]
        best, best_eta = loss0, 0.0
        for k in range(self.halvings + 1):
            eta = 2.0 ** -k
            value = self._loss_at(params, base, delta, eta)
            if value < best:
                best, best_eta = value, eta
            elif best_eta > 0:
                break  # past the best step along the grid
        self._move(params, base, delta, best_eta)
        # Levenberg–Marquardt-style adaptation: a short accepted step means the linearisation overshot (more
        # damping, towards a gradient step); a full step means it could be trusted further (less damping)
        if best_eta == 0.0:
            group["damping"] = min(group["damping"] * 100, 1.0)
        elif best_eta < 0.25:
            group["damping"] = min(group["damping"] * 10, 1.0)
        elif best_eta == 1.0:
            group["damping"] = max(group["damping"] / 10, MIN_DAMPING)
        self.last_step = {"eta": best_eta, "loss": best, "loss_before": loss0}
        return torch.tensor(best)
