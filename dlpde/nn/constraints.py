"""Hard (exact) Dirichlet and initial conditions: u(x) = g(x) + φ(x)·N(x).

φ vanishes exactly on the part of the boundary where u = g is prescribed and is positive elsewhere, g is the data
extended smoothly inside, and N is any network. Then u = g on that boundary for every N, the condition drops out of
the loss, and a solver trains N on the PDE alone: no boundary weight to tune, no Robin-penalty bias in Deep Ritz, no
residual/boundary imbalance in a PINN (Lagaris, Likas & Fotiadis, IEEE Trans. Neural Netw. 1998; Sukumar &
Srivastava, "Exact imposition of boundary conditions with distance functions in physics-informed deep neural
networks", CMAME 389, 2022). The initial-value form u = u0(x, t) + (t − t0)·N(x, t) is the same construction with
φ = t − t0 (time in the last input column).

``distance_function(domain)`` gives φ for the domains dlpde knows (see its docstring for each formula and why).
``HardConstraint`` wraps a network; its ``forward_jet`` carries value, directional derivatives and the weighted
second derivative through the product rule, with the jets of φ and g (plain torch functions of x) taken by
``torch.func`` (forward-over-forward ``jvp``, ``vmap``-ed over the directions), so the forward Laplacian of the
constrained network is exact and tested equal to autograd. ``constrained_network(problem, net)`` builds it for a
problem; ``active_conditions(problem, model)`` is the problem's conditions minus those the model satisfies exactly.

Saving and reloading: φ and g are functions and cannot be stored in a result file. ``config()`` stores what rebuilds
them: the case name and parameters of the problem (a registered case is rebuilt from them on load, and φ, g with
it), how φ was made (``kind``: "dirichlet" with the domain's description, "initial" with t0, or "custom") and whether g
was zero. A reloaded solution of a custom problem (``case == "custom"``, or φ/g passed by hand) comes back unbound:
call ``model.bind(problem)`` (or ``model.bind(phi=..., g=...)``) before evaluating it; until then it raises a
ValueError that says so.
"""
from __future__ import annotations

import functools
import math
from typing import Callable, Sequence

import torch
from torch import nn

from dlpde.geometry import Ball, Box, Domain, SpaceTime
from dlpde.geometry.mesh import MeshDomain
from dlpde.nn.dgm import jet_mul
from dlpde.nn.jet import Jet

Tensor = torch.Tensor
Fn = Callable[[Tensor], Tensor]
BOX_P = 2  # exponent of the R-equivalence that joins the box's per-axis factors (see ``box_distance``)
BOX_PRODUCT_MAX_DIM = 3  # up to this dimension a box's φ is the product of its per-axis factors (``box_distance``)
_SERIES_TERMS = 12  # Taylor terms of atan(z)/z for z² < 1/25: remainder < 1e-18 (see ``_angle_over_height``)


# ---------------------------------------------------------------------------------------------------------
# distance functions


def interval_factor(x: Tensor, lo: Tensor, hi: Tensor) -> Tensor:
    """s_i = 4 (x_i − lo_i)(hi_i − x_i) / w_i², per coordinate (n, d): 1 at the centre, 0 on the faces."""
    w = hi - lo
    return 4 * (x - lo) * (hi - x) / (w * w)


def box_distance(lo: Sequence[float] | Tensor, hi: Sequence[float] | Tensor, *, p: float | None = BOX_P) -> Fn:
    """φ for the box ∏[lo_i, hi_i]: the per-axis factors s_i = 4(x_i − lo_i)(hi_i − x_i)/w_i² joined by the
    R-equivalence (Σ_i s_i^{−p})^{−1/p} (Rvachev; Sukumar & Srivastava 2022, §4); in 1-D simply s_1; ``p=None``
    gives the product ∏ s_i instead, which ``distance_function`` uses up to d = 3 (``BOX_PRODUCT_MAX_DIM``).

    Why the product in low dimension: it is a polynomial, smooth on the whole closed box, corners included, so
    N = (u − g)/φ is smooth wherever u − g vanishes on every face (an analytic u gives an analytic N). The
    R-equivalence has kinks along the box's diagonals near the corners (where two s_i are equal and small), which N
    must then mirror. Measured on ``helmholtz-2d`` (sin network, first_layer_scale 8, 1000 Adam + 3000 L-BFGS,
    float64): product 1.4e-4, R-equivalence 8.7e-4.

    Why not the product in high dimension: in d = 10 it is tiny at most points (the geometric mean of s_i over the cube is
    4/e² ≈ 0.54, so a typical product is 0.54^10 ≈ 2e-3; measured at uniform points of (0, 1)^10: median 3.1e-3,
    5 % quantile 1.5e-5), so N = (u − g)/φ would have to vary by orders of magnitude across the box. The R-equivalence is a smooth minimum: it
    behaves like the smallest s_i (≈ 4·distance/w to the nearest face), equals d^{−1/p} at the centre (0.32 for
    d = 10, p = 2) and stays of the order of the normalised distance to the boundary in any dimension (d = 10:
    median 0.10 at uniform points). It is smooth
    inside the box and on the open faces; like the distance itself it has a kink only where two faces meet (on the
    (d−2)-dimensional edges, part of the boundary). Computed as κ·(Σ (s_i/κ)^{−p})^{−1/p} with κ = min_i s_i (the
    function is homogeneous of degree 1, so any κ gives the same value and derivatives), which neither overflows at
    the faces nor underflows in high d, and gives exactly 0 on a face."""
    lo_t = torch.as_tensor(lo, dtype=torch.float64).reshape(-1)
    hi_t = torch.as_tensor(hi, dtype=torch.float64).reshape(-1)

    def phi(x: Tensor) -> Tensor:
        s = interval_factor(x, lo_t.to(device=x.device, dtype=x.dtype), hi_t.to(device=x.device, dtype=x.dtype))
        if p is None:
            return s.prod(dim=1)
        if s.shape[1] == 1:
            return s[:, 0]
        kappa = s.amin(dim=1, keepdim=True).clamp_min(torch.finfo(x.dtype).tiny)
        return kappa[:, 0] * (s / kappa).pow(-p).sum(dim=1).pow(-1.0 / p)

    return phi


def ball_distance(center: Sequence[float] | Tensor, radius: float) -> Fn:
    """φ = 1 − |x − c|²/r² for the ball of radius r around c: smooth (a polynomial), 1 at the centre, slope 2/r at
    the sphere. Its jet is closed-form (``BallDistance.jet``), O(n·k·D) instead of k jvp-of-jvp passes."""
    return BallDistance(center, radius)


class BallDistance:
    """φ = 1 − |x − c|²/r² with its jet in closed form: ∇φ = −2(x − c)/r², Hess φ = −2I/r²."""

    def __init__(self, center: Sequence[float] | Tensor, radius: float):
        self.c = torch.as_tensor(center, dtype=torch.float64).reshape(-1)
        self.r2 = float(radius) ** 2

    def __call__(self, x: Tensor) -> Tensor:
        v = x - self.c.to(device=x.device, dtype=x.dtype)
        return 1 - (v * v).sum(dim=1) / self.r2

    def jet(self, jet: Jet) -> Jet:
        """The jet of φ(h) given the jet of h (tangents (n, k, D), second (n, D)); equals ``function_jet``."""
        x = jet.value
        grad = -2 * (x - self.c.to(device=x.device, dtype=x.dtype)) / self.r2
        if jet.identity:  # T = I (not read: ``Jet.identity_seed`` never makes it): ∇φ·e_j = ∂_jφ, |e_j|² = 1
            tangent = grad
            quad = torch.tensor(float(x.shape[1]), dtype=x.dtype, device=x.device) if jet.weights is None \
                else jet.weights.sum()
        elif x.shape[0] > 1 and jet.tangent.stride(0) == 0:  # directions shared by all points: one (k, D) matrix
            t = jet.tangent[0]
            tangent = grad @ t.T
            squares = (t * t).sum(dim=1)
            quad = squares.sum() if jet.weights is None else squares @ jet.weights
        else:
            t = jet.tangent
            tangent = torch.einsum("nkd,nd->nk", t, grad)
            squares = (t * t).sum(dim=2)
            quad = squares.sum(dim=1) if jet.weights is None else squares @ jet.weights
        second = -2 * quad / self.r2 + (grad * jet.second).sum(dim=1)
        return Jet(self(x)[:, None], tangent[:, :, None], second.expand(x.shape[0])[:, None], jet.weights)


def _atan_ratio_series(w: Tensor) -> Tensor:
    """atan(√w)/√w = Σ_k (−w)^k/(2k+1) by Horner's rule (0 ≤ w < 1/25)."""
    out = torch.full_like(w, 1.0 / (2 * _SERIES_TERMS - 1))
    for k in range(_SERIES_TERMS - 2, -1, -1):
        out = 1.0 / (2 * k + 1) - w * out
    return out


def _angle_over_height(c: Tensor, dot: Tensor) -> Tensor:
    """F(c, D) = atan2(|c|, D)/|c|, an even, smooth function of c wherever (c, D) ≠ (0, D ≤ 0).

    A triangle seen from x subtends the solid angle Ω = 2 atan2(|N|, Den) (Van Oosterom & Strackee, IEEE Trans.
    Biomed. Eng. 30, 1983; N = a·(b×c), Den = |a||b||c| + (a·b)|c| + (a·c)|b| + (b·c)|a| with a, b, c its vertices
    minus x), and Ω/h = 4A·F(N, Den), h the distance to its plane and A its area. Where |c| ≪ D (a far facet, or
    x near the facet's plane but off the facet) F = (1/D)·atan(z)/z with z = |c|/D, evaluated by its Taylor series in
    z² (for z < 1/5) so that the derivatives do not cancel catastrophically; elsewhere directly. Both branches get
    safe arguments (the double ``where``) so that neither autograd nor forward mode sees a NaN from the branch not
    taken. On the facet itself F = π/|c| → ∞ (|c| is clamped to the smallest normal number)."""
    one = torch.ones_like(dot)
    small = (dot > 0) & (c * c < 0.04 * dot * dot)
    d_small = torch.where(small, dot, one)
    series = _atan_ratio_series(torch.where(small, (c / d_small) ** 2, 0 * one)) / d_small
    s_big = torch.where(small, one, c.abs().clamp_min(torch.finfo(c.dtype).tiny))
    direct = torch.atan2(s_big, torch.where(small, one, dot)) / s_big
    return torch.where(small, series, direct)


def _segment_integrals(x: Tensor, seg: dict) -> Tensor:
    """I_s(x) = ∫_{segment s} |x − y|^{−3} ds(y) for points x (n, 2) and segments s (m,), shape (n, m).

    With a, b the coordinates of the segment's ends along its direction and h the height of x over its line
    (relative to the foot of x), I = G(b) − G(a), G(t) = t / (h² (t² + h²)^½). Where the foot lies on the segment
    (a < 0 < b) the two terms add: I = (b/r_b − a/r_a)/h²; elsewhere they would cancel (and 0/0 on the line through
    the segment), so there the same value is computed as I = L (a + b)/(r_a r_b (b r_a + a r_b)) (L = b − a;
    rationalised with b² r_a² − a² r_b² = h² L (a + b)), whose terms share one sign. Safe arguments for the branch
    not taken, as in ``_angle_over_height``. On the segment I = ∞ (φ = 0); at a vertex the second form gives ∞ too."""
    a = seg["a"] - x @ seg["tangent"].T  # (n, m)
    h = seg["h"] - x @ seg["normal"].T
    length = seg["length"]
    b = a + length
    h2 = h * h
    ra, rb = (a * a + h2).sqrt(), (b * b + h2).sqrt()
    inside = (a < 0) & (b > 0)
    one = torch.ones_like(h2)
    on_foot = (b / rb - a / ra) / torch.where(inside, h2, one)
    den = ra * rb * (b * ra + a * rb)
    beside = length * (a + b) / torch.where(inside, one, den)
    return torch.where(inside, on_foot, beside)


def mesh_distance(domain: MeshDomain) -> Fn:
    """φ for a triangle (2-D) or tetrahedron (3-D) mesh: an approximate distance to its boundary facets, the
    L^p-distance with p = 3 of Belyaev, Fayolle & Pasko ("Signed Lp-distance fields", CAD 45, 2013),

        2-D:  φ(x) = (2/ℓ) · (½ Σ_s ∫_{edge s} |x − y|^{−3} ds)^{−1/2},
        3-D:  φ(x) = (2/ℓ) · 2π / Σ_s ∫_{triangle s} |x − y|^{−3} dA,

    every facet's integral exact in closed form (``_segment_integrals``; in 3-D the solid angle the triangle
    subtends over x's distance to its plane, ``_angle_over_height``). Near the middle of a facet the sum is ≈ 2/δ²
    (2-D) or 2π/δ (3-D), so φ ≈ 2δ/ℓ: it vanishes on the boundary with nonzero slope (like 1 − |x|²/r² of a ball of
    radius ℓ = half the largest width of the bounding box), is positive and smooth (analytic) everywhere off the
    boundary, and stays of order one inside (annulus 0.3 < |x| < 1: 0.38 on the circle |x| = 0.65).

    Why not the R-equivalence (Σ_s d_s^{−m})^{−1/m} of the distances d_s to the boundary segments (Sukumar &
    Srivastava 2022): over a fine polygon (the annulus mesh has 82 boundary edges) every far segment adds to the
    sum, so at distance δ ≫ h from a boundary of edge length h it is ≈ (πδ^{1−m}/h)^{−1/m}, i.e. φ shrinks with the
    mesh size and ripples at the scale h near the boundary; and the clamped segment distance has jumps in its second
    derivative on the lines through the segment ends. The integral weights each facet by its size, so a refined
    polygon of the same shape gives nearly the same φ (measured on the annulus: within 1 % at |x| = 0.35 ... 0.95
    for edge lengths 0.1 and 0.05).

    Cost: a (batch, facets) array per evaluation, about 30 elementwise operations on it in 2-D (a Deep Ritz step
    on the annulus, 82 edges, costs about as much as the network's)."""
    points = torch.tensor(domain.points, dtype=torch.float64)  # a copy: the mesh arrays are read-only
    facets = torch.tensor(domain.boundary_facets, dtype=torch.long)
    coords = points[facets]  # (m, d, d)
    lo, hi = domain.bounds
    scale = 2.0 / (0.5 * float((hi - lo).max()))
    if domain.dim == 2:
        edge = coords[:, 1] - coords[:, 0]
        length = torch.linalg.norm(edge, dim=1)
        tangent = edge / length[:, None]
        normal = torch.stack([-tangent[:, 1], tangent[:, 0]], dim=1)
        data = {"a": (coords[:, 0] * tangent).sum(1), "h": (coords[:, 0] * normal).sum(1), "length": length,
                "tangent": tangent, "normal": normal}
    else:
        area4 = 2 * torch.linalg.norm(torch.cross(coords[:, 1] - coords[:, 0], coords[:, 2] - coords[:, 0], dim=1),
                                      dim=1)  # 4 × the areas
        data = {"coords": coords, "area4": area4}

    def on(x: Tensor) -> dict:
        # converted at every call, not cached: a copy made inside torch.func's jvp/vmap (a PINN's first jet pass)
        # belongs to that transform's level and must not be reused outside it (functorch's "escaped" assert)
        return {k: v.to(device=x.device, dtype=x.dtype) for k, v in data.items()}

    def phi(x: Tensor) -> Tensor:
        seg = on(x)
        if domain.dim == 2:
            return scale * (0.5 * _segment_integrals(x, seg).sum(dim=1)).rsqrt()
        rel = seg["coords"].unsqueeze(0) - x[:, None, None, :]  # (n, m, 3, 3): the vertices minus x
        a, b, e = rel[:, :, 0], rel[:, :, 1], rel[:, :, 2]
        c = (a * torch.cross(b, e, dim=-1)).sum(-1)
        na, nb, ne = ((t * t).sum(-1).sqrt() for t in (a, b, e))
        dot = na * nb * ne + (a * b).sum(-1) * ne + (a * e).sum(-1) * nb + (b * e).sum(-1) * na
        return scale * 2 * math.pi / (_angle_over_height(c, dot) * seg["area4"]).sum(dim=1)

    return phi


def distance_function(domain: Domain) -> Fn:
    """A smooth φ(x) ≥ 0 (shape (n,)) that vanishes exactly on the boundary of ``domain``, is positive inside and of
    order one in the interior: ``box_distance`` (Box, Interval; the product of the per-axis factors up to d = 3, their
    R-equivalence above), ``ball_distance`` (Ball), ``mesh_distance``
    (MeshDomain), and for ``SpaceTime(space, t0, t1)`` the space part's φ of x[:, :-1] (the lateral boundary; time
    untouched)."""
    if isinstance(domain, SpaceTime):
        space = distance_function(domain.space)
        return lambda x: space(x[:, :-1])
    if isinstance(domain, Box):
        return box_distance(domain.lo, domain.hi, p=None if domain.dim <= BOX_PRODUCT_MAX_DIM else BOX_P)
    if isinstance(domain, Ball):
        return ball_distance(domain.center, domain.radius)
    if isinstance(domain, MeshDomain):
        return mesh_distance(domain)
    raise ValueError(f"no distance function is known for a {type(domain).__name__}; pass phi= yourself: "
                     "HardConstraint(net, phi=lambda x: ..., g=...) with phi = 0 on the boundary and > 0 inside")


def initial_distance(t0: float) -> Fn:
    """φ = t − t0 (time in the last input column): the initial-value form u = u0 + (t − t0)·N."""
    t0 = float(t0)
    return lambda x: x[:, -1] - t0


def _domain_from_description(desc: dict) -> Domain | None:
    """Box, Interval, Ball and SpaceTime of those from ``describe()``; None for others (a mesh needs its points)."""
    kind = desc.get("type")
    if kind == "Interval":
        return Box([desc["a"]], [desc["b"]])
    if kind == "Box":
        return Box(desc["lo"], desc["hi"])
    if kind == "Ball":
        return Ball(desc["center"], desc["radius"])
    if kind == "SpaceTime":
        space = _domain_from_description(desc["space"])
        return None if space is None else SpaceTime(space, desc["t0"], desc["t1"])
    return None


# ---------------------------------------------------------------------------------------------------------
# jets of plain functions


def _is_compiling() -> bool:
    """``torch.compiler.is_compiling()`` (torch ≥ 2.3), or torch._dynamo's own on older torch."""
    check = getattr(torch.compiler, "is_compiling", None)
    if check is None:
        from torch import _dynamo
        check = _dynamo.is_compiling
    return bool(check())


def eager_under_compile(fn: Callable) -> Callable:
    """``fn`` run eagerly inside a compiled loss: ``torch.compiler.disable(fn)``, made at the first call under
    ``torch.compile`` instead of at import. Applying the decorator imports ``torch._dynamo`` (1.7 s here), which at
    import time every command line call paid, a mistyped case name included (issue 17: 1.8 s → 4 s). Outside a
    compiled region ``fn`` is called as it is; inside, the first call makes the disabled function (a graph break,
    run in Python) and every call goes through it."""
    disabled = None

    @functools.wraps(fn)
    def call(*args, **kwargs):
        nonlocal disabled
        if not _is_compiling():
            return fn(*args, **kwargs)
        if disabled is None:
            disabled = torch.compiler.disable(fn)
        return disabled(*args, **kwargs)

    return call


@eager_under_compile  # runs eagerly inside a compiled loss: torch 2.13's compiled jvp-in-vmap kernels crashed
def function_jet(f: Fn, jet: Jet) -> Jet:
    """The jet of f(h) for a pointwise torch function f: (n, D) → (n,) or (n, c), given the jet of h.

    A function with a ``jet`` method gives its own (closed form). Otherwise: tangent j: ∇f·T_j (``torch.func.jvp`` along T_j); second: ∇f·S + Σ_j c_j T_jᵀ Hess f T_j, the quadratic forms by
    forward-over-forward ``jvp``, ``vmap``-ed over the k directions. Directions shared by all points (the expanded
    (k, D) of ``Jet.seed``, whose second part is zero) are vmapped as (k, D) rows expanded to (n, D) inside."""
    from torch.func import jvp, vmap

    if hasattr(f, "jet"):  # a closed-form jet (e.g. BallDistance)
        return f.jet(jet)
    x = jet.value
    n = x.shape[0]

    def f2(y: Tensor) -> Tensor:
        out = f(y)
        return out[:, None] if out.ndim == 1 else out

    def first_second(t: Tensor) -> tuple[Tensor, Tensor]:
        t = t.expand(n, -1)
        return jvp(lambda y: jvp(f2, (y,), (t,))[1], (x,), (t,))

    shared = n > 1 and jet.tangent.stride(0) == 0
    directions = jet.tangent[0] if shared else jet.tangent.transpose(0, 1)  # (k, D) or (k, n, D)
    d1, d2 = vmap(first_second)(directions)  # (k, n, c) each
    second = d2.sum(0) if jet.weights is None else torch.einsum("knc,k->nc", d2, jet.weights)
    if not shared:  # a general incoming jet may carry second derivatives of its own: add ∇f·S
        second = second + jvp(f2, (x,), (jet.second,))[1]
    return Jet(f2(x), d1.transpose(0, 1), second, jet.weights)


# ---------------------------------------------------------------------------------------------------------
# the constrained network


JET_CACHE_LIMIT = 4_000_000  # numbers compared and kept per reused jet of φ or g (HardConstraint._fixed_jet)


class HardConstraint(nn.Module):
    """u(x) = g(x) + φ(x)·N(x) on the chosen output ``components`` of the inner network N (the others pass through).

    ``phi``: x (n, D) → (n,), zero where the condition holds, positive elsewhere (``distance_function``); ``g``: x →
    (n,) (or (n, c) for c components), the data extended to the whole domain; None means g = 0. ``enforces``: the
    names of the problem's conditions this satisfies exactly (``active_conditions`` drops them from the loss).
    ``spec``: how to rebuild φ and g from a stored config (see the module docstring); ``constrained_network`` fills
    it. ``forward_jet`` is the product rule on jets (``jet_mul``) with φ's and g's jets from ``function_jet``."""

    def __init__(self, inner: nn.Module, phi: Fn | None, g: Fn | None = None, *,
                 components: Sequence[int] | None = None, enforces: Sequence[str] = (), spec: dict | None = None):
        super().__init__()
        self.inner = inner
        self.phi, self.g = phi, g
        self.components = None if components is None else tuple(int(c) for c in components)
        if self.components is not None and (not self.components or len(set(self.components)) != len(self.components)
                                             or min(self.components) < 0):
            raise ValueError(f"components must be distinct output indices ≥ 0, got {components!r}")
        if isinstance(enforces, str):
            enforces = (enforces,)
        self.enforces: tuple[str, ...] = tuple(str(e) for e in enforces)
        self.spec = dict(spec or {"kind": "custom"})
        self.spec.setdefault("g_zero", g is None)

    @classmethod
    def initial_value(cls, inner: nn.Module, u0: Fn | None, t0: float, *, enforces: Sequence[str] = ("initial",),
                      components: Sequence[int] | None = None) -> "HardConstraint":
        """u = u0(x, t) + (t − t0)·N(x, t), time in the last column (u0 is called on the full points)."""
        return cls(inner, initial_distance(t0), u0, components=components, enforces=enforces,
                   spec={"kind": "initial", "t0": float(t0), "g_zero": u0 is None})

    # -- binding φ and g after a reload ------------------------------------------------------------------
    def bind(self, problem=None, *, phi: Fn | None = None, g: Fn | None = None) -> "HardConstraint":
        """Attach φ and g: those of ``problem`` (as ``constrained_network`` makes them), or the given functions.
        Needed after reloading a custom problem's solution; returns self."""
        if problem is not None:
            phi, g, names, _ = constraint_data(problem)
            if set(names) != set(self.enforces):
                raise ValueError(f"this network enforces {list(self.enforces)} but {problem.case}'s hard constraint "
                                 f"enforces {list(names)}; bind the problem it was trained on")
        if phi is None:
            raise ValueError("bind needs a problem or phi=")
        self.phi, self.g = phi, g
        self.__dict__.pop("_jet_cache", None)
        return self

    def _check_bound(self) -> None:
        if self.phi is None or (self.g is None and not self.spec.get("g_zero", False)):
            raise ValueError("this HardConstraint was rebuilt from a stored config without its functions φ and g "
                             "(a custom problem's cannot be stored); load the file with "
                             "dlpde.load(path, problem=your_problem), or call model.bind(problem) or "
                             "model.bind(phi=..., g=...) first")

    def _mask(self, m: int, ref: Tensor) -> Tensor | None:
        """(m,) bool mask of the constrained outputs; None when all are."""
        if self.components is None or (m == 1 and self.components == (0,)):
            return None
        if max(self.components) >= m:
            raise ValueError(f"components {list(self.components)} out of range for a network with {m} outputs")
        mask = torch.zeros(m, dtype=torch.bool, device=ref.device)
        mask[list(self.components)] = True
        return mask

    def _g_columns(self, gv: Tensor, n: int) -> Tensor:
        gv = gv[:, None] if gv.ndim == 1 else gv
        if gv.shape[0] != n:
            raise ValueError(f"g must return one value per point, shape ({n},) or ({n}, c), got {tuple(gv.shape)}")
        return gv

    def _scatter(self, mask: Tensor, part: Tensor) -> Tensor:
        """(..., c) values of the constrained components → (..., m) with zeros elsewhere."""
        out = part.new_zeros(*part.shape[:-1], mask.numel())
        out[..., mask] = part
        return out

    def forward(self, x: Tensor) -> Tensor:
        self._check_bound()
        out = self.inner(x)
        phi = self.phi(x)
        if phi.shape != x.shape[:1]:
            raise ValueError(f"phi must return one value per point, shape ({x.shape[0]},), got {tuple(phi.shape)}")
        mask = self._mask(out.shape[1], out)
        u = phi[:, None] * out
        if mask is not None:
            u = torch.where(mask, u, out)
        if self.g is not None:
            gv = self._g_columns(self.g(x), x.shape[0])
            u = u + (gv if mask is None else self._scatter(mask, gv))
        return u

    def forward_jet(self, jet: Jet) -> Jet:
        """Product rule: J_u = J_g + J_φ·J_N on the constrained components (``jet_mul``), J_N elsewhere."""
        self._check_bound()
        if not hasattr(self.inner, "forward_jet"):
            raise ValueError(f"{type(self.inner).__name__} has no forward_jet; use derivative='autograd'")
        inner = self.inner.forward_jet(jet)
        u = jet_mul(self._fixed_jet("phi", jet), inner)
        mask = self._mask(inner.value.shape[1], inner.value)
        if mask is not None:
            u = Jet(torch.where(mask, u.value, inner.value), torch.where(mask, u.tangent, inner.tangent),
                    torch.where(mask, u.second, inner.second), u.weights)
        if self.g is not None:
            jg = self._fixed_jet("g", jet)
            if mask is not None:
                jg = Jet(self._scatter(mask, jg.value), self._scatter(mask, jg.tangent), self._scatter(mask, jg.second),
                         jg.weights)
            u = u + jg
        return u

    @eager_under_compile
    def _fixed_jet(self, which: str, jet: Jet) -> Jet:
        """``function_jet`` of φ or g, reused while the points and directions stay the same. φ and g do not depend
        on the network's parameters, so on fixed points (L-BFGS, ENGD, a fixed collocation set) their jets are the
        same every step; recomputing them (``torch.func`` jvp-of-jvp, run eagerly) took 39 % of an eager wave-1d
        L-BFGS step. Reused only when nothing involved needs a gradient and the inputs are small (a seed's shared
        directions count once, not per point; at most ``JET_CACHE_LIMIT`` numbers); the inputs are compared by
        value, so changed or resampled points are recomputed."""
        f = self.phi if which == "phi" else self.g
        if hasattr(f, "jet"):  # a closed-form jet (e.g. the ball's φ) is cheap: nothing to keep
            return function_jet(f, jet)
        shared = jet.tangent.shape[0] > 1 and jet.tangent.stride(0) == 0  # a seed's (k, D) rows, expanded
        tangent = jet.tangent[0] if shared else jet.tangent
        parts = (jet.value, tangent, jet.second) + (() if jet.weights is None else (jet.weights,))
        cacheable = (not any(t.requires_grad for t in parts)
                     and sum(t.numel() for t in parts) <= JET_CACHE_LIMIT)
        key = (which, id(f), jet.identity, shared, jet.weights is None) + tuple((t.shape, t.dtype, t.device)
                                                                                for t in parts)
        cache = self.__dict__.setdefault("_jet_cache", {})
        if cacheable and key in cache:
            stored, out = cache[key]
            if all(torch.equal(a, b) for a, b in zip(stored, parts)):
                return out
        out = function_jet(f, jet)
        if cacheable and not any(t.requires_grad for t in (out.value, out.tangent, out.second)):
            if len(cache) >= 8:  # a few shapes at a time (interior, boundary, evaluation points): bounded memory
                cache.pop(next(iter(cache)))
            cache[key] = (tuple(t.detach().clone() for t in parts), out)
        return out

    def config(self) -> dict:
        return {"type": "HardConstraint", "inner": self.inner.config(),
                "components": None if self.components is None else list(self.components),
                "enforces": list(self.enforces), "spec": self.spec}

    @classmethod
    def from_config(cls, config: dict, build: Callable[[dict], nn.Module]) -> "HardConstraint":
        """Rebuild from ``config()``: the inner network untrained (made by ``build``, ``dlpde.nn.build_network``),
        an analytic φ from the stored description where there is one, and g unbound: ``bind(problem)`` attaches
        the problem's own φ and g (``dlpde.loading`` does so for a registered case)."""
        inner = build(config["inner"])
        spec = dict(config.get("spec") or {"kind": "custom"})
        enforces, components = config.get("enforces", ()), config.get("components")
        phi = None
        if spec.get("kind") == "initial":
            phi = initial_distance(spec["t0"])
        elif spec.get("kind") == "dirichlet" and isinstance(spec.get("domain"), dict):
            domain = _domain_from_description(spec["domain"])
            phi = None if domain is None else distance_function(domain)
        return cls(inner, phi, None, components=components, enforces=enforces, spec=spec)


# ---------------------------------------------------------------------------------------------------------
# problems


def _check_everywhere(problem, g: Fn | None, what: str) -> None:
    """g must be a function of any point of the domain (not only of boundary points): try it on interior points."""
    if g is None:
        return
    x = problem.interior_points(16, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    try:
        v = g(x)
    except Exception as e:  # noqa: BLE001 (any failure means the data are not defined there)
        raise ValueError(f"the {what} data of {problem.case} cannot be evaluated inside the domain ({e}); a hard "
                         "constraint u = g + φN needs g defined everywhere; pass hard_constraint=False") from None
    if not isinstance(v, torch.Tensor) or v.shape[0] != x.shape[0] or not bool(torch.isfinite(v).all()):
        raise ValueError(f"the {what} data of {problem.case} must give finite values of shape (n,) at interior "
                         "points too (a hard constraint u = g + φN needs g defined everywhere); pass "
                         "hard_constraint=False")


def constraint_data(problem) -> tuple[Fn, Fn | None, tuple[str, ...], Sequence[int] | None]:
    """(φ, g, enforced condition names, components) for ``problem``: its own ``hard_constraint_data()`` (returning
    (φ, g, names) or (φ, g, names, components)) when it has one; for a ``Poisson`` problem φ of its domain and g =
    its boundary function (the condition "boundary" covers the whole boundary). ValueError otherwise."""
    from dlpde.problems.poisson import Poisson, zero_boundary
    if hasattr(problem, "hard_constraint_data"):
        data = tuple(problem.hard_constraint_data())
        if len(data) not in (3, 4):
            raise ValueError(f"{type(problem).__name__}.hard_constraint_data() must return (phi, g, names) or "
                             f"(phi, g, names, components), got {len(data)} items")
        phi, g, names = data[:3]
        names = (names,) if isinstance(names, str) else tuple(names)
        return phi, g, names, (data[3] if len(data) == 4 else None)
    if isinstance(problem, Poisson) and not getattr(problem, "time_dependent", False):
        g = None if problem.boundary is zero_boundary else problem.boundary  # zero data: u = φN
        return distance_function(problem.domain), g, ("boundary",), None
    raise ValueError(f"{problem.case} ({type(problem).__name__}) has no Dirichlet condition on its whole boundary "
                     "that a hard constraint can take; give the problem a hard_constraint_data() method returning "
                     "(phi, g, enforced_condition_names), or pass hard_constraint=False")


def constrained_network(problem, net: nn.Module) -> HardConstraint:
    """``net`` wrapped so that it satisfies ``problem``'s Dirichlet (or initial) condition exactly:
    u = g + φ·net (``HardConstraint``). ValueError when the problem has no such condition (see ``constraint_data``)."""
    phi, g, names, components = constraint_data(problem)
    known = {c.name for c in problem.conditions()}
    missing = sorted(set(names) - known)
    if missing:
        raise ValueError(f"the hard constraint of {problem.case} names conditions {missing} that the problem does not "
                         f"have (its conditions: {sorted(known)})")
    _check_everywhere(problem, g, "/".join(names))
    domain = getattr(problem, "domain", None)
    spec = {"kind": "custom" if hasattr(problem, "hard_constraint_data") else "dirichlet",
            "case": problem.case, "params": problem.params(), "g_zero": g is None,
            "domain": domain.describe() if isinstance(domain, Domain) else None}
    return HardConstraint(net, phi, g, components=components, enforces=names, spec=spec)


def active_conditions(problem, model: nn.Module) -> list:
    """``problem.conditions()`` minus those ``model`` satisfies exactly (its ``enforces``)."""
    enforced = set(getattr(model, "enforces", ()))
    return [c for c in problem.conditions() if c.name not in enforced]
