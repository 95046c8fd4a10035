"""The Deep Ritz method (E & Yu, "The Deep Ritz method: a deep learning-based numerical algorithm for solving
variational problems", Commun. Math. Stat. 6, 2018).

For a problem with an energy (``problem.has_energy``: symmetric and steady, e.g. the Poisson problem
−Δu = f in Ω, u = g on ∂Ω, whose solution minimises ∫_Ω ½|∇u|² − f u) the loss is the penalised energy

    L(θ) = ∫_Ω e(x, u_θ, ∇u_θ) dx + β Σ_c w_c ∫_∂Ω (u_θ − g)² ds,

both integrals estimated by Monte Carlo with fresh samples every step: |Ω| · mean over interior points and
|∂Ω| · mean over boundary points (``domain.volume``, ``domain.boundary_measure``). β is the setting
``boundary_weight``. Only ∇u is needed: one reverse pass with a graph (no second derivatives), so a step costs a
few forward passes in any dimension. The penalty makes the minimiser satisfy the Robin condition
∂ₙu + 2β(u − g) = 0 instead of u = g, an O(1/β) boundary error; a large β, however, pins a network that starts
near the boundary data there (e.g. u ≈ 0 for zero data) for thousands of steps. Option ``penalty_warmup`` (a
fraction of the steps, default 0) raises β geometrically from β/100 to β over that part of the training. The
Monte Carlo energy gradient stays noisy at the minimiser, so a decaying learning rate does most of the training;
an optional L-BFGS phase then minimises the energy of one fixed quadrature, drawn once with option ``lbfgs_batch``
interior points (boundary points scaled alike). Its minimiser is off by that quadrature's error, so the fixed set
must be large (tens of thousands of Sobol points in 2-D: measured on ``poisson-slit``, see the case defaults).
The network is the residual network of the paper (``dlpde.nn.ResNet``; ``depth`` = number of residual blocks, two
layers each), with the input/output scaling PINN uses (``pinn.scaled_network``).

Option ``quadrature="mesh"`` (a problem on a ``MeshDomain``) replaces the Monte Carlo interior samples by one fixed
quadrature, the symmetric rule of ``quadrature_degree`` (default 4) on every cell of the mesh (refined
``quadrature_refine`` times, by default as often as it takes to reach ``batch`` points; ``MeshDomain.quadrature``,
``mesh_quadrature``): the energy is Σ_q w_q e(x_q, u, ∇u), a deterministic function of θ that L-BFGS (or ENGD, rows
√w_q) minimises to the quadrature's accuracy (``poisson-mesh``'s defaults, measured there). Penalised conditions
keep their Monte Carlo points. With a hard constraint, φ and g and their gradients are stored at the
quadrature points (``constraint_at``), so a step evaluates the network alone.

Option ``quadrature="gauss"`` (a problem on a ``Box``) does the same with the tensor Gauss–Legendre rule
(``gauss_box``): ``quadrature_degree`` nodes per cell and axis (default 8), 2^``quadrature_refine`` equal cells per
axis (default: the fewest that give at least ``batch`` points). For low dimension only (nodes grow as (cells·
degree)^d). Measured on ``poisson-1d-neumann`` (its case defaults): 8 cells × 8 nodes, 500 Adam + L-BFGS steps
in float64 give 1.1e-5 in 3 s, where 64 Monte Carlo points a step (L-BFGS on one draw of 64) diverged (error 4e2).

Option ``hard_constraint=True`` trains u = g + φ·N instead (``dlpde.nn.constraints``): u = g holds exactly on ∂Ω, the
penalty term of that condition leaves the loss (``active_conditions``) and with it the Robin bias and the choice of β.

A user's ``PDE`` (``dlpde.problems.pde``) takes part when it gives ``energy=e`` (steady, one output). Its Dirichlet
conditions are penalised (or hard) as above; its Neumann and Robin conditions are natural (``natural`` conditions of
``dlpde.problems.conditions``): for −Δu = f, u = g on Γ_D, ∂u/∂n = h on Γ_N and ∂u/∂n + αu = r on Γ_R the energy is

    E(u) = ∫_Ω ½|∇u|² − f u dx − ∫_{Γ_N} h u ds + ∫_{Γ_R} ½αu² − r u ds,

with no penalty: its minimiser over u = g on Γ_D satisfies the Neumann and Robin conditions (integrate by parts).
Each boundary integral is |Γ_c|·mean over the condition's points (``PDECondition.measure``: a face's measure, a
predicate's estimated share of ∂Ω; in 1-D a face is a point of measure 1, so −∫_{Γ_N} h u ds is exactly −h·u(1)),
``energy_<name>`` in the history. These are the natural conditions of densities whose flux ∂e/∂∇u is ∇u (checked
at boundary points; otherwise ``ritz`` refuses, since ∂u/∂n = h would not be the natural condition). Robin needs
α ≥ 0: with α < 0 the boundary term can make the energy unbounded below (``poisson-1d-robin``: α = −1, E(c(x + 1)) =
4c − c² → −∞, the bilinear form ∫u'v' − u(1)v(1) is not coercive), and ``ritz`` refuses it. Periodic, data and other
conditions are not offered to Ritz. A Dirichlet condition on part of the boundary is penalised (a ``PDE``'s hard
constraint needs Dirichlet data on the whole boundary), with the O(1/β) bias above: on −u'' = 0, u(0) = 0,
u'(1) + u(1) = 1 the error is 0.29 at β = 1, 3.3e-3 at β = 100, 3.3e-5 at β = 10⁴ (tests/test_ritz_dgm.py).
"""
from __future__ import annotations

import logging
import math
from typing import Callable

import torch
from torch import nn

import numpy as np

from dlpde.nn import ResNet
from dlpde.nn.mlp import check_sizes
from dlpde.nn.constraints import active_conditions
from dlpde.problems import Problem
from dlpde.settings import SolveSettings
from dlpde.solution import Solution
from dlpde.solvers.base import Solver, lbfgs_batch_option
from dlpde.solvers.collocation import CollocationSamples, row_block
from dlpde.solvers.pinn import scaled_network

Tensor = torch.Tensor
log = logging.getLogger(__name__)
WARMUP_START = 1e-2  # β starts at WARMUP_START·β when the option penalty_warmup > 0


def field_and_gradient(fn: Callable[[Tensor], Tensor], x: Tensor) -> tuple[Tensor, Tensor]:
    """u (n,) and ∇u (n, d) of the scalar field ``fn`` (x ↦ (n,) or (n, 1)) at points x, ∇u from one reverse
    pass; differentiable in fn's parameters when grad mode is on (the graph is kept)."""
    x = x.detach().requires_grad_(True)
    u = fn(x)
    u = u[:, 0] if u.ndim == 2 else u
    (grad,) = torch.autograd.grad(u.sum(), x, create_graph=torch.is_grad_enabled())
    return u, grad


def energy_terms(problem: Problem, fn: Callable[[Tensor], Tensor], x: Tensor) -> Tensor:
    """The energy density e(x, u, ∇u) at points x (n, d) of the scalar field ``fn``."""
    u, grad = field_and_gradient(fn, x)
    return problem.energy_density(x, u, grad)


def field_jacobian(model: nn.Module, params: list[Tensor], x: Tensor, *,
                   chunk: int = 2048) -> tuple[Tensor, Tensor]:
    """v = (u, ∇u) at points x, (n, 1 + d), and its Jacobian ∂v/∂θ in ``params`` (n, 1 + d, P), parameters
    flattened in order, for a scalar network. By ``torch.func``: jacrev of u and ∇ₓu at one point, vmapped over
    the points, ``chunk`` points at a time — a few batched passes instead of one reverse pass per row over a slice
    of points (``dlpde.training.engd.block_jacobian``'s generic path). Raises where the network cannot be vmapped
    (callers fall back to the generic path)."""
    from torch.func import functional_call, grad, jacrev, vmap

    names = {id(p): k for k, p in model.named_parameters()}
    keys = [names[id(p)] for p in params]
    theta = {k: p.detach() for k, p in zip(keys, params)}
    buffers = dict(model.named_buffers())

    def value(th, y):
        return functional_call(model, (th, buffers), (y[None],)).reshape(-1)[0]

    def value_and_gradient(th, y):
        return torch.cat([value(th, y)[None], grad(value, argnums=1)(th, y)])

    vs, jvs = [], []
    for start in range(0, x.shape[0], chunk):
        xc = x[start:start + chunk].detach()
        vs.append(vmap(value_and_gradient, in_dims=(None, 0))(theta, xc))
        jac = vmap(jacrev(value_and_gradient), in_dims=(None, 0))(theta, xc)
        jvs.append(torch.cat([jac[k].reshape(xc.shape[0], xc.shape[1] + 1, -1) for k in keys], dim=2))
    return torch.cat(vs), torch.cat(jvs)


class EnergyRows:
    """ENGD's interior rows √s_q·Lᵀ(u, ∇u)(x_q) of an energy (``density_hessian_factor`` L, held fixed as in
    Gauss–Newton; s_q the point's weight: |Ω|/n for Monte Carlo, w_q for a quadrature) as a block with its own
    ``jacobian``: ∂(u, ∇u)/∂θ from ``field_jacobian``. With a hard constraint's stored φ, g (``constraint_at``)
    only the inner network is differentiated: J_u = φ·J_N, J_∇u = φ·J_∇N + ∇φ·J_N. Where ``torch.func`` cannot
    vmap the network, the rows go through the generic per-slice path (``fallback``, a ``row_block``), logged once.

    Why: the generic path costs one reverse pass over a slice of 32 points per row; at 8192 Sobol points in d = 5
    (40 960 rows) and 225 parameters it took 1.76 s, this one 0.43 s (one thread)."""

    def __init__(self, problem: Problem, model: nn.Module, x: Tensor, scale: Tensor, cache: tuple[Tensor, ...],
                 fallback):
        self.problem, self.model, self.x, self.scale, self.cache = problem, model, x, scale, cache
        self.fallback = fallback

    def jacobian(self, params: list[Tensor]) -> tuple[Tensor, Tensor]:
        from dlpde.training.engd import block_jacobian

        if not getattr(self.model, "_no_field_jacobian", False):
            try:
                return self._fast(params)
            except Exception as err:  # noqa: BLE001 (any failure of torch.func: take the generic path)
                log.info("ENGD rows by the generic path (torch.func could not vmap %s: %s)",
                         type(self.model).__name__, err)
                self.model._no_field_jacobian = True
        return block_jacobian([self.fallback], params)

    def _fast(self, params: list[Tensor]) -> tuple[Tensor, Tensor]:
        if self.cache:
            phi, dphi, g, dg = self.cache
            vn, jn = field_jacobian(self.model.inner, params, self.x)
            v = torch.cat([(g + phi * vn[:, 0])[:, None], dg + phi[:, None] * vn[:, 1:] + vn[:, :1] * dphi], dim=1)
            jv = torch.cat([phi[:, None, None] * jn[:, :1],
                            phi[:, None, None] * jn[:, 1:] + dphi[:, :, None] * jn[:, :1]], dim=1)
        else:
            v, jv = field_jacobian(self.model, params, self.x)
        factor = density_hessian_factor(self.problem, self.x, v[:, 0], v[:, 1:])
        root = self.scale.sqrt()
        J = torch.einsum("nkr,nkp->nrp", factor, jv) * root[:, None, None]
        r = torch.einsum("nkr,nk->nr", factor, v) * root[:, None]
        return J.reshape(-1, J.shape[2]), r.reshape(-1)


def density_hessian_factor(problem: Problem, x: Tensor, u: Tensor, grad: Tensor) -> Tensor:
    """L (n, 1 + d, r) with L·Lᵀ = ∂²e/∂(u, ∇u)² at each point: the energy's Gram factor for ENGD.

    The Hessian comes from autograd (1 + d second-derivative passes over the density alone, cheap), so any
    density a problem defines is served. Negative curvature is dropped (a Gauss–Newton Gram must be positive
    semi-definite) and so are directions without curvature at any point (for ½|∇u|² − fu, the u direction)."""
    v = torch.cat([u.detach()[:, None], grad.detach()], dim=1).requires_grad_(True)
    with torch.enable_grad():
        e = problem.energy_density(x.detach(), v[:, 0], v[:, 1:])
        (first,) = torch.autograd.grad(e.sum(), v, create_graph=True)
        cols = [torch.autograd.grad(first[:, j].sum(), v, retain_graph=True, materialize_grads=True)[0]
                if first.requires_grad else torch.zeros_like(v) for j in range(v.shape[1])]
    hess = torch.stack(cols, dim=2).detach()
    lam, q = torch.linalg.eigh(0.5 * (hess + hess.mT))
    lam = lam.clamp_min(0)
    keep = lam.amax(dim=0) > 1e-12 * max(float(lam.max()), torch.finfo(lam.dtype).tiny)
    return (q * lam.sqrt()[:, None, :])[:, :, keep]


def energy_estimate(problem: Problem, fn: Callable[[Tensor], Tensor], n: int, *,
                    generator: torch.Generator | None = None, dtype: torch.dtype = torch.float64,
                    device: torch.device | str | None = None, method: str = "pseudo",
                    chunk: int = 8192) -> tuple[float, float]:
    """Monte Carlo estimate of ∫_Ω e(x, u, ∇u) dx for the field ``fn`` and its standard error (the standard
    error is that of independent samples; with method='sobol' it overstates the true error)."""
    total, total_sq, done = 0.0, 0.0, 0
    while done < n:
        m = min(chunk, n - done)
        x = problem.interior_points(m, generator=generator, device=device, dtype=dtype, method=method)
        with torch.enable_grad():
            e = energy_terms(problem, fn, x).detach().double()
        total += float(e.sum())
        total_sq += float((e * e).sum())
        done += m
    mean = total / n
    var = max(total_sq / n - mean * mean, 0.0) * n / max(n - 1, 1)
    vol = problem.domain.volume
    return vol * mean, vol * math.sqrt(var / n)


def natural_conditions(problem: Problem, conditions=None) -> list:
    """The problem's (or the given) conditions that enter the energy as boundary integrals (Neumann, Robin)."""
    return [c for c in (problem.conditions() if conditions is None else conditions) if getattr(c, "natural", False)]


def natural_curvature(c, x: Tensor, data: Tensor) -> Tensor:
    """∂²b/∂u² of the condition's boundary density b(x, u) at points x (α for Robin, 0 for Neumann), (n,); taken at
    u = 0 (b is quadratic in u for the conditions dlpde has)."""
    v = torch.zeros_like(x[:, 0]).requires_grad_(True)
    with torch.enable_grad():
        (first,) = torch.autograd.grad(c.natural_energy(x, v, data).sum(), v, create_graph=True)
        if not first.requires_grad:
            return torch.zeros_like(v).detach()
        (second,) = torch.autograd.grad(first.sum(), v, allow_unused=True, materialize_grads=True)
    return second.detach()


def boundary_energy(problem: Problem, fn: Callable[[Tensor], Tensor], n: int, *,
                    generator: torch.Generator | None = None, dtype: torch.dtype = torch.float64,
                    device: torch.device | str | None = None) -> float:
    """Σ_c |Γ_c|·mean b_c(x, u) over ``n`` points of each natural condition c: the energy's boundary integrals."""
    total = 0.0
    for c in natural_conditions(problem):
        x = c.sample(n, generator=generator, device=device, dtype=dtype)
        with torch.no_grad():
            u = fn(x)
            u = u[:, 0] if u.ndim == 2 else u
            total += float(c.measure()) * float(c.natural_energy(x, u, c.data(x)).double().mean())
    return total


def natural_refusal(problem: Problem) -> str:
    """Why the problem's conditions do not fit the energy ("" when they do; see the module docstring): a condition
    that is neither essential (a value condition) nor natural, a natural condition of a density whose flux ∂e/∂∇u
    is not ∇u, or a boundary term concave in u (Robin α < 0)."""
    from dlpde.problems.conditions import PDECondition

    gen = torch.Generator().manual_seed(0)
    for c in problem.conditions():
        if not isinstance(c, PDECondition):
            continue
        if not c.natural:
            if c.is_value and c.kind == "dirichlet":
                continue
            return (f"its {c.name} condition ({c.kind}) is neither essential (Dirichlet) nor natural (Neumann, Robin) "
                    "for the energy")
        x = c.sample(64, generator=gen, dtype=torch.float64)
        data = c.data(x)
        curvature = natural_curvature(c, x, data)
        if float(curvature.min()) < 0:
            i = int(curvature.argmin())
            return (f"its {c.name} condition adds ∫ ½αu² ds with α = {float(curvature[i]):.3g} < 0 (at x = "
                    f"{x[i].tolist()}) to the energy, which is then not coercive and can be unbounded below (the "
                    "solution is a saddle point, not a minimiser); a Robin condition ∂u/∂n + αu = g needs α ≥ 0 "
                    "for Deep Ritz")
        u = torch.randn(x.shape[0], generator=gen, dtype=x.dtype)
        grad = torch.randn(x.shape, generator=gen, dtype=x.dtype).requires_grad_(True)
        with torch.enable_grad():
            (flux,) = torch.autograd.grad(problem.energy_density(x, u, grad).sum(), grad, allow_unused=True,
                                          materialize_grads=True)
        if float((flux - grad).detach().abs().max()) > 1e-8 * (1 + float(grad.detach().abs().max())):
            return (f"its {c.name} condition prescribes ∂u/∂n, the natural condition of an energy whose flux "
                    "∂e/∂∇u is ∇u, but this energy's flux differs; write the condition as a BoundaryResidual for "
                    "the strong-form solvers")
    return ""


QUADRATURES = ("monte-carlo", "mesh", "gauss")
TINY_VOLUME = 1e-200  # below it the energy is taken per unit volume (EnergyObjective)
GAUSS_DEGREE = 8  # Gauss–Legendre nodes per cell and axis for quadrature="gauss" (exact to degree 15 per cell)


def gauss_box(lo: Tensor, hi: Tensor, cells: int, points: int, breaks: list[list[float]] | None = None, *,
              dtype: torch.dtype = torch.float64, device=None) -> tuple[Tensor, Tensor]:
    """Tensor Gauss–Legendre rule on the box [lo, hi]: ``points`` nodes on each of ``cells`` equal cells per axis,
    cells also split at ``breaks[i]`` (points of axis i inside the box). Returns nodes (M, d) and weights (M,)
    (their sum is the box's volume; exact for polynomials of degree 2·points − 1 in each variable per cell)."""
    check_sizes(quadrature_cells=cells, quadrature_points=points)
    t, w = np.polynomial.legendre.leggauss(points)
    axes_x, axes_w = [], []
    for i in range(lo.numel()):
        a, b = float(lo[i]), float(hi[i])
        extra = [p for p in (breaks[i] if breaks else []) if a < p < b]
        edges = np.unique(np.concatenate([np.linspace(a, b, cells + 1), extra]))
        mid, half = (edges[1:] + edges[:-1]) / 2, (edges[1:] - edges[:-1]) / 2
        axes_x.append((mid[:, None] + half[:, None] * t[None, :]).reshape(-1))
        axes_w.append((half[:, None] * w[None, :]).reshape(-1))
    grids = np.meshgrid(*axes_x, indexing="ij")
    weights = np.meshgrid(*axes_w, indexing="ij")
    x = np.stack([g.reshape(-1) for g in grids], axis=1)
    wt = np.prod(np.stack([g.reshape(-1) for g in weights], axis=1), axis=1)
    return torch.as_tensor(x, dtype=dtype, device=device), torch.as_tensor(wt, dtype=dtype, device=device)



def mesh_quadrature(problem: Problem, s: SolveSettings) -> tuple[Tensor, Tensor] | None:
    """Solver options ``quadrature`` ("monte-carlo", the default, "mesh" or "gauss"), ``quadrature_degree``
    (default 4 on a mesh, ``GAUSS_DEGREE`` nodes per cell and axis for Gauss) and ``quadrature_refine`` (default:
    the fewest uniform refinements that give at least ``batch`` points), checked: for "mesh" the points (n, d) and
    weights (n,) of ``MeshDomain.quadrature``, for "gauss" those of ``gauss_box`` on a Box with 2^refine cells per
    axis, on the training device and dtype; None for Monte Carlo.

    Why at least ``batch`` points: a fixed point set's energy is not bounded below over a network class that can
    be large at the points with a small gradient there, and L-BFGS finds that. Measured on (−1, 1)² with a 32-cell
    mesh (192 points of degree 4, 2 × 16 network): error 5.3e-3 after 150 iterations, 0.64 after 300, 0.99 after
    500; refined twice to 3072 points (≥ 2000) the same run gives 5.0e-3, 3.6e-3 and 1.2e-3 after 1000."""
    from dlpde.geometry.mesh import MeshDomain

    kind = s.options.get("quadrature", "monte-carlo")
    if kind not in QUADRATURES:
        raise ValueError(f"quadrature must be one of {QUADRATURES}, got {kind!r}")
    if kind == "monte-carlo":
        extra = sorted({"quadrature_degree", "quadrature_refine"} & set(s.options))
        if extra:
            raise ValueError(f"{', '.join(extra)} only apply with quadrature='mesh' or 'gauss'")
        return None
    if kind == "gauss":
        from dlpde.geometry import Box
        if not isinstance(problem.domain, Box):
            raise ValueError(f"quadrature='gauss' needs a problem on a Box or Interval, {problem.case} is on a "
                             f"{type(problem.domain).__name__}; use quadrature='monte-carlo' (or 'mesh' on a mesh)")
        degree = s.options.get("quadrature_degree", GAUSS_DEGREE)
        refine = s.options.get("quadrature_refine")
        check_sizes(quadrature_degree=degree)
        if refine is None:
            refine = 0
            while (2**refine * degree) ** problem.domain.dim < s.batch:
                refine += 1
        elif isinstance(refine, bool) or not isinstance(refine, int) or refine < 0:
            raise ValueError(f"quadrature_refine must be an integer >= 0, got {refine!r}")
        return gauss_box(problem.domain.lo, problem.domain.hi, 2**refine, degree, dtype=s.torch_dtype,
                         device=s.torch_device)
    if not isinstance(problem.domain, MeshDomain):
        raise ValueError(f"quadrature='mesh' needs a problem on a MeshDomain, {problem.case} is on a "
                         f"{type(problem.domain).__name__}; use quadrature='monte-carlo'")
    degree = s.options.get("quadrature_degree", 4)
    refine = s.options.get("quadrature_refine")
    if refine is None:
        per_cell = len(problem.domain.quadrature(degree)[1]) // problem.domain.n_cells
        refine, n = 0, problem.domain.n_cells * per_cell
        while n < s.batch:
            refine, n = refine + 1, n * 2 ** problem.domain.dim
    x, w = problem.domain.quadrature(degree, refine=refine)
    kw = dict(dtype=s.torch_dtype, device=s.torch_device)
    return torch.as_tensor(x, **kw), torch.as_tensor(w, **kw)


def constraint_at(model: nn.Module, x: Tensor) -> tuple[Tensor, ...]:
    """(φ, ∇φ, g, ∇g) at fixed points x for a scalar hard constraint u = g + φ·N (``HardConstraint``), checked
    against the model's own value at x; () for any other model (or where the check fails).

    Why: at fixed quadrature points these four never change, and φ of a mesh is the costly part of a step (the
    annulus, 82 boundary edges, 3468 points: energy and gradient 0.20 s with φ evaluated, 0.027 s for N alone), so
    ``constrained_field`` forms u = g + φN and ∇u = ∇g + N∇φ + φ∇N from them."""
    from dlpde.nn.constraints import HardConstraint

    if not isinstance(model, HardConstraint) or model.components not in (None, (0,)) or model.phi is None:
        return ()
    with torch.enable_grad():
        phi, dphi = field_and_gradient(model.phi, x)
        if model.g is None:
            g, dg = torch.zeros_like(phi), torch.zeros_like(dphi)
        else:
            xg = x.detach().requires_grad_(True)
            g = model.g(xg)
            g = g[:, 0] if g.ndim == 2 else g
            dg = torch.autograd.grad(g.sum(), xg, allow_unused=True)[0] if g.requires_grad else None
            dg = torch.zeros_like(dphi) if dg is None else dg
        cache = tuple(t.detach() for t in (phi, dphi, g, dg))
        probe = slice(0, min(len(x), 64))
        u = model(x[probe])
        if u.ndim != 2 or u.shape[1] != 1:
            return ()
        mine = constrained_field(model, x[probe], *(t[probe] for t in cache))[0]
    scale = float(u.detach().abs().max()) + float(mine.detach().abs().max()) + 1e-30
    ok = float((mine - u[:, 0]).detach().abs().max()) <= 1e3 * torch.finfo(x.dtype).eps * scale
    return cache if ok else ()


def constrained_field(model: nn.Module, x: Tensor, phi: Tensor, dphi: Tensor, g: Tensor,
                      dg: Tensor) -> tuple[Tensor, Tensor]:
    """u = g + φN and ∇u = ∇g + N∇φ + φ∇N at points x from φ, g and their gradients there (``constraint_at``):
    only the inner network N is evaluated (one reverse pass for ∇N, graph kept in grad mode)."""
    n, dn = field_and_gradient(model.inner, x)
    return g + phi * n, dg + phi[:, None] * dn + n[:, None] * dphi


class EnergyObjective(CollocationSamples):
    """|Ω|·mean e(x, u, ∇u) + β Σ_c w_c |∂Ω|·mean (u − g)² on fresh samples (see the module docstring)."""

    def __init__(self, problem: Problem, model: nn.Module, s: SolveSettings):
        self.problem, self.model, self.s = problem, model, s
        self.gen = s.generator()
        self.conditions = active_conditions(problem, model)  # minus those a hard constraint satisfies exactly
        # Neumann/Robin: boundary integrals |Γ_c|·mean b_c(x, u) of the energy, not penalties
        self.measures = {c.name: float(c.measure()) for c in natural_conditions(problem, self.conditions)}
        self.volume = float(problem.domain.volume)
        self.boundary_measure = float(problem.domain.boundary_measure)
        if not self.volume >= TINY_VOLUME:
            # a volume that underflows (the unit ball of R^d, d ≳ 300) would make the loss 0 · mean = 0 and stop all
            # training: the energy per unit volume instead (the same minimiser), boundary terms by |∂Ω|/|Ω|
            if self.measures:
                raise ValueError(f"{problem.case}: the domain's volume {self.volume:.3g} underflows, and natural "
                                 "boundary terms need the boundary's measure; rescale the domain")
            log.info("%s: the domain's volume %.3g underflows; the loss is the energy per unit volume",
                     problem.case, self.volume)
            self.volume, self.boundary_measure = 1.0, float(problem.domain.boundary_to_volume)
        self.x: Tensor | None = None
        self.cond_points: list[tuple[Tensor, Tensor]] = []
        warmup = s.options.get("penalty_warmup", 0.0)
        if isinstance(warmup, bool) or not isinstance(warmup, (int, float)) or not 0 <= warmup <= 1:
            raise ValueError(f"penalty_warmup must be a fraction of the steps in [0, 1], got {warmup!r}")
        self.warmup_steps = int(round(warmup * s.steps))
        self.lbfgs_batch = lbfgs_batch_option(s)  # interior points of the L-BFGS phase's quadrature
        self.in_lbfgs = False
        self.beta = self.penalty_weight(0)
        # option quadrature="mesh": one fixed weighted quadrature (x_q, w_q) replaces the interior samples
        self.quadrature = mesh_quadrature(problem, s)
        self.weights: Tensor | None = None if self.quadrature is None else self.quadrature[1]
        self.cache: tuple[Tensor, ...] = () if self.quadrature is None else constraint_at(model, self.quadrature[0])

    def begin_lbfgs(self) -> None:
        """Called by the Trainer as the L-BFGS phase starts: its one fixed quadrature has ``lbfgs_batch`` points."""
        self.in_lbfgs = True

    def penalty_weight(self, step: int) -> float:
        """β at ``step``: during the warm-up it grows geometrically from β/100 to β, afterwards it is β."""
        beta = float(self.s.boundary_weight)
        if step >= self.warmup_steps:
            return beta
        return beta * WARMUP_START ** (1 - step / self.warmup_steps)

    def sample(self, batch: int | None = None, boundary_batch: int | None = None) -> None:
        """Fresh points as ``CollocationSamples.sample``; with a fixed quadrature only the conditions' points
        are drawn (the interior draw is one point, discarded) and x is the quadrature's."""
        if self.quadrature is None:
            return super().sample(batch, boundary_batch)
        super().sample(1, boundary_batch)
        self.x = self.quadrature[0]

    def loss(self, step: int, *, resample: bool):
        if resample or self.x is None:
            if self.lbfgs_batch and self.in_lbfgs and self.quadrature is None:  # L-BFGS's one fixed set
                ratio = self.lbfgs_batch / self.s.batch
                self.sample(self.lbfgs_batch, max(1, round(self.s.boundary_batch * ratio)))
            else:
                self.sample()
        self.beta = self.penalty_weight(step)
        return self._evaluate()

    def condition_targets(self, c, xb: Tensor) -> Tensor:
        """A ``PDE`` condition's data: the value (n,) of a Dirichlet condition, all of ``data`` (n, q) of a natural
        one; the target of a plain ``Condition``."""
        from dlpde.problems.conditions import PDECondition
        if isinstance(c, PDECondition):
            data = c.data(xb)
            return data if c.natural else data[:, 0]
        return super().condition_targets(c, xb)

    def _natural(self, c, xb: Tensor, data: Tensor) -> Tensor:
        """|Γ_c|·mean b_c(x, u) at the condition's points: its boundary integral in the energy."""
        u = self.model(xb)[:, 0]
        return self.measures[c.name] * c.natural_energy(xb, u, data).mean()

    least_squares = False  # ENGD: the rows factor the energy's Gram (dlpde.training.engd)

    def current_loss(self) -> Tensor:
        """The loss at the current points and penalty weight (ENGD's line search)."""
        return self._evaluate()[0]

    def gram_blocks(self) -> list:
        """ENGD's rows, whose Jacobian factors the energy's Gram: √(|Ω|/n)·Lᵀ(u, ∇u) at each interior point, L
        from ``density_hessian_factor``, and √(2β w_c |∂Ω|/n_c)·(u − g) at each penalised condition's points."""
        if self.weights is None:
            generic = row_block((self.x,), self._energy_rows, self.volume)
            scale = torch.full_like(self.x[:, 0], self.volume / len(self.x))
        else:  # rows √w_q·Lᵀ(u, ∇u): their squares sum to the weighted energy's Gram (row_block's scale is 1)
            generic = row_block((self.x, self.weights.sqrt(), *self.cache),
                                lambda x, r, *cache: self._energy_rows(x, cache) * r[:, None], len(self.x))
            scale = self.weights
        blocks = [EnergyRows(self.problem, self.model, self.x, scale, self.cache, generic)]
        for c, (xb, target) in zip(self.conditions, self.cond_points):
            if c.name in self.measures:  # rows √(∂²b/∂u²)·u (Robin: √α·u; Neumann's −hu is linear: none)
                root = natural_curvature(c, xb, target).clamp_min(0).sqrt()
                if float(root.max()) > 0:
                    blocks.append(row_block((xb, root), lambda x, r: self.model(x)[:, 0] * r,
                                            self.measures[c.name]))
                continue
            blocks.append(row_block((xb, target), self.value_error,
                                    2 * self.beta * c.weight * self.boundary_measure))
        return blocks

    def _field(self, x: Tensor, cache: tuple[Tensor, ...] = ()) -> tuple[Tensor, Tensor]:
        """u and ∇u at x; from the hard constraint's stored φ, g at the fixed quadrature points when given."""
        return constrained_field(self.model, x, *cache) if cache else field_and_gradient(self.model, x)

    def _energy_rows(self, x: Tensor, cache: tuple[Tensor, ...] = ()) -> Tensor:
        u, grad = self._field(x, cache)
        factor = density_hessian_factor(self.problem, x, u, grad)
        return torch.einsum("nkr,nk->nr", factor, torch.cat([u[:, None], grad], dim=1))

    def _evaluate(self) -> tuple[Tensor, dict[str, Tensor]]:
        if self.weights is None:
            energy = self.volume * energy_terms(self.problem, self.model, self.x).mean()
        else:
            u, grad = self._field(self.x, self.cache)
            energy = (self.weights * self.problem.energy_density(self.x, u, grad)).sum()
        terms = {"energy": energy}
        total = energy
        for c, (xb, target) in zip(self.conditions, self.cond_points):
            if c.name in self.measures:
                terms[f"energy_{c.name}"] = self._natural(c, xb, target)
                total = total + terms[f"energy_{c.name}"]
                continue
            e = self.value_error(xb, target)
            terms[f"loss_{c.name}"] = (e * e).mean()
            total = total + self.beta * c.weight * self.boundary_measure * terms[f"loss_{c.name}"]
        return total, terms


class DeepRitz(Solver):
    name = "ritz"
    description = "Deep Ritz: minimise the Monte Carlo energy with a boundary penalty (E & Yu 2018)"
    options = ("input_map", "penalty_warmup", "lbfgs_batch", "hard_constraint", "quadrature", "quadrature_degree",
               "quadrature_refine", "calibrate_output")

    def refusal(self, problem: Problem) -> str:
        if problem.time_dependent:
            return f"{problem.case} is time-dependent and has no energy functional to minimise"
        if not problem.has_energy:
            from dlpde.problems.pde import PDE
            if getattr(problem, "no_energy", ""):
                return f"{problem.case} has no energy to minimise: {problem.no_energy}"
            if isinstance(problem, PDE):
                return (f"{problem.case} is given in strong form only; Deep Ritz needs its energy density: "
                        "PDE(..., energy=lambda x, u, grad: ...) for a steady symmetric problem")
            return f"{problem.case} has no energy functional (Deep Ritz needs a symmetric, steady problem)"
        try:
            problem.conditions()
            float(problem.domain.volume), float(problem.domain.boundary_measure)
        except (NotImplementedError, AttributeError, TypeError) as e:
            return f"{problem.case} lacks boundary conditions or a domain volume/boundary measure ({e})"
        why = natural_refusal(problem)
        return f"{problem.case}: {why}" if why else ""

    def build_model(self, problem: Problem, s: SolveSettings) -> nn.Module:
        return scaled_network(problem, s, lambda in_dim, **sc: ResNet(
            in_dim, 1, width=s.width, blocks=s.depth, activation=s.activation,
            input_map=s.options.get("input_map", "auto"), **sc))

    def objective(self, problem: Problem, model: nn.Module, s: SolveSettings):
        return EnergyObjective(problem, model, s)

    def run(self, problem: Problem, s: SolveSettings) -> Solution:
        solution = super().run(problem, s)
        if solution.status == "ok":
            p = next(solution.model.parameters())
            n = min(s.eval_points, 20_000)
            energy, stderr = energy_estimate(problem, solution.model, n, generator=s.generator(7),
                                             dtype=p.dtype, device=p.device)
            energy += boundary_energy(problem, solution.model, min(n, 4096), generator=s.generator(8),
                                      dtype=p.dtype, device=p.device)  # Neumann/Robin terms (0 without)
            solution.extra.update(energy=energy, energy_stderr=stderr)
        return solution
