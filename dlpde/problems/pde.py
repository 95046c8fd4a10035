"""A user's own PDE in strong form: residual(s) written with the derivative accessor, conditions, optional time
interval, several outputs and unknown coefficients — no subclass.

    def helmholtz(x, u):
        return -u.laplacian() - k0**2 * u() - f(x)
    p = PDE(Box.unit(2), helmholtz, [Dirichlet(0.0)], exact=...)

    def heat(x, u, k):                                  # with unknowns={"C": 2.0}: k["C"] is trained too
        return u.dt() - k["C"] * u.dxx(0) - f(x)
    p = PDE(Interval(-1, 1), heat, [Dirichlet(0.0), Initial(g), Data(points, values)], time=(0, 1),
            unknowns={"C": 2.0})

Inputs are points x of shape (n, D): the space coordinates, then time (last column) when ``time`` is given — the
same layout as ``sol(t, x)`` stacks. The residual returns one tensor (n,) per equation: a tensor, a list (systems;
loss terms ``loss_pde0``, ``loss_pde1``, …) or a dict (``loss_pde_<key>``). The strong-form solvers (PINN, DGM)
minimise Σ mean r² + boundary_weight · Σ_c weight_c · mean e_c² (``dlpde.problems.conditions``).

Deep Ritz needs the energy as well, which the strong form does not determine: ``energy=e`` gives its density
e(x, u, ∇u) (u (n,), ∇u (n, d) → (n,)) for a steady scalar problem, e.g. for u'' = 2 (−u'' = f, f = −2)

    PDE(Interval(-1, 1), lambda x, u: u.dxx(0) - 2.0, [Dirichlet(0.0, on="left"), Neumann(4.0, on="right")],
        energy=lambda x, u, du: 0.5 * (du * du).sum(dim=1) + 2.0 * u)

Neumann and Robin conditions then enter as the natural boundary terms of that energy (``dlpde.solvers.ritz``).
``no_energy="why"`` records why a problem has none Deep Ritz could minimise (its refusal says so).
"""
from __future__ import annotations

import math
from typing import Callable, Mapping, Sequence

import torch

from dlpde.geometry import Domain, SpaceTime
from dlpde.problems.base import Problem
from dlpde.problems.conditions import PDECondition

Tensor = torch.Tensor


def _as_domain(domain) -> Domain:
    if isinstance(domain, Domain):
        return domain
    if hasattr(domain, "random_points") and hasattr(domain, "inside"):  # a DeepXDE geometry
        from dlpde.geometry import DeepXDEDomain
        return DeepXDEDomain(domain)
    raise TypeError(f"domain must be a dlpde Domain (Box, Interval, Ball, MeshDomain, …) or a DeepXDE geometry, "
                    f"got {type(domain).__name__}")


def _output_names(outputs) -> tuple[str, ...]:
    if isinstance(outputs, bool):
        raise ValueError(f"outputs must be a number of outputs or their names, got {outputs!r}")
    if isinstance(outputs, int):
        if outputs < 1:
            raise ValueError(f"outputs must be at least 1, got {outputs}")
        return ("u",) if outputs == 1 else tuple(f"u{i}" for i in range(outputs))
    names = tuple(outputs)
    if not names or not all(isinstance(n, str) and n.isidentifier() for n in names) or len(set(names)) < len(names):
        raise ValueError(f"outputs must be distinct names like ('u', 'v', 'p'), got {outputs!r}")
    return names


def _unknowns(unknowns) -> dict[str, float]:
    if unknowns is None:
        return {}
    if not isinstance(unknowns, Mapping):
        raise TypeError(f"unknowns must be a dict name -> initial value, e.g. {{'C': 2.0}}, got "
                        f"{type(unknowns).__name__}")
    out = {}
    for name, v in unknowns.items():
        if not isinstance(name, str) or not name.isidentifier():
            raise ValueError(f"unknown names must be identifiers, got {name!r}")
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
            raise ValueError(f"the initial value of unknown {name!r} must be a finite number, got {v!r}")
        out[name] = float(v)
    return out


class PDE(Problem):
    """A strong-form problem: ``equation(x, u)`` (or ``equation(x, u, k)`` with ``unknowns``) = 0 in the domain
    (× the time interval), and ``conditions``.

    ``domain``: a dlpde Domain or a DeepXDE geometry. ``time``: (t0, t1) for an initial–boundary value problem.
    ``outputs``: the number of network outputs or their names; a scalar problem's residual receives one ``Field``,
    a system's a ``Fields`` sequence (``u, v, p = q``). ``unknowns``: name → initial value of trainable scalar
    coefficients, handed to the residual as a dict of 0-d tensors and reported with the solution. ``exact``: the
    solution x ↦ (n,) or (n, m) (errors are measured against it), ``exact_unknowns`` the true coefficients.
    """

    def __init__(self, domain, equation: Callable, conditions: Sequence[PDECondition] = (), *,
                 time: tuple[float, float] | None = None, outputs: int | Sequence[str] = 1,
                 unknowns: Mapping[str, float] | None = None, exact: Callable[[Tensor], Tensor] | None = None,
                 exact_unknowns: Mapping[str, float] | None = None, case: str = "custom", params: dict | None = None,
                 energy: Callable[[Tensor, Tensor, Tensor], Tensor] | None = None, no_energy: str = ""):
        space = _as_domain(domain)
        if not callable(equation):
            raise TypeError("equation must be a function (x, u) -> residual tensor(s)")
        if energy is not None and not callable(energy):
            raise TypeError("energy must be a function (x, u, grad) -> energy density of shape (n,)")
        if not isinstance(no_energy, str):
            raise TypeError(f"no_energy must be a sentence saying why there is no energy, got {no_energy!r}")
        self.space = space
        if time is not None:
            try:
                t0, t1 = (float(t) for t in time)
            except (TypeError, ValueError):
                raise ValueError(f"time must be a pair (t0, t1), got {time!r}") from None
            self.domain = SpaceTime(space, t0, t1)
        else:
            self.domain = space
        self.time_dependent = time is not None
        self.dim = space.dim
        self.equation = equation
        self.output_names = _output_names(outputs)
        self.unknowns = _unknowns(unknowns)
        self.exact_unknowns = _unknowns(exact_unknowns)
        self._exact = exact
        if exact is not None and not callable(exact):
            raise TypeError("exact must be a function x -> (n,) or (n, outputs)")
        self.case = case
        self._params = {"dim": self.dim, **(params or {})}
        self._conditions = self._bind(conditions)
        self._energy, self.no_energy = energy, no_energy
        if energy is not None and (self.time_dependent or self.n_outputs != 1 or self.unknowns):
            raise ValueError(f"{case}: energy= is for a steady problem with one output and no unknowns (Deep Ritz "
                             "minimises it over u alone)")

    # -- description ----------------------------------------------------------------------------------
    @property
    def n_outputs(self) -> int:
        return len(self.output_names)

    def params(self) -> dict:
        return dict(self._params)

    def _bind(self, conditions) -> list[PDECondition]:
        if isinstance(conditions, PDECondition):
            conditions = [conditions]
        if conditions is None or isinstance(conditions, (str, bytes)) or not hasattr(conditions, "__iter__"):
            raise TypeError(f"conditions must be a list of conditions, e.g. [Dirichlet(0.0)] ([] for none), got "
                            f"{type(conditions).__name__}")
        bound, seen = [], {}
        for i, c in enumerate(conditions):
            if not isinstance(c, PDECondition):
                raise TypeError(f"condition {i} must be a dlpde condition (Dirichlet, Neumann, Robin, Periodic, "
                                f"Initial, InitialVelocity, Terminal, Data, BoundaryResidual), got {type(c).__name__}")
            name = c.name or c.kind
            if not c.name:
                comp = c.component if isinstance(c.component, str) else (
                    self.output_names[c.component] if isinstance(c.component, int)
                    and 0 <= c.component < self.n_outputs else str(c.component))
                if self.n_outputs > 1:
                    name += f"_{comp}"
                if isinstance(c.on, str):
                    name += f"_{c.on.replace('+', 'hi').replace('-', 'lo')}"
            seen[name] = seen.get(name, 0) + 1
            if seen[name] > 1:
                name = f"{name}{seen[name]}"
            bound.append(c.bind(self.domain, self.output_names, name))
        return bound

    def conditions(self) -> list[PDECondition]:
        return list(self._conditions)

    # -- strong form ----------------------------------------------------------------------------------
    def residuals(self, x: Tensor, u, k: dict[str, Tensor] | None = None) -> dict[str, Tensor]:
        """The named residual terms at points x, each (n,), from the accessor ``u`` (and unknowns ``k``)."""
        r = self.equation(x, u, k) if self.unknowns else self.equation(x, u)
        if isinstance(r, Mapping):
            items = [(f"pde_{key}", v) for key, v in r.items()]
        elif isinstance(r, (list, tuple)):
            items = [(f"pde{i}", v) for i, v in enumerate(r)]
        else:
            items = [("pde", r)]
        if not items:
            raise ValueError(f"the residual of {self.case} returned no equations")
        out = {}
        for name, v in items:
            if isinstance(v, (int, float)) and not isinstance(v, bool):
                v = torch.full_like(x[:, 0], float(v))
            if not isinstance(v, torch.Tensor):
                raise ValueError(f"the residual {name} of {self.case} must be a tensor of shape ({x.shape[0]},), "
                                 f"got {type(v).__name__}")
            if v.shape == (x.shape[0], 1):
                v = v[:, 0]
            if v.shape != x.shape[:1]:
                raise ValueError(f"the residual {name} of {self.case} must have one value per point, shape "
                                 f"({x.shape[0]},), got {tuple(v.shape)}; a source term f(x) of shape (n, 1) "
                                 "needs f(x)[:, 0]")
            out[name] = v
        return out

    def residual(self, x, d):
        raise ValueError(f"{self.case} is a PDE problem: its residual is evaluated through the derivative accessor "
                         "(the PINN and DGM solvers)")

    def hard_constraint_data(self):
        """(φ, g, enforced condition names, components) for the option ``hard_constraint=True``
        (``dlpde.nn.constraints``): u_c = g_c + φ·N_c for every output c that has a Dirichlet condition on the whole
        boundary (φ the domain's distance-like function); for a time-dependent problem, the outputs with an
        initial value: u = u₀ + (t − t₀)·N, or u = u₀ + φ(x)(t − t₀)·N when the same output also has zero
        Dirichlet data on the whole boundary and u₀ vanishes there (both then hold exactly); with an initial
        velocity v₀ as well, u = u₀ + (t − t₀)v₀ + (t − t₀)²·N (times φ(x) likewise)."""
        from dlpde.nn.constraints import distance_function
        from dlpde.problems.conditions import Dirichlet, Initial, InitialVelocity, _values

        whole = {c.component: c for c in self._conditions if isinstance(c, Dirichlet) and c.on is None}
        if not self.time_dependent:
            if not whole:
                raise ValueError(f"{self.case}: hard_constraint=True needs a Dirichlet condition on the whole "
                                 "boundary (no on=)")
            comps = sorted(whole)
            names = tuple(whole[c].name for c in comps)
            if all(not callable(whole[c].value) and whole[c].value == 0.0 for c in comps):
                return distance_function(self.space), None, names, comps  # zero data: u = φN, no jet of g

            def g(x):
                return torch.stack([_values("dirichlet value", whole[c].value, x) for c in comps], dim=1)
            return distance_function(self.space), g, names, comps
        initial = {c.component: c for c in self._conditions if type(c) is Initial}
        if not initial:
            raise ValueError(f"{self.case}: hard_constraint=True on a time-dependent problem needs an Initial "
                             "condition")
        comps = sorted(initial)
        velocity = {c.component: c for c in self._conditions if isinstance(c, InitialVelocity)}
        if velocity and set(velocity) != set(comps):
            raise ValueError(f"{self.case}: hard_constraint=True needs an InitialVelocity condition on every output "
                             f"with an Initial value or on none (Initial on {comps}, InitialVelocity on "
                             f"{sorted(velocity)}); pass hard_constraint=False")
        order = 2 if velocity else 1  # u = u0 + (t − t0)·v0 + (t − t0)²·N keeps u_t(t0) = v0 as well
        t0 = self.domain.t0
        gen = torch.Generator().manual_seed(0)
        both = []
        for c in comps:
            if c not in whole or callable(whole[c].value) or whole[c].value != 0.0:
                continue
            xb = self.domain.sample_boundary(256, generator=gen, dtype=torch.float64)
            data = [initial[c]] + ([velocity[c]] if velocity else [])
            if all(float(_values("initial value", d.value, xb).abs().max()) < 1e-10 for d in data):
                both.append(c)
        phi_x = distance_function(self.space) if both and len(both) == len(comps) else None
        names = tuple(initial[c].name for c in comps) + tuple(velocity[c].name for c in comps if velocity)
        names += tuple(whole[c].name for c in both) if phi_x else ()

        def phi(x):
            dt = (x[:, -1] - t0) ** order
            return dt * phi_x(x[:, :-1]) if phi_x is not None else dt

        def g(x):  # u₀ (+ (t − t₀)·v₀) with u₀, v₀ taken at (x, t₀)
            x0 = torch.cat([x[:, :-1], torch.full_like(x[:, -1:], t0)], dim=1)
            out = torch.stack([_values("initial value", initial[c].value, x0) for c in comps], dim=1)
            if velocity:
                v0 = torch.stack([_values("initial velocity", velocity[c].value, x0) for c in comps], dim=1)
                out = out + (x[:, -1:] - t0) * v0
            return out
        return phi, g, names, comps

    # -- energy (Deep Ritz) ----------------------------------------------------------------------------
    @property
    def has_energy(self) -> bool:
        return self._energy is not None

    def energy_density(self, x: Tensor, u: Tensor, grad: Tensor) -> Tensor:
        """The density e(x, u, ∇u) given as ``energy=``, checked to be (n,)."""
        if self._energy is None:
            raise ValueError(f"{self.case} has no energy: PDE(..., energy=lambda x, u, grad: ...)")
        e = self._energy(x, u, grad)
        if isinstance(e, torch.Tensor) and e.shape == (x.shape[0], 1):
            e = e[:, 0]
        if not isinstance(e, torch.Tensor) or e.shape != x.shape[:1]:
            shape = tuple(e.shape) if isinstance(e, torch.Tensor) else type(e).__name__
            raise ValueError(f"the energy density of {self.case} must have one value per point, shape "
                             f"({x.shape[0]},), got {shape}")
        return e

    # -- references -----------------------------------------------------------------------------------
    @property
    def has_exact(self) -> bool:
        return self._exact is not None

    def exact_components(self, x: Tensor) -> Tensor:
        """The exact solution at x, shape (n, outputs)."""
        if self._exact is None:
            raise ValueError(f"{self.case} has no closed-form solution")
        u = self._exact(x)
        if not isinstance(u, torch.Tensor):
            raise ValueError(f"exact must return a tensor, got {type(u).__name__}")
        if u.ndim == 1:
            u = u[:, None]
        if u.shape != (x.shape[0], self.n_outputs):
            raise ValueError(f"exact must return shape ({x.shape[0]},) or ({x.shape[0]}, {self.n_outputs}), got "
                             f"{tuple(u.shape)}")
        return u

    def exact(self, x: Tensor) -> Tensor:
        """The first output's exact solution, (n,) (``exact_components`` for all of them)."""
        return self.exact_components(x)[:, 0]
