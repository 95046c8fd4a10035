"""Conditions of a user's PDE (``dlpde.PDE``): where they hold (a place) and what they ask (a kind).

Kinds, each with the error whose mean square is its loss term ``loss_<name>``:

=====================  ====================================  ==========================================
``Dirichlet(g)``       u = g on the boundary                 u − g
``Neumann(g)``         ∂u/∂n = g (outward normal)            ∇ₓu·n − g
``Robin(alpha, g)``    ∂u/∂n + α u = g                       ∇ₓu·n + αu − g
``Periodic(axis)``     u(lo face) = u(hi face) (Box axis)    u(x) − u(x + w e_axis) (and ∂u/∂x_axis)
``Initial(g)``         u(x, t0) = g                          u − g at t = t0
``InitialVelocity(g)`` ∂u/∂t(x, t0) = g                      u_t − g at t = t0
``Terminal(g)``        u(x, t1) = g (final-time data)        u − g at t = t1
``Data(points, values)`` u = values at given points          u − values (observations; inverse problems)
``BoundaryResidual(fn)`` fn(x, u, normals) = 0               fn(...) (anything else on the boundary)
=====================  ====================================  ==========================================

Values ``g`` (and ``alpha``) are numbers or functions of the points x (n, D) returning (n,) — D counts the time
column (last) of a time-dependent problem. Each condition acts on one output ``component`` (index or name) and,
with ``on=``, on part of the boundary: a named face (``"left"``/``"right"`` = x0 low/high, ``"bottom"``/``"top"``
= x1, ``"x2-"``/``"x2+"`` for any axis) of a ``Box``/``Interval`` (also under a time interval), or a predicate
x ↦ bool mask (n,) on boundary points, e.g. ``on=lambda x: x[:, 0] > 0``. ``weight`` scales its loss term.

For Deep Ritz (a ``PDE`` with ``energy=``), Dirichlet conditions are essential (penalised, or exact with a hard
constraint) and Neumann and Robin conditions are natural: they add ``natural_energy`` integrated over their part of
the boundary (``measure``), −∫ g u ds and ∫ ½αu² − g u ds (``dlpde.solvers.ritz``).
"""
from __future__ import annotations

import dataclasses
import math
import re
from dataclasses import dataclass
from typing import Callable, Union

import torch

from dlpde.fields import Field
from dlpde.geometry import Box, Domain, SpaceTime

Tensor = torch.Tensor
Value = Union[float, int, Callable[[Tensor], Tensor]]
FACE_ALIASES = {"left": "x0-", "right": "x0+", "bottom": "x1-", "top": "x1+", "front": "x2-", "back": "x2+"}
MAX_REJECTION_ROUNDS = 50


def _check_value(name: str, v) -> Value:
    if callable(v):
        return v
    if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
        raise ValueError(f"{name} must be a finite number or a function of the points x (n, D) -> (n,), got {v!r}")
    return float(v)


def _values(name: str, v: Value, x: Tensor) -> Tensor:
    """A value (number or function) at points x, checked to be (n,)."""
    if not callable(v):
        return torch.full_like(x[:, 0], v)
    out = v(x)
    if isinstance(out, (int, float)) and not isinstance(out, bool):
        return torch.full_like(x[:, 0], float(out))
    if not isinstance(out, torch.Tensor):
        raise ValueError(f"the {name} function must return a tensor of shape ({x.shape[0]},), got "
                         f"{type(out).__name__}")
    if out.shape == (x.shape[0], 1):
        out = out[:, 0]
    if out.shape != x.shape[:1]:
        raise ValueError(f"the {name} function must return one value per point, shape ({x.shape[0]},), got "
                         f"{tuple(out.shape)}")
    return out.to(x)


@dataclass(frozen=True, kw_only=True)
class PDECondition:
    """Base: a place to sample and an error. ``bind`` (done by ``PDE``) attaches the problem's domain."""

    component: int | str = 0
    on: str | Callable[[Tensor], Tensor] | None = None
    weight: float = 1.0
    name: str = ""
    domain: Domain | None = dataclasses.field(default=None, repr=False, compare=False)
    kind = "condition"
    needs_time = False

    def __post_init__(self):
        if isinstance(self.weight, bool) or not isinstance(self.weight, (int, float)) or not (
                math.isfinite(self.weight) and self.weight >= 0):
            raise ValueError(f"weight must be a non-negative number, got {self.weight!r}")
        if self.on is not None and not (isinstance(self.on, str) or callable(self.on)):
            raise ValueError(f"on= must be a face name (e.g. 'left', 'x1+') or a predicate x -> bool mask, "
                             f"got {self.on!r}")
        if isinstance(self.component, bool) or not isinstance(self.component, (int, str)):
            raise ValueError(f"component must be an output index or name, got {self.component!r}")

    # -- binding ----------------------------------------------------------------------------------------
    def bind(self, domain: Domain, names: tuple[str, ...], name: str) -> "PDECondition":
        """A copy that knows the problem's domain, with ``component`` resolved to an index and a unique ``name``."""
        comp = self.component
        if isinstance(comp, str):
            if comp not in names:
                raise ValueError(f"{self.kind} condition: no output named {comp!r}; the outputs are {list(names)}")
            comp = names.index(comp)
        if not 0 <= comp < len(names):
            raise ValueError(f"{self.kind} condition on component {comp}, but the network has {len(names)} "
                             f"output(s) {list(names)}")
        if self.needs_time and not isinstance(domain, SpaceTime):
            raise ValueError(f"a {self.kind} condition needs a time interval: PDE(..., time=(t0, t1))")
        if isinstance(self.on, str):
            _face(domain, self.on)  # checks the name now
        return dataclasses.replace(self, component=comp, domain=domain, name=name)

    # -- sampling ---------------------------------------------------------------------------------------
    def sample(self, n: int, *, generator=None, device=None, dtype=torch.float32, method="pseudo") -> Tensor:
        """``n`` points of the boundary part ``on`` (for time-dependent problems: the lateral boundary)."""
        kw = dict(generator=generator, device=device, dtype=dtype, method=method)
        if isinstance(self.on, str):
            return _sample_face(self.domain, self.on, n, **kw)
        if self.on is None:
            return self.domain.sample_boundary(n, **kw)
        out, have = [], 0
        for _ in range(MAX_REJECTION_ROUNDS):
            x = self.domain.sample_boundary(max(n, 256), **kw)
            keep = self.on(x)
            if not isinstance(keep, torch.Tensor) or keep.shape != x.shape[:1] or keep.dtype != torch.bool:
                raise ValueError(f"the on= predicate of the {self.name} condition must return a bool tensor of "
                                 f"shape ({x.shape[0]},), got {keep!r:.80}")
            out.append(x[keep])
            have += int(keep.sum())
            if have >= n:
                return torch.cat(out)[:n]
        raise ValueError(f"the on= predicate of the {self.name} condition selects {have} of "
                         f"{MAX_REJECTION_ROUNDS * max(n, 256)} boundary points; select a larger part of the "
                         "boundary (predicates on exact coordinates need a tolerance, e.g. x[:, 0] > 1 - 1e-9)")

    def data(self, x: Tensor) -> Tensor:
        """What the error needs besides the network, fixed while the points are: (n, q)."""
        return torch.zeros(x.shape[0], 0, dtype=x.dtype, device=x.device)

    def measure(self) -> float:
        """The measure of the boundary part the condition's points cover (its ``sample`` is uniform on it): the
        whole boundary's, a named face's (the product of the other widths; a point, measure 1, in 1-D), or for a
        predicate the boundary's times the fraction of 2¹⁶ fixed uniform boundary points it selects (a Monte
        Carlo estimate, relative error ≈ √((1 − p)/(p·2¹⁶)))."""
        domain = self.domain
        if domain is None:
            raise ValueError(f"the {self.kind} condition is not bound to a domain (PDE binds it)")
        if self.on is None:
            return float(domain.boundary_measure)
        if isinstance(self.on, str):
            axis, _ = _face(domain, self.on)
            box = domain.space if isinstance(domain, SpaceTime) else domain
            extent = float(domain.t1 - domain.t0) if isinstance(domain, SpaceTime) else 1.0
            return float(box.face_measures()[axis]) * extent
        x = domain.sample_boundary(2**16, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
        return float(domain.boundary_measure) * float(self.on(x).double().mean())

    natural = False  # True: a natural condition of the energy ½|∇u|² + …, entering it as ∫ natural_energy ds

    def natural_energy(self, x: Tensor, u: Tensor, data: Tensor) -> Tensor:
        """The boundary density b(x, u) whose integral over the condition's part of the boundary the Ritz energy
        adds (``natural`` conditions only), with ``data`` from ``data(x)``."""
        raise ValueError(f"a {self.kind} condition is not a natural condition of an energy")

    def error(self, x: Tensor, u: Field, data: Tensor) -> Tensor:
        raise NotImplementedError

    @property
    def is_value(self) -> bool:
        """Whether the condition prescribes values of u (used for the output scaling of the network)."""
        return False


def _face(domain: Domain, name: str) -> tuple[int, int]:
    """(axis, 0 for the low face / 1 for the high face) of a named face of a Box (or Box × time)."""
    box = domain.space if isinstance(domain, SpaceTime) else domain
    if not isinstance(box, Box):
        raise ValueError(f"named faces ({name!r}) exist on a Box or Interval; this domain is a "
                         f"{type(box).__name__}: use a predicate, on=lambda x: ...")
    key = FACE_ALIASES.get(name, name)
    m = re.fullmatch(r"x(\d+)([+-])", key)
    if m is None or int(m.group(1)) >= box.dim:
        names = sorted(k for k, v in FACE_ALIASES.items() if int(v[1]) < box.dim)
        raise ValueError(f"unknown face {name!r}; faces of this {box.dim}-d box are 'x0-', 'x0+', …, "
                         f"'x{box.dim - 1}+' (or {names})")
    return int(m.group(1)), 1 if m.group(2) == "+" else 0


def _sample_face(domain: Domain, name: str, n: int, **kw) -> Tensor:
    axis, high = _face(domain, name)
    x = domain.sample_interior(n, **kw)
    box = domain.space if isinstance(domain, SpaceTime) else domain
    x[:, axis] = float(box.hi[axis] if high else box.lo[axis])
    return x


@dataclass(frozen=True)
class Dirichlet(PDECondition):
    """u = value on the boundary (or the part ``on``)."""

    value: Value = 0.0
    kind = "dirichlet"

    def __post_init__(self):
        super().__post_init__()
        object.__setattr__(self, "value", _check_value("value", self.value))

    def data(self, x):
        return _values(f"{self.name} value", self.value, x)[:, None]

    def error(self, x, u, data):
        return u() - data[:, 0]

    @property
    def is_value(self):
        return True


def _normals(domain: Domain, x: Tensor, name: str) -> Tensor:
    if not hasattr(domain, "boundary_normal"):
        raise ValueError(f"the {name} condition needs outward normals, which a {type(domain).__name__} does not "
                         "give; use a BoundaryResidual with your own normals")
    try:
        normals = domain.boundary_normal(x)
    except (NotImplementedError, AttributeError) as e:
        raise ValueError(f"the {name} condition needs outward normals, which a {type(domain).__name__} does not "
                         f"give ({e}); use a BoundaryResidual with your own normals") from None
    return torch.as_tensor(normals).to(x)


@dataclass(frozen=True)
class Neumann(PDECondition):
    """∂u/∂n = value, n the domain's outward unit normal."""

    value: Value = 0.0
    kind = "neumann"

    def __post_init__(self):
        super().__post_init__()
        object.__setattr__(self, "value", _check_value("value", self.value))

    def data(self, x):
        return torch.cat([_values(f"{self.name} value", self.value, x)[:, None],
                          _normals(self.domain, x, self.name)], dim=1)

    def error(self, x, u, data):
        return u.normal_derivative(data[:, 1:]) - data[:, 0]

    natural = True

    def natural_energy(self, x, u, data):
        """−h u: E(u) = ∫_Ω ½|∇u|² − f u − ∫_Γ h u ds is stationary exactly when ∂u/∂n = h on Γ."""
        return -data[:, 0] * u


@dataclass(frozen=True)
class Robin(PDECondition):
    """∂u/∂n + alpha·u = value."""

    alpha: Value = 1.0
    value: Value = 0.0
    kind = "robin"

    def __post_init__(self):
        super().__post_init__()
        object.__setattr__(self, "alpha", _check_value("alpha", self.alpha))
        object.__setattr__(self, "value", _check_value("value", self.value))

    def data(self, x):
        return torch.cat([_values(f"{self.name} value", self.value, x)[:, None],
                          _values(f"{self.name} alpha", self.alpha, x)[:, None],
                          _normals(self.domain, x, self.name)], dim=1)

    def error(self, x, u, data):
        return u.normal_derivative(data[:, 2:]) + data[:, 1] * u() - data[:, 0]

    natural = True

    def natural_energy(self, x, u, data):
        """½αu² − g u: E(u) = ∫_Ω ½|∇u|² − f u + ∫_Γ ½αu² − g u ds is stationary exactly when ∂u/∂n + αu = g;
        with α ≥ 0 the added term is convex (with α < 0 the energy can be unbounded below)."""
        return 0.5 * data[:, 1] * u * u - data[:, 0] * u


@dataclass(frozen=True)
class Periodic(PDECondition):
    """u (and, with ``derivative=True``, ∂u/∂x_axis) equal on the two faces of a Box orthogonal to ``axis``.
    Points are drawn on the low face and paired with their translates on the high face."""

    axis: int = 0
    derivative: bool = False
    kind = "periodic"

    def bind(self, domain, names, name):
        box = domain.space if isinstance(domain, SpaceTime) else domain
        if not isinstance(box, Box):
            raise ValueError(f"a periodic condition pairs the faces of a Box; this domain is a {type(box).__name__}")
        if isinstance(self.axis, bool) or not isinstance(self.axis, int) or not 0 <= self.axis < box.dim:
            raise ValueError(f"periodic axis must be a space axis in 0 … {box.dim - 1}, got {self.axis!r}")
        if self.on is not None:
            raise ValueError("a periodic condition holds on a pair of faces: give axis=, not on=")
        return super().bind(domain, names, name)

    def sample(self, n, **kw):
        lo = _sample_face(self.domain, f"x{self.axis}-", n, **kw)
        hi = lo.clone()
        box = self.domain.space if isinstance(self.domain, SpaceTime) else self.domain
        hi[:, self.axis] = float(box.hi[self.axis])
        return torch.cat([lo, hi])

    def error(self, x, u, data):
        m = x.shape[0] // 2
        e = u()[:m] - u()[m:]
        if self.derivative:
            g = u.d(self.axis)
            e = torch.cat([e, g[:m] - g[m:]])
        return e


@dataclass(frozen=True)
class Initial(PDECondition):
    """u(x, t0) = value(x, t0)."""

    value: Value = 0.0
    kind = "initial"
    needs_time = True

    def __post_init__(self):
        super().__post_init__()
        object.__setattr__(self, "value", _check_value("value", self.value))
        if self.on is not None:
            raise ValueError(f"an {self.kind} condition holds on the whole domain at one time; on= is not for it")

    def sample(self, n, *, generator=None, device=None, dtype=torch.float32, method="pseudo"):
        return self.domain.sample_slice(n, self.domain.t0, generator=generator, device=device, dtype=dtype,
                                        method=method)

    def data(self, x):
        return _values(f"{self.name} value", self.value, x)[:, None]

    def error(self, x, u, data):
        return u() - data[:, 0]

    @property
    def is_value(self):
        return True


@dataclass(frozen=True)
class Terminal(Initial):
    """u(x, t1) = value(x, t1): data at the final time, for equations solved backward in time (a value function's
    Hamilton–Jacobi–Bellman equation, an option price) or a forward–backward system with data at both ends."""

    kind = "terminal"

    def sample(self, n, *, generator=None, device=None, dtype=torch.float32, method="pseudo"):
        return self.domain.sample_slice(n, self.domain.t1, generator=generator, device=device, dtype=dtype,
                                        method=method)


@dataclass(frozen=True)
class InitialVelocity(Initial):
    """∂u/∂t(x, t0) = value(x, t0)."""

    kind = "initial_velocity"

    def error(self, x, u, data):
        return u.dt() - data[:, 0]

    @property
    def is_value(self):
        return False


@dataclass(frozen=True)
class Data(PDECondition):
    """Observations: u(points) = values (points (m, D) with time last for a time-dependent problem)."""

    points: object = None
    values: object = None
    kind = "data"

    def __post_init__(self):
        super().__post_init__()
        pts = torch.as_tensor(self.points, dtype=torch.float64)
        vals = torch.as_tensor(self.values, dtype=torch.float64)
        if pts.ndim == 1:
            pts = pts[:, None]
        if vals.ndim == 2 and vals.shape[1] == 1:
            vals = vals[:, 0]
        if pts.ndim != 2 or pts.shape[0] == 0 or vals.shape != pts.shape[:1]:
            raise ValueError(f"Data needs points of shape (m, D) and values of shape (m,), got {tuple(pts.shape)} "
                             f"and {tuple(vals.shape)}")
        if not (bool(torch.isfinite(pts).all()) and bool(torch.isfinite(vals).all())):
            raise ValueError("Data points and values must be finite")
        if self.on is not None:
            raise ValueError("Data holds at its own points; on= is not for it")
        object.__setattr__(self, "points", pts)
        object.__setattr__(self, "values", vals)

    def bind(self, domain, names, name):
        if self.points.shape[1] != domain.dim:
            raise ValueError(f"Data points must have {domain.dim} columns (space coordinates"
                             f"{', then t' if isinstance(domain, SpaceTime) else ''}), got {self.points.shape[1]}")
        return super().bind(domain, names, name)

    def sample(self, n, *, generator=None, device=None, dtype=torch.float32, method="pseudo"):
        return self.points.to(device=device, dtype=dtype)

    def data(self, x):
        return self.values.to(x)[:, None]

    def error(self, x, u, data):
        return u() - data[:, 0]

    @property
    def is_value(self):
        return True


@dataclass(frozen=True)
class BoundaryResidual(PDECondition):
    """fn(x, u, normals) = 0 on the boundary (or ``on``): any condition the kinds above do not cover.
    ``u`` is the accessor of the chosen component (``u()``, ``u.d(j)``, ``u.grad()``, …); normals may be None
    on domains that give none."""

    fn: Callable | None = None
    kind = "boundary"

    def __post_init__(self):
        super().__post_init__()
        if not callable(self.fn):
            raise ValueError("BoundaryResidual needs fn(x, u, normals) -> (n,)")

    def data(self, x):
        try:
            return _normals(self.domain, x, self.name)
        except ValueError:
            return torch.zeros(x.shape[0], 0, dtype=x.dtype, device=x.device)

    def error(self, x, u, data):
        return self.fn(x, u, data if data.shape[1] else None)


CONDITIONS = (Dirichlet, Neumann, Robin, Periodic, Initial, InitialVelocity, Terminal, Data, BoundaryResidual)
