r"""The OT / mean-field-game potential Φ(x, t) with its exact gradient and Laplacian in one pass.

Ruthotto, Osher, Li, Nurbekyan & Fung, "A machine learning framework for solving high-dimensional mean field game
and mean field control problems", PNAS 117 (2020) 9183; Onken, Wu Fung, Li & Ruthotto, "OT-Flow: fast and accurate
continuous normalizing flows via optimal transport", AAAI 2021, §3 (REFERENCES.md §4)::

    Φ(s) = wᵀN(s) + ½ sᵀ(AᵀA)s + cᵀs + b,     s = (x, t) ∈ R^{d+1},  A ∈ R^{r×(d+1)}, r = min(10, d+1),
    (optionally + ½ sᵀSs with a full symmetric S: ``quadratic="full"``, our addition; see ``PotentialNet``)
    N:  u₀ = σ(K₀s + b₀),  u_i = u_{i−1} + h σ(K_i u_{i−1} + b_i)  (i = 1 … M−1),  h = 1/(M−1),

with σ(z) = log(eᶻ + e⁻ᶻ) (σ' = tanh). ``grad_laplacian`` gives ∇ₛΦ by the backward recursion
z_M = w, z_i = z_{i+1} + h K_iᵀ(σ'(K_i u_{i−1} + b_i) ⊙ z_{i+1}), ∇ₛ(wᵀN) = K₀ᵀ(σ'(K₀s + b₀) ⊙ z₁), and the
Laplacian over x (the trace of the Hessian over the first d coordinates) by OT-Flow's trace formula::

    Δₓ(wᵀN) = (σ''(K₀s+b₀) ⊙ z₁)ᵀ (K₀E ⊙ K₀E) 1 + Σ_i h (σ''(K_iu_{i−1}+b_i) ⊙ z_{i+1})ᵀ ((K_iJ_{i−1})⊙(K_iJ_{i−1})) 1,
    J₀ = diag(σ'(K₀s+b₀)) K₀E,  J_i = J_{i−1} + h diag(σ'(K_iu_{i−1}+b_i)) K_i J_{i−1}   (J_i ∈ R^{m×d}),

E = the first d columns of the identity; plus tr(Eᵀ AᵀA E) = ‖A[:, :d]‖²_F (and tr S_xx) for the quadratic part.
The cost is O(m² min(m, d)) per sample (the products K_i J_{i−1}; for d > m the J_i are carried in the
m-dimensional basis of a thin QR of K₀E), against O(m²d²)-ish for d reverse passes of autograd.
"""
from __future__ import annotations

import math

import torch
from torch import nn

from dlpde.nn.activations import get_activation
from dlpde.nn.jet import Jet

Tensor = torch.Tensor


class PotentialNet(nn.Module):
    """Φ(x, t) of Ruthotto et al. (2020) / OT-Flow (2021) on inputs s = (x, t) of shape (n, dim + 1), time last.

    ``width`` = m (ResNet width), ``layers`` = M ≥ 2 (ResNet nodes: one opening layer and M − 1 residual layers,
    step h = 1/(M − 1)), ``rank`` = r of the quadratic term (default min(10, dim + 1)).

    ``quadratic="psd"`` is the paper's ½ sᵀ(AᵀA)s, positive semi-definite: on its own it can only contract ρ.
    ``quadratic="full"`` adds ½ sᵀS s with a full symmetric S = (P + Pᵀ)/(2√(d+1)) (P = 0 at initialisation, (d + 1)²
    more parameters), so the quadratic part can also expand along any coordinate. The optimal potential between
    Gaussians is such an indefinite quadratic (Hessian −(σᵢ − 1)/(1 + t(σᵢ − 1)) per axis); with "psd" at
    d ≥ 50 the expanding axes (σᵢ > 1) are not learned at all (validation/MFG.md), with "full" they are.
    """

    def __init__(self, dim: int, *, width: int = 16, layers: int = 2, rank: int | None = None,
                 activation: str = "logcosh", quadratic: str = "psd"):
        super().__init__()
        for name, v, lo in (("dim", dim, 1), ("width", width, 1), ("layers", layers, 2)):
            if isinstance(v, bool) or not isinstance(v, int) or v < lo:
                raise ValueError(f"{name} must be an integer >= {lo}, got {v!r}")
        D = dim + 1
        rank = min(10, D) if rank is None else rank
        if isinstance(rank, bool) or not isinstance(rank, int) or not 1 <= rank <= D:
            raise ValueError(f"rank must be an integer in [1, {D}] (dim + 1), got {rank!r}")
        if quadratic not in QUADRATIC_FORMS:
            raise ValueError(f"quadratic must be one of {QUADRATIC_FORMS}, got {quadratic!r}")
        self.act = get_activation(activation)
        self.dim, self.width, self.layers, self.rank, self.activation = dim, width, layers, rank, activation
        self.quadratic = quadratic
        self.h = 1.0 / (layers - 1)
        self.opening = nn.Linear(D, width)
        self.residual = nn.ModuleList(nn.Linear(width, width) for _ in range(layers - 1))
        # OT-Flow's initialisation: w = 1, c = 0, b = 0, A Xavier-uniform, the ResNet with torch's defaults
        self.w = nn.Parameter(torch.ones(width))
        self.A = nn.Parameter(nn.init.xavier_uniform_(torch.empty(rank, D)))
        # quadratic="full" adds ½ sᵀSs, S = (P + Pᵀ)/(2√(d+1)), P = 0 at initialisation (so Φ starts as the paper's)
        self.P = nn.Parameter(torch.zeros(D, D)) if quadratic == "full" else None
        self.c = nn.Linear(D, 1)
        nn.init.zeros_(self.c.weight)
        nn.init.zeros_(self.c.bias)

    # -- value ------------------------------------------------------------------------------------------
    def _check(self, s: Tensor) -> Tensor:
        if s.ndim != 2 or s.shape[1] != self.dim + 1:
            raise ValueError(f"inputs must have shape (n, {self.dim + 1}) = (x, t), got {tuple(s.shape)}")
        return s

    def _S(self) -> Tensor:
        """The full symmetric term S = (P + Pᵀ)/(2√(d+1)). The 1/√(d+1) keeps Adam's steps of size lr on each of
        the (d+1)² entries of P from adding random curvature of size lr·√(d+1) in every direction at once."""
        return (self.P + self.P.T) * (0.5 / math.sqrt(self.dim + 1))

    def _quadratic(self, s: Tensor) -> tuple[Tensor, Tensor]:
        """Value (n,) and gradient (n, dim + 1) of q(s) = ½sᵀMs + cᵀs + b, M = AᵀA (+ S): with g = Ms + c,
        q = ½sᵀ(g + c) + b, so one product with M serves both."""
        g = (s @ self.A.T) @ self.A
        if self.P is not None:
            g = g + s @ self._S()
        g = g + self.c.weight
        return 0.5 * (s * (g + self.c.weight)).sum(dim=1) + self.c.bias, g

    def _quadratic_laplacian(self) -> Tensor:
        d = self.dim
        Ax = self.A[:, :d]
        out = (Ax * Ax).sum()
        if self.P is not None:
            out = out + torch.diagonal(self._S())[:d].sum()
        return out

    def forward(self, s: Tensor) -> Tensor:
        """Φ at s = (x, t), shape (n, 1)."""
        s = self._check(s)
        u = self.act(self.opening(s))
        for layer in self.residual:
            u = u + self.h * self.act(layer(u))
        return (u @ self.w + self._quadratic(s)[0])[:, None]

    # -- exact derivatives ------------------------------------------------------------------------------
    def _forward_store(self, s: Tensor):
        """Pre-activations a_i, with σ'(a_i) and σ''(a_i), and the layer inputs u_{i−1}."""
        a = self.opening(s)
        f, d1, d2 = self.act.all3(a)
        u, store = f, [(d1, d2)]
        for layer in self.residual:
            f, d1, d2 = self.act.all3(layer(u))
            store.append((d1, d2))
            u = u + self.h * f
        return u, store

    def _backward(self, store) -> list[Tensor]:
        """z_{i+1} = ∂(wᵀN)/∂u_i for i = 0 … M−1 (the backward recursion), returned in forward order."""
        n = store[0][0].shape[0]
        z = self.w.expand(n, -1)
        zs = [z]
        for layer, (d1, _) in zip(reversed(self.residual), reversed(store[1:])):
            z = z + self.h * (d1 * z) @ layer.weight
            zs.append(z)
        return zs[::-1]  # zs[i] = z_{i+1}

    def gradient(self, s: Tensor) -> tuple[Tensor, Tensor]:
        """Φ (n,) and ∇ₛΦ (n, dim + 1) (space then time) by the backward recursion; no Laplacian."""
        s = self._check(s)
        u, store = self._forward_store(s)
        zs = self._backward(store)
        q, q_grad = self._quadratic(s)
        return u @ self.w + q, (store[0][0] * zs[0]) @ self.opening.weight + q_grad

    def grad_laplacian(self, s: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """Φ (n,), ∇ₛΦ (n, dim + 1) and ΔₓΦ (n,) (trace of the Hessian over x only), exactly, in one pass."""
        s = self._check(s)
        d, h = self.dim, self.h
        u, store = self._forward_store(s)
        zs = self._backward(store)
        K0 = self.opening.weight
        d1, d2 = store[0]
        q, q_grad = self._quadratic(s)
        grad = (d1 * zs[0]) @ K0 + q_grad
        K0x = K0[:, :d]
        lap = (d2 * zs[0]) @ (K0x * K0x).sum(dim=1)
        if self.layers > 1:
            # J_i = J̃_i Qᵀ for the thin QR K0xᵀ = QR when d > m: the recursion multiplies J from the left only
            # and the trace sums rows of (K_iJ)(K_iJ)ᵀ, which Qᵀ (orthonormal rows) leaves unchanged, so the
            # recursion can run on m × m blocks J̃ instead of m × d (d/m times less work; tested equal to autograd)
            basis = K0x if d <= K0x.shape[0] else torch.linalg.qr(K0x.T)[1].T
            J = d1.unsqueeze(2) * basis  # (n, m, d) or (n, m, m): ∂u₀/∂x, or its compressed form
            for i, layer in enumerate(self.residual, start=1):
                e1, e2 = store[i]
                KJ = torch.matmul(layer.weight, J)  # (n, m, d)
                lap = lap + h * ((e2 * zs[i]) * (KJ * KJ).sum(dim=2)).sum(dim=1)
                if i < len(self.residual):
                    J = J + h * e1.unsqueeze(2) * KJ
        lap = lap + self._quadratic_laplacian()
        return u @ self.w + q, grad, lap

    def forward_jet(self, jet: Jet) -> Jet:
        """The second-order jet of Φ (for ``dlpde.derivatives``: any directions and weights)."""
        j = jet.linear(self.opening.weight, self.opening.bias).activate(self.act)
        for layer in self.residual:
            j = j + j.linear(layer.weight, layer.bias).activate(self.act).scale(self.h)
        out = j.linear(self.w[None, :], None)
        q = jet.linear(self.A, None)  # As with its tangents A v_j and second derivative A·(second)
        quad = _half_product_jet(q, q)
        if self.P is not None:
            quad = quad + _half_product_jet(jet, jet.linear(self._S(), None))
        return out + quad + jet.linear(self.c.weight, self.c.bias)

    # -- files ------------------------------------------------------------------------------------------
    def config(self) -> dict:
        return {"type": "PotentialNet", "dim": self.dim, "width": self.width, "layers": self.layers,
                "rank": self.rank, "activation": self.activation, "quadratic": self.quadratic}

    def extra_repr(self) -> str:
        return (f"dim={self.dim}, width={self.width}, layers={self.layers}, rank={self.rank}, "
                f"activation={self.activation!r}, h={self.h:.3g}")


def _half_product_jet(p: Jet, q: Jet) -> Jet:
    """The jet of ½ pᵀq for two jets p, q of the same input with equal tangents structure (used for ½|As|² with
    p = q = As, and for ½ sᵀ(Ss) with p = s, q = Ss; S symmetric, so both factors' tangents enter alike)."""
    tt = p.tangent * q.tangent  # (n, k, r)
    weighted = tt.sum(1) if p.weights is None else torch.einsum("nkr,k->nr", tt, p.weights)
    return Jet(0.5 * (p.value * q.value).sum(1, keepdim=True),
               0.5 * (torch.einsum("nkr,nr->nk", p.tangent, q.value)
                      + torch.einsum("nkr,nr->nk", q.tangent, p.value)).unsqueeze(2),
               (0.5 * (p.value * q.second + q.value * p.second).sum(1) + weighted.sum(1)).unsqueeze(1), p.weights)


QUADRATIC_FORMS = ("psd", "full")
__all__ = ["PotentialNet", "QUADRATIC_FORMS"]
