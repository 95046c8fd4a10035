"""Finite element reference solutions of the Poisson problem with scikit-fem.

PDE: -Δu = f in Ω, u = g on ∂Ω, Ω a polygon (2-D) or polyhedron (3-D) given by a triangle or tetrahedron mesh.

Method: continuous Lagrange elements of order 1 (P1) or 2 (P2). The stiffness matrix ∫ ∇u·∇v and the load ∫ f v are
assembled with scikit-fem's default quadrature (exact for the stiffness on affine cells); the Dirichlet values are the
Lagrange interpolant of g (g evaluated at the boundary degrees of freedom: the vertices, and for P2 also the edge
midpoints); the condensed system is solved by sparse LU (SuperLU with a minimum degree ordering of A + Aᵀ, which for
these symmetric matrices is about 2x faster and needs half the fill of scipy's default COLAMD ordering), or in 3-D
beyond 10 000 unknowns by Jacobi-preconditioned conjugate gradients. For smooth u the L2 error is O(h^{k+1}) for
P_k; near re-entrant corners (L-shape, slit) it is limited by the singularity (u ~ r^{2/3}, r^{1/2}).

``solve_until_converged`` refines the mesh uniformly until two successive solutions differ by less than ``tol`` in
relative L2 norm, measured by quadrature on the finer mesh (the coarse solution is evaluated at the fine quadrature
points). This is the reference for the problems without a closed form (``poisson-slit``, ``poisson-lshape``).
"""
from __future__ import annotations

import contextlib
import math
import time
import warnings
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any, Callable, Union

import numpy as np
import skfem
from skfem.helpers import dot, grad

from dlpde.geometry.mesh import MeshDomain, SimplexLocator

ScalarField = Union[Callable[[np.ndarray], np.ndarray], float]
FEMesh = Any  # a skfem MeshTri/MeshTet, a MeshDomain, a meshio.Mesh, or a tuple (points (n, d), cells (m, d+1))

_ELEMENTS = {(2, 1): skfem.ElementTriP1, (2, 2): skfem.ElementTriP2,
             (3, 1): skfem.ElementTetP1, (3, 2): skfem.ElementTetP2}


def as_skfem_mesh(mesh: FEMesh) -> skfem.Mesh:
    """Convert any supported mesh description to a scikit-fem MeshTri (2-D) or MeshTet (3-D)."""
    if isinstance(mesh, (skfem.MeshTri1, skfem.MeshTet1)):
        return mesh
    if isinstance(mesh, MeshDomain):
        return mesh.to_skfem()
    if isinstance(mesh, tuple) and len(mesh) == 2:
        return MeshDomain(*mesh).to_skfem()
    if hasattr(mesh, "cells") and hasattr(mesh, "points"):  # meshio.Mesh
        return MeshDomain.from_meshio(mesh).to_skfem()
    raise ValueError(f"cannot use a {type(mesh).__name__} as a finite element mesh; pass a skfem MeshTri/MeshTet, a "
                     "MeshDomain, a meshio.Mesh or a tuple (points (n, d), cells (m, d+1))")


def _element(dim: int, order: int) -> skfem.Element:
    if (dim, order) not in _ELEMENTS:
        raise ValueError(f"order must be 1 (P1) or 2 (P2) on a {dim}-d mesh, got order={order!r}")
    return _ELEMENTS[dim, order]()


def _evaluate(fn: ScalarField, x: np.ndarray, name: str) -> np.ndarray:
    """``fn`` at points x (n, d) as an (n,) float array; a number is a constant function."""
    if not callable(fn):
        try:
            return np.full(x.shape[0], float(fn))
        except (TypeError, ValueError):
            raise ValueError(f"{name} must be a callable x (n, d) -> (n,) or a number, got {type(fn).__name__}")
    value = np.asarray(fn(x), dtype=np.float64)
    if value.ndim == 0:
        value = np.full(x.shape[0], float(value))
    if value.shape != (x.shape[0],):
        raise ValueError(f"{name}(x) must return shape ({x.shape[0]},) for x of shape {x.shape}, got {value.shape}; "
                         "return one value per row of x (e.g. index columns with x[:, 0])")
    return value


def _at_quadrature(fn: ScalarField, xq: np.ndarray, name: str) -> np.ndarray:
    """``fn`` at skfem global quadrature points xq (d, n_cells, n_qp), shaped (n_cells, n_qp)."""
    d = xq.shape[0]
    return _evaluate(fn, xq.reshape(d, -1).T, name).reshape(xq.shape[1:])


@dataclass(frozen=True, eq=False)
class FEMSolution:
    """A finite element function: the mesh, the polynomial order and the degrees of freedom.

    Call it at points (n, d) to evaluate it (points outside the mesh raise ValueError).
    """

    mesh: skfem.Mesh
    order: int
    dofs: np.ndarray
    basis: skfem.CellBasis = field(repr=False)

    @property
    def dim(self) -> int:
        return int(self.mesh.p.shape[0])

    @property
    def n_dofs(self) -> int:
        return int(self.dofs.size)

    @cached_property
    def h(self) -> float:
        """Longest mesh edge."""
        edges = self.mesh.edges if self.dim == 3 else self.mesh.facets
        p = self.mesh.p
        return float(np.max(np.linalg.norm(p[:, edges[0]] - p[:, edges[1]], axis=0)))

    @cached_property
    def _locator(self) -> SimplexLocator:
        return SimplexLocator(self.mesh.p.T, self.mesh.t.T)

    @cached_property
    def _error_basis(self) -> skfem.CellBasis:
        """A basis with a quadrature exact for polynomials of degree 2 order + 2 (for norms of errors)."""
        return skfem.Basis(self.mesh, self.basis.elem, intorder=2 * self.order + 2)

    def __call__(self, points: Any) -> np.ndarray:
        """Values (n,) of the finite element function at points (n, d) (numpy array or torch tensor)."""
        if hasattr(points, "detach"):
            points = points.detach().cpu().numpy()
        x = np.asarray(points, dtype=np.float64)
        if x.ndim != 2 or x.shape[1] != self.dim:
            raise ValueError(f"points must have shape (n, {self.dim}) for this {self.dim}-d mesh, got {x.shape}")
        cell, bary = self._locator.locate(x)
        outside = np.flatnonzero(cell < 0)
        if outside.size:
            raise ValueError(f"{outside.size} of {len(x)} points lie outside the mesh (e.g. {x[outside[0]].tolist()}); "
                             "evaluate the solution only at points of the meshed domain")
        return self._in_cells(bary[:, 1:], cell)

    def _in_cells(self, ref: np.ndarray, cell: np.ndarray, chunk: int = 200_000) -> np.ndarray:
        """Values at the points with reference coordinates ``ref`` (n, d) in cells ``cell`` (n,)."""
        out = np.empty(len(cell))
        elem, element_dofs = self.basis.elem, self.basis.element_dofs
        for start in range(0, len(cell), chunk):
            c = cell[start:start + chunk]
            r = ref[start:start + chunk].T  # reference coordinates of the skfem affine map (barycentric 1..d)
            out[start:start + chunk] = sum(elem.lbasis(r, k)[0] * self.dofs[element_dofs[k, c]]
                                           for k in range(element_dofs.shape[0]))
        return out

    def _parent_cells(self, fine: skfem.Mesh) -> np.ndarray | None:
        """The cell of this mesh that contains each cell of ``fine`` (found from the fine cell's centroid), or None if
        some fine cell is not inside one cell of this mesh (the meshes are not nested)."""
        centroid = fine.p[:, fine.t].mean(axis=1).T
        parent, _ = self._locator.locate(centroid)
        if np.any(parent < 0):
            return None
        for corner in range(fine.t.shape[0]):
            if self._locator.barycentric(fine.p[:, fine.t[corner]].T, parent).min() < -1e-9:
                return None
        return parent

    def nodal_values(self) -> np.ndarray:
        """Values at the mesh vertices, in the order of ``mesh.p`` columns, shape (n_vertices,)."""
        return self.dofs[self.basis.nodal_dofs[0]]

    def _integrate_squared(self, other: Callable[[np.ndarray], np.ndarray] | None) -> float:
        basis = self._error_basis
        uh = np.asarray(basis.interpolate(self.dofs))
        diff = uh if other is None else uh - other(basis.mapping.F(basis.X))
        return float(np.sum(diff**2 * basis.dx))

    def l2_norm(self) -> float:
        """‖u_h‖ in L2(Ω), by quadrature."""
        return math.sqrt(self._integrate_squared(None))

    def l2_error(self, exact: ScalarField, *, relative: bool = False) -> float:
        """‖u_h - u‖ in L2(Ω) by quadrature of degree 2 order + 2; divided by ‖u‖ if ``relative``."""
        err = math.sqrt(self._integrate_squared(lambda xq: _at_quadrature(exact, xq, "exact")))
        if not relative:
            return err
        basis = self._error_basis
        norm = math.sqrt(float(np.sum(_at_quadrature(exact, basis.mapping.F(basis.X), "exact") ** 2 * basis.dx)))
        if norm == 0:
            raise ValueError("the exact solution has zero L2 norm; use relative=False")
        return err / norm

    def relative_difference(self, coarse: "FEMSolution") -> float:
        """‖u_h - u_coarse‖ / ‖u_h‖ in L2, by quadrature on this (finer) mesh; ``coarse`` must cover this mesh.

        The quadrature (degree 2 order) is exact when this mesh refines the coarse one, since then u_coarse is a
        polynomial of degree ``coarse.order`` on each fine cell.
        """
        basis = skfem.Basis(self.mesh, self.basis.elem, intorder=2 * max(self.order, coarse.order))
        xq = basis.mapping.F(basis.X)  # (d, n_cells, n_qp)
        points = xq.reshape(self.dim, -1).T
        parent = coarse._parent_cells(self.mesh)
        if parent is None:
            coarse_values = coarse(points)
        else:
            cell = np.repeat(parent, xq.shape[2])
            coarse_values = coarse._in_cells(coarse._locator.barycentric(points, cell)[:, 1:], cell)
        fine_values = np.asarray(basis.interpolate(self.dofs))
        diff = float(np.sum((fine_values - coarse_values.reshape(fine_values.shape)) ** 2 * basis.dx))
        norm = float(np.sum(fine_values**2 * basis.dx))
        if norm == 0:
            return 0.0 if diff == 0 else math.inf
        return math.sqrt(diff / norm)


def _linear_solve(a: Any, b: np.ndarray, *, direct: bool) -> np.ndarray:
    """Solve the symmetric positive definite system a x = b.

    ``direct``: SuperLU with a symmetric (minimum degree on A + Aᵀ) ordering, for 2-D and small 3-D systems.
    Otherwise conjugate gradients with a Jacobi preconditioner (large 3-D systems fill in too much for SuperLU:
    30 thousand P2 unknowns already take seconds).
    """
    from scipy.sparse.linalg import LinearOperator, cg, splu

    if direct:
        return splu(a.tocsc(), permc_spec="MMD_AT_PLUS_A", options={"SymmetricMode": True}).solve(b)
    a = a.tocsr()
    inverse_diagonal = 1.0 / a.diagonal()
    # CG's vector dot products are too short to gain from BLAS threads; on a busy machine the threads' waiting made
    # them 8x slower (measured), so BLAS runs single-threaded here when threadpoolctl is installed
    try:
        from threadpoolctl import threadpool_limits

        single_thread = threadpool_limits(1, user_api="blas")
    except ImportError:  # pragma: no cover - optional dependency
        single_thread = contextlib.nullcontext()
    with single_thread:
        x, info = cg(a, b, rtol=1e-11, maxiter=20 * a.shape[0],
                     M=LinearOperator(a.shape, matvec=lambda r: inverse_diagonal * r, dtype=np.float64))
    if info != 0:
        raise RuntimeError(f"conjugate gradients did not converge in {info} iterations on a system of size "
                           f"{a.shape[0]}; use a coarser mesh or a lower order")
    return x


def solve_poisson_fem(mesh: FEMesh, f: ScalarField, g: ScalarField | None = None, *, order: int = 1) -> FEMSolution:
    """Solve -Δu = f in Ω, u = g on ∂Ω (g = 0 if None) with P1 or P2 Lagrange elements on ``mesh``.

    ``f`` and ``g`` are callables x (n, d) -> (n,) (numpy) or numbers. ``mesh`` is a scikit-fem MeshTri/MeshTet, a
    MeshDomain, a meshio.Mesh or a tuple (points, cells).
    """
    m = as_skfem_mesh(mesh)
    basis = skfem.Basis(m, _element(m.p.shape[0], order))

    @skfem.BilinearForm
    def stiffness(u, v, _):
        return dot(grad(u), grad(v))

    @skfem.LinearForm
    def load(v, w):
        return _at_quadrature(f, w.x, "f") * v

    a = stiffness.assemble(basis)
    b = load.assemble(basis)
    boundary = basis.get_dofs().flatten()
    u = np.zeros(basis.N)
    if g is not None:
        u[boundary] = _evaluate(g, basis.doflocs[:, boundary].T, "g")
    a, b, u, interior = skfem.condense(a, b, x=u, D=boundary)
    u[interior] = _linear_solve(a, b, direct=m.p.shape[0] == 2 or a.shape[0] <= 10_000)
    return FEMSolution(mesh=m, order=order, dofs=u, basis=basis)


@dataclass(frozen=True)
class RefinementLevel:
    """One level of ``solve_until_converged``: mesh size, number of unknowns, relative L2 change from the previous
    level (nan on the first level) and the seconds spent on the level."""

    h: float
    n_dofs: int
    relative_change: float
    seconds: float


@dataclass(frozen=True, eq=False)
class ConvergedFEM:
    """The finest solution, one record per level, and whether the last change fell below ``tol``."""

    solution: FEMSolution
    history: list[RefinementLevel]
    converged: bool
    tol: float

    @property
    def refinements(self) -> int:
        """Number of uniform refinements of the starting mesh."""
        return len(self.history) - 1


def refine_until_converged(mesh: FEMesh, solve: Callable[[Any], FEMSolution], *, tol: float, max_refinements: int,
                           max_dofs: int) -> tuple[FEMSolution, list[RefinementLevel], bool]:
    """``solve(mesh)``, then ``solve`` on uniform refinements until two successive solutions differ by less than
    ``tol`` in relative L2 norm (``FEMSolution.relative_difference``, on the finer mesh), for at most
    ``max_refinements`` refinements and ``max_dofs`` unknowns. Returns the finest solution, one
    ``RefinementLevel`` per level and whether it converged; without convergence a RuntimeWarning says what to change.
    """
    if not (tol > 0):
        raise ValueError(f"tol must be positive, got {tol!r}")
    if isinstance(max_refinements, bool) or not isinstance(max_refinements, int) or max_refinements < 0:
        raise ValueError(f"max_refinements must be a non-negative integer, got {max_refinements!r}")
    m = as_skfem_mesh(mesh)
    grow = 2 ** m.p.shape[0]  # a uniform refinement multiplies the unknowns by about 2^d
    start = time.perf_counter()
    current = solve(m)
    history = [RefinementLevel(current.h, current.n_dofs, math.nan, time.perf_counter() - start)]
    change = math.inf
    while change >= tol and len(history) <= max_refinements and current.n_dofs * grow <= max_dofs:
        start = time.perf_counter()
        finer = solve(current.mesh.refined())
        change = finer.relative_difference(current)
        history.append(RefinementLevel(finer.h, finer.n_dofs, change, time.perf_counter() - start))
        current = finer
    converged = change < tol
    if not converged:
        warnings.warn(f"the finite element solution did not converge to tol={tol:g}: the last relative change was "
                      f"{change:.3g} after {len(history) - 1} refinements ({current.n_dofs} unknowns); increase "
                      "max_refinements or max_dofs, start from a finer mesh, or use a larger tol",
                      RuntimeWarning, stacklevel=3)
    return current, history, converged


def solve_until_converged(mesh: FEMesh, f: ScalarField, g: ScalarField | None = None, *, order: int = 2,
                          tol: float = 1e-4, max_refinements: int = 6, max_dofs: int = 2_000_000) -> ConvergedFEM:
    """Solve on ``mesh``, then refine uniformly until two successive solutions differ by less than ``tol`` in
    relative L2 norm (on the finer mesh), for at most ``max_refinements`` refinements and ``max_dofs`` unknowns.

    Without convergence the finest solution is returned with ``converged=False`` and a RuntimeWarning.
    The relative change estimates the coarse solution's error; the returned (finer) solution is usually better by the
    convergence factor (1/2^rate).

    Near a re-entrant corner start from a graded mesh: on uniform meshes the change shrinks only 2x (slit, u ~ r^1/2)
    or 2.6x (L-shape, r^2/3) per refinement, so with P2 and tol = 1e-4 the slit does not converge within 2 million
    unknowns and the L-shape needs 0.8 million; from ``slit_mesh(0.25, grading=3)`` and
    ``lshape_mesh(0.25, grading=2)`` three refinements (0.15 and 0.05 million unknowns) suffice.
    """
    current, history, converged = refine_until_converged(
        mesh, lambda m: solve_poisson_fem(m, f, g, order=order), tol=tol, max_refinements=max_refinements,
        max_dofs=max_dofs)
    return ConvergedFEM(current, history, converged, tol)
