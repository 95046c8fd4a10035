"""Finite element references for a user's own scalar linear elliptic problem (scikit-fem).

PDE: −∇·(a ∇u) + c u = f in Ω, with a > 0 and c of any sign (c = −k² is the Helmholtz equation), on a triangle (2-D)
or tetrahedron (3-D) mesh, and on parts of ∂Ω

* Dirichlet  u = g_D,
* Neumann    a ∂u/∂n = g_N,
* Robin      a ∂u/∂n + α u = g_R.

a, c, f, g and α are numbers or numpy callables of points x (n, dim) -> (n,). Each ``BoundaryPart`` chooses its
facets by a predicate on the boundary-facet midpoints (``where``: x (n, dim) -> bool (n,); None = the whole boundary).
Dirichlet data are evaluated at the boundary degrees of freedom (vertices; P2: also edge midpoints), Neumann and
Robin data at quadrature points inside the facets (never at a corner, so the side a point lies on is unambiguous).

Which condition holds where (the rule, in order):

1. a boundary facet takes the condition of the *last* part whose ``where`` selects it, so a list may start with a
   default for the whole boundary and then override pieces of it
   (``[BoundaryPart("dirichlet", 0.0), BoundaryPart("neumann", 1.0, where=right)]``);
2. facets no part selects keep the natural condition a ∂u/∂n = 0 (homogeneous Neumann);
3. Dirichlet wins over natural conditions on shared degrees of freedom: a vertex (P2: and in 3-D an edge) shared by
   a Dirichlet facet and a Neumann/Robin facet takes the Dirichlet value; where two Dirichlet parts share a degree
   of freedom the later part's value is used.

Method: continuous P2 (or P1) Lagrange elements on the weak form
∫ a ∇u·∇v + ∫ c u v + Σ_Robin ∫ α u v = ∫ f v + Σ_Neumann ∫ g_N v + Σ_Robin ∫ g_R v, with scikit-fem's default
quadrature (degree 2·order, enough for the optimal O(h^{order+1}) L2 rate with smooth coefficients); the Dirichlet
values are the Lagrange interpolant of g_D. The matrix is symmetric. It is solved by sparse LU, or in 3-D beyond
10 000 unknowns by Jacobi-preconditioned conjugate gradients when it is positive definite (c ≥ 0 and α ≥ 0) and by
Jacobi-preconditioned MINRES when it is not (Helmholtz; LU fill-in makes that 50x slower there). The helpers, the
solution object and the refinement record are those of ``dlpde.reference.fem`` (the Poisson reference).

Refused with a ValueError naming the argument: an unknown kind, a predicate that selects no boundary facet,
non-finite data, a diffusion that is not positive, and a problem that is singular by construction (no Dirichlet
facet, c ≡ 0 and no Robin term with α ≠ 0: u is then fixed only up to a constant).
"""
from __future__ import annotations

import contextlib
import math
from dataclasses import asdict, dataclass
from typing import Any, Callable, Union

import numpy as np
import skfem
from skfem.helpers import dot, grad

from dlpde.reference.fem import (FEMesh, FEMSolution, _element, _evaluate, _linear_solve, as_skfem_mesh,
                                 refine_until_converged)

ScalarField = Union[Callable[[np.ndarray], np.ndarray], float]
Predicate = Callable[[np.ndarray], np.ndarray]

KINDS = ("dirichlet", "neumann", "robin")
_DIRECT_LIMIT_3D = 10_000  # as in fem.solve_poisson_fem: beyond this many 3-D unknowns, CG if definite


@dataclass(frozen=True)
class BoundaryPart:
    """One piece of boundary data: ``kind`` ("dirichlet" | "neumann" | "robin"), the data g (``value``), where it
    holds (``where``: predicate on boundary-facet midpoints (n, dim) -> bool (n,); None = the whole boundary) and,
    for Robin a ∂u/∂n + α u = g, the coefficient ``alpha``. Later parts override earlier ones on the facets both
    select (see the module docstring)."""

    kind: str
    value: ScalarField
    where: Predicate | None = None
    alpha: ScalarField = 0.0

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"BoundaryPart kind must be one of {', '.join(map(repr, KINDS))}, got {self.kind!r}")
        if self.where is not None and not callable(self.where):
            raise ValueError(f"BoundaryPart where must be a predicate x (n, dim) -> bool (n,) or None (the whole "
                             f"boundary), got {type(self.where).__name__}")
        _check_constant(self.value, "BoundaryPart value")
        _check_constant(self.alpha, "BoundaryPart alpha")
        if self.kind != "robin" and (callable(self.alpha) or float(self.alpha) != 0.0):
            raise ValueError(f"alpha is the Robin coefficient (a ∂u/∂n + α u = g); it applies only to kind='robin', "
                             f"not to kind={self.kind!r}")


def _check_constant(value: Any, name: str) -> None:
    """A number must be finite; anything else must be callable."""
    if callable(value):
        return
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a number or a callable x (n, dim) -> (n,), got {type(value).__name__}") \
            from None
    if not math.isfinite(number):
        raise ValueError(f"{name} must be finite, got {number!r}")


def _sample(fn: ScalarField, x: np.ndarray, name: str) -> np.ndarray:
    """``fn`` at points x (n, dim) as a finite (n,) float array."""
    values = _evaluate(fn, x, name)
    bad = ~np.isfinite(values)
    if bad.any():
        first = int(np.flatnonzero(bad)[0])
        raise ValueError(f"{name} is not finite at {int(bad.sum())} of {len(values)} points (first: "
                         f"{values[first]!r} at x = {x[first].tolist()}); give finite data on the whole domain")
    return values


def _at_quadrature(fn: ScalarField, basis: skfem.AbstractBasis, name: str) -> np.ndarray:
    """``fn`` at the global quadrature points of ``basis``, shaped (n_cells or n_facets, n_qp)."""
    xq = np.asarray(basis.global_coordinates())  # (dim, n_cells or n_facets, n_qp)
    return _sample(fn, xq.reshape(xq.shape[0], -1).T, name).reshape(xq.shape[1:])


def _selected(where: Predicate | None, midpoints: np.ndarray, name: str) -> np.ndarray:
    """The boolean mask (n,) a predicate gives on the boundary-facet midpoints."""
    if where is None:
        return np.ones(len(midpoints), dtype=bool)
    mask = np.asarray(where(midpoints))
    if mask.ndim == 0:
        mask = np.full(len(midpoints), mask)
    if mask.shape != (len(midpoints),) or mask.dtype != np.bool_:
        raise ValueError(f"{name}(x) must return a boolean array of shape ({len(midpoints)},) for x of shape "
                         f"{midpoints.shape}, got {mask.dtype} {mask.shape}; e.g. np.isclose(x[:, 0], 1.0)")
    return mask


def _as_parts(boundary: Any) -> list[BoundaryPart]:
    if isinstance(boundary, BoundaryPart):
        return [boundary]
    parts = list(boundary) if isinstance(boundary, (list, tuple)) else None
    if parts is None or not all(isinstance(p, BoundaryPart) for p in parts):
        raise ValueError(f"boundary must be a list of BoundaryPart, got {type(boundary).__name__}"
                         + ("" if parts is None else f" with {[type(p).__name__ for p in parts]}"))
    return parts


@skfem.BilinearForm
def _volume_form(u, v, w):
    return w.a * dot(grad(u), grad(v)) + w.c * u * v


@skfem.BilinearForm
def _mass_form(u, v, w):
    return w.k * u * v


@skfem.LinearForm
def _load_form(v, w):
    return w.k * v


def _minres(a: Any, b: np.ndarray, *, rtol: float = 1e-11, rounds: int = 4) -> np.ndarray:
    """Solve the symmetric indefinite system a x = b (a large 3-D Helmholtz-type system) by MINRES with a Jacobi
    preconditioner |diag a|⁻¹, restarted on the true residual until it is below ``rtol`` relative to b.

    SuperLU needed 28 s for 30 thousand P2 unknowns of such a system (unit cube, c = -10; measured), MINRES 0.5 s
    (c = -10) to 5 s (c = -400). scipy's MINRES stops on a recursively updated residual (it left 1e-9 relative),
    hence the restarts: two rounds reached 1e-15.
    """
    from scipy.sparse.linalg import LinearOperator, minres

    a = a.tocsr()
    inverse_diagonal = 1.0 / np.abs(a.diagonal())
    preconditioner = LinearOperator(a.shape, matvec=lambda r: inverse_diagonal * r, dtype=np.float64)
    try:  # short vector operations: BLAS threads only wait (see fem._linear_solve)
        from threadpoolctl import threadpool_limits

        single_thread = threadpool_limits(1, user_api="blas")
    except ImportError:  # pragma: no cover - optional dependency
        single_thread = contextlib.nullcontext()
    x = np.zeros_like(b)
    scale = np.linalg.norm(b)
    with single_thread:
        for _ in range(rounds):
            residual = b - a @ x
            if np.linalg.norm(residual) <= rtol * scale:
                return x
            dx, info = minres(a, residual, rtol=rtol / 10, maxiter=20 * a.shape[0], M=preconditioner)
            if info != 0:
                break
            x += dx
    if np.linalg.norm(b - a @ x) <= rtol * scale:
        return x
    raise RuntimeError(f"MINRES did not converge on an indefinite system of size {a.shape[0]}; use a coarser mesh "
                       "or a lower order, or check that -c is not an eigenvalue")


def solve_elliptic(mesh: FEMesh, *, diffusion: ScalarField = 1.0, reaction: ScalarField = 0.0,
                   source: ScalarField = 0.0, boundary: list[BoundaryPart], order: int = 2) -> FEMSolution:
    """Solve −∇·(a ∇u) + c u = f with the ``boundary`` data (a list of ``BoundaryPart``) by P2 (``order=2``) or P1
    Lagrange elements on ``mesh`` (a MeshDomain, a scikit-fem MeshTri/MeshTet, a meshio.Mesh or (points, cells)).

    ``diffusion`` a, ``reaction`` c and ``source`` f are numbers or numpy callables x (n, dim) -> (n,). Returns a
    ``FEMSolution``: call it at points (n, dim); ``.dofs`` holds the coefficients.
    """
    m = as_skfem_mesh(mesh)
    parts = _as_parts(boundary)
    basis = skfem.Basis(m, _element(m.p.shape[0], order))

    a = _at_quadrature(diffusion, basis, "diffusion")
    if np.any(a <= 0):
        raise ValueError(f"diffusion must be positive everywhere (the problem is elliptic only for a > 0), got "
                         f"min {a.min():.3g}")
    c = _at_quadrature(reaction, basis, "reaction")
    matrix = _volume_form.assemble(basis, a=a, c=c)
    rhs = _load_form.assemble(basis, k=_at_quadrature(source, basis, "source"))

    # 1. each boundary facet belongs to the last part that selects its midpoint (-1: none, natural a ∂u/∂n = 0)
    facets = m.boundary_facets()
    midpoints = m.p[:, m.facets[:, facets]].mean(axis=1).T
    owner = np.full(facets.size, -1)
    for i, part in enumerate(parts):
        mask = _selected(part.where, midpoints, f"boundary[{i}].where")
        if not mask.any():
            raise ValueError(f"boundary[{i}] ({part.kind}): its where selects none of the {facets.size} boundary "
                             f"facets (it is called on the facet midpoints, shape (n, {m.p.shape[0]})); check the "
                             "predicate, and compare coordinates with a tolerance, e.g. np.isclose(x[:, 0], 1.0)")
        owner[mask] = i

    # 2. natural conditions on their facets, then Dirichlet values on the degrees of freedom of Dirichlet facets
    u = np.zeros(basis.N)
    fixed: list[np.ndarray] = []
    definite = bool(c.min() >= 0)
    robin_term = False
    for i, part in enumerate(parts):
        mine = facets[owner == i]
        if mine.size == 0:  # every facet it selected was taken over by a later part
            continue
        name = f"boundary[{i}]"
        if part.kind == "dirichlet":
            dofs = basis.get_dofs(mine).flatten()
            u[dofs] = _sample(part.value, basis.doflocs[:, dofs].T, f"{name}.value")
            fixed.append(dofs)
            continue
        facet_basis = basis.boundary(mine)
        rhs = rhs + _load_form.assemble(facet_basis, k=_at_quadrature(part.value, facet_basis, f"{name}.value"))
        if part.kind == "robin":
            alpha = _at_quadrature(part.alpha, facet_basis, f"{name}.alpha")
            matrix = matrix + _mass_form.assemble(facet_basis, k=alpha)
            robin_term = robin_term or bool(np.any(alpha != 0))
            definite = definite and bool(alpha.min() >= 0)

    if not fixed and not robin_term and not np.any(c != 0):
        raise ValueError("the problem is singular: with no Dirichlet part, reaction c = 0 and no Robin term "
                         "(alpha != 0), u is determined only up to a constant; add a Dirichlet BoundaryPart (e.g. on "
                         "a piece of the boundary), a Robin coefficient or a reaction term")

    # 3. Dirichlet wins on shared degrees of freedom: they are eliminated from the system
    if fixed:
        matrix, rhs, u, free = skfem.condense(matrix, rhs, x=u, D=np.unique(np.concatenate(fixed)))
    else:
        free = np.arange(basis.N)
    direct = m.p.shape[0] == 2 or matrix.shape[0] <= _DIRECT_LIMIT_3D
    try:
        u[free] = _linear_solve(matrix, rhs, direct=direct) if direct or definite else _minres(matrix, rhs)
    except RuntimeError as error:
        if not direct:
            raise
        raise ValueError(f"the discrete problem is singular ({error}); with a negative reaction (Helmholtz, "
                         "c = -k²) -c may be an eigenvalue of -∇·(a∇) with these boundary conditions: change c, the "
                         "boundary conditions or the mesh") from None
    if not np.all(np.isfinite(u)):
        raise ValueError("the solution is not finite: the discrete problem is (nearly) singular; with a negative "
                         "reaction (Helmholtz, c = -k²) -c may be an eigenvalue: change c or the boundary conditions")
    return FEMSolution(mesh=m, order=order, dofs=u, basis=basis)


def converged_elliptic(mesh: FEMesh, *, tol: float = 1e-4, max_refinements: int = 4, max_dofs: int = 2_000_000,
                       **options: Any) -> tuple[FEMSolution, dict]:
    """``solve_elliptic(mesh, **options)``, then refine uniformly until two successive solutions differ by less than
    ``tol`` in relative L2 norm, for at most ``max_refinements`` refinements and ``max_dofs`` unknowns.

    The change is ``FEMSolution.relative_difference`` (as in ``fem.solve_until_converged``): an L2 integral over the
    finer mesh, exact for nested meshes, rather than values at a few sample points, which could miss a change
    between them. The boundary predicates are re-evaluated on each refined mesh.

    Returns the finest solution and ``info``: ``refinements``, ``dofs``, ``last_change`` (nan without refinement),
    ``converged``, ``tol`` and ``history`` (one dict per level: h, n_dofs, relative_change, seconds). Without
    convergence a RuntimeWarning says what to change.
    """
    current, history, converged = refine_until_converged(
        mesh, lambda m: solve_elliptic(m, **options), tol=tol, max_refinements=max_refinements, max_dofs=max_dofs)
    info = {"refinements": len(history) - 1, "dofs": current.n_dofs, "last_change": history[-1].relative_change,
            "converged": bool(converged), "tol": tol, "history": [asdict(level) for level in history]}
    return current, info
