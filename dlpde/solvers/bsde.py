r"""The Deep BSDE method (Han, Jentzen & E, "Solving high-dimensional partial differential equations using deep
learning", PNAS 115 (2018) 8505; E, Han & Jentzen, Commun. Math. Stat. 5 (2017) 349).

For u_t + ½Tr(σσᵀ Hess u) + μ·∇u + f(t, x, u, σᵀ∇u) = 0, u(T) = g (``dlpde.problems.parabolic``): simulate X on a
grid 0 = t_0 < … < t_N = T from x₀ (``dlpde.sde``), set Z_n = σᵀ∇u(t_n, X_n) from a network, and

    Y_{n+1} = Y_n − f(t_n, X_n, Y_n, Z_n) Δt + Z_n·ΔW_n,      loss = E|Y_N − g(X_N)|²,

with Y_0 = u(0, x₀) and Z_0 trainable numbers and Z_n (n ≥ 1) one sub-network per step, all evaluated in one batched
product (``dlpde.nn.bsde.BSDENetwork``). When f does not depend on y the recursion is one vectorised sum.
Training runs on the shared ``Trainer``; every step simulates a fresh batch of paths.

Options (keyword settings of ``solve``, e.g. ``solve(p, "deep-bsde", time_steps=10, scheme="heun")``):
  ``time_steps``  N (default 20);
  ``scheme``      "euler" (the recursion above, as in the paper) or "heun": trapezoidal rule for ∫f dt,
                  Y_{n+1} = Y_n − ½(f_n + f(t_{n+1}, X_{n+1}, Ŷ_{n+1}, Z_{n+1}))Δt + Z_n·ΔW_n with the Euler predictor
                  Ŷ_{n+1} and Z_N = σᵀ∇g(X_N); it removes the O(Δt) bias of the left-point rule where f is dominated by
                  its y-dependence (allen-cahn, d = 100: +0.18 % at N = 20 with euler, +0.02 % with heun).
                  Measured with the exact Z (``benchmarks/bsde_bias.py``; 10⁶ / 10⁵ paths): burgers-type −1.01/−0.54/
                  −0.33 % (euler) against −0.57/−0.27/−0.19 % (heun) at N = 20/30/50; reaction-diffusion +0.32/
                  +0.21/+0.11 % for both, a bias of the left-point rule for ∫Z·dW that heun leaves alone;
  ``hidden``, ``hidden_layers``, ``subnet_activation``  sub-network width (default d + 10, at most 110), hidden layers (2) and
                  activation ("relu" as in the paper, or a name in ``dlpde.nn.ACTIVATIONS``); the PINN settings
                  ``width``/``depth``/``activation`` are not used;
  ``batch_norm``  the paper's batch normalisation of the sub-networks (default False; with it and without ``skip``,
                  hjb-lq at d = 100 kept Y₀ ≈ E g(X_T), +0.18 %, for 1000 steps);
  ``skip``        per-step diagonal linear term (default True, see ``dlpde.nn.bsde``);
  ``y0_init``     "mc" (default, see ``start_values``) or a number;
  ``loss_clip``   residuals beyond it count linearly (the DeepBSDE code's Huber-type loss; default: plain L2);
  ``path_sampling`` "auto" (default: "control" where f depends on z, else "brownian"), "control" or "brownian": with
                  "control" the paths are driven by ΔW̃ + ∂_z f Δt (the network's own control, Girsanov; see
                  ``BSDEObjective.control_paths``), which makes the fitted Y₀ second order instead of first order in
                  the error of the learned Z. Where f depends on z the trained Z comes out ~13 % too small in RMS
                  (hjb-lq d = 20, λ = 2, N = 10, against the exact Z from Cole–Hopf quadrature; more steps, batch or
                  width did not change it) and on Brownian paths that alone put Y₀ +0.3…0.6 % high (seeds 0–2);
                  control paths gave +0.16…0.18 % at ≈1.5–2× the time per step (the sub-networks run one after
                  another while the paths are drawn);
  ``y0_refit_paths`` paths of a final refit of Y₀ for the trained Z (``BSDEObjective.refit_y0``; default
                  ``REFIT_PATHS`` with control paths, 0 = keep the trained Y₀ otherwise).
Scales from one start simulation (``start_values``): Y₀ starts at the Z = 0 backward mean and is trained in units of
the spread of g(X_T); the sub-networks output Z in units of the RMS of σᵀ∇g(X_T).

Result: ``sol.value_at(t=0, x=x0)`` (or ``sol(0, x0)``) is the learned Y_0; ``sol.extra`` has ``u0``, ``u0_std_last``
(standard deviation of Y_0 over the last 10 % of the Adam steps), ``u0_reference`` where known and ``u0_trace``;
``sol.metrics["rel_error_u0"]`` the relative error against the reference.
"""
from __future__ import annotations

import logging
import math
from dataclasses import dataclass

import numpy as np
import torch

from dlpde.nn.bsde import BSDENetwork
from dlpde.nn.rowwise import FRESH_PAGES_BYTES, row_dots
from dlpde.problems import Problem
from dlpde.problems.parabolic import Parabolic
from dlpde.sde import brownian_increments, reusable, time_grid
from dlpde.settings import SolveSettings
from dlpde.solution import Solution
from dlpde.solvers.base import Solver, init_model
from dlpde.training import Trainer

log = logging.getLogger(__name__)
Tensor = torch.Tensor
SCHEMES = ("euler", "heun")
PATH_SAMPLINGS = ("auto", "control", "brownian")
REFIT_PATHS = 32768  # paths of the final Y0 refit under control sampling: standard error 0.025 % on hjb-lq d = 20, λ = 2


@dataclass
class BSDESolution(Solution):
    """A Deep BSDE result: u is known at (0, x₀) only. ``sol(0, x0)``/``value_at(t=0, x=x0)`` give Y₀,
    ``grad(0, x0)`` gives ∇u(0, x₀) = σ⁻ᵀ Z₀; other points raise a ValueError."""

    known_at_one_point = True  # no field to draw (dlpde.plotting): the figure is the history alone

    def __post_init__(self):
        if "rel_error_u0" in self.extra:  # a loaded file keeps it among the root attributes
            self.metrics["rel_error_u0"] = self.extra.pop("rel_error_u0")

    def __call__(self, t, x=None) -> Tensor:
        """Y₀ for each point (n, d) — or one point given as (d,) — at t = 0; the points must be x₀."""
        if x is not None and self.dim > 1:
            x = torch.as_tensor(x)
            x = x.reshape(1, -1) if x.ndim == 1 else x
        return super().__call__(t, x)

    @property
    def u0(self) -> float:
        return float(self.model.y0.detach()[0])

    @property
    def reference(self) -> float | None:
        ref = self.extra.get("u0_reference")
        if ref is None and isinstance(self.problem, Parabolic):
            ref = self.problem.reference_value()
        return None if ref is None else float(ref)

    def grad(self, t, x=None) -> Tensor:
        inp = self._inputs(t, x)
        self.model(inp)  # checks the points are (x0, 0)
        if not isinstance(self.problem, Parabolic):
            raise ValueError("∇u needs the problem (its σ) to turn Z₀ = σᵀ∇u into ∇u")
        p = self.problem
        z0 = self.model.z0.detach().double().cpu()
        sigma = p.sde.diffusion_matrix(torch.zeros(1, dtype=torch.float64), p.x0[None])[0]
        g = torch.linalg.solve(sigma.T, z0)
        return g.to(inp).expand(inp.shape[0], -1)

    def errors(self, n: int | None = None, seed: int = 12345) -> dict[str, float]:
        """Relative error of u(0, x₀) against the reference (where one is known)."""
        ref = self.reference
        if ref is None:
            return {}
        return {"rel_error_u0": abs(self.u0 - ref) / max(abs(ref), 1e-300)}

    def evaluation_arrays(self, n: int = 2000, seed: int = 777) -> dict[str, np.ndarray]:
        """The one point Deep BSDE solves for: x = x₀, t = 0, u = Y₀ (and the reference as u_exact)."""
        x0 = self.model.x0.detach().double().cpu().numpy()[None]
        out = {"x": x0, "t": np.zeros(1), "u": np.array([self.u0])}
        if self.reference is not None:
            out["u_exact"] = np.array([self.reference])
        return out

    def summary(self) -> str:
        err = self.metrics.get("rel_error_u0")
        err_s = f"rel_error_u0={err:.3e}" if err is not None and math.isfinite(err) else "rel_error_u0=n/a"
        return (f"case={self.case} solver={self.solver} dim={self.dim} steps={self.steps_done} "
                f"seconds={self.wall_time_s:.1f} u0={self.u0:.6g} {err_s} status={self.status}")


class BSDEObjective:
    """E|Y_N − g(X_N)|² on a fresh batch of paths per call with ``resample`` (the Trainer's objective)."""

    def __init__(self, problem: Parabolic, net: BSDENetwork, s: SolveSettings, *, loss_clip: float | None = None,
                 scheme: str = "euler", control: bool = False):
        if scheme not in SCHEMES:
            raise ValueError(f"scheme must be one of {SCHEMES}, got {scheme!r}")
        self.problem, self.net, self.s, self.scheme, self.control = problem, net, s, scheme, bool(control)
        self.gen = s.generator()
        self.times = time_grid(problem.T, net.steps, device=s.torch_device, dtype=s.torch_dtype)
        self.dt = (self.times[1:] - self.times[:-1])
        self.loss_clip = loss_clip
        self.x0 = problem.x0.to(device=s.torch_device, dtype=s.torch_dtype)
        self.x = self.dw = None
        self.y0_trace: list[Tensor] = []
        self._last_step = -1

    def sample(self, batch: int | None = None, generator: torch.Generator | None = None, *,
               out: tuple[Tensor | None, Tensor | None] | None = None) -> tuple[Tensor, Tensor]:
        """Paths x (N+1, B, d) and the increments dw (N, B, d) that drive them: Brownian, or with ``control``
        Brownian plus the drift β Δt of ``control_paths``. ``out``: an earlier (x, dw) that the new ones may be
        written into (training passes its previous batch: see ``dlpde.sde.reusable``); the same numbers either way."""
        x_old, dw_old = out if out is not None else (None, None)
        dw = brownian_increments(batch or self.s.batch, self.times, self.problem.noise_dim,
                                 generator=generator or self.gen, dtype=self.s.torch_dtype, out=dw_old)
        if self.control:
            return self.control_paths(dw, out=x_old, in_place=dw is dw_old)
        return self.problem.sde.paths(self.x0, self.times, dw, out=x_old), dw

    @torch.no_grad()
    def control_paths(self, dw_tilde: Tensor, *, out: Tensor | None = None,
                      in_place: bool = False) -> tuple[Tensor, Tensor]:
        r"""Paths under the measure Q of the current network's control (Girsanov): X is driven by
        ΔW_n = ΔW̃_n + β_n Δt with ΔW̃ Brownian and β_n = ∂f/∂z(t_n, X_n, Y_n, Z_n) (Z_n from the network, Y_n by the
        Euler recursion from Y₀). The recursion Y_{n+1} = Y_n − fΔt + Z_n·ΔW_n is unchanged and stays exact under Q
        for the true Z, because Itô's formula under Q gives du = −(f − β·Z)dt + Z·dW̃ = −f dt + Z·dW. What changes is
        the sensitivity of the fitted Y₀ to an error δ in Z: E^Q[Y_N − g] = Y₀ − u + E^Q∫(f(Z+δ) − f(Z) − ∂_z f·δ)dt,
        which is second order in δ, where under Brownian paths E[Y_N − g] has the first-order term E∫∂_z f·δ dt.
        Measured on hjb-lq d = 20, λ = 2 (f = −λ|z|²/2, N = 10, heun): the exact Z shrunk by 13 % (what training
        gives) shifts Y₀ by +0.9 % on Brownian paths and by +0.05 % on these (exact Z: −0.01 % on both).

        The paths are written into ``out`` where it fits (``dlpde.sde.reusable``), and with ``in_place`` the
        increments into ``dw_tilde`` itself."""
        p, net, times, dt = self.problem, self.net, self.times, self.dt
        n_steps, batch, _ = dw_tilde.shape
        # the paths and increments are written into two whole tensors (at d = 10⁵ each is 1 GB: stacking per-step
        # tensors would make every page twice)
        shape = (n_steps + 1, batch, self.x0.shape[-1])
        xs = reusable(out, shape, dw_tilde.dtype, dw_tilde.device)
        xs = dw_tilde.new_empty(shape) if xs is None else xs
        dws = dw_tilde if in_place else torch.empty_like(dw_tilde)
        xs[0].copy_(self.x0.expand(batch, -1))
        for rows in control_chunks(batch, max(xs.shape[-1], dws.shape[-1]), xs, net.batch_norm):
            m = rows.stop - rows.start
            x = xs[0, rows]
            y = net.y0.detach().expand(m)
            for n in range(n_steps):
                z = net.z0.detach().expand(m, -1) if n == 0 else net.subnetwork(n, x)
                t = times[n].expand(m)
                with torch.enable_grad():
                    zr = z.detach().requires_grad_(True)
                    f = p.generator(t, x, y, zr)
                    (beta,) = torch.autograd.grad(f.sum(), zr)
                dw = torch.addcmul(dw_tilde[n, rows], beta, dt[n], out=dws[n, rows])
                y = y - f.detach() * dt[n] + row_dots(z, dw)
                x = p.sde.step(x, times[n:n + 2], dw, out=xs[n + 1, rows])
        return xs, dws

    def terminal_z(self, x_last: Tensor) -> Tensor:
        """Z_N = σᵀ∇g(X_N) by autograd (needed by the Heun scheme at the last step)."""
        t = self.times[-1].expand(x_last.shape[0])
        with torch.enable_grad():
            xr = x_last.detach().requires_grad_(True)
            (grad,) = torch.autograd.grad(self.problem.terminal(xr).sum(), xr)
        return self.problem.diffusion_transpose(t, x_last, grad).detach()

    def terminal_values(self, x: Tensor, dw: Tensor, y0: Tensor | None = None) -> tuple[Tensor, Tensor]:
        """(Y_N, g(X_N)) for paths x (N+1, B, d) and increments dw (N, B, d), from the network's Y₀ or ``y0``.

        Z₀ (one trained vector) and the sub-networks' Z_1 … Z_{N−1} stay two blocks, and Heun's Z_N = σᵀ∇g(X_N) a
        third: joining them would copy an (N, B, d) tensor (``BSDENetwork.z_all`` does), and at large d each such
        pass costs about as much as a layer's product."""
        p, net, times, dt = self.problem, self.net, self.times, self.dt
        n_steps, batch, d = dw.shape
        z0 = net.z0.expand(1, batch, d)
        z_sub = net.subnetworks(x[1:-1]) if n_steps > 1 else None
        y0 = (net.y0 if y0 is None else y0).expand(batch)
        heun = self.scheme == "heun"
        z_last = self.terminal_z(x[-1])[None] if heun else None
        if not p.generator_uses_y:
            # f before the hedge: the backward pass then meets the hedge's gradient of Z first, a tensor of its own
            # that the generator's gradient is added to in place (the other way round autograd adds into a new
            # (N − 1, B, d) tensor)
            f_sub = self._generator_rows(times[1:-1], x[1:-1], z_sub) if z_sub is not None else None
            f = self._generator_rows(times[:1], x[:1], z0)
            if f_sub is not None:
                f = torch.cat([f, f_sub])
            if heun:  # f at t_{n+1}: rows 1 … N−1 are those above (computed once), row N from Z_N
                f1 = self._generator_rows(times[-1:], x[-1:], z_last)
                if f_sub is not None:
                    f1 = torch.cat([f_sub, f1])
                f = 0.5 * (f + f1)
            return y0 + (-f * dt[:, None] + self._hedge(z0, z_sub, dw)).sum(dim=0), p.terminal(x[-1])
        hedge = self._hedge(z0, z_sub, dw)

        def z_at(n: int) -> Tensor:
            return z0[0] if n == 0 else (z_last[0] if n == n_steps else z_sub[n - 1])

        y = y0
        for n in range(n_steps):
            f = p.generator(times[n].expand(batch), x[n], y, z_at(n))
            if heun:  # trapezoidal rule for ∫f dt with an explicit Euler predictor
                pred = y - f * dt[n] + hedge[n]
                f = 0.5 * (f + p.generator(times[n + 1].expand(batch), x[n + 1], pred, z_at(n + 1)))
            y = y - f * dt[n] + hedge[n]
        return y, p.terminal(x[-1])

    @staticmethod
    def _hedge(z0: Tensor, z_sub: Tensor | None, dw: Tensor) -> Tensor:
        """Z_n·ΔW_n, (N, B): Z₀ (1, B, d) on the first row, the sub-networks' Z on the others."""
        hedge = (z0[0] * dw[0]).sum(dim=1)[None]
        return hedge if z_sub is None else torch.cat([hedge, row_dots(z_sub, dw[1:])])

    def _generator_rows(self, t: Tensor, x: Tensor, z: Tensor) -> Tensor:
        """f(t_k, X_k, ·, Z_k) for a block of time rows (k, B, d) → (k, B), for generators that ignore y."""
        k, batch, d = z.shape
        tt = t[:, None].expand(k, batch).reshape(-1)
        return self.problem.generator(tt, x.expand(k, batch, d).reshape(-1, d), torch.zeros_like(tt),
                                      z.expand(k, batch, d).reshape(-1, d)).reshape(k, batch)

    def loss(self, step: int, *, resample: bool):
        if resample or self.x is None:  # the new batch is written over the previous one where it fits
            self.x, self.dw = self.sample(out=(self.x, self.dw))
        y, g = self.terminal_values(self.x, self.dw)
        r = y - g
        if self.loss_clip is None:
            loss = (r * r).mean()
        else:
            c = self.loss_clip
            a = r.abs()
            loss = torch.where(a < c, r * r, 2 * c * a - c * c).mean()
        y0 = self.net.y0.detach()[0]
        if step != self._last_step:
            self.y0_trace.append(y0.clone())
            self._last_step = step
        return loss, {"y0": y0}

    @torch.no_grad()
    def refit_y0(self, paths: int, iters: int = 3) -> tuple[float, float]:
        """Y₀ that makes the mean of Y_N − g(X_N) zero on ``paths`` fresh paths for the trained Z (a stream of its
        own, drawn again in chunks of at most ~2²³ numbers for each pass), and its standard error. The trained Y₀ also
        carries the noise and lag of its last Adam steps (hjb-lq d = 20, λ = 2: up to 0.13 % against the refit on the
        same Z). Where f depends on y, a few secant steps; otherwise Y_N is affine in Y₀ with slope 1 and one is exact."""
        n_steps, d = len(self.dt), self.problem.noise_dim
        chunk = max(256, min(16384, 2**23 // ((n_steps + 1) * max(d, self.problem.dim))))

        def mean_residual(v: Tensor) -> tuple[Tensor, Tensor]:
            gen = self.s.generator(offset=13)  # the same paths on every pass
            total = total2 = 0.0
            for start in range(0, paths, chunk):
                x, dw = self.sample(min(chunk, paths - start), generator=gen)
                y, g = self.terminal_values(x, dw, v)
                r = (y - g).double()
                total, total2 = total + r.sum(), total2 + (r * r).sum()
            mean = total / paths
            var = (total2 / paths - mean * mean).clamp_min(0.0) * paths / max(paths - 1, 1)
            return mean, (var / paths).sqrt()

        y0 = self.net.y0.detach().clone()
        h = 1e-3 * self.net.y_scale
        m, se = mean_residual(y0)
        for _ in range(iters):
            slope = 1.0 if not self.problem.generator_uses_y else (mean_residual(y0 + h)[0] - m) / h
            if not math.isfinite(float(slope)) or abs(float(slope)) < 1e-6:
                break
            y0 = y0 - (m / slope).to(y0)
            if not self.problem.generator_uses_y:
                break
            m, se = mean_residual(y0)
        return float(y0[0]), float(se)


def generator_depends_on_z(problem: Parabolic, s: SolveSettings, z_scale: float, y0: float,
                           paths: int = 1024) -> bool:
    """Whether ∂f/∂z is nonzero anywhere on ``paths`` Brownian sample points at t = T/2 with random z (of the Z
    scale) and y = Y₀ (the test behind ``path_sampling="auto"``)."""
    gen = s.generator(offset=17)
    dt = s.torch_dtype
    t = torch.full((paths,), 0.5 * problem.T, device=s.torch_device, dtype=dt)
    times = torch.tensor([0.0, 0.5 * problem.T], device=s.torch_device, dtype=dt)
    dw = brownian_increments(paths, times, problem.noise_dim, generator=gen, dtype=dt)
    x = problem.sde.paths(problem.x0.to(device=s.torch_device, dtype=dt), times, dw)[-1]
    z = z_scale * torch.randn(paths, problem.noise_dim, generator=gen, device=s.torch_device, dtype=dt)
    y = torch.full((paths,), y0, device=s.torch_device, dtype=dt)
    with torch.enable_grad():
        z.requires_grad_(True)
        f = problem.generator(t, x, y, z)
        if not f.requires_grad:
            return False
        (grad,) = torch.autograd.grad(f.sum(), z, allow_unused=True)
    return grad is not None and bool((grad != 0).any())


CONTROL_CHUNK_BYTES = 3 * FRESH_PAGES_BYTES // 4  # 24 MB: the control paths' per-step tensors stay below it


def control_chunks(batch: int, d: int, like: Tensor, batch_norm: bool) -> list[slice]:
    """The rows of the batch that ``control_paths`` simulates together: all of them on a GPU or with batch
    normalisation (whose statistics are over the whole batch), else chunks whose (rows, d) tensors stay below
    ``CONTROL_CHUNK_BYTES``. Each step makes a few such tensors (the network's input and Z, ∂f/∂z) and frees them;
    glibc hands blocks below 32 MB back from its heap, but returns larger ones to the system, so that each step would
    fault their pages in afresh (hjb-lq at d = 10⁵: 2 GB fewer faulted pages per training step when chunked). The
    paths are the same: each row is simulated alone."""
    rows = batch
    if like.device.type == "cpu" and not batch_norm:
        rows = max(1, min(batch, CONTROL_CHUNK_BYTES // (d * like.element_size())))
    return [slice(start, min(start + rows, batch)) for start in range(0, batch, rows)]


START_CHUNK_NUMBERS = 2**25  # numbers per path tensor in one chunk of the start simulation (134 MB in float32)


def start_values(problem: Parabolic, s: SolveSettings, steps: int, paths: int = 4096
                 ) -> tuple[float, float, float]:
    """(Y₀ start, Z scale, Y scale) from one simulation of ``paths`` paths (a generator stream of its own).

    Y₀ start: the mean of the backward recursion Y_n = Y_{n+1} + f(t_n, X_n, Y_{n+1}, 0)Δt from Y_N = g(X_N) (Z = 0),
    which is E g(X_T) when f(·, 0) = 0. Z scale: the root mean square of Z_T = σᵀ∇g(X_T) over paths and components,
    the unit in which the sub-networks output Z (so their outputs are O(1) whatever the case's magnitudes).
    Y scale: the standard deviation of g(X_T), the unit in which Y₀ is trained.

    The paths are simulated in chunks of at most ``START_CHUNK_NUMBERS`` numbers per (N + 1, chunk, d) tensor, so
    memory stays bounded in d (4096 paths at d = 10⁵ and N = 20 would take 34 GB per tensor); up to d ≈ 390 at
    N = 20 it is one chunk, the same numbers as one simulation.
    """
    times = time_grid(problem.T, steps, device=s.torch_device, dtype=s.torch_dtype)
    dt = times[1:] - times[:-1]
    gen = s.generator(offset=7)
    x0 = problem.x0.to(device=s.torch_device, dtype=s.torch_dtype)
    chunk = max(1, min(paths, START_CHUNK_NUMBERS // ((steps + 1) * max(problem.noise_dim, problem.dim))))
    z2, gs, ys = 0.0, [], []  # mean |Z_T|² (weighted by chunk), g(X_T) and the Z = 0 recursion's Y₀ per path
    for start in range(0, paths, chunk):
        n = min(chunk, paths - start)
        x = problem.sde.paths(x0, times, brownian_increments(n, times, problem.noise_dim, generator=gen,
                                                             dtype=s.torch_dtype))
        with torch.enable_grad():
            xT = x[-1].detach().requires_grad_(True)
            (grad,) = torch.autograd.grad(problem.terminal(xT).sum(), xT)
        with torch.no_grad():
            zT = problem.diffusion_transpose(times[-1].expand(n), x[-1], grad)
            z2 = z2 + zT.pow(2).mean() * (n / paths)
            y = problem.terminal(x[-1])
            gs.append(y)
            zero = torch.zeros_like(x[0])
            for k in reversed(range(steps)):
                y = y + problem.generator(times[k].expand(n), x[k], y, zero) * dt[k]
            ys.append(y)
    z_scale = float(torch.as_tensor(z2).sqrt())
    y_scale = float(torch.cat(gs).std())
    y0 = float(torch.cat(ys).mean())
    if not math.isfinite(y0):
        raise ValueError("the Monte Carlo start value of Y0 is not finite; pass y0_init=<number>")
    if not (math.isfinite(z_scale) and z_scale > 0):
        z_scale = 1.0 / problem.dim
    if not (math.isfinite(y_scale) and y_scale > 0):
        y_scale = max(abs(y0), 1.0)
    return y0, z_scale, y_scale


class DeepBSDE(Solver):
    name = "deep-bsde"
    description = "Deep BSDE: u(0, x0) of a semilinear parabolic PDE from simulated paths (Han, Jentzen & E 2018)"
    _SUBNETS = "its sub-networks are set by the options hidden, hidden_layers and subnet_activation"
    unused_settings = {"width": _SUBNETS, "depth": _SUBNETS, "activation": _SUBNETS,
                       "derivative": "it takes no derivatives of its networks", "probes": "it estimates no Laplacian",
                       "boundary_batch": "it samples paths from x₀ only (batch)",
                       "boundary_weight": "its loss is the terminal mismatch alone"}
    options = ("time_steps", "scheme", "hidden", "hidden_layers", "subnet_activation", "batch_norm", "skip",
               "y0_init", "loss_clip", "path_sampling", "y0_refit_paths")
    solution_class = BSDESolution

    def refusal(self, problem: Problem) -> str:
        if not isinstance(problem, Parabolic):
            return (f"{problem.case} is not a parabolic problem with a terminal condition in BSDE form "
                    "(a dlpde.problems.parabolic.Parabolic)")
        if getattr(problem, "no_bsde", ""):
            return f"{problem.case}: {problem.no_bsde}"
        return ""

    def _options(self, s: SolveSettings) -> dict:
        o = {"time_steps": 20, "scheme": "euler", "hidden": None, "hidden_layers": 2, "subnet_activation": "relu", "batch_norm": False,
             "skip": True, "y0_init": "mc", "loss_clip": None, "path_sampling": "auto", "y0_refit_paths": None,
             **s.options}
        steps = o["time_steps"]
        if isinstance(steps, bool) or not isinstance(steps, int) or steps < 1:
            raise ValueError(f"time_steps must be a positive integer, got {steps!r}")
        if o["scheme"] not in SCHEMES:
            raise ValueError(f"scheme must be one of {SCHEMES}, got {o['scheme']!r}")
        if o["path_sampling"] not in PATH_SAMPLINGS:
            raise ValueError(f"path_sampling must be one of {PATH_SAMPLINGS}, got {o['path_sampling']!r}")
        refit = o["y0_refit_paths"]
        if refit is not None and (isinstance(refit, bool) or not isinstance(refit, int) or refit < 0):
            raise ValueError(f"y0_refit_paths must be None (automatic) or a non-negative integer (0: keep the trained "
                             f"Y0), got {refit!r}")
        y0 = o["y0_init"]
        if not (y0 == "mc" or (isinstance(y0, (int, float)) and not isinstance(y0, bool) and math.isfinite(y0))):
            raise ValueError(f"y0_init must be 'mc' or a finite number, got {y0!r}")
        clip = o["loss_clip"]
        if clip is not None and not (isinstance(clip, (int, float)) and math.isfinite(clip) and clip > 0):
            raise ValueError(f"loss_clip must be a positive number or None, got {clip!r}")
        for name in ("batch_norm", "skip"):
            if not isinstance(o[name], bool):
                raise ValueError(f"{name} must be True or False, got {o[name]!r}")
        return o

    def build_model(self, problem: Parabolic, s: SolveSettings, *, y0: float = 0.0,
                    z_scale: float | None = None, y_scale: float = 1.0) -> BSDENetwork:
        o = self._options(s)
        spread = problem.spread()
        return BSDENetwork(problem.dim, o["time_steps"], x0=problem.x0.tolist(), T=problem.T, hidden=o["hidden"],
                           hidden_layers=o["hidden_layers"], activation=o["subnet_activation"],
                           batch_norm=o["batch_norm"], skip=o["skip"], input_shift=problem.x0.tolist(),
                           input_scale=(1.0 / spread).tolist(), output_scale=z_scale, y0=y0,
                           y_scale=y_scale)

    def run(self, problem: Parabolic, s: SolveSettings) -> BSDESolution:
        o = self._options(s)
        y0, z_scale, y_scale = start_values(problem, s, o["time_steps"])
        if o["y0_init"] != "mc":
            y0 = float(o["y0_init"])
        net = init_model(lambda: self.build_model(problem, s, y0=y0, z_scale=z_scale, y_scale=y_scale), s.seed)
        net = net.to(s.torch_device, s.torch_dtype)
        control = o["path_sampling"] == "control" or (
            o["path_sampling"] == "auto" and generator_depends_on_z(problem, s, z_scale, y0))
        objective = BSDEObjective(problem, net, s, loss_clip=o["loss_clip"], scheme=o["scheme"], control=control)
        reference = problem.reference_value()
        solution = BSDESolution(problem=problem, model=net, solver=self.name, settings=s, history=None,
                                case=problem.case, problem_params=problem.params(), dim=problem.dim,
                                time_dependent=True)
        if reference is not None:
            solution.extra["u0_reference"] = float(reference)

        def evaluate() -> dict[str, float]:
            return {"u0": solution.u0, **solution.errors()}

        net.train()
        result = Trainer(s.train_config(), evaluate=evaluate, label=f"{problem.case}/{self.name}").fit(
            list(net.parameters()), objective)
        net.eval()
        u0_trained, u0_se = solution.u0, math.nan
        refit = o["y0_refit_paths"]
        if refit is None:  # with Brownian paths the trained Y0 is kept: the z-free cases are unchanged
            refit = REFIT_PATHS if control else 0
        if result.status == "ok" and refit > 0:
            y0_fit, u0_se = objective.refit_y0(refit)
            if math.isfinite(y0_fit):
                with torch.no_grad():
                    net.y0_unit.fill_(y0_fit / net.y_scale)
        solution.history, solution.status, solution.message = result.history, result.status, result.message
        solution.wall_time_s, solution.steps_done = result.wall_time_s, result.steps_done
        trace = torch.stack(objective.y0_trace).double().cpu().numpy() if objective.y0_trace else np.zeros(0)
        last = trace[-max(1, len(trace) // 10):]
        solution.extra.update({"u0": solution.u0, "u0_std_last": float(np.std(last)) if len(last) else math.nan,
                               "u0_start": y0, "time_steps": o["time_steps"], "scheme": o["scheme"],
                               "u0_trained": u0_trained, "u0_refit_se": u0_se,
                               "path_sampling": "control" if control else "brownian", "u0_trace": trace})
        if result.status == "ok":
            solution.evaluate()
        return solution
