"""The derivative accessor a user's residual reads: ``u()``, ``u.dx(0)``, ``u.dt()``, ``u.d2(0, 1)``,
``u.laplacian()``, ``u.trace(A)``, ``q.div()`` — computed only when asked, each by one exact forward pass.

A residual is written against ``Field`` objects (one per network output)::

    def heat(x, u):                       # x: points (n, D), time in the last column when the problem has one
        return u.dt() - u.dxx(0) - f(x)

How the derivatives are computed (``FieldEvaluator``): every quantity a residual can ask for is either a first
derivative (all of them come from one Jacobian) or a weighted sum Σ_j c_j ∂²u/∂v_j² of second directional
derivatives along some directions v_j:

* ``dxx(j)``, ``dtt()``, ``laplacian()``: coordinate directions with weights, a *diagonal* request;
* ``d2(i, j)``, i ≠ j: by polarisation, ∂_i∂_j u = ¼(∂²_{e_i+e_j} − ∂²_{e_i−e_j}u);
* ``trace(A)``: Tr(A Hess u) = Σ_i λ_i ∂²_{q_i}u with A = Σ λ_i q_i q_iᵀ (per point when A depends on x).

Each distinct request is one pass of the forward jet (``dlpde.nn.jet``) through the network (all output
components at once). The Jacobian comes from a pass along the coordinate directions, and that same pass also
carries the first diagonal request the residual made (recorded at its first evaluation, ``plan``), so a residual
that needs u, ∇u and Δu (or u_xx) costs one pass — never d reverse passes. Networks without ``forward_jet``, or
``method="autograd"``, use reverse mode (one pass per output for the Jacobian, one per direction and output for
second derivatives). ``method="hutchinson"``/``"sdgd"`` replace the Laplacian by its unbiased estimate
(``dlpde.derivatives.stochastic_directions``); other requests stay exact.
"""
from __future__ import annotations

import itertools
from typing import Callable, Iterator, Sequence

import torch
from torch import nn

from dlpde.derivatives import METHODS, stochastic_directions
from dlpde.nn.jet import Jet

Tensor = torch.Tensor
Key = tuple


UNIT_ROWS_LIMIT = 2 ** 24  # numbers in the coordinate directions of a diagonal request made as rows (k, D); above
# it the request goes as the identity seed with weight 0 on the unused inputs, which is never made as a matrix


class FieldEvaluator:
    """Derivatives of a network's outputs at fixed points ``x`` (n, D), computed on first request and cached.

    ``space_dims``: the first ``space_dims`` input columns are space (the Laplacian's coordinates); a time column,
    if any, is the last (``time_dependent``). ``plan``: the requests recorded at an earlier evaluation (see
    ``requests``), used to put the first diagonal request into the Jacobian's pass.
    """

    def __init__(self, model: nn.Module, x: Tensor, *, space_dims: int, time_dependent: bool = False,
                 method: str = "auto", probes: int = 16, generator: torch.Generator | None = None,
                 plan: Sequence[Key] = ()):
        if method not in METHODS:
            raise ValueError(f"unknown derivative method {method!r}; choose one of {METHODS}")
        if x.ndim != 2:
            raise ValueError(f"points must have shape (n, D), got {tuple(x.shape)}")
        self.model, self.x = model, x
        self.n, self.D = x.shape
        self.space_dims, self.time_dependent = space_dims, time_dependent
        self.forward = method in ("auto", "forward", "hutchinson", "sdgd") and hasattr(model, "forward_jet")
        if method == "forward" and not hasattr(model, "forward_jet"):
            raise ValueError(f"{type(model).__name__} has no forward_jet; use derivative='autograd'")
        self.probes, self.generator = probes, generator
        self.stochastic = method if method in ("hutchinson", "sdgd") else None
        self.base_key = next((k for k in plan if k[0] == "diag" and not self._is_stochastic(k)), None)
        self.planned = bool(plan)
        self.requests: list[Key] = []
        self._value: Tensor | None = None
        self._jacobian: Tensor | None = None
        self._second: dict[Key, Tensor] = {}
        self._x_grad: Tensor | None = None
        self._out_grad: Tensor | None = None

    # -- what a Field asks for ----------------------------------------------------------------------------
    def value(self) -> Tensor:
        """All outputs, (n, m)."""
        if self._value is None:
            if self.forward and self.planned:  # the recorded requests need a jet pass anyway: take u from it
                self.jacobian()
            else:
                self._value = self.model(self.x)
        return self._value

    def jacobian(self) -> Tensor:
        """∂ output_i / ∂ x_j for all inputs j, shape (n, D, m)."""
        self._note(("jacobian",))
        if self._jacobian is None:
            if self.forward:
                weights = self._diag_weights(self.base_key[1]) if self.base_key is not None else (0.0,) * self.D
                jet = self._jet(None, weights)
                self._jacobian = jet.tangent
                if self.base_key is not None:
                    self._second[self.base_key] = jet.second
            else:
                self._jacobian = self._autograd_jacobian()
        return self._jacobian

    def second(self, key: Key) -> Tensor:
        """The weighted sum of second directional derivatives that ``key`` names, shape (n, m)."""
        self._note(key)
        if key not in self._second:
            if key == self.base_key and self.forward and self._jacobian is None and not self._is_stochastic(key):
                self.jacobian()  # one pass: the Jacobian and this request together
            else:
                directions, weights = self._directions(key)
                if self.forward:
                    self._second[key] = self._jet(directions, weights).second
                else:
                    self._second[key] = self._autograd_second(directions, weights)
        return self._second[key]

    # -- requests as directions ------------------------------------------------------------------------
    def _note(self, key: Key) -> None:
        if key not in self.requests:
            self.requests.append(key)

    def _is_stochastic(self, key: Key) -> bool:
        return self.stochastic is not None and key == laplacian_key(self.space_dims, self.D)

    def _diag_weights(self, values: tuple[float, ...]) -> tuple[float, ...] | None:
        """The weights of a diagonal request (its key's numbers), None when all are 1 (the plain sum of second
        derivatives, e.g. the Laplacian over all inputs: a jet without weights lets a network compress its k
        directions to its width, ``MLP._first_layer_shared``). Decided from Python numbers: no tensor read back."""
        if all(v == 1 for v in values):
            return None
        return values  # as Python numbers (``Jet.levels``)

    def _directions(self, key: Key) -> tuple[Tensor | None, Tensor | tuple[float, ...] | None]:
        """Directions (k, D) or (n, k, D) and weights (k,) whose weighted second derivatives give ``key``;
        directions None are the D coordinate directions (never made as a D × D identity: ``Jet.identity_seed``)."""
        x = self.x
        if self._is_stochastic(key):
            return stochastic_directions(x, self.space_dims, self.probes, self.stochastic, self.generator)
        if key[0] == "diag":
            used = [j for j, v in enumerate(key[1]) if v != 0]
            # all inputs, or too many rows to make (e.g. the Laplacian over space beside time at d = 10⁵)
            if len(used) == len(key[1]) or len(used) * self.D > UNIT_ROWS_LIMIT:
                return None, self._diag_weights(key[1])
            return self._unit_rows(used), self._diag_weights(tuple(key[1][j] for j in used))
        if key[0] == "mixed":
            e = self._unit_rows([key[1], key[2]])
            return torch.stack([e[0] + e[1], e[0] - e[1]]), (0.25, -0.25)
        if key[0] == "trace":
            return key[2]()  # the directions and weights were computed when the request was made
        raise ValueError(f"unknown derivative request {key!r}")

    def _unit_rows(self, indices: list[int]) -> Tensor:
        """The coordinate directions e_i, i in ``indices``, as rows (k, D)."""
        rows = torch.zeros(len(indices), self.D, dtype=self.x.dtype, device=self.x.device)
        rows[range(len(indices)), indices] = 1.0
        return rows

    def _jet(self, directions: Tensor | None, weights: Tensor | tuple[float, ...] | None) -> Jet:
        seed = Jet.identity_seed(self.x, weights) if directions is None else Jet.seed(self.x, directions, weights)
        jet = self.model.forward_jet(seed)
        if self._value is None:
            self._value = jet.value
        return jet

    # -- reverse mode (any nn.Module) ------------------------------------------------------------------
    def _graph(self) -> tuple[Tensor, Tensor]:
        if self._x_grad is None:
            self._x_grad = self.x.detach().requires_grad_(True)
            self._out_grad = self.model(self._x_grad)
            if self._value is None:
                self._value = self._out_grad
        return self._x_grad, self._out_grad

    def _autograd_jacobian(self) -> Tensor:
        x, out = self._graph()
        cols = [_grad(out[:, i].sum(), x) for i in range(out.shape[1])]
        return torch.stack(cols, dim=2)

    def _autograd_second(self, directions: Tensor | None, weights: Tensor | tuple[float, ...] | None) -> Tensor:
        x, _ = self._graph()
        if directions is None:
            directions = torch.eye(self.D, dtype=x.dtype, device=x.device)
        weights = torch.ones(directions.shape[-2]) if weights is None else torch.as_tensor(weights)
        jac = self.jacobian()  # (n, D, m), with a graph
        if directions.ndim == 2:
            directions = directions.unsqueeze(0).expand(self.n, -1, -1)
        outs = []
        for i in range(jac.shape[2]):
            total = torch.zeros_like(jac[:, 0, i])
            for k, c in enumerate(weights.tolist()):
                if c == 0.0:  # e.g. the time column beside a Laplacian over space
                    continue
                v = directions[:, k]
                first = (jac[:, :, i] * v).sum(1)
                hv = _grad(first.sum(), x)
                total = total + c * (hv * v).sum(1)
            outs.append(total)
        return torch.stack(outs, dim=1)


def _grad(y: Tensor, x: Tensor) -> Tensor:
    """dy/dx with a graph; zero where y does not depend on x (a field linear or constant in x, e.g. a payoff
    V = K − S, whose second derivatives autograd would otherwise refuse)."""
    if not y.requires_grad:
        return torch.zeros_like(x)
    return torch.autograd.grad(y, x, create_graph=True, materialize_grads=True)[0]


def laplacian_key(space_dims: int, D: int) -> Key:
    return ("diag", tuple(1.0 if j < space_dims else 0.0 for j in range(D)))


class Field:
    """One output component of the network at the evaluator's points; every method returns a tensor (n,).

    Coordinates are numbered 0 … d−1 over space; time, for time-dependent problems, is ``"t"`` (or use ``dt``,
    ``dtt``). Second derivatives: ``d2(i, j)`` for any pair, ``dxx(j)``, ``dtt()``, ``laplacian()`` (over space),
    ``trace(A)`` = Tr(A Hess_x u) for a (d, d) matrix or a function of the points returning (n, d, d).
    """

    def __init__(self, ev: FieldEvaluator, component: int, name: str = "u"):
        self._ev, self.component, self.name = ev, component, name

    # -- values and first derivatives -------------------------------------------------------------------
    def __call__(self) -> Tensor:
        return self._ev.value()[:, self.component]

    @property
    def value(self) -> Tensor:
        return self()

    def _index(self, j) -> int:
        ev = self._ev
        if j == "t":
            if not ev.time_dependent:
                raise ValueError("this problem has no time coordinate: 't' derivatives need time=(t0, t1)")
            return ev.D - 1
        if isinstance(j, bool) or not isinstance(j, int) or not 0 <= j < ev.space_dims:
            raise ValueError(f"coordinate {j!r} does not exist: space coordinates are 0 … {ev.space_dims - 1}"
                             + (" and time is 't'" if ev.time_dependent else ""))
        return j

    def d(self, j) -> Tensor:
        """∂u/∂x_j (j a space index, or "t")."""
        return self._ev.jacobian()[:, self._index(j), self.component]

    dx = d

    def dt(self) -> Tensor:
        """∂u/∂t."""
        return self.d("t")

    def grad(self) -> Tensor:
        """The space gradient ∇ₓu, shape (n, d)."""
        return self._ev.jacobian()[:, : self._ev.space_dims, self.component]

    def normal_derivative(self, normals: Tensor) -> Tensor:
        """∇ₓu · n for outward normals (n, d)."""
        return (self.grad() * normals[:, : self._ev.space_dims]).sum(1)

    # -- second derivatives ---------------------------------------------------------------------------
    def d2(self, i, j) -> Tensor:
        """∂²u/∂x_i∂x_j (indices as in ``d``)."""
        a, b = sorted((self._index(i), self._index(j)))
        ev = self._ev
        if a == b:
            key = ("diag", tuple(1.0 if k == a else 0.0 for k in range(ev.D)))
        else:
            key = ("mixed", a, b)
        return ev.second(key)[:, self.component]

    def dxx(self, j) -> Tensor:
        return self.d2(j, j)

    def dtt(self) -> Tensor:
        return self.d2("t", "t")

    def laplacian(self) -> Tensor:
        """Δu over the space coordinates."""
        ev = self._ev
        return ev.second(laplacian_key(ev.space_dims, ev.D))[:, self.component]

    def trace(self, A) -> Tensor:
        """Tr(A Hess_x u) for a symmetric A: a (d, d) matrix (tensor, array or nested list) or a function of the
        points x (n, D) returning (n, d, d) or (d, d)."""
        ev = self._ev
        d, D = ev.space_dims, ev.D
        A_t = A(ev.x) if callable(A) else A
        A_t = torch.as_tensor(A_t, dtype=ev.x.dtype, device=ev.x.device)
        if A_t.shape[-2:] != (d, d) or A_t.ndim not in (2, 3) or (A_t.ndim == 3 and A_t.shape[0] != ev.n):
            raise ValueError(f"trace(A) needs A of shape ({d}, {d}) or ({ev.n}, {d}, {d}), got {tuple(A_t.shape)}")
        if not bool(torch.isfinite(A_t).all()):
            raise ValueError("trace(A): A contains NaN or infinity")
        if A_t.requires_grad:
            return self._trace_by_entries(A_t)
        # a constant A is one request however often it is asked for; a function of x is a new request each call
        ident = tuple(A_t.reshape(-1).tolist()) if A_t.ndim == 2 else ("call", next(_CALLS))
        return ev.second(_TraceKey(("trace", ident, lambda: _trace_directions(A_t, D))))[:, self.component]

    def _trace_by_entries(self, A: Tensor) -> Tensor:
        """Tr(A Hess u) = Σ_i A_ii ∂²_ii u + 2 Σ_{i<j} A_ij ∂²_ij u for an A that depends on trained quantities (an
        unknown coefficient k["D"]·I, or a function of u such as (1 + u²) I): linear in A, so the gradient with
        respect to A is exact. The eigenvectors of the other path have no gradient where eigenvalues repeat (the
        isotropic D·I gave NaN and stopped training). Costs d(d − 1)/2 passes for the mixed derivatives, so it is
        refused above ``TRACE_BY_ENTRIES_MAX_DIM`` space dimensions."""
        d = self._ev.space_dims
        if d > TRACE_BY_ENTRIES_MAX_DIM:
            raise ValueError(f"trace(A) with an A that depends on trained quantities needs d(d − 1)/2 = "
                             f"{d * (d - 1) // 2} passes at d = {d}; write the trained factor outside the trace, "
                             "e.g. k['D'] * u.trace(A0) or c(u) * u.laplacian()")
        sym = 0.5 * (A + A.transpose(-1, -2))
        total = 0
        for i in range(d):
            for j in range(i, d):
                total = total + (1.0 if i == j else 2.0) * sym[..., i, j] * self.d2(i, j)
        return total


TRACE_BY_ENTRIES_MAX_DIM = 16
_CALLS = itertools.count()


class _TraceKey(tuple):
    """A request key for Tr(A Hess u): compared by its first two entries; the third computes the directions."""

    def __eq__(self, other):
        return isinstance(other, tuple) and len(other) == 3 and other[0] == "trace" and other[1] == self[1]

    def __hash__(self):
        return hash(("trace", self[1]))


def _trace_directions(A: Tensor, D: int) -> tuple[Tensor, Tensor]:
    """Directions and weights with Σ_j c_j v_j v_jᵀ = A (padded with zeros to D inputs): A = Σ λ_i q_i q_iᵀ. For an
    A per point the weights must be shared, so the signed eigenvalues go into the directions: √|λ_i| q_i, with
    weight +1 for the positive and −1 for the negative part."""
    sym = 0.5 * (A + A.transpose(-1, -2))
    lam, q = torch.linalg.eigh(sym)
    d = A.shape[-1]
    if A.ndim == 2:
        v = torch.zeros(d, D, dtype=A.dtype, device=A.device)
        v[:, :d] = q.T
        return v, lam
    scaled = q.transpose(1, 2) * lam.abs().sqrt().unsqueeze(2)  # (n, d, d): row i is √|λ_i| q_i
    pos = scaled * (lam > 0).unsqueeze(2)
    neg = scaled * (lam < 0).unsqueeze(2)
    v = torch.zeros(A.shape[0], 2 * d, D, dtype=A.dtype, device=A.device)
    v[:, :d, :d], v[:, d:, :d] = pos, neg
    w = torch.cat([torch.ones(d, dtype=A.dtype, device=A.device), -torch.ones(d, dtype=A.dtype, device=A.device)])
    return v, w


class Fields(Sequence):
    """The network's output components as ``Field`` objects: ``u, v, p = q``, ``q[0]``, ``q["p"]``, ``q.div()``."""

    def __init__(self, ev: FieldEvaluator, names: Sequence[str]):
        self._ev = ev
        self._fields = [Field(ev, i, name) for i, name in enumerate(names)]
        self._by_name = {f.name: f for f in self._fields}

    def __getitem__(self, i):
        if isinstance(i, str):
            if i not in self._by_name:
                raise ValueError(f"no output named {i!r}; the outputs are {list(self._by_name)}")
            return self._by_name[i]
        if isinstance(i, slice):
            return self._fields[i]
        if isinstance(i, bool) or not isinstance(i, int) or not -len(self) <= i < len(self):
            raise ValueError(f"output component {i!r} does not exist: the network has {len(self)} outputs "
                             f"{list(self._by_name)}")
        return self._fields[i]

    def __len__(self) -> int:
        return len(self._fields)

    def __iter__(self) -> Iterator[Field]:
        return iter(self._fields)

    def div(self, components: Sequence[int] | None = None) -> Tensor:
        """∇·(q_{c_0}, …, q_{c_{d−1}}) = Σ_j ∂q_{c_j}/∂x_j; default: the first d components."""
        d = self._ev.space_dims
        comps = list(range(d)) if components is None else list(components)
        if len(comps) != d:
            raise ValueError(f"div needs {d} components (one per space coordinate), got {comps}")
        return sum(self[c].d(j) for j, c in enumerate(comps))


def accessor(ev: FieldEvaluator, names: Sequence[str]) -> Field | Fields:
    """What a residual receives: the one ``Field`` of a scalar network, else ``Fields``."""
    fields = Fields(ev, names)
    return fields[0] if len(names) == 1 else fields


def evaluate_with_plan(make: Callable[[Sequence[Key]], FieldEvaluator], fn: Callable[[FieldEvaluator], object],
                       plan: list | None) -> tuple[object, list]:
    """Run ``fn`` on an evaluator built with the recorded ``plan`` and return (result, requests)."""
    ev = make(plan or ())
    return fn(ev), ev.requests


