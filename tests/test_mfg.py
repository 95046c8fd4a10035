"""Mean-field games / optimal transport: characteristics, exact potentials, densities, training, files."""
import math

import h5py
import numpy as np
import pytest
import torch
from torch import nn

import dlpde
from dlpde.problems import CASES, make
from dlpde.problems.mfg import GaussianDensity, GaussianMixture, SampleDensity, pot_transport_cost
from dlpde.reference.gaussian_ot import gaussian_transport_cost
from dlpde.solvers.mfg import characteristics, density_on_grid, evaluate_mfg, push_forward

F64 = torch.float64


class QuadraticPotential(nn.Module):
    """Φ(x, t) = −½ xᵀBx: ẋ = Bx, ΔΦ = −tr B (characteristics x(t) = e^{tB}x₀, log det = t·tr B)."""

    def __init__(self, B):
        super().__init__()
        self.B = B
        self.dummy = nn.Parameter(torch.zeros(1, dtype=F64))

    def forward(self, s):
        x = s[:, :-1]
        return (-0.5 * ((x @ self.B) * x).sum(1))[:, None]

    def grad_laplacian(self, s):
        x = s[:, :-1]
        g = torch.cat([-x @ self.B, torch.zeros_like(s[:, -1:])], dim=1)
        return self(s)[:, 0], g, torch.full_like(s[:, 0], -float(torch.trace(self.B)))


class GaussianOTPotential(nn.Module):
    """The exact potential of OT from N(0, I) to N(m, diag(a²)) (α₁ = 1, T = 1): with β = 1 + t(a − 1),
    Φ(y, t) = Σ −(a−1)(y − tm)²/(2β) − m y + ½ m² t solves −∂ₜΦ + ½|∇Φ|² = 0 and moves x to m + a x."""

    def __init__(self, m, a):
        super().__init__()
        self.m, self.a = torch.as_tensor(m, dtype=F64), torch.as_tensor(a, dtype=F64)
        self.dummy = nn.Parameter(torch.zeros(1, dtype=F64))

    def _parts(self, s):
        y, t = s[:, :-1], s[:, -1:]
        c = self.a - 1
        beta = 1 + t * c
        r = y - t * self.m
        return y, t, c, beta, r

    def forward(self, s):
        y, t, c, beta, r = self._parts(s)
        return (-c * r * r / (2 * beta) - self.m * y + 0.5 * self.m ** 2 * t).sum(1, keepdim=True)

    def grad_laplacian(self, s):
        y, t, c, beta, r = self._parts(s)
        gx = -c * r / beta - self.m
        gt = (c * c * r * r / (2 * beta ** 2) + c * r * self.m / beta + 0.5 * self.m ** 2).sum(1, keepdim=True)
        return self(s)[:, 0], torch.cat([gx, gt], dim=1), (-c / beta).sum(1)

    gradient = None  # push_forward falls back on grad_laplacian


M, A = [1.5, -1.0, 0.5], [0.6, 1.4, 0.8]


def test_rk4_quadratic_potential_gives_exact_map_and_log_determinant():
    d, nt = 3, 16
    B = torch.tensor([[0.3, 0.1, 0.0], [0.1, -0.5, 0.2], [0.0, 0.2, 0.1]], dtype=F64)
    p = make("ot-gaussian", dim=d)
    x0 = p.rho0.sample(64, generator=torch.Generator().manual_seed(0), dtype=F64)
    c = characteristics(QuadraticPotential(B), p, x0, p.rho0.log_prob(x0), alpha=(1, 0, 1, 1, 1), nt=nt)
    h = 1.0 / nt
    hB = h * B
    step = torch.eye(d, dtype=F64) + hB + hB @ hB / 2 + hB @ hB @ hB / 6 + hB @ hB @ hB @ hB / 24
    assert torch.allclose(c["x"], x0 @ torch.linalg.matrix_power(step, nt).T, atol=1e-13)  # RK4 on a linear ODE
    assert torch.allclose(c["x"], x0 @ torch.linalg.matrix_exp(B).T, atol=1e-6)  # the exact transport map
    assert torch.allclose(c["ell"], torch.full_like(c["ell"], float(torch.trace(B))), atol=1e-13)
    assert torch.allclose(c["ell"], torch.full_like(c["ell"], math.log(torch.linalg.det(torch.linalg.matrix_exp(B)))))
    lam, Q = torch.linalg.eigh(B)  # L = ∫ ½|B e^{tB} x|² dt in closed form
    y = x0 @ Q
    L = 0.5 * (lam ** 2 * y ** 2 * (torch.exp(2 * lam) - 1) / (2 * lam)).sum(1)
    assert torch.allclose(c["L"], L, rtol=1e-6)


def test_exact_gaussian_potential_gives_closed_form_cost_and_zero_residuals():
    p = make("ot-gaussian", dim=3, mean=M, cov=[a * a for a in A])
    pot = GaussianOTPotential(M, A)
    x0 = p.rho0.sample(20000, generator=torch.Generator().manual_seed(1), dtype=F64)
    c = characteristics(pot, p, x0, p.rho0.log_prob(x0), alpha=(1, 0, 1, 1, 1), nt=8)
    a, m = torch.tensor(A, dtype=F64), torch.tensor(M, dtype=F64)
    assert torch.allclose(c["x"], m + a * x0, atol=1e-12)  # straight lines: RK4 is exact
    assert torch.allclose(c["x"], p.exact_map(x0), atol=1e-12)
    assert torch.allclose(c["L"], 0.5 * ((a - 1) * x0 + m).square().sum(1), atol=1e-12)
    assert c["R"].abs().max() < 1e-12  # the exact potential solves the HJB equation
    assert c["G"].abs().max() < 1e-4  # per-sample KL integrand: ρ(T) = ρ₁ up to RK4's error in ℓ
    ref = gaussian_transport_cost(np.zeros(3), np.eye(3), np.array(M), np.diag(np.array(A) ** 2))
    assert ref == pytest.approx(p.reference_cost()) and ref == pytest.approx(0.5 * float(m @ m + ((a - 1) ** 2).sum()))
    assert float(c["L"].mean()) == pytest.approx(ref, rel=0.02)  # Monte Carlo with 20 000 samples
    assert torch.allclose(push_forward(pot, x0[:50], alpha1=1.0, T=1.0, nt=4), c["x"][:50], atol=1e-12)
    wrong = characteristics(GaussianOTPotential(M, [1.0, 1.0, 1.0]), p, x0[:100], p.rho0.log_prob(x0[:100]),
                            alpha=(1, 0, 1, 1, 1), nt=8)
    assert wrong["G"].mean() > 0.1  # a wrong potential misses ρ₁: the check can fail


def test_evaluated_costs_come_with_their_monte_carlo_standard_errors():
    """evaluate_mfg in chunks: the means and standard errors equal those of the per-sample integrands at once."""
    p = make("ot-gaussian", dim=3, mean=M, cov=[a * a for a in A])
    pot = GaussianOTPotential(M, A)
    e = evaluate_mfg(pot, p, alpha=(1, 0, 1, 1, 1), nt=8, n=3000, chunk=1024, generator=torch.Generator().manual_seed(4))
    x0 = p.rho0.sample(3000, generator=torch.Generator().manual_seed(4), dtype=F64)
    L = characteristics(pot, p, x0, p.rho0.log_prob(x0), alpha=(1, 0, 1, 1, 1), nt=8)["L"]
    assert e["cost_L"] == pytest.approx(float(L.mean()), rel=1e-12)
    assert e["cost_L_stderr"] == pytest.approx(float(L.std()) / 3000 ** 0.5, rel=1e-9)
    assert abs(e["cost_L"] - p.reference_cost()) < 4 * e["cost_L_stderr"]  # the exact flow: only sampling noise


class LQPotential(nn.Module):
    """Φ = ½ q(t)|x − m|², q = κ/(1 + κ(1 − t)): the exact potential for the terminal cost g = ½κ|x − m|² with
    no interaction (α = 1): −∂ₜΦ + ½|∇Φ|² = 0, Φ(·, 1) = g, and x(1) = x + κ/(1 + κ)(m − x)."""

    def __init__(self, m, kappa):
        super().__init__()
        self.m, self.kappa = torch.as_tensor(m, dtype=F64), kappa
        self.dummy = nn.Parameter(torch.zeros(1, dtype=F64))

    def q(self, t):
        return self.kappa / (1 + self.kappa * (1 - t))

    def forward(self, s):
        r = s[:, :-1] - self.m
        return (0.5 * self.q(s[:, -1]) * (r * r).sum(1))[:, None]

    def grad_laplacian(self, s):
        r, t = s[:, :-1] - self.m, s[:, -1]
        q = self.q(t)
        gt = 0.5 * q * q * (r * r).sum(1)  # q' = q²
        return self(s)[:, 0], torch.cat([q[:, None] * r, gt[:, None]], 1), q * r.shape[1]


def test_given_terminal_cost_exact_potential_has_zero_hjb_residuals():
    from dlpde.problems.mfg import MeanFieldGame

    m, kappa = [2.0, -1.0], 3.0
    p = MeanFieldGame(GaussianDensity([0.0, 0.0], 1.0),
                      terminal=lambda x: 0.5 * kappa * ((x - torch.tensor(m, dtype=x.dtype)) ** 2).sum(1))
    x0 = p.rho0.sample(500, generator=torch.Generator().manual_seed(4), dtype=F64)
    c = characteristics(LQPotential(m, kappa), p, x0, p.rho0.log_prob(x0), alpha=(1, 1, 1, 1, 1), nt=8)
    assert torch.allclose(c["x"], x0 + kappa / (1 + kappa) * (torch.tensor(m, dtype=F64) - x0), atol=1e-12)
    assert c["R"].abs().max() < 1e-12 and c["final"].abs().max() < 1e-12
    assert torch.allclose(c["ell"], torch.full_like(c["ell"], 2 * math.log(1 / (1 + kappa))), atol=1e-4)
    wrong = characteristics(LQPotential(m, 2 * kappa), p, x0, None, alpha=(1, 1, 1, 1, 1), nt=8)
    assert wrong["final"].mean() > 0.1  # the wrong κ misses the terminal condition


def test_custom_problem_with_lbfgs_phase_runs():
    from dlpde.problems.mfg import MeanFieldGame

    p = MeanFieldGame(SampleDensity(np.random.default_rng(0).normal(size=(500, 2))),
                      terminal=lambda x: 0.5 * (x - 1.0).square().sum(1), alpha=(1, 0, 1, 1, 0))
    sol = dlpde.solve(p, "mfg", steps=3, lbfgs_steps=4, batch=64, width=8, depth=2, activation="logcosh", nt=2,
                      log_every=2, eval_points=200, progress=False)
    assert sol.status == "ok" and "lbfgs" in [r["phase"] for r in sol.history.rows]
    assert "density" not in sol.extra and math.isfinite(sol.extra["cost_G"])  # no log ρ₀: no grid density
    with pytest.raises(ValueError, match="alpha"):
        dlpde.solve(MeanFieldGame(p.rho0, rho1=GaussianDensity([0, 0], 1.0)), "mfg", steps=1)


def test_lbfgs_phase_keeps_one_batch_of_lbfgs_batch_samples():
    p = make("ot-gaussian", dim=2)
    sizes = []
    draw = p.rho0.sample
    p.rho0.sample = lambda n, **kw: sizes.append(n) or draw(n, **kw)
    sol = dlpde.solve(p, "mfg", steps=3, lbfgs_steps=4, batch=64, lbfgs_batch=300, width=8, nt=2, log_every=2,
                      eval_points=200, progress=False)
    assert sol.status == "ok" and "lbfgs" in [r["phase"] for r in sol.history.rows]
    assert sizes[:3] == [64, 64, 64] and sizes[3] == 300 and sizes[-1] == 200  # Adam, L-BFGS, evaluation
    assert set(sizes[3:-1]) == {300}  # one batch drawn at the start of the phase (and none per iteration)
    with pytest.raises(ValueError, match="lbfgs_batch"):
        dlpde.solve("ot-gaussian", "mfg", steps=1, lbfgs_batch=0)


def test_density_on_grid_by_backward_characteristics():
    p = make("ot-gaussian", dim=2, mean=M[:2], cov=[a * a for a in A[:2]])
    pot = GaussianOTPotential(M[:2], A[:2])
    g1, g2, rho = density_on_grid(pot, p, [0.0, 0.5, 1.0], 41, alpha1=1.0, nt=16)
    X1, X2 = torch.meshgrid(g1, g2, indexing="xy")
    y = torch.stack([X1.reshape(-1), X2.reshape(-1)], 1)
    for k, t in enumerate([0.0, 0.5, 1.0]):  # ρ(t) = N(t m, diag((1 + t(a − 1))²))
        std = [1 + t * (a - 1) for a in A[:2]]
        exact = GaussianDensity([t * v for v in M[:2]], [s * s for s in std]).log_prob(y).exp()
        assert torch.allclose(rho[k].reshape(-1), exact, atol=1e-5 * float(exact.max()))


def test_densities_sample_and_log_prob():
    g = torch.Generator().manual_seed(3)
    full = GaussianDensity([1.0, -2.0], [[2.0, 0.5], [0.5, 1.0]])
    x = full.sample(100_000, generator=g, dtype=F64)
    assert torch.allclose(x.mean(0), torch.tensor([1.0, -2.0], dtype=F64), atol=0.02)
    assert torch.allclose(torch.cov(x.T), torch.tensor(full.cov_np), atol=0.03)
    from scipy.stats import multivariate_normal
    pts = x[:5]
    assert np.allclose(full.log_prob(pts).numpy(), multivariate_normal([1, -2], full.cov_np).logpdf(pts.numpy()))
    mix = make("ot-mixture-2d").rho0
    assert isinstance(mix, GaussianMixture)
    dens = sum(multivariate_normal(mu, 0.3).pdf(pts.numpy()) for mu in mix.means_np) / 8
    assert np.allclose(mix.log_prob(pts).numpy(), np.log(dens))
    xm = mix.sample(40_000, generator=g, dtype=F64)
    assert np.allclose(np.linalg.norm(xm.numpy(), axis=1).mean(), 4.0, atol=0.05)
    emp = SampleDensity(xm[:100].numpy())
    assert not emp.has_log_prob and emp.sample(7, generator=g, dtype=F64).shape == (7, 2)
    with pytest.raises(ValueError, match="positive definite"):
        GaussianDensity([0.0, 0.0], [1.0, -1.0])


def test_cases_build_and_reference_values():
    assert {"ot-gaussian", "ot-mixture-2d", "crowd-motion"} <= set(CASES)
    for name in ("ot-gaussian", "ot-mixture-2d", "crowd-motion"):
        assert CASES[name].solvers == ("mfg",)
    p = make("ot-gaussian", dim=100)  # the default moves the first four coordinates only
    assert p.reference_cost() == pytest.approx(0.5 * (1.5**2 + 1 + 0.25 + 0.25 + 0.16 + 0.16 + 0.04 + 0.04))
    cm = make("crowd-motion", dim=10)
    assert cm.active_interactions == ("obstacle", "entropy")
    peak = cm.obstacle(torch.zeros(1, 10))
    assert float(peak) == pytest.approx(50.0)
    with pytest.raises(ValueError, match="dim >= 2"):
        make("crowd-motion", dim=1)
    small = make("ot-mixture-2d", reference_samples=300, reference_repeats=2)
    assert 4.5 < small.reference_cost() < 7.0


def test_pot_estimate_agrees_with_gaussian_closed_form():
    a, b = GaussianDensity([0.0, 0.0], 1.0), GaussianDensity([2.0, 0.0], [0.5, 2.0])
    est, se = pot_transport_cost(a, b, 600, 3)
    exact = gaussian_transport_cost(np.zeros(2), np.eye(2), np.array([2.0, 0.0]), np.diag([0.5, 2.0]))
    assert abs(est - exact) < 0.1 * exact


def test_short_training_decreases_objective_and_file_roundtrip(tmp_path):
    sol = dlpde.solve("ot-gaussian", "mfg", dim=2, steps=30, batch=64, width=8, nt=2, lr=0.02, log_every=5,
                      eval_points=200, alpha=[1, 0, 50, 1, 0], progress=False)
    assert sol.status == "ok"
    loss = [r["loss"] for r in sol.history.rows]
    assert loss[-1] < 0.7 * loss[0]
    e = sol.extra
    for key in ("cost_L", "cost_F", "cost_G", "cost_HJB", "cost_HJB_final", "reference_cost", "mean_rel_error",
                "cov_rel_error", "cov_rel_error_vs_exact_map", "cost_L_stderr"):
        assert key in e and math.isfinite(e[key]), key
    assert 0 < e["cost_L_stderr"] < e["cost_L"]
    assert sol.model.quadratic == "full"  # the case's default: Φ can expand along an axis
    assert e["density"].shape == (5, 64, 64) and e["trajectories"].shape[1:] == (e["nt_eval"] + 1, 2)
    path = sol.save(tmp_path / "ot.h5")
    with h5py.File(path, "r") as f:
        for key in ("cost_L", "cost_F", "cost_G", "reference_cost"):
            assert key in f.attrs, key
        assert f["extra/density"].shape == (5, 64, 64)
    loaded = dlpde.load(path)
    s = torch.randn(16, 3)
    assert torch.equal(loaded.model(s), sol.model(s))
    assert loaded.problem is not None and loaded.problem.case == "ot-gaussian" and loaded.model.quadratic == "full"
    assert loaded.extra["cost_L"] == pytest.approx(e["cost_L"])
    assert np.array_equal(loaded.extra["density"], e["density"])
    x = torch.randn(5, 2)
    assert torch.allclose(loaded(0.5, x), sol(0.5, x))
    from dlpde.plotting_mfg import plot_density
    assert (tmp_path / "d.png").exists() is False and plot_density(loaded, tmp_path / "d.png")  # from the file


def test_crowd_motion_short_run_reports_obstacle_terms_and_pictures(tmp_path):
    from dlpde.plotting_mfg import plot_density, plot_trajectories

    sol = dlpde.solve("crowd-motion", "mfg", dim=3, steps=5, batch=64, width=8, nt=2, eval_points=200,
                      progress=False)
    e = sol.extra
    assert sol.status == "ok" and e["cost_F_obstacle"] > 0 and "cost_F_entropy" in e
    assert 0.0 <= e["paths_in_obstacle_core"] <= 1.0
    assert e["obstacle"].shape == (64, 64) and e["sample_paths"].shape[2] == 2
    for fn in (plot_density, plot_trajectories):  # d = 3: histograms of the pushed samples
        png = fn(sol, tmp_path / f"{fn.__name__}.png")
        assert open(png, "rb").read(8) == b"\x89PNG\r\n\x1a\n"
    sol.extra.pop("sample_paths")
    with pytest.raises(ValueError, match="mfg"):
        plot_density(sol, tmp_path / "x.png")


@pytest.mark.parametrize("kw,match", [(dict(alpha=[1, 2]), "alpha"), (dict(alpha=[0, 1, 1, 1, 1]), "alpha"),
                                      (dict(nt=0), "nt"), (dict(frobnicate=1), "unknown setting"),
                                      (dict(quadratic="indefinite"), "quadratic")])
def test_bad_options_are_refused(kw, match):
    with pytest.raises(ValueError, match=match):
        dlpde.solve("ot-gaussian", "mfg", steps=1, **kw)


def test_solver_pairs_are_checked():
    with pytest.raises(ValueError, match="mfg"):
        dlpde.solve("ot-gaussian", "pinn", steps=1)
    with pytest.raises(ValueError, match="not a mean-field game"):
        dlpde.solve("poisson-2d", "mfg", steps=1)
