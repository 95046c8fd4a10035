"""The default path: torch.compile where it pays (``compile="auto"``), equal to the eager loss, with fall-backs."""
import logging

import pytest
import torch

import dlpde
from dlpde.settings import SolveSettings
from dlpde.solvers import get_solver
from dlpde.solvers.base import init_model
from dlpde.training import compiled
from dlpde.training.compiled import CompiledOrEager, compile_decision

CPU = torch.device("cpu")


def _objective(solver_name="pinn", case="poisson-sin-Nd", **kw):
    problem = dlpde.problems.make(case, dim=3)
    s = SolveSettings(**{**dict(batch=64, boundary_batch=32, width=16, depth=3), **kw})
    solver = get_solver(solver_name)
    model = init_model(lambda: solver.build_model(problem, s), 0)
    return solver.objective(problem, model, s), model


def _loss_and_grads(objective, model):
    torch.manual_seed(0)
    loss, _ = objective.loss(0, resample=True)
    return loss.detach(), torch.autograd.grad(loss, list(model.parameters()))


def test_decision_from_the_settings_alone(monkeypatch):
    monkeypatch.setattr(compiled, "backend_missing", lambda device: None)
    # poisson-sin-Nd d = 100, 4 x 64: 19 009 parameters, 6 400 of them the input weights
    big = dict(points=2000, rows=66, parameters=12_609, device=CPU)
    per_step = 2000 * 66 * 12_609 * compiled.SAVED_S_PER_UNIT  # seconds saved per step
    pays = int(compiled.WARMUP_S / per_step) + 1
    assert compile_decision("auto", steps=pays, **big)[0]
    assert not compile_decision("auto", steps=pays - 2, **big)[0]
    assert compile_decision("auto", steps=300, **big)[0]  # the d = 100 run
    assert not compile_decision("auto", steps=pays, inputs=10 ** 5, **big)[0]  # a longer warm-up at d = 10⁵
    assert compile_decision(False, steps=10 ** 9, **big) == (False, "compile=False")
    assert compile_decision(True, steps=1, **big) == (True, "compile=True")
    on, why = compile_decision("auto", steps=10 ** 9, unsupported="a reason", **big)
    assert not on and why == "a reason"
    with pytest.raises(ValueError, match="a reason"):
        compile_decision(True, steps=1, unsupported="a reason", **big)
    with pytest.raises(ValueError, match="'auto', True or False"):
        compile_decision("yes", steps=1, **big)


def test_auto_compiles_long_runs_only(monkeypatch):
    monkeypatch.setattr(compiled, "backend_missing", lambda device: None)
    short, _ = _objective(steps=300)
    assert not short.compiled and "estimated saving" in short.compile_reason
    long_run, _ = _objective(steps=10 ** 7)
    assert long_run.compiled and isinstance(long_run._terms, CompiledOrEager)
    stochastic, _ = _objective(steps=10 ** 7, derivative="hutchinson")
    assert not stochastic.compiled and "exact derivative" in stochastic.compile_reason
    with pytest.raises(ValueError, match="exact derivative"):
        _objective(derivative="hutchinson", options={"compile": True})


@pytest.mark.skipif(compiled.backend_missing(CPU) is not None, reason="no C++ compiler for torch.compile")
@pytest.mark.parametrize("solver_name,case", [("pinn", "poisson-sin-Nd"), ("dgm", "poisson-sin-Nd"),
                                              ("pinn", "hjb-lq")])  # hjb-lq: space-time, ∇u and u_t as well
def test_default_path_equals_eager(solver_name, case):
    """A long run's default (compiled) loss equals the eager loss, with the same parameter gradients."""
    fast, fast_model = _objective(solver_name, case, steps=10 ** 7, derivative="forward")  # auto: compile
    slow, slow_model = _objective(solver_name, case, steps=10 ** 7, derivative="forward",
                                  options={"compile": False})
    assert fast.compiled and not slow.compiled
    (a, ga), (b, gb) = _loss_and_grads(fast, fast_model), _loss_and_grads(slow, slow_model)
    assert fast._terms.active, "the compiled path fell back to eager"
    assert torch.allclose(a, b, rtol=1e-5, atol=1e-6)
    for x, y in zip(ga, gb):
        assert torch.allclose(x, y, rtol=1e-4, atol=1e-5 * (1 + float(y.abs().max())))


def test_compile_failure_falls_back_to_eager(monkeypatch, caplog):
    def broken(fn, **kw):
        def raise_(*a):
            raise RuntimeError("no compiler today")
        return raise_
    monkeypatch.setattr(compiled.torch, "compile", broken)
    f = CompiledOrEager(lambda x: 2 * x, "case")
    with caplog.at_level(logging.WARNING, logger="dlpde.training.compiled"):
        assert torch.equal(f(torch.ones(3)), 2 * torch.ones(3))
        assert torch.equal(f(torch.ones(3)), 2 * torch.ones(3))
    assert not f.active
    assert [r.message for r in caplog.records if "no compiler today" in r.message].__len__() == 1


def test_other_shapes_run_eagerly(monkeypatch):
    calls = []

    def recording(fn, **kw):
        def run(*a):
            calls.append(a[0].shape)
            return fn(*a)
        return run
    monkeypatch.setattr(compiled.torch, "compile", recording)
    f = CompiledOrEager(lambda x, pairs: x.sum() + sum(p.sum() for p in pairs), "case")
    f(torch.ones(4), [torch.ones(2)])
    f(torch.ones(4), [torch.ones(2)])
    out = f(torch.ones(5), [torch.ones(2)])  # another point count: eager, no recompilation
    assert calls == [torch.Size([4])] * 2 and float(out) == 7.0


def test_cli_compile_switch():
    from dlpde.cli import build_parser
    from dlpde.settings import settings_from_args
    args = build_parser().parse_args(["solve", "poisson-2d", "--compile", "off"])
    assert settings_from_args(args)["compile"] is False
    args = build_parser().parse_args(["solve", "poisson-2d"])
    assert "compile" not in settings_from_args(args)


def test_no_compiler_means_eager(monkeypatch):
    monkeypatch.setattr(compiled.shutil, "which", lambda name: None)
    assert "C++ compiler" in compiled.backend_missing(CPU)
    on, why = compile_decision("auto", steps=10 ** 9, points=2000, rows=66, parameters=19_009, device=CPU)
    assert not on and "C++ compiler" in why


@pytest.mark.skipif(compiled.backend_missing(CPU) is not None, reason="no C++ compiler for torch.compile")
@pytest.mark.parametrize("case,options", [("diffusion-inverse", {}),
                                          ("wave-1d", {"hard_constraint": True, "first_layer_scale": 8.0})])
def test_user_pde_default_path_equals_eager(case, options):
    """A user's PDE (with an unknown coefficient; with a hard constraint whose φ and g jets come from torch.func,
    which torch 2.13 crashed on when compiled, so they run eagerly inside the compiled loss): the first loss runs
    eagerly and records which derivatives each term needs; later losses are compiled and equal the eager ones,
    gradients of the unknown included."""
    problem = dlpde.problems.make(case)
    out = []
    for mode in ("auto", False):
        s = SolveSettings(steps=10 ** 7, batch=64, boundary_batch=16, width=8, depth=2, dtype="float64",
                          options={"compile": mode, **options})
        solver = get_solver("pinn")
        model = init_model(lambda: solver.build_model(problem, s), 0).to(torch.float64)
        objective = solver.objective(problem, model, s)
        params = list(model.parameters()) + objective.extra_parameters()
        torch.manual_seed(0)
        objective.loss(0, resample=True)
        assert not isinstance(objective._terms, CompiledOrEager) or mode == "auto"
        loss, _ = objective.loss(1, resample=False)
        out.append((loss.detach(), torch.autograd.grad(loss, params), objective))
    (a, ga, fast), (b, gb, _) = out
    assert fast.compiled and isinstance(fast._terms, CompiledOrEager) and fast._terms.active
    assert torch.allclose(a, b, rtol=1e-5, atol=1e-6)
    for x, y in zip(ga, gb):
        assert torch.allclose(x, y, rtol=1e-4, atol=1e-5 * (1 + float(y.abs().max())))
