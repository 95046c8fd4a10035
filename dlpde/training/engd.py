"""Energy natural gradient descent (ENGD) for least-squares losses and energies: Gauss–Newton steps.

Müller & Zeinhofer, "Achieving high accuracy with PINNs via energy natural gradient descent", ICML 2023. For a
loss L(θ) = ‖r(θ)‖², r the weighted residuals at all collocation and condition points (``gram_blocks()`` of
the strong-form objectives, so that L equals their loss), the Gram matrix is G = JᵀJ with J = ∂r/∂θ (M × P).
For a linear PDE this is the paper's energy Gram matrix; for a nonlinear one it is the Gauss–Newton matrix of
the linearised residual. The step direction

    δ = (JᵀJ + λI)⁻¹ Jᵀ r = Jᵀ (JJᵀ + λI)⁻¹ r        (Woodbury; the second form when M ≤ P)

is solved in sample space when there are fewer residuals than parameters, in parameter space otherwise, with a
Cholesky factorisation (least squares if that fails). λ = ``damping`` × the mean diagonal of the Gram (relative,
so one default serves every scale of residual). θ ← θ − ηδ with η from a line search over η = 2⁰, 2⁻¹, …, 2⁻ᴷ on
the same points, as in the paper. The damping adapts as in Levenberg–Marquardt: ×100 when no η lowers the loss
(θ then stays), ×10 when the best η is below ¼, ÷10 after a full step (η = 1).

For an energy (Deep Ritz: L(θ) = E(u_θ), E convex in (u, ∇u)) the objective's rows are instead a feature
vector z whose Jacobian factors the energy's Gram, G = J_zᵀJ_z = ∂²L/∂(u,∇u)² pulled back to θ (the paper's energy
inner product: for ½|∇u|² − fu, z = √(|Ω|/n)·∇u at each point, plus √(2β w|∂Ω|/n_b)·u at the boundary points of a
penalty); the direction is then δ = G⁺∇L (``natural_gradient_direction``), Newton's step for the energy in
function space, projected on the network's tangent space.

J is built by reverse mode (``block_jacobian``): its rows are vector–Jacobian products with unit vectors, batched
(``torch.autograd.grad(..., is_grads_batched=True)``, a vmap over the backward pass) over the rows of a few points
at a time, each slice of points evaluated in a graph of its own. This works on any objective, network and
derivative method the solvers use, hard constraints included, at the price of M small backward passes per
step; so ENGD is meant for small networks and batches (hundreds to a few thousand of each), where it reaches errors that Adam does not (README, "Optimizers"). float64 is
recommended: the Gram's condition number grows as the residual falls.
"""
from __future__ import annotations

import math
from typing import Callable, Iterable

import torch

Tensor = torch.Tensor
MIN_DAMPING = 1e-14


Block = tuple[int, Callable[[slice], Tensor]]  # (n points, the rows of the points in a slice: (k·rows per point,))


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


def block_jacobian(blocks: list[Block], params: list[Tensor], *, points: int = 32) -> tuple[Tensor, Tensor]:
    """(J, r): the rows of all blocks and their Jacobian, built ``points`` points at a time.

    A row depends on its own point only, but a reverse pass through a batch's graph costs the whole batch; so the
    rows of each slice of ``points`` points are differentiated through a graph of that slice alone — M·points
    instead of M·n points' worth of backward passes, for any objective and derivative method.

    A block may instead be an object with ``jacobian(params) -> (J, r)`` that builds its rows' Jacobian itself (e.g.
    all points at once with ``torch.func``, ``dlpde.solvers.ritz_time``); its rows are used as given."""
    Js, rs = [], []
    for block in blocks:
        if callable(getattr(block, "jacobian", None)):
            J, r = block.jacobian(params)
            Js.append(J)
            rs.append(r.detach().reshape(-1))
            continue
        n, rows = block
        for start in range(0, n, points):
            with torch.enable_grad():
                r = rows(slice(start, min(start + points, n))).reshape(-1)
                Js.append(jacobian_rows(r, params, chunk=max(r.numel(), 1)))
            rs.append(r.detach())
    return torch.cat(Js), torch.cat(rs)


def _damped(K: Tensor, damping: float) -> Tensor:
    """K + λI with λ = damping × K's mean diagonal (in place)."""
    K.diagonal().add_(damping * max(float(K.diagonal().mean()), torch.finfo(K.dtype).tiny))
    return K


def _finite(*tensors: Tensor) -> bool:
    return all(bool(torch.isfinite(t).all()) for t in tensors)


def _solve_spd(K: Tensor, rhs: Tensor) -> Tensor:
    """K⁻¹ rhs by Cholesky; least squares where K is not positive definite in floating point."""
    factor, info = torch.linalg.cholesky_ex(K)
    if int(info) == 0:
        return torch.cholesky_solve(rhs, factor)
    return torch.linalg.lstsq(K, rhs).solution


def gauss_newton_direction(J: Tensor, r: Tensor, damping: float) -> Tensor:
    """δ = (JᵀJ + λI)⁻¹Jᵀr with λ = damping × mean diagonal of the Gram; in sample space when M ≤ P."""
    m, p = J.shape
    if m <= p:
        return (J.T @ _solve_spd(_damped(J @ J.T, damping), r.reshape(-1, 1))).reshape(-1)
    return _solve_spd(_damped(J.T @ J, damping), J.T @ r.reshape(-1, 1)).reshape(-1)


def natural_gradient_direction(J: Tensor, g: Tensor, damping: float) -> Tensor:
    """δ = (JᵀJ + λI)⁻¹g for a gradient g that need not lie in J's row space (an energy's gradient).

    In parameter space when M > P. In sample space (M ≤ P) the pseudo-inverse form Jᵀ(JJᵀ + λI)⁻²Jg: with
    J = USVᵀ it is V·S²/(S² + λ)²·Vᵀg, i.e. (JᵀJ + λI)⁻¹g on J's row space (up to O(λ²)) and 0 on its null space,
    where the Gram carries no information and (JᵀJ + λI)⁻¹ would return g/λ."""
    m, p = J.shape
    g = g.reshape(-1, 1)
    if m > p:
        return _solve_spd(_damped(J.T @ J, damping), g).reshape(-1)
    K = _damped(J @ J.T, damping)
    return (J.T @ _solve_spd(K, _solve_spd(K, J @ g))).reshape(-1)


class ENGD(torch.optim.Optimizer):
    """ENGD / Gauss–Newton with a grid line search (see the module docstring).

    ``blocks()``: the objective's row blocks at its current points (``block_jacobian``); ``value()``: its loss
    there, with a graph. Least squares (``least_squares=True``): the rows are the weighted residuals r, loss =
    ‖r‖², δ = ``gauss_newton_direction``. Energy: the rows are z with Gram J_zᵀJ_z, δ = ``natural_gradient_direction``
    of ∇value. ``step()`` linearises at the current parameters, solves for δ and takes the best step on the grid.
    The learning rate of the param group is not used (the line search chooses the step)."""

    def __init__(self, params: Iterable[Tensor], blocks: Callable[[], list[Block]], value: Callable[[], Tensor], *,
                 least_squares: bool, damping: float = 1e-10, halvings: int = 20, points: int = 32):
        if not (isinstance(damping, (int, float)) and math.isfinite(damping) and damping > 0):
            raise ValueError(f"engd_damping must be a positive number, got {damping!r}")
        super().__init__(params, dict(lr=1.0, damping=float(damping)))
        self.blocks, self.value, self.least_squares = blocks, value, bool(least_squares)
        self.halvings, self.points = int(halvings), int(points)
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
            value = float(self.value().detach())
        return value if math.isfinite(value) else math.inf

    def _direction(self, params: list[Tensor], damping: float) -> tuple[Tensor, float]:
        """(δ, loss) at the current parameters."""
        J, r = block_jacobian(self.blocks(), params, points=self.points)
        if self.least_squares:
            if not _finite(J, r):  # no step; the non-finite loss goes to the divergence guard (LAPACK would abort)
                return torch.zeros(J.shape[-1], dtype=J.dtype, device=J.device), math.nan
            return gauss_newton_direction(J, r, damping), float((r * r).sum())
        with torch.enable_grad():
            loss = self.value()
            grads = torch.autograd.grad(loss, params, materialize_grads=True)
        g = torch.cat([gr.reshape(-1) for gr in grads])
        if not _finite(J, g, loss.detach()):
            return torch.zeros_like(g), math.nan
        return natural_gradient_direction(J, g, damping), float(loss.detach())

    def step(self, closure=None) -> Tensor:  # noqa: ARG002 (the loss comes from the objective)
        params = self._params()
        group = self.param_groups[0]
        delta, loss0 = self._direction(params, group["damping"])
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
