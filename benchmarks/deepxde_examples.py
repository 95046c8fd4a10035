"""DeepXDE's documented PINN examples, side by side: dlpde's case defaults against DeepXDE's own example settings.

    python benchmarks/deepxde_examples.py --threads 1              # all seven cases, both libraries (~2.4 hours)
    python benchmarks/deepxde_examples.py --threads 1 --only wave-1d kovasznay   # some cases; the others are kept
    python benchmarks/deepxde_examples.py --side dlpde             # rerun dlpde only, keep stored DeepXDE numbers
    python benchmarks/deepxde_examples.py --report-only            # rebuild the markdown from the stored results
    python benchmarks/deepxde_examples.py --quick --out /tmp/x.md  # tiny budgets: the pipeline only (needs --out)

dlpde side: ``dlpde.solve(case, "pinn", progress=False, seed=seed)`` with the case's own defaults.
DeepXDE side (1.15, PyTorch backend, imported lazily in ``run_deepxde``): the example scripts of DeepXDE's
``examples/pinn_forward`` and ``examples/pinn_inverse`` with the same network, activation, initializer, numbers of
domain/boundary/initial points, learning rate, decay, loss weights, Adam iterations and L-BFGS phase, written for
the PyTorch backend (see ``DEEPXDE_EXAMPLES`` and the notes written into the markdown for the two places where
that is not literally possible).

Both libraries are measured on one thread, float32, CPU. Errors are relative L2 errors against the exact solution
(/work/shared/REFERENCES.md §6) on the same fresh uniform points, drawn once per case with numpy from ``--seed``.
Each case's numbers are stored in ``<results>/<case>.json`` (default ``benchmarks/deepxde_examples/``) and the
markdown is rebuilt from every stored result, so cases can be rerun one at a time.
"""
from __future__ import annotations

import argparse
import contextlib
import io
import json
import math
import os
import platform
import random
import sys
import time
import zlib
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
DEFAULT_OUT = HERE / "DEEPXDE_EXAMPLES.md"
EVAL_POINTS = 10_000
QUICK_STEPS = 20  # Adam steps per library in --quick (no L-BFGS)


# ---------------------------------------------------------------------------------------------------------------
# The cases: domain (box of the network's inputs, (x, t) for time-dependent ones), exact solution, and what the
# DeepXDE example uses. Exact solutions follow REFERENCES.md §6.
# ---------------------------------------------------------------------------------------------------------------
K0 = 4 * math.pi  # Helmholtz, n = 2
NU = 1 / 20  # Kovasznay, Re = 20
LAM = 1 / (2 * NU) - math.sqrt(1 / (4 * NU**2) + 4 * math.pi**2)


def _poisson_exact(x):
    return (x[:, 0:1] + 1) ** 2


def _helmholtz_exact(x):
    return np.sin(K0 * x[:, 0:1]) * np.sin(K0 * x[:, 1:2])


def _diffusion_exact(x):
    return np.sin(np.pi * x[:, 0:1]) * np.exp(-x[:, 1:2])


def _wave_exact(x):
    xs, t = x[:, 0:1], x[:, 1:2]
    return np.sin(np.pi * xs) * np.cos(2 * np.pi * t) + 0.5 * np.sin(4 * np.pi * xs) * np.cos(8 * np.pi * t)


def _kovasznay_exact(x):
    xs, ys = x[:, 0:1], x[:, 1:2]
    u = 1 - np.exp(LAM * xs) * np.cos(2 * np.pi * ys)
    v = LAM / (2 * np.pi) * np.exp(LAM * xs) * np.sin(2 * np.pi * ys)
    p = 0.5 * (1 - np.exp(2 * LAM * xs))
    return np.concatenate([u, v, p], axis=1)


@dataclass(frozen=True)
class Example:
    script: str  # DeepXDE's example file
    lo: tuple
    hi: tuple
    exact: object  # numpy (n, input_dim) -> (n, n_components)
    components: tuple = ("u",)
    adam_steps: int = 10000
    lbfgs: bool = False
    settings: str = ""  # what the DeepXDE example uses, for the table
    notes: tuple = field(default_factory=tuple)


DEEPXDE_EXAMPLES: dict[str, Example] = {
    "poisson-1d-neumann": Example(
        "examples/pinn_forward/Poisson_Neumann_1d.py", (-1.0,), (1.0,), _poisson_exact,
        settings="FNN 3×50 tanh, Glorot uniform; 16 domain + 2 boundary pts; Adam lr 1e-3 × 10000"),
    "poisson-1d-robin": Example(
        "examples/pinn_forward/Poisson_Robin_1d.py", (-1.0,), (1.0,), _poisson_exact,
        settings="FNN 3×50 tanh, Glorot uniform; 16 domain + 2 boundary pts; Adam lr 1e-3 × 10000"),
    "helmholtz-2d": Example(
        "examples/pinn_forward/Helmholtz_Dirichlet_2d.py", (0.0, 0.0), (1.0, 1.0), _helmholtz_exact,
        adam_steps=5000,
        settings="FNN 3×150 sin, Glorot uniform, hard BC x(1−x)y(1−y)·N; 400 domain + 80 boundary pts; "
                 "Adam lr 1e-3 × 5000"),
    "diffusion-1d": Example(
        "examples/pinn_forward/diffusion_1d.py", (-1.0, 0.0), (1.0, 1.0), _diffusion_exact,
        settings="FNN 3×32 tanh, Glorot uniform; 40 domain + 20 boundary + 10 initial pts; Adam lr 1e-3 × 10000"),
    "wave-1d": Example(
        "examples/pinn_forward/wave_1d.py", (0.0, 0.0), (1.0, 1.0), _wave_exact,
        settings="STMsFFN 3×100 tanh, Glorot uniform, σx = [1], σt = [1, 10], inputs (z − 0.5)·2√3; "
                 "360 domain + 360 boundary + 360 initial pts, domain pts resampled every step; loss weights "
                 "5 / initial losses; Adam lr 1e-3, inverse-time decay (2000, 0.9) × 10000",
        notes=("DeepXDE's wave_1d.py solves u_tt = 100 u_xx with u = sin(πx)cos(10πt) + sin(2πx)cos(20πt) "
               "(A = 2, C = 10); dlpde's `wave-1d` is u_tt = 4 u_xx with u = sin(πx)cos(2πt) + ½ sin(4πx)cos(8πt) "
               "(REFERENCES.md §6, the Wang–Yu–Perdikaris / PINNacle form). Both libraries here solve dlpde's "
               "equation; DeepXDE keeps every other setting of its example (its σt = [1, 10] was chosen for C = 10).",
               "wave_1d.py supports only the tensorflow.compat.v1 and paddle backends: DeepXDE 1.15 has no "
               "PyTorch STMsFFN. `STMsFFN` in benchmarks/deepxde_examples.py is a line-by-line PyTorch port of DeepXDE's paddle class "
               "(frozen Gaussian Fourier features, shared hidden layers, x-by-t products, one output layer).")),
    "kovasznay": Example(
        "examples/pinn_forward/Kovasznay_flow.py", (-0.5, -0.5), (1.0, 1.5), _kovasznay_exact,
        components=("u", "v", "p"), adam_steps=30000, lbfgs=True,
        settings="FNN 4×50 tanh, Glorot normal; 2601 domain + 400 boundary pts; Adam lr 1e-3 × 30000, "
                 "then L-BFGS (DeepXDE defaults: ≤ 15000 iterations)"),
    "diffusion-inverse": Example(
        "examples/pinn_inverse/diffusion_1d_inverse.py", (-1.0, 0.0), (1.0, 1.0), _diffusion_exact,
        adam_steps=50000,
        settings="FNN 3×32 tanh, Glorot uniform; 40 domain + 20 boundary + 10 initial pts + 10 observations "
                 "(anchors); C = 2.0 at start; Adam lr 1e-3 × 50000"),
}
CASE_ORDER = list(DEEPXDE_EXAMPLES)


def evaluation_points(case: str, seed: int, n: int = EVAL_POINTS) -> np.ndarray:
    """Fresh uniform points of the case's box (inputs (x, t) for time-dependent cases), the same for both sides."""
    ex = DEEPXDE_EXAMPLES[case]
    rng = np.random.default_rng([seed, zlib.crc32(case.encode())])
    lo, hi = np.asarray(ex.lo), np.asarray(ex.hi)
    return lo + (hi - lo) * rng.random((n, lo.size))


def relative_errors(pred: np.ndarray, exact: np.ndarray, components) -> dict:
    """rel_l2_error (all components stacked) and rel_l2_error_<name> per component for several outputs."""
    pred = np.asarray(pred, dtype=np.float64).reshape(exact.shape[0], -1)
    out = {}
    if pred.shape[1] < exact.shape[1]:
        return {"rel_l2_error": math.nan}
    pred = pred[:, : exact.shape[1]]
    out["rel_l2_error"] = float(np.linalg.norm(pred - exact) / np.linalg.norm(exact))
    if len(components) > 1:
        for i, name in enumerate(components):
            out[f"rel_l2_error_{name}"] = float(np.linalg.norm(pred[:, i] - exact[:, i]) / np.linalg.norm(exact[:, i]))
    return out


# ---------------------------------------------------------------------------------------------------------------
# dlpde side
# ---------------------------------------------------------------------------------------------------------------
def run_dlpde(case: str, seed: int, quick: bool, points: np.ndarray) -> dict:
    import torch

    import dlpde

    if case not in dlpde.problems.CASES:
        return {"status": "case not available"}
    kw = dict(steps=QUICK_STEPS, lbfgs_steps=0) if quick else {}
    t0, c0 = time.perf_counter(), time.process_time()
    sol = dlpde.solve(case, "pinn", progress=False, seed=seed, threads=torch.get_num_threads(), **kw)
    total, cpu = time.perf_counter() - t0, time.process_time() - c0
    ex = DEEPXDE_EXAMPLES[case]
    exact = ex.exact(points)
    try:  # the network at the shared points; its inputs are (x, t) for time-dependent problems, as here
        p = next(sol.model.parameters())
        with torch.no_grad():
            pred = sol.model(torch.as_tensor(points).to(p)).double().cpu().numpy()
        errors = relative_errors(pred, exact, ex.components)
    except Exception as e:  # noqa: BLE001 - fall back to dlpde's own evaluation, and say so
        errors = {"rel_l2_error": math.nan, "shared_points_failed": f"{type(e).__name__}: {e}"}
    unknowns = getattr(sol, "unknowns", None)
    c = (unknowns or {}).get("C") if isinstance(unknowns, dict) else None
    if c is None:
        c = sol.extra.get("C")
    s = sol.settings
    return {
        "status": sol.status, "message": sol.message, **errors,
        "own_metrics": {k: v for k, v in sol.metrics.items() if isinstance(v, (int, float))},
        "C": None if c is None else float(c),
        "seconds": round(float(sol.wall_time_s), 2), "total_seconds": round(total, 2),
        "total_cpu_seconds": round(cpu, 2), "steps": sol.steps_done,
        "settings": f"{s.depth}×{s.width} {s.activation}; {s.batch} interior + {s.boundary_batch} per condition "
                    f"(resampled every {s.resample_every}); Adam lr {s.lr:g} ({s.schedule}) × {s.steps}"
                    + (f"; L-BFGS × {s.lbfgs_steps}" if s.lbfgs_steps else ""),
        "version": dlpde.__version__,
    }


# ---------------------------------------------------------------------------------------------------------------
# DeepXDE side
# ---------------------------------------------------------------------------------------------------------------
@contextlib.contextmanager
def deepxde_contained():
    """Import DeepXDE (PyTorch backend) and undo what it changes globally: torch's default dtype and device (it
    moves everything to CUDA when a GPU is visible: this benchmark is on the CPU), and the Python/NumPy/torch
    random states that ``dde.config.set_random_seed`` resets."""
    import torch

    dtype, device = torch.get_default_dtype(), torch.get_default_device()
    states = random.getstate(), np.random.get_state(), torch.random.get_rng_state()
    previous = os.environ.get("DDE_BACKEND")
    os.environ["DDE_BACKEND"] = "pytorch"
    try:
        with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
            import deepxde as dde
    finally:
        if previous is None:
            os.environ.pop("DDE_BACKEND", None)
        else:
            os.environ["DDE_BACKEND"] = previous
    if dde.backend.backend_name != "pytorch":
        raise RuntimeError(f"deepxde was already imported with backend {dde.backend.backend_name!r}; "
                           "run this script in a fresh process")
    torch.set_default_device("cpu")
    torch.set_default_dtype(torch.float32)
    try:
        yield dde
    finally:
        torch.set_default_dtype(dtype)
        torch.set_default_device(device)
        random.setstate(states[0])
        np.random.set_state(states[1])
        torch.random.set_rng_state(states[2])


def _stmsffn_class(dde, torch):
    """DeepXDE's STMsFFN (spatio-temporal multi-scale Fourier feature network) for the PyTorch backend, which
    DeepXDE 1.15 lacks: a port of ``deepxde/nn/paddle/msffn.py``."""

    class STMsFFN(dde.nn.NN):
        def __init__(self, layer_sizes, activation, kernel_initializer, sigmas_x, sigmas_t):
            super().__init__()
            self.activation = dde.nn.activations.get(activation)
            init, zero = dde.nn.initializers.get(kernel_initializer), dde.nn.initializers.get("zeros")
            half = layer_sizes[1] // 2
            for i, s in enumerate(sigmas_x):  # frozen (not trained) Fourier feature matrices
                self.register_buffer(f"bx{i}", torch.randn(layer_sizes[0] - 1, half) * s)
            for i, s in enumerate(sigmas_t):
                self.register_buffer(f"bt{i}", torch.randn(1, half) * s)
            self.nx, self.nt = len(sigmas_x), len(sigmas_t)
            self.linears = torch.nn.ModuleList()
            for i in range(2, len(layer_sizes) - 1):
                self.linears.append(torch.nn.Linear(layer_sizes[i - 1], layer_sizes[i]))
                init(self.linears[-1].weight)
                zero(self.linears[-1].bias)
            self.dense = torch.nn.Linear(layer_sizes[-2] * self.nx * self.nt, layer_sizes[-1])
            init(self.dense.weight)
            zero(self.dense.bias)

        def _hidden(self, y):
            for linear in self.linears:
                y = self.activation(linear(y))
            return y

        def forward(self, inputs):
            x = inputs if self._input_transform is None else self._input_transform(inputs)
            feats = lambda z, b: torch.cat([torch.cos(z @ b), torch.sin(z @ b)], dim=1)  # noqa: E731
            y_x = [self._hidden(feats(x[:, :-1], getattr(self, f"bx{i}"))) for i in range(self.nx)]
            y_t = [self._hidden(feats(x[:, -1:], getattr(self, f"bt{i}"))) for i in range(self.nt)]
            y = self.dense(torch.cat([a * b for a in y_x for b in y_t], dim=1))
            return y if self._output_transform is None else self._output_transform(inputs, y)

    return STMsFFN


def _build(case: str, dde, torch, adam_steps: int, lbfgs: bool, num_test_cap: int | None):
    """DeepXDE's example for ``case`` as (model, phases, extra): ``phases`` is a list of callables that each run
    one compile + train of the example, in order; ``extra`` holds the trainable coefficient of the inverse case."""
    pi = math.pi
    nt = (lambda n: n if num_test_cap is None else min(n, num_test_cap))
    ex = DEEPXDE_EXAMPLES[case]
    extra = {}

    def adam(model, **compile_kw):
        return lambda: (model.compile("adam", lr=1e-3, **compile_kw), model.train(iterations=adam_steps))

    if case in ("poisson-1d-neumann", "poisson-1d-robin"):
        def pde(x, y):
            return dde.grad.hessian(y, x) - 2

        geom = dde.geometry.Interval(-1, 1)
        bc_l = dde.icbc.DirichletBC(geom, ex.exact, lambda x, on: on and np.isclose(x[0], -1))
        right = lambda x, on: on and np.isclose(x[0], 1)  # noqa: E731
        bc_r = (dde.icbc.NeumannBC(geom, lambda x: 2 * (x + 1), right) if case.endswith("neumann")
                else dde.icbc.RobinBC(geom, lambda x, y: y, right))
        data = dde.data.PDE(geom, pde, [bc_l, bc_r], 16, 2, solution=ex.exact, num_test=nt(100))
        net = dde.nn.FNN([1] + [50] * 3 + [1], "tanh", "Glorot uniform")
        model = dde.Model(data, net)
        return model, [adam(model, metrics=["l2 relative error"])], extra

    if case == "helmholtz-2d":
        def pde(x, y):
            f = K0**2 * torch.sin(K0 * x[:, 0:1]) * torch.sin(K0 * x[:, 1:2])
            return -dde.grad.hessian(y, x, i=0, j=0) - dde.grad.hessian(y, x, i=1, j=1) - K0**2 * y - f

        n, precision_train, precision_test = 2, 10, 30
        nx_train, nx_test = int(1 / ((1 / n) / precision_train)), int(1 / ((1 / n) / precision_test))
        geom = dde.geometry.Rectangle([0, 0], [1, 1])
        data = dde.data.PDE(geom, pde, [], num_domain=nx_train**2, num_boundary=4 * nx_train,
                            solution=ex.exact, num_test=nt(nx_test**2))
        net = dde.nn.FNN([2] + [150] * 3 + [1], "sin", "Glorot uniform")
        net.apply_output_transform(lambda x, y: x[:, 0:1] * (1 - x[:, 0:1]) * x[:, 1:2] * (1 - x[:, 1:2]) * y)
        model = dde.Model(data, net)
        return model, [adam(model, metrics=["l2 relative error"])], extra

    if case in ("diffusion-1d", "diffusion-inverse"):
        inverse = case == "diffusion-inverse"
        if inverse:
            C = dde.Variable(2.0)
            extra["C"] = C

        def pde(x, y):
            dy_t = dde.grad.jacobian(y, x, i=0, j=1)
            dy_xx = dde.grad.hessian(y, x, i=0, j=0)
            coeff = extra["C"] if inverse else 1.0
            return (dy_t - coeff * dy_xx + torch.exp(-x[:, 1:])
                    * (torch.sin(pi * x[:, 0:1]) - pi**2 * torch.sin(pi * x[:, 0:1])))

        geomtime = dde.geometry.GeometryXTime(dde.geometry.Interval(-1, 1), dde.geometry.TimeDomain(0, 1))
        bc = dde.icbc.DirichletBC(geomtime, ex.exact, lambda _, on: on)
        ic = dde.icbc.IC(geomtime, ex.exact, lambda _, on: on)
        conditions, kw = [bc, ic], {}
        if inverse:
            observe_x = np.vstack((np.linspace(-1, 1, num=10), np.full((10), 1))).T
            conditions.append(dde.icbc.PointSetBC(observe_x, ex.exact(observe_x), component=0))
            kw["anchors"] = observe_x
        data = dde.data.TimePDE(geomtime, pde, conditions, num_domain=40, num_boundary=20, num_initial=10,
                                solution=ex.exact, num_test=nt(10000), **kw)
        net = dde.nn.FNN([2] + [32] * 3 + [1], "tanh", "Glorot uniform")
        model = dde.Model(data, net)
        if inverse:
            return model, [adam(model, metrics=["l2 relative error"], external_trainable_variables=C)], extra
        return model, [adam(model, metrics=["l2 relative error"])], extra

    if case == "wave-1d":
        c = 2.0  # dlpde's wave-1d (REFERENCES.md §6); DeepXDE's example has C = 10, see the notes

        def pde(x, y):
            return dde.grad.hessian(y, x, i=1, j=1) - c**2 * dde.grad.hessian(y, x, i=0, j=0)

        geomtime = dde.geometry.GeometryXTime(dde.geometry.Interval(0, 1), dde.geometry.TimeDomain(0, 1))
        bc = dde.icbc.DirichletBC(geomtime, ex.exact, lambda _, on: on)
        ic_1 = dde.icbc.IC(geomtime, ex.exact, lambda _, on: on)
        ic_2 = dde.icbc.OperatorBC(geomtime, lambda x, y, _: dde.grad.jacobian(y, x, i=0, j=1),
                                   lambda x, _: dde.utils.isclose(x[1], 0))
        data = dde.data.TimePDE(geomtime, pde, [bc, ic_1, ic_2], num_domain=360, num_boundary=360,
                                num_initial=360, solution=ex.exact, num_test=nt(10000))
        net = _stmsffn_class(dde, torch)([2] + [100] * 3 + [1], "tanh", "Glorot uniform", sigmas_x=[1],
                                         sigmas_t=[1, 10])
        net.apply_feature_transform(lambda x: (x - 0.5) * 2 * np.sqrt(3))
        model = dde.Model(data, net)

        def initial_loss_then_adam():
            model.compile("adam", lr=0.001, metrics=["l2 relative error"])
            losshistory, _ = model.train(0)
            loss_weights = 5 / losshistory.loss_train[0]
            model.compile("adam", lr=0.001, metrics=["l2 relative error"], loss_weights=loss_weights,
                          decay=("inverse time", 2000, 0.9))
            model.train(iterations=adam_steps, callbacks=[dde.callbacks.PDEPointResampler(period=1)],
                        display_every=500)

        return model, [initial_loss_then_adam], extra

    if case == "kovasznay":
        def pde(x, u):
            u_vel, v_vel = u[:, 0:1], u[:, 1:2]
            u_x, u_y = dde.grad.jacobian(u, x, i=0, j=0), dde.grad.jacobian(u, x, i=0, j=1)
            v_x, v_y = dde.grad.jacobian(u, x, i=1, j=0), dde.grad.jacobian(u, x, i=1, j=1)
            p_x, p_y = dde.grad.jacobian(u, x, i=2, j=0), dde.grad.jacobian(u, x, i=2, j=1)
            u_lap = dde.grad.hessian(u, x, component=0, i=0, j=0) + dde.grad.hessian(u, x, component=0, i=1, j=1)
            v_lap = dde.grad.hessian(u, x, component=1, i=0, j=0) + dde.grad.hessian(u, x, component=1, i=1, j=1)
            return [u_vel * u_x + v_vel * u_y + p_x - NU * u_lap,
                    u_vel * v_x + v_vel * v_y + p_y - NU * v_lap,
                    u_x + v_y]

        geom = dde.geometry.Rectangle(xmin=[-0.5, -0.5], xmax=[1, 1.5])
        comp = lambda i: (lambda x: ex.exact(x)[:, i:i + 1])  # noqa: E731
        bcs = [dde.icbc.DirichletBC(geom, comp(0), lambda _, on: on, component=0),
               dde.icbc.DirichletBC(geom, comp(1), lambda _, on: on, component=1),
               dde.icbc.DirichletBC(geom, comp(2), lambda x, on: on and np.isclose(x[0], 1), component=2)]
        data = dde.data.PDE(geom, pde, bcs, num_domain=2601, num_boundary=400, num_test=nt(100000))
        net = dde.nn.FNN([2] + 4 * [50] + [3], "tanh", "Glorot normal")
        model = dde.Model(data, net)
        phases = [adam(model)]
        if lbfgs:
            phases.append(lambda: (model.compile("L-BFGS"), model.train()))
        return model, phases, extra

    raise ValueError(f"unknown case {case!r}; cases: {CASE_ORDER}")


def run_deepxde(case: str, seed: int, quick: bool, points: np.ndarray) -> dict:
    """DeepXDE's example for ``case``; seconds are ``time.perf_counter`` around every ``model.compile`` and
    ``model.train`` call of the example (geometry, training points and network construction excluded; DeepXDE's
    own test-set evaluation every ``display_every`` steps, which its example asks for, included and reported)."""
    import torch

    ex = DEEPXDE_EXAMPLES[case]
    with deepxde_contained() as dde:
        dde.config.set_random_seed(seed)
        t0 = time.perf_counter()
        with contextlib.redirect_stdout(io.StringIO()):  # DeepXDE prints point-count warnings while sampling
            model, phases, extra = _build(case, dde, torch, QUICK_STEPS if quick else ex.adam_steps,
                                          ex.lbfgs and not quick, 1000 if quick else None)
        setup = time.perf_counter() - t0
        test_time = [0.0, 0]
        original_test = model._test

        def timed_test(*a, **k):  # measures the periodic test-set evaluation the example's train() does
            t = time.perf_counter()
            try:
                return original_test(*a, **k)
            finally:
                test_time[0] += time.perf_counter() - t
                test_time[1] += 1

        model._test = timed_test
        t0, c0 = time.perf_counter(), time.process_time()
        with contextlib.redirect_stdout(io.StringIO()):
            for phase in phases:
                phase()
        seconds, cpu = time.perf_counter() - t0, time.process_time() - c0
        steps = int(model.train_state.step)
        pred = model.predict(points)
        errors = relative_errors(pred, ex.exact(points), ex.components)
        c = extra.get("C")
        return {
            "status": "ok" if math.isfinite(errors["rel_l2_error"]) else "failed", **errors,
            "C": None if c is None else float(c.detach().cpu()),
            "seconds": round(seconds, 2), "cpu_seconds": round(cpu, 2), "setup_seconds": round(setup, 2),
            "test_eval_seconds": round(test_time[0], 2), "test_evals": test_time[1],
            "steps": steps, "adam_steps": QUICK_STEPS if quick else ex.adam_steps,
            "lbfgs_steps": max(0, steps - (QUICK_STEPS if quick else ex.adam_steps)) if ex.lbfgs and not quick else 0,
            "settings": ex.settings + (f" (--quick: {QUICK_STEPS} Adam steps, no L-BFGS)" if quick else ""),
            "example": ex.script, "version": dde.__version__,
        }


# ---------------------------------------------------------------------------------------------------------------
# results and the markdown
# ---------------------------------------------------------------------------------------------------------------
def machine() -> str:
    """The shared machine line (benchmarks/_report.py) with the Python version."""
    import torch

    sys.path.insert(0, str(Path(__file__).resolve().parent))
    import _report
    return f"{_report.machine(torch.get_num_threads())}, Python {platform.python_version()}"


def run_case(case: str, args, results_dir: Path) -> dict:
    path = results_dir / f"{case}.json"
    old = json.loads(path.read_text()) if path.exists() else {}
    if old.get("quick") != args.quick or old.get("seed") != args.seed:
        old = {}
    points = evaluation_points(case, args.seed)
    result = {"case": case, "seed": args.seed, "quick": args.quick, "eval_points": len(points),
              "dlpde": old.get("dlpde"), "deepxde": old.get("deepxde"), "machine": machine(),
              "command": f"python benchmarks/deepxde_examples.py --threads {args.threads} --only {case}"
                         + (f" --seed {args.seed}" if args.seed else "") + (" --quick" if args.quick else "")}
    sides = ("dlpde", "deepxde") if args.side == "both" else (args.side,)
    for side in sides:
        run = run_dlpde if side == "dlpde" else run_deepxde
        try:
            result[side] = run(case, args.seed, args.quick, points)
        except Exception as e:  # noqa: BLE001 - one failed side must not lose the other's numbers
            result[side] = {"status": "failed", "message": f"{type(e).__name__}: {e}"}
        result[side]["machine"] = machine()
        r = result[side]
        print(f"{case} [{side}]: {r.get('status')} rel_l2={r.get('rel_l2_error', math.nan):.3e} "
              f"seconds={r.get('seconds', math.nan)}" + (f" C={r['C']:.4f}" if r.get("C") is not None else ""),
              flush=True)
    results_dir.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(result, indent=1))
    tmp.replace(path)
    return result


def _fmt_err(r: dict | None, case: str) -> str:
    if not r:
        return "not run"
    if r.get("status") not in ("ok",):
        return r.get("status", "?") if r.get("status") == "case not available" else f"{r.get('status')}"
    comps = DEEPXDE_EXAMPLES[case].components
    if len(comps) > 1 and all(f"rel_l2_error_{c}" in r for c in comps):
        s = ", ".join(f"{c} {r[f'rel_l2_error_{c}']:.2e}" for c in comps)
    else:
        s = f"{r.get('rel_l2_error', math.nan):.2e}"
    if r.get("C") is not None:
        s += f" (C = {r['C']:.4f})"
    return s


def _ratio(a, b) -> str:
    return f"{a / b:.2f}" if isinstance(a, (int, float)) and isinstance(b, (int, float)) and b and \
        math.isfinite(a) and math.isfinite(b) else "–"


def write_markdown(out: Path, results_dir: Path) -> Path:
    results = [json.loads(p.read_text()) for p in sorted(results_dir.glob("*.json"))]
    results.sort(key=lambda r: CASE_ORDER.index(r["case"]) if r["case"] in CASE_ORDER else len(CASE_ORDER))
    lines = [
        "# dlpde against DeepXDE's documented examples", "",
        "Generated by `python benchmarks/deepxde_examples.py --threads 1` (one case: `--only CASE`; rebuild this file "
        "from the stored results in `benchmarks/deepxde_examples/`: `--report-only`). dlpde runs "
        "`dlpde.solve(case, \"pinn\")` with the case's defaults; DeepXDE runs its own example script's settings (column *DeepXDE settings*; the example "
        "file is named in the details table) on the PyTorch backend. Errors: relative L2 error against the exact solution on the same "
        "10 000 fresh uniform points for both libraries (for `kovasznay` per component u, v, p). Ratios are dlpde / "
        "DeepXDE (below 1: dlpde is more accurate or faster). Seconds: dlpde `Solution.wall_time_s` (training); "
        "DeepXDE `time.perf_counter` around every `model.compile` + `model.train` call of the example (building the "
        "geometry, training points and network excluded; its periodic test-set evaluation, which the example asks "
        "for, included: see the last table). One thread, float32, CPU, for both.", "",
        "| case | dlpde error | DeepXDE error | dlpde s | DeepXDE s | error ratio | time ratio | DeepXDE settings |",
        "|---|---|---|---|---|---|---|---|"]
    quick_any = False
    for r in results:
        a, b = r.get("dlpde") or {}, r.get("deepxde") or {}
        quick_any |= bool(r.get("quick"))
        ok = lambda s: s.get("status") == "ok"  # noqa: E731
        lines.append(
            f"| `{r['case']}`{' (quick)' if r.get('quick') else ''} | {_fmt_err(a, r['case'])} | "
            f"{_fmt_err(b, r['case'])} | {a['seconds'] if ok(a) else '–'} | {b['seconds'] if ok(b) else '–'} | "
            f"{_ratio(a.get('rel_l2_error'), b.get('rel_l2_error')) if ok(a) and ok(b) else '–'} | "
            f"{_ratio(a.get('seconds'), b.get('seconds')) if ok(a) and ok(b) else '–'} | "
            f"{b.get('settings') or DEEPXDE_EXAMPLES.get(r['case'], Example('', (), (), None)).settings} |")
    if quick_any:
        lines += ["", f"Rows marked (quick) ran `--quick` ({QUICK_STEPS} Adam steps, no L-BFGS): they check the "
                      "pipeline, not the accuracy."]
    lines += ["", "## Details", "",
              "| case | dlpde settings (case defaults) | dlpde steps | dlpde own rel_l2_error | DeepXDE example | "
              "DeepXDE steps (Adam + L-BFGS) | DeepXDE test-set evaluation s (count) | DeepXDE setup s | "
              "CPU s: dlpde solve / DeepXDE compile + train | command |",
              "|---|---|---|---|---|---|---|---|---|---|"]
    for r in results:
        a, b = r.get("dlpde") or {}, r.get("deepxde") or {}
        own = (a.get("own_metrics") or {}).get("rel_l2_error")
        lines.append(
            f"| `{r['case']}` | {a.get('settings', a.get('status', 'not run'))} | {a.get('steps', '–')} | "
            f"{f'{own:.2e}' if isinstance(own, (int, float)) else '–'} | `{b.get('example', '–')}` | "
            f"{b.get('adam_steps', '–')} + {b.get('lbfgs_steps', '–')} | "
            f"{b.get('test_eval_seconds', '–')} ({b.get('test_evals', '–')}) | {b.get('setup_seconds', '–')} | "
            f"{a.get('total_cpu_seconds', '–')} / {b.get('cpu_seconds', '–')} | `{r.get('command', '')}` |")
    notes = [n for case in CASE_ORDER for n in DEEPXDE_EXAMPLES[case].notes
             if any(r["case"] == case for r in results)]
    lines += ["", "## Notes", "",
              "- DeepXDE's examples are written for TensorFlow first; here each is the same script with the PyTorch "
              "forms of its functions (`torch.sin`, `torch.exp`), DeepXDE's default Hammersley training points and "
              "`dde.config.set_random_seed(seed)`. The DeepXDE error column is computed by this script on the shared "
              "points, not by DeepXDE's own `l2 relative error` metric (which uses its own test points).",
              "- Seconds are wall-clock. On a shared machine other processes inflate them; the CPU-seconds column "
              "(`time.process_time`, one thread) is the fairer speed comparison when wall and CPU time differ.",
              "- A row's two sides can come from separate invocations (`--only`, `--side`), each stored in its JSON; "
              "the load on the shared machine then differs between them. In the committed file the `helmholtz-2d` "
              "and `diffusion-1d` rows were measured with nothing else running (`--only diffusion-1d helmholtz-2d`, "
              "dlpde side rerun alone after a default change); the other DeepXDE sides ran beside other jobs, "
              "which inflated their seconds (DeepXDE's `helmholtz-2d` took 269 s then, 141 s alone).",
              "- Failed or unavailable sides are reported as such (`case not available`: the dlpde case does not "
              "exist in this checkout yet).", *[f"- {n}" for n in notes]]
    machines = sorted({s.get("machine", r.get("machine", "")) for r in results
                       for s in (r.get("dlpde") or {}, r.get("deepxde") or {}) if s})
    versions = sorted({f"dlpde {r['dlpde']['version']}" for r in results if (r.get("dlpde") or {}).get("version")}
                      | {f"DeepXDE {r['deepxde']['version']} (PyTorch backend)" for r in results
                         if (r.get("deepxde") or {}).get("version")})
    lines += ["", f"Machine: {'; '.join(m for m in machines if m)}. Versions: {', '.join(versions) or '–'}.",
              f"Seed {', '.join(sorted({str(r.get('seed')) for r in results}))}."]
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text("\n".join(lines) + "\n")
    return out


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--only", nargs="+", metavar="CASE", choices=CASE_ORDER,
                    help=f"cases (default: all of {CASE_ORDER})")
    ap.add_argument("--quick", action="store_true", help=f"{QUICK_STEPS} Adam steps per library, no L-BFGS")
    ap.add_argument("--out", default=str(DEFAULT_OUT), help="markdown file (default benchmarks/DEEPXDE_EXAMPLES.md)")
    ap.add_argument("--results", help="folder of per-case JSON results (default: deepxde_examples/ beside --out)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--side", choices=("both", "dlpde", "deepxde"), default="both",
                    help="run one library only; the other's stored numbers for the case are kept")
    ap.add_argument("--threads", type=int, default=1, help="torch threads for both libraries (default 1)")
    ap.add_argument("--report-only", action="store_true", help="rebuild the markdown from the stored results")
    args = ap.parse_args(argv)
    out = Path(args.out)
    results_dir = Path(args.results) if args.results else out.parent / "deepxde_examples"
    if args.quick and not args.report_only and (out.resolve() == DEFAULT_OUT.resolve()
                                                or results_dir.resolve() == (HERE / "deepxde_examples").resolve()):
        ap.error("--quick measures nothing worth keeping: give --out FILE (the committed DEEPXDE_EXAMPLES.md and "
                 "its stored results stay as they are)")
    import torch

    torch.set_num_threads(args.threads)
    if not args.report_only:
        for case in args.only or CASE_ORDER:
            run_case(case, args, results_dir)
    print(f"wrote {write_markdown(out, results_dir)}")


if __name__ == "__main__":
    sys.path.insert(0, str(HERE.parent))
    main()
