"""Row-wise dot products and squared norms that make no (rows, d) product on the way where that matters.

``(a * b).sum(-1)`` makes the (rows, d) product before it sums, and its backward pass makes two more tensors of that
size for ``(z * z).sum(-1)`` (a gradient per factor, then their sum). At large d these are Deep BSDE's largest
tensors: hjb-lq at d = 10⁵ takes Z_n·ΔW_n and |Z_n|² over (N − 1) × batch × d = 9 × 256 × 10⁵ numbers, 0.9 GB each,
and on the CPU every fresh tensor above 32 MB faults its pages in again (glibc returns such blocks to the system
when they are freed; 0.4–1.5 s per GB on the machine of benchmarks/SCALING.md).

Where the product would be a CPU tensor of ``FRESH_PAGES_BYTES`` or more:

- ``squared_norm``: the forward pass is ``vector_norm`` squared (a fused reduction, no product tensor), the backward
  pass makes only the gradient 2 g z;
- ``row_dots``: the forward pass is a batch of one-row matrix products (``torch.bmm``, no product tensor), the
  backward pass makes one tensor per input that needs a gradient, the gradient itself.

Below that size, and on GPUs (whose caching allocator reuses memory), both are the plain product and sum: the
one-row products are 2–4× slower there (d = 10³…3·10³), and an autograd Function's Python overhead made Deep BSDE at
d = 100 about 15 % slower per step (its control paths differentiate the driver at every time step).

Tested against the plain expressions (values, gradients, second derivatives, forward mode, torch.func) in
tests/test_parabolic.py.
"""
from __future__ import annotations

import torch

Tensor = torch.Tensor

FRESH_PAGES_BYTES = 32 * 2**20  # glibc's largest mmap threshold: freed blocks this large go back to the system


def makes_fresh_pages(t: Tensor) -> bool:
    """Whether a tensor of t's size is a CPU block that glibc gives back to the system when it is freed (and that
    is faulted in afresh when it is made again)."""
    return t.device.type == "cpu" and t.numel() * t.element_size() >= FRESH_PAGES_BYTES


def _dots(a: Tensor, b: Tensor) -> Tensor:
    lead, d = a.shape[:-1], a.shape[-1]
    return torch.bmm(a.reshape(-1, 1, d), b.reshape(-1, d, 1)).reshape(lead)


class _RowDots(torch.autograd.Function):
    generate_vmap_rule = True  # so torch.func (vmap, jacrev, jvp) takes it as it takes the plain expression

    @staticmethod
    def forward(a: Tensor, b: Tensor) -> Tensor:
        return _dots(a, b)

    @staticmethod
    def setup_context(ctx, inputs, output):
        ctx.save_for_backward(*inputs)
        ctx.save_for_forward(*inputs)

    @staticmethod
    def backward(ctx, g: Tensor):  # differentiable torch operations: double backward works
        a, b = ctx.saved_tensors
        ga = g[..., None] * b if ctx.needs_input_grad[0] else None
        gb = g[..., None] * a if ctx.needs_input_grad[1] else None
        return ga, gb

    @staticmethod
    def jvp(ctx, da: Tensor | None, db: Tensor | None) -> Tensor:
        a, b = ctx.saved_tensors
        zero = torch.zeros_like(a)
        return _dots(zero if da is None else da, b) + _dots(a, zero if db is None else db)


class _SquaredNorm(torch.autograd.Function):
    generate_vmap_rule = True

    @staticmethod
    def forward(z: Tensor) -> Tensor:
        return torch.linalg.vector_norm(z, dim=-1).square()

    @staticmethod
    def setup_context(ctx, inputs, output):
        ctx.save_for_backward(inputs[0])
        ctx.save_for_forward(inputs[0])

    @staticmethod
    def backward(ctx, g: Tensor):
        (z,) = ctx.saved_tensors
        return (2.0 * g)[..., None] * z

    @staticmethod
    def jvp(ctx, dz: Tensor) -> Tensor:
        (z,) = ctx.saved_tensors
        return 2.0 * _dots(z, dz)


def row_dots(a: Tensor, b: Tensor) -> Tensor:
    """Σ_k a[..., k] b[..., k]: shapes (..., d) × (..., d) → (...), both of the same shape."""
    if a.shape != b.shape:
        raise ValueError(f"row_dots needs two tensors of one shape, got {tuple(a.shape)} and {tuple(b.shape)}")
    return _RowDots.apply(a, b) if makes_fresh_pages(a) else (a * b).sum(-1)


def squared_norm(z: Tensor) -> Tensor:
    """|z|² over the last axis, (..., d) → (...); its gradient 2z at every z, 0 included."""
    return _SquaredNorm.apply(z) if makes_fresh_pages(z) else (z * z).sum(-1)


def batch_dots(a: Tensor, b: Tensor) -> Tensor:
    """Σ_i a[..., i, k] b[..., i, k] over the second-to-last axis, kept: (..., n, d) × (..., n, d) → (..., 1, d).
    Large CPU inputs are reduced a block of columns at a time, each block's product below ``FRESH_PAGES_BYTES``,
    so no (…, n, d) product is made (the gradient of a per-column weight, e.g. Deep BSDE's skip term)."""
    d = a.shape[-1]
    if not makes_fresh_pages(a):
        return (a * b).sum(-2, keepdim=True)
    out = a.new_empty((*a.shape[:-2], 1, d))
    cols = max(1, FRESH_PAGES_BYTES // 2 // ((a.numel() // d) * a.element_size()))
    for start in range(0, d, cols):
        block = slice(start, min(start + cols, d))
        out[..., block] = (a[..., block] * b[..., block]).sum(-2, keepdim=True)
    return out
