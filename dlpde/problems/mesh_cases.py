"""Poisson problems on meshed domains whose reference is a finite element solution (REFERENCES.md §1).

−Δu = f in Ω, u = g on ∂Ω, with Ω the polygon (2-D) or polyhedron (3-D) covered by a triangle/tetrahedron mesh
(``dlpde.geometry.mesh.MeshDomain``). The networks sample Ω exactly from the mesh; the reference is continuous P2
Lagrange finite elements (scikit-fem, ``dlpde.reference.fem``) on the same mesh, refined uniformly until two
successive solutions differ by less than 1e-4 in relative L2 (``solve_until_converged``). It is computed on first
use and kept per process (a small cache keyed by the case and its mesh), so every later error evaluation only
locates points in the finest mesh.

Named cases:

* ``poisson-slit`` (E & Yu 2018, "The Deep Ritz method"): −Δu = 1 on (−1, 1)² \\ [0, 1) × {0}, u = 0 on the outer
  boundary and on both sides of the slit; u ~ r^{1/2} sin(θ/2) at the tip, so the reference starts from a mesh graded
  towards the tip (``slit_mesh(0.25, grading=3)``; three refinements, about 150 thousand unknowns);
* ``poisson-lshape``: −Δu = 1 on (−1, 1)² \\ [0, 1)², u = 0; u ~ r^{2/3} sin(⅔(θ − π/2)) at the re-entrant corner
  (``lshape_mesh(0.25, grading=2)``; three refinements, about 50 thousand unknowns);
* ``poisson-3d``: a manufactured solution on the unit cube with non-zero Dirichlet data,
  u = exp(−|x − c|²) + x y z, c = (½, ½, ½), −Δu = (6 − 4|x − c|²) exp(−|x − c|²). Errors use the exact u; the
  finite element solution (from ``unit_cube_mesh(0.2)``, two refinements, 69 thousand unknowns) gives the mesh
  fields of ``dlpde validate`` and checks the pipeline in 3-D. (With a sin(πx) sin(πy) sin(πz) term P2 would need
  2 million unknowns for a change below 1e-4, measured: 2.7e-4 at 275 thousand; hence the Gaussian.)
* ``poisson-mesh``: −Δu = 1, u = 0 on any triangle or tetrahedron mesh meshio reads (``mesh=`` a file path, e.g.
  ``dlpde solve poisson-mesh --mesh annulus.msh``); without a path, the built-in annulus
  ``disk_with_hole_mesh(0.1)`` (0.3 < |x| < 1, as polygons).

The slit and the L-shape also name their corner singularity (``singular_features()``, off with ``features=False``);
the PINN then gives it to its network as an extra input (``dlpde.nn.features``). Across the slit the solution has a
kink (u ~ |y|) that a smooth network cannot form without it: the PINN stalled at 30 % relative L2 error with it off and
reaches 0.4 % with it on (README, "Finite-element references and meshes").

From a script: ``MeshPoisson(MeshDomain.from_file(path), source, boundary)`` is a Poisson problem with the same
finite element reference on that mesh, and ``fem_reference(problem)`` gives the converged finite element solution of
any ``Poisson`` on a ``MeshDomain``.
"""
from __future__ import annotations

import json
import logging
import math
import os
from collections import OrderedDict
from dataclasses import asdict
from typing import Any, Callable, Hashable

import numpy as np
import torch

from dlpde.geometry.mesh import MeshDomain
from dlpde.problems.poisson import Poisson
from dlpde.problems.case import Case

log = logging.getLogger(__name__)
Tensor = torch.Tensor
Field = Callable[[Tensor], Tensor]

TOL = 1e-4  # relative L2 change between successive refinements at which the reference counts as converged
_CACHE_SIZE = 4
_CACHE: "OrderedDict[Hashable, Any]" = OrderedDict()  # key -> ConvergedFEM: the per-process reference cache


def _numpy_field(fn: Field) -> Callable[[np.ndarray], np.ndarray]:
    """A torch field x (n, d) -> (n,) as a numpy function (float64), for the finite element assembly."""
    def call(x: np.ndarray) -> np.ndarray:
        value = fn(torch.as_tensor(np.ascontiguousarray(x), dtype=torch.float64))
        return torch.as_tensor(value, dtype=torch.float64).reshape(-1).expand(x.shape[0]).numpy()
    return call


def fem_reference(problem: Poisson, *, order: int = 2, tol: float = TOL, max_refinements: int = 6,
                  max_dofs: int = 2_000_000):
    """The finite element solution of ``problem`` (a ``Poisson`` on a ``MeshDomain``) on its own mesh, refined
    uniformly until two successive solutions differ by less than ``tol`` (a ``dlpde.reference.fem.ConvergedFEM``:
    ``.solution`` evaluates at points, ``.history`` has one record per level, ``.converged``)."""
    from dlpde.reference.fem import solve_until_converged

    if not isinstance(problem, Poisson) or not isinstance(problem.domain, MeshDomain):
        raise ValueError(f"a finite element reference needs a Poisson problem on a MeshDomain, got "
                         f"{type(problem).__name__} on {type(getattr(problem, 'domain', None)).__name__}")
    return solve_until_converged(problem.domain, _numpy_field(problem.source), _numpy_field(problem.boundary),
                                 order=order, tol=tol, max_refinements=max_refinements, max_dofs=max_dofs)


def _file_key(path: str) -> tuple:
    st = os.stat(path)
    return ("file", os.path.abspath(path), st.st_mtime_ns, st.st_size)


class MeshPoisson(Poisson):
    """−Δu = f on a ``MeshDomain``, u = g on its boundary, with a finite element reference on the same mesh.

    ``reference(x)`` is the exact solution where one is given, else the converged P2 finite element solution
    (computed on first use; points outside the mesh raise ValueError). ``reference_key`` (hashable) shares the
    finite element solution between equal problems in one process; without it each problem computes its own.
    """

    def __init__(self, domain: MeshDomain, source: Field, boundary: Field, *, exact: Field | None = None,
                 case: str = "custom", params: dict | None = None, reference_key: Hashable | None = None,
                 order: int = 2, tol: float = TOL, max_refinements: int = 6, max_dofs: int = 2_000_000,
                 corners: list[dict] | None = None):
        if not isinstance(domain, MeshDomain):
            raise TypeError(f"domain must be a dlpde MeshDomain (a triangle or tetrahedron mesh), got "
                            f"{type(domain).__name__}; use Poisson for other domains")
        super().__init__(domain, source, boundary, exact=exact, case=case, params=params)
        self._fem_options = dict(order=order, tol=tol, max_refinements=max_refinements, max_dofs=max_dofs)
        self._reference_key = None if reference_key is None else (reference_key, order, tol, max_refinements,
                                                                  max_dofs)
        self._fem = None
        self._corners = [dict(c) for c in corners] if corners else None

    def singular_features(self) -> list[dict] | None:
        """Corner singularities r^α sin(αψ) the networks may take as extra inputs (``dlpde.nn.features``)."""
        return None if self._corners is None else [dict(c) for c in self._corners]

    # -- the finite element reference ----------------------------------------------------------------------
    def fem_reference(self):
        """The converged finite element solution (``ConvergedFEM``), computed once per process."""
        if self._fem is None:
            key = self._reference_key
            if key is not None and key in _CACHE:
                _CACHE.move_to_end(key)
                self._fem = _CACHE[key]
            else:
                log.info("computing the P2 finite element reference of %s", self.case)
                self._fem = fem_reference(self, **self._fem_options)
                if key is not None:
                    _CACHE[key] = self._fem
                    while len(_CACHE) > _CACHE_SIZE:
                        _CACHE.popitem(last=False)
        return self._fem

    def fem_description(self) -> str:
        """E.g. "P2 FEM, 3 refinements, 148k dofs, last change 2.9e-05"."""
        fem = self.fem_reference()
        last = fem.history[-1]
        change = f"last change {last.relative_change:.1e}" if math.isfinite(last.relative_change) else "no refinement"
        dofs = f"{last.n_dofs / 1000:.0f}k" if last.n_dofs >= 10_000 else str(last.n_dofs)
        return (f"P{fem.solution.order} FEM, {fem.refinements} refinements, {dofs} dofs, {change}"
                + ("" if fem.converged else f" (NOT converged to {fem.tol:g})"))

    @property
    def reference_description(self) -> str:
        """What ``reference`` is: "exact solution", or the finite element solution and its convergence."""
        return "exact solution" if self.has_exact else self.fem_description()

    @property
    def has_reference(self) -> bool:
        return True

    def prepare_reference(self) -> None:
        if not self.has_exact:
            self.fem_reference()

    def reference(self, x: Tensor) -> Tensor:
        """The reference at points x (n, dim): exact if known, else finite elements (ValueError outside the mesh)."""
        if self.has_exact:
            return self.exact(x)
        values = self.fem_reference().solution(x)
        dtype = x.dtype if isinstance(x, torch.Tensor) and x.dtype.is_floating_point else torch.float64
        device = x.device if isinstance(x, torch.Tensor) else None
        return torch.as_tensor(values, dtype=dtype, device=device)


# ---------------------------------------------------------------------------------------------------------
# Named cases


def _ones(x: Tensor) -> Tensor:
    return torch.ones_like(x[:, 0])


def _zeros(x: Tensor) -> Tensor:
    return torch.zeros_like(x[:, 0])


def _check_features(features) -> bool:
    if not isinstance(features, bool):
        raise ValueError(f"features must be True or False, got {features!r}")
    return features


def poisson_slit(features: bool = True) -> MeshPoisson:
    """−Δu = 1 on (−1,1)² minus the slit [0,1)×{0}, u = 0 on the boundary and both slit sides (E & Yu 2018).

    ``features``: offer the networks the tip singularity r^½ sin(θ/2) as an extra input (``dlpde.nn.features``;
    the PINN uses it; without it a smooth network cannot form the kink across the slit)."""
    from dlpde.geometry.meshes import slit_mesh

    corners = [dict(alpha=0.5, theta0=0.0, centre=[0.0, 0.0], radius=math.sqrt(2))] if _check_features(features) \
        else None
    domain = MeshDomain.from_meshio(slit_mesh(0.25, grading=3), source="slit_mesh(0.25, grading=3)")
    return MeshPoisson(domain, _ones, _zeros, case="poisson-slit", params={"features": features},
                       reference_key=("poisson-slit",), corners=corners)


def poisson_lshape(features: bool = True) -> MeshPoisson:
    """−Δu = 1 on the L-shape (−1,1)² minus [0,1)², u = 0 on the boundary.

    ``features``: offer the networks the corner singularity r^⅔ sin(⅔(θ − π/2)) as an extra input."""
    from dlpde.geometry.meshes import lshape_mesh

    corners = [dict(alpha=2 / 3, theta0=math.pi / 2, centre=[0.0, 0.0], radius=math.sqrt(2))] \
        if _check_features(features) else None
    domain = MeshDomain.from_meshio(lshape_mesh(0.25, grading=2), source="lshape_mesh(0.25, grading=2)")
    return MeshPoisson(domain, _ones, _zeros, case="poisson-lshape", params={"features": features},
                       reference_key=("poisson-lshape",), corners=corners)


_CENTRE = 0.5


def _gauss(x: Tensor) -> Tensor:
    return torch.exp(-((x - _CENTRE) ** 2).sum(dim=1))


def poisson_3d() -> MeshPoisson:
    """u = exp(−|x − c|²) + x y z on the unit cube (c = (½, ½, ½)), −Δu = (6 − 4|x − c|²) exp(−|x − c|²),
    u = exact on the boundary (non-zero); errors against the exact u, finite elements for the mesh fields."""
    from dlpde.geometry.meshes import unit_cube_mesh

    def exact(x):
        return _gauss(x) + x[:, 0] * x[:, 1] * x[:, 2]

    def source(x):
        return (6 - 4 * ((x - _CENTRE) ** 2).sum(dim=1)) * _gauss(x)

    domain = MeshDomain.from_meshio(unit_cube_mesh(0.2), source="unit_cube_mesh(0.2)")
    return MeshPoisson(domain, source, exact, exact=exact, case="poisson-3d", reference_key=("poisson-3d",))


def poisson_mesh(mesh: str | None = None) -> MeshPoisson:
    """−Δu = 1, u = 0 on the mesh in the file ``mesh`` (any format meshio reads), or on the built-in annulus
    0.3 < |x| < 1 (``disk_with_hole_mesh(0.1)``) when no file is given."""
    if mesh is None:
        from dlpde.geometry.meshes import disk_with_hole_mesh

        domain = MeshDomain.from_meshio(disk_with_hole_mesh(0.1), source="disk_with_hole_mesh(0.1)")
        key: tuple = ("poisson-mesh", "disk_with_hole_mesh(0.1)")
        path = None
    else:
        if not isinstance(mesh, (str, os.PathLike)):
            raise TypeError(f"mesh must be the path of a mesh file (str), got {type(mesh).__name__}")
        path = os.path.abspath(os.fspath(mesh))
        domain = MeshDomain.from_file(path)  # meshio's messages logged, its failures a ValueError
        key = _file_key(path)
    return MeshPoisson(domain, _ones, _zeros, case="poisson-mesh", params={"mesh": path}, reference_key=key)


def cases() -> list:
    """The registry entries (``dlpde.problems.registry``). PINN defaults measured with ``dlpde validate`` (README,
    "Finite-element references and meshes"): Adam 1000 steps, then 1000 L-BFGS iterations on one batch."""

    solvers = ("pinn", "ritz", "dgm")
    pinn = dict(steps=1000, batch=2000, boundary_batch=800, lr=2e-3, boundary_weight=100.0, lbfgs_steps=1000)
    # Deep Ritz: β = 300 leaves a Robin bias u ≈ −∂ₙu/(2β) on ∂Ω (≈ 0.8 % of the rms of u on the slit), while
    # β ≥ 500 slows the Adam phase (measured 3–5 %); the Adam phase's Monte Carlo noise leaves ≈ 3 %, which the
    # L-BFGS phase on one fixed quadrature of 65 536 Sobol points (option lbfgs_batch) brings to < 2 % with 1500
    # iterations (L-shape: 2.5 % after 500, 1.8 % after 1500; README,
    # "Finite-element references and meshes").
    ritz = dict(steps=6000, batch=2000, boundary_batch=1000, width=32, depth=3, activation="tanh", lr=3e-3,
                boundary_weight=300.0, penalty_warmup=0.5, sampling="sobol", lbfgs_steps=1500, lbfgs_batch=65536)
    # poisson-mesh (annulus, max u ≈ 0.064): β = 300 pins the network at u ≈ 0 (0.98); β = 30 gives 0.13 (Robin bias).
    # The hard constraint u = φ·N (mesh L^p distance) with Adam on the Monte Carlo energy stops at 8.1e-2 after 300,
    # 3000 or 6000 steps, and so does Adam on the fixed mesh quadrature (8.1e-2): a plateau of Adam (energy −0.05773
    # against the FEM's −0.06002; least squares against the FEM solution stalls there too, 7.5e-2, until L-BFGS
    # takes it to 1.1e-2), not noise and not the network class. L-BFGS leaves it, but only in float64 (in float32
    # its line search finds no decrease on the plateau and it stops at once, 8.1e-2) and on a deterministic energy:
    # the mesh's own degree-4 quadrature (quadrature="mesh", 3468 points, φ stored there), no Adam phase:
    # 1000 iterations 1.3e-3 in 37 s, 2000 the same (72 s); degree 2 3.5e-3; degree 4 on the once-refined mesh
    # 1.2e-3 in 304 s. After 200 Adam steps L-BFGS is slower to leave the plateau (8.3e-3 after 300 iterations,
    # 2.1e-3 without Adam). The same defaults on another mesh (--mesh FILE of lshape_mesh(0.1), re-entrant corner):
    # 1000 iterations 1.2e-2, 2000 7.4e-3 in 71 s, where the former defaults (Adam, Monte Carlo) gave 2.0e-2 in
    # 166 s; hence 2000. One thread; measured with scripts over dlpde.solve. (The former NaN of L-BFGS on 65 536
    # Sobol points: in float32 φ's second derivatives overflow within ~1e-7 of the boundary, which the backward
    # pass of ∇u = N∇φ + φ∇N goes through: 1 non-finite value in 4 × 65 536 float32 Sobol points, at distance 1.2e-7
    # from the outer circle, none in float64. The quadrature's points lie inside the cells, φ is computed once.)
    # ENGD on the quadrature (degree 2: 1734 points, 3468 rows, width 32, 3 blocks) did not finish 20 steps in
    # 200 s; not pursued. At least ``batch`` = 2000 quadrature points: see ``dlpde.solvers.ritz.mesh_quadrature``.
    MESH_RITZ = dict(width=32, depth=3, activation="tanh", hard_constraint=True, quadrature="mesh",
                     dtype="float64", steps=0, lbfgs_steps=2000)
    # poisson-slit and poisson-lshape Ritz: the Adam/Monte Carlo defaults above (``ritz``, kept for reference) gave
    # 1.7e-2 and 1.8e-2 in ~250 s; MESH_RITZ on their graded meshes (corner features on) gives slit 8.8e-3 after
    # 2000 L-BFGS iterations (122 s), L-shape 1.1e-2 after 2000 (41 s) and 5.1e-3 after 5000 (123 s): hence 4000
    MESH_RITZ_CORNER = dict(MESH_RITZ, lbfgs_steps=4000)
    # DGM: the generic defaults (boundary weight 1) gave 1.3 on poisson-mesh; weight 100 gave 1.9e-3 in 76 s
    dgm = dict(steps=2000, batch=1000, boundary_batch=500, width=50, depth=3, activation="tanh", lr=2e-3,
               boundary_weight=100.0, lbfgs_steps=0)
    return [
        Case("poisson-slit", poisson_slit, solvers,
             "-Δu = 1 on (-1,1)² minus the slit [0,1)×{0}, u = 0 (E & Yu 2018); reference: P2 finite elements",
             defaults=dict(pinn=dict(pinn), ritz=dict(MESH_RITZ_CORNER), dgm=dict(dgm))),
        Case("poisson-lshape", poisson_lshape, solvers,
             "-Δu = 1 on (-1,1)² minus [0,1)², u = 0; reference: P2 finite elements",
             defaults=dict(pinn=dict(pinn), ritz=dict(MESH_RITZ_CORNER), dgm=dict(dgm))),
        Case("poisson-3d", poisson_3d, solvers,
             "-Δu = f on (0,1)³, u = exp(-|x-c|²) + xyz (exact; P2 finite elements on the mesh too)",
             # PINN: the generic defaults (boundary weight 1, no L-BFGS) stopped at 2.75e-2 after 2000 steps; the
             # mesh cases' PINN settings give 1.0e-4 in 67 s (one thread)
             defaults=dict(steps=2000, pinn=dict(pinn), ritz=dict(ritz), dgm=dict(dgm))),
        Case("poisson-mesh", poisson_mesh, solvers,
             "-Δu = 1, u = 0 on a mesh file (--mesh FILE, default: an annulus); reference: P2 finite elements",
             defaults=dict(pinn=dict(pinn), ritz=dict(MESH_RITZ),
                           dgm=dict(dgm))),
    ]


def describe_reference(problem) -> dict:
    """JSON-able facts about a mesh problem's finite element reference (for result files)."""
    if not isinstance(problem, MeshPoisson):
        return {}
    fem = problem.fem_reference()
    return {"fem_order": fem.solution.order, "fem_refinements": fem.refinements, "fem_dofs": fem.solution.n_dofs,
            "fem_last_change": fem.history[-1].relative_change, "fem_converged": bool(fem.converged),
            "fem_tol": fem.tol,
            "fem_history": json.dumps([{k: (v if math.isfinite(v) else None) for k, v in asdict(r).items()}
                                       for r in fem.history])}
