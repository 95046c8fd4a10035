"""``torch.compile`` for the loss where it pays, with a clean fall-back to the eager loss.

The setting ``compile`` (a solver option) is ``"auto"`` by default, or ``True`` / ``False`` to force it.
``"auto"`` compiles when the estimated saving over the run exceeds the warm-up it costs (``compile_decision``):

    saving ≈ steps × points × jet rows × parameters × SAVED_S_PER_UNIT  ≥  WARMUP_S + d × WARMUP_S_PER_INPUT

where ``parameters`` leaves out the first layer's input weights (input_dim × width): compiling fuses the jet's
elementwise work after the first layer, and the first layer's product with the inputs (d × width, the bulk of the
parameters at large d) is a plain matrix product either way. The constants are measurements, not tuning: the PINN
step of ``poisson-sin-Nd`` (4 × 64 tanh, 2000 points, one CPU thread, torch 2.13, 2026-12-06) was 23.2 → 14.0 ms
eager → compiled at d = 2 (1.01e8 units of work per step) and 357 → 206 ms at d = 100 (1.66e9 units): 9.1e-11 s
saved per unit at both. Compiling a new loss and its backward took 11 s at d = 2 and 14 s at d = 100 (once per
machine, torch's first compilation adds about 8 s of instruction-set probes); with torch's on-disk cache warm (the
same network, points and dimension compiled before on this machine, under ``$TORCHINDUCTOR_CACHE_DIR``, by default
in the system's temporary folder) 1–3 s. It grows with the number of inputs (the tracer walks the per-input
weights of the exact Laplacian's directions): ``hjb-lq`` PINN 13.7 s at d = 100, 15.0 s at d = 10⁴, 43 s at
d = 10⁵ (2026-12-07); the rule charges 3e-4 s for every input (15.03 s at d = 100, 18 s at 10⁴, 45 s at 10⁵). It
assumes a new compilation, so it never makes a run much slower; ``compile=True`` compiles regardless (worth it for
repeated runs of one configuration). ``parameters`` subtracts input_dim × width, an MLP's or ResNet's first layer;
DGMNet's gates also read the inputs, so for it the estimate stays on the generous side.

On CUDA (Triton needed) the same rule applies, with these CPU-measured constants: not yet timed on a GPU.

The decision depends on the settings alone (never on timings), so a run and its resumption from a checkpoint take
the same path. Compilation failing (no C++ compiler for CPU kernels, no Triton for CUDA, an unsupported operation)
leaves the loss eager with one logged reason; so does a call whose argument shapes differ from the first call's
(no recompilation storms when a sampler returns a different number of points).
"""
from __future__ import annotations

import logging
import os
import shutil
import warnings
from importlib.util import find_spec
from typing import Callable

import torch

log = logging.getLogger(__name__)

SAVED_S_PER_UNIT = 9e-11  # seconds saved per step per (point × jet row × parameter), one CPU thread (see above)
WARMUP_S = 15.0  # seconds a new compilation of the loss and its backward costs (11–15 s measured, see above)
WARMUP_S_PER_INPUT = 3e-4  # and per input dimension (43 s at d = 10⁵, see above)


def check_mode(mode) -> None:
    if not (mode is True or mode is False or (isinstance(mode, str) and mode == "auto")):
        raise ValueError(f"compile must be 'auto', True or False, got {mode!r}")


def strong_form_unsupported(s, model: torch.nn.Module) -> str | None:
    """Why a strong-form loss (PINN, DGM, a user's PDE) with settings ``s`` is not compiled, or None: stochastic
    derivatives draw random directions inside the loss, ENGD builds its own per-sample Jacobians (the loss is only its
    line search), and nested reverse passes are not compiled."""
    if s.derivative in ("hutchinson", "sdgd"):
        return "it needs an exact derivative method ('auto', 'forward' or 'autograd')"
    if s.optimizer == "engd":
        return "ENGD evaluates its own per-sample Jacobians (the loss is only its line search)"
    if not hasattr(model, "forward_jet") or s.derivative == "autograd":
        return "nested reverse passes (derivative='autograd') are not compiled"
    return None


def backend_missing(device: torch.device) -> str | None:
    """Why torch.compile cannot build kernels here, or None: CPU kernels need a C++ compiler, CUDA ones Triton."""
    if device.type == "cuda":
        return None if find_spec("triton") is not None else "Triton is not installed (CUDA kernels need it)"
    if device.type != "cpu":
        return f"no compiled path is measured for device {device.type!r}"
    names = [os.environ.get("CXX", ""), "g++", "c++", "clang++"]
    return None if any(n and shutil.which(n) for n in names) else "no C++ compiler found (set CXX or install g++)"


def compile_decision(mode, *, steps: int, points: int, rows: int, parameters: int, device: torch.device,
                     unsupported: str | None = None, inputs: int = 0) -> tuple[bool, str]:
    """(compile?, the reason in words). ``rows``: values carried per point through the network (1 + directions + 1
    for a forward jet); ``parameters``: those after the input layer; ``inputs``: the input dimension (the warm-up
    grows with it); ``unsupported``: why this loss cannot be compiled at all (then even ``True`` is refused)."""
    check_mode(mode)
    if mode is False:
        return False, "compile=False"
    if unsupported:
        if mode is True:
            raise ValueError(f"compile=True is not available here: {unsupported}")
        return False, unsupported
    if mode is True:
        return True, "compile=True"
    missing = backend_missing(device)
    if missing:
        return False, missing
    saving = steps * points * rows * parameters * SAVED_S_PER_UNIT
    warmup = WARMUP_S + inputs * WARMUP_S_PER_INPUT
    if saving < warmup:
        return False, f"estimated saving {saving:.0f} s over {steps} steps < the ~{warmup:.0f} s compilation"
    return True, f"estimated saving {saving:.0f} s over {steps} steps > the ~{warmup:.0f} s compilation"


def decide_for_loss(problem, model: torch.nn.Module, s, unsupported: str | None) -> tuple[bool, str]:
    """``compile_decision`` for a strong-form loss of ``problem`` on ``model`` with settings ``s`` (both Adam and
    L-BFGS steps count; a forward jet carries u, one tangent per input, at most the width after the MLP's
    QR-compressed first layer, and the second derivative; the parameters after the first layer's input weights),
    logged with its reason."""
    D = problem.input_dim
    on, reason = compile_decision(
        s.options.get("compile", "auto"), steps=s.steps + s.lbfgs_steps, points=s.batch,
        rows=2 + min(D, s.width), parameters=max(sum(p.numel() for p in model.parameters()) - D * s.width, 1),
        device=s.torch_device, unsupported=unsupported, inputs=D)
    log.info("%s: torch.compile %s (%s)", problem.case, "on" if on else "off", reason)
    return on, reason


def _shapes(args) -> tuple:
    """The tensor shapes (and dtypes) in nested tuples/lists of arguments: the key a compiled graph is valid for."""
    if isinstance(args, torch.Tensor):
        return (tuple(args.shape), args.dtype)
    if isinstance(args, (tuple, list)):
        return tuple(_shapes(a) for a in args)
    return ()


class CompiledOrEager:
    """``fn`` through ``torch.compile`` for the argument shapes of its first call, eager otherwise.

    The first compiled call failing for any reason (compiler missing, unsupported operation, or an error in the
    problem's functions, which the eager call then reports in plain words) switches to the eager ``fn`` for good,
    with one warning. Later calls with other shapes run eagerly (logged once) instead of recompiling."""

    def __init__(self, fn: Callable, label: str):
        self.fn, self.label = fn, label
        self._compiled = torch.compile(fn, dynamic=False)
        # torch 2.13's compiler warns about its own deprecated helper when it builds the backward (at the first
        # backward pass, outside this wrapper): that one message only, which says nothing to a dlpde user
        warnings.filterwarnings("ignore", message=r"`torch\._prims_common\.check` is deprecated",
                                category=FutureWarning)
        self._shapes: tuple | None = None
        self.active = True  # False once compilation failed
        self._warned_shapes = False

    def __call__(self, *args):
        if not self.active:
            return self.fn(*args)
        shapes = _shapes(args)
        if self._shapes is None:
            try:
                with warnings.catch_warnings():  # torch's own deprecation notices from inside the compiler
                    warnings.simplefilter("ignore", FutureWarning)
                    out = self._compiled(*args)
            except Exception as e:  # noqa: BLE001 - any failure of the compiler stack falls back to eager
                self.active = False
                reason = str(e).strip().splitlines()[0][:300] if str(e).strip() else type(e).__name__
                log.warning("%s: torch.compile failed (%s: %s); training continues with the eager loss "
                            "(compile=False skips the attempt)", self.label, type(e).__name__, reason)
                return self.fn(*args)
            self._shapes = shapes
            return out
        if shapes != self._shapes:
            if not self._warned_shapes:
                self._warned_shapes = True
                log.info("%s: point counts changed from the compiled ones; such calls run eagerly", self.label)
            return self.fn(*args)
        return self._compiled(*args)
