"""Linear scalar second-order elliptic problems written by their coefficients, with a finite element reference:

    −∇·(a(x)∇u) + c(x) u = f(x) in Ω,   Dirichlet / Neumann (∂u/∂n = g) / Robin (∂u/∂n + αu = g) on parts of ∂Ω.

``Elliptic(domain, source=f, conditions=[...], diffusion=a, reaction=c)`` is a ``PDE`` (PINN and DGM solve it like
any other) whose coefficients are known as data, so it also has a scikit-fem reference
(``dlpde.reference.fem_elliptic``, P2 elements refined until the change is below ``tol``): on a ``MeshDomain``
directly, on a 2-D DeepXDE polygon/rectangle/disk (or a ``DeepXDEDomain`` wrapping one) after meshing it with gmsh
(``dlpde.geometry.shapes.mesh_deepxde``). Diffusion (a = 1, c = 0), reaction (c > 0) and Helmholtz (c = −k²)
problems are all of this form.
"""
from __future__ import annotations

import logging
from typing import Callable, Sequence

import numpy as np
import torch

from dlpde.geometry import Box, DeepXDEDomain
from dlpde.geometry.mesh import MeshDomain
from dlpde.problems.conditions import Dirichlet, Neumann, PDECondition, Robin
from dlpde.problems.pde import PDE

log = logging.getLogger(__name__)
Tensor = torch.Tensor
Coefficient = float | Callable[[Tensor], Tensor]


def _torch_values(v: Coefficient, x: Tensor) -> Tensor:
    if callable(v):
        out = v(x)
        if isinstance(out, (int, float)):
            return torch.full_like(x[:, 0], float(out))
        return out[:, 0] if out.ndim == 2 else out
    return torch.full_like(x[:, 0], float(v))


def _numpy(v: Coefficient) -> Callable[[np.ndarray], np.ndarray] | float:
    """A torch coefficient as a numpy function (float64) for the finite element assembly."""
    if not callable(v):
        return float(v)

    def call(x: np.ndarray) -> np.ndarray:
        value = _torch_values(v, torch.as_tensor(np.ascontiguousarray(x), dtype=torch.float64))
        return value.detach().double().reshape(-1).expand(x.shape[0]).numpy()
    return call


class Elliptic(PDE):
    """−∇·(a∇u) + c u = f on ``domain`` with ``conditions`` (Dirichlet, Neumann, Robin). Coefficients and data are
    numbers or torch functions of the points (n, d) → (n,). ``mesh_size``: the element size for meshing a DeepXDE
    geometry (default: a 40th of its bounding box's diagonal). ``exact``: the solution, if known (errors are then
    measured against it; the finite element reference is still available as ``fem_reference()``)."""

    def __init__(self, domain, *, source: Coefficient = 0.0, conditions: Sequence[PDECondition] = (),
                 diffusion: Coefficient = 1.0, reaction: Coefficient = 0.0, exact=None, case: str = "custom",
                 params: dict | None = None, mesh_size: float | None = None, tol: float = 1e-4,
                 max_refinements: int = 4):
        for c in conditions if not isinstance(conditions, PDECondition) else [conditions]:
            if not isinstance(c, (Dirichlet, Neumann, Robin)):
                raise ValueError(f"Elliptic takes Dirichlet, Neumann and Robin conditions, got {type(c).__name__}; "
                                 "use PDE for other conditions")
        self.diffusion, self.reaction, self.source = diffusion, reaction, source
        super().__init__(domain, self._equation, conditions, exact=exact, case=case, params=params)
        self._fem_options = dict(tol=tol, max_refinements=max_refinements)
        self._mesh_size = mesh_size
        self._fem = None
        self._fem_info: dict = {}
        self._check_disjoint()

    def _check_disjoint(self, n: int = 4096) -> None:
        """Warn of two conditions on one part of the boundary: the finite element reference takes the later one
        there, the network's loss both. With data that agree there (Dirichlet with the exact solution everywhere,
        Neumann data of the same solution on a face) both are right; with data that disagree (u = 0 and ∂u/∂n = 1
        on one face) the errors would be measured against another problem's solution, so it is said once, here.
        Checked on ``n`` boundary samples; faces that meet only at an edge or corner do not count."""
        conds = self.conditions()
        if len(conds) < 2:
            return
        x = self.space.sample_boundary(n, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
        masks = [torch.ones(len(x), dtype=torch.bool) if c.on is None
                 else torch.as_tensor(_where(c)(x)).reshape(-1).bool() for c in conds]
        for i in range(len(conds)):
            for j in range(i + 1, len(conds)):
                both = masks[i] & masks[j]
                if bool(both.any()):
                    at = [round(v, 4) for v in x[both][0].tolist()]
                    log.warning("%s: the conditions %r and %r both hold on part of the boundary (e.g. at %s): the "
                                "finite element reference takes the later one there, the network's loss both; "
                                "unless their data agree there, give each part one condition (on=...)",
                                self.case, conds[i].name, conds[j].name, at)

    def _equation(self, x: Tensor, u) -> Tensor:
        """−a Δu − ∇a·∇u + c u − f (∇a by autograd where a is a function)."""
        a = self.diffusion
        r = self._reaction_source(x, u)
        if not callable(a):
            return -float(a) * u.laplacian() + r
        xa = x.detach().requires_grad_(True)
        with torch.enable_grad():
            av = _torch_values(a, xa)
            (grad_a,) = torch.autograd.grad(av.sum(), xa)
        return -av.detach() * u.laplacian() - (grad_a[:, : self.dim] * u.grad()).sum(1) + r

    def _reaction_source(self, x: Tensor, u) -> Tensor:
        return _torch_values(self.reaction, x) * u() - _torch_values(self.source, x)

    # -- the finite element reference ------------------------------------------------------------------
    def mesh(self) -> MeshDomain:
        """The mesh the reference is computed on: the domain itself, or the DeepXDE geometry meshed by gmsh."""
        dom = self.space
        if isinstance(dom, MeshDomain):
            return dom
        from dlpde.geometry.shapes import mesh_deepxde
        geometry = dom.geom if isinstance(dom, DeepXDEDomain) else None
        if geometry is None and isinstance(dom, Box) and dom.dim == 2:
            from dlpde.geometry.shapes import mesh_polygon
            (x0, y0), (x1, y1) = dom.lo.tolist(), dom.hi.tolist()
            return mesh_polygon([(x0, y0), (x1, y0), (x1, y1), (x0, y1)], self._h(dom))
        if geometry is None:
            raise ValueError(f"a finite element reference needs a MeshDomain, a 2-D Box or a 2-D DeepXDE geometry, "
                             f"got {type(dom).__name__}")
        return mesh_deepxde(geometry, self._h(dom))

    def _h(self, dom) -> float:
        if self._mesh_size is not None:
            return float(self._mesh_size)
        lo, hi = dom.bounds
        return float((hi - lo).norm()) / 40

    def _boundary_parts(self) -> list:
        from dlpde.reference.fem_elliptic import BoundaryPart
        a = self.diffusion
        parts = []
        for c in self.conditions():
            where = None
            if c.on is not None:
                where = (lambda p: lambda X: p(torch.as_tensor(X, dtype=torch.float64)).numpy())(_where(c))
            # the finite element form takes a ∂u/∂n: scale the PDE's ∂u/∂n data by a
            if isinstance(c, Dirichlet):
                parts.append(BoundaryPart("dirichlet", _numpy(c.value), where))
            elif isinstance(c, Neumann):
                parts.append(BoundaryPart("neumann", _numpy(_times(a, c.value)), where))
            else:
                parts.append(BoundaryPart("robin", _numpy(_times(a, c.value)), where, alpha=_numpy(_times(a, c.alpha))))
        return parts

    def fem_reference(self):
        """The converged finite element solution (``FEMSolution``), computed once."""
        if self._fem is None:
            from dlpde.reference.fem_elliptic import converged_elliptic
            log.info("computing the P2 finite element reference of %s", self.case)
            self._fem, self._fem_info = converged_elliptic(
                self.fem_reference_mesh(), diffusion=_numpy(self.diffusion), reaction=_numpy(self.reaction),
                source=_numpy(self.source), boundary=self._boundary_parts(), **self._fem_options)
        return self._fem

    @property
    def has_reference(self) -> bool:
        """An exact solution, or a finite element one on a mesh, a 2-D box or a DeepXDE shape ``mesh_deepxde``
        meshes (a CSG shape or a 3-D sphere has none: the problem trains without a reference)."""
        from dlpde.geometry.shapes import can_mesh_deepxde
        return self.has_exact or isinstance(self.space, MeshDomain) or (
            isinstance(self.space, DeepXDEDomain) and can_mesh_deepxde(self.space)) or (
            isinstance(self.space, Box) and self.dim == 2)

    def evaluation_points(self, n: int, *, generator=None, dtype=torch.float64) -> Tensor:
        """Fresh uniform points; against a finite element reference on a meshed curved shape, only those inside
        the mesh (its polygonal boundary cuts off slivers of the true domain)."""
        x = self.interior_points(n, generator=generator, dtype=dtype)
        if self.has_exact or isinstance(self.space, MeshDomain):
            return x
        return x[self.fem_reference_mesh().contains(x)]

    def fem_reference_mesh(self) -> MeshDomain:
        if getattr(self, "_mesh", None) is None:
            self._mesh = self.mesh()
        return self._mesh

    @property
    def reference_description(self) -> str:
        if self.has_exact:
            return "exact solution"
        self.fem_reference()
        i = self._fem_info
        return (f"P2 FEM, {i.get('refinements')} refinements, {i.get('dofs')} dofs, last change "
                f"{i.get('last_change', float('nan')):.1e}")

    def prepare_reference(self) -> None:
        if not self.has_exact:
            self.fem_reference()

    def reference(self, x: Tensor) -> Tensor:
        if self.has_exact:
            return self.exact(x)
        values = self.fem_reference()(np.asarray(x[:, : self.dim].detach().cpu().double()))
        return torch.as_tensor(values, dtype=torch.float64)


def _times(a: Coefficient, v: Coefficient) -> Coefficient:
    if not callable(a) and not callable(v):
        return float(a) * float(v)
    return lambda x: _torch_values(a, x) * _torch_values(v, x)


def _where(c: PDECondition) -> Callable[[Tensor], Tensor]:
    """The part of the boundary a condition with ``on`` holds on, as a predicate on points: the user's, or a box
    face's (``_face_predicate``)."""
    return c.on if callable(c.on) else _face_predicate(c)


def _face_predicate(c: PDECondition) -> Callable[[Tensor], Tensor]:
    """A named face of a box as a predicate on points (with a tolerance for mesh vertices)."""
    from dlpde.problems.conditions import _face
    axis, high = _face(c.domain, c.on)
    box = c.domain
    value = float(box.hi[axis] if high else box.lo[axis])
    scale = float((box.hi - box.lo).max())
    return lambda x: (x[:, axis] - value).abs() <= 1e-9 * scale
