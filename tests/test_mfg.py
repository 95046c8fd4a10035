"""Mean-field games / optimal transport: characteristics, exact potentials, densities, short trainings against
closed-form answers (and against an obstacle-free run), files."""
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
    # measured 5.658; the table's 4000-sample reference (validation/MFG.md) is 5.650 ± 0.016
    assert abs(small.reference_cost() - 5.650) < 0.03


def test_pot_estimate_agrees_with_gaussian_closed_form():
    a, b = GaussianDensity([0.0, 0.0], 1.0), GaussianDensity([2.0, 0.0], [0.5, 2.0])
    est, se = pot_transport_cost(a, b, 600, 3)
    exact = gaussian_transport_cost(np.zeros(2), np.eye(2), np.array([2.0, 0.0]), np.diag([0.5, 2.0]))
    assert abs(est - exact) < 0.017  # measured 0.011 (fixed seeds; standard error over the 3 draws 0.055)


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
    assert loaded.metrics == sol.metrics and loaded.extra["cov_rel_error"] == e["cov_rel_error"]  # kept apart
    assert np.array_equal(loaded.extra["density"], e["density"])
    x = torch.randn(5, 2)
    assert torch.allclose(loaded(0.5, x), sol(0.5, x))
    from dlpde.plotting_mfg import plot_density
    assert (tmp_path / "d.png").exists() is False and plot_density(loaded, tmp_path / "d.png")  # from the file


def _flow_against_map(sol, exact_map, n=4000, seed=11) -> dict:
    """The trained flow (RK4, 16 steps) on n fresh samples of ρ₀ against a closed-form map on the same samples:
    mean kinetic cost L and terminal integrand G, ‖mean difference‖, ‖covariance difference‖_F and the
    root-mean-square distance of the end points."""
    p = sol.problem
    x0 = p.rho0.sample(n, generator=torch.Generator().manual_seed(seed))
    with torch.no_grad():
        c = characteristics(sol.model, p, x0, p.rho0.log_prob(x0), alpha=sol.extra["alpha"], nt=16)
    x, y = c["x"].double(), exact_map(x0.double())
    return {"L": float(c["L"].double().mean()), "G": float(c["G"].double().mean()),
            "mean": float((x.mean(0) - y.mean(0)).norm()), "cov": float((torch.cov(x.T) - torch.cov(y.T)).norm()),
            "rms": float((x - y).square().sum(1).mean().sqrt())}


def _target(p):
    """ρ₁ = N(m, diag σ²) of a diagonal Gaussian problem, as float64 tensors (m, σ, σ²)."""
    var = torch.tensor(np.diag(p.rho1.cov_np))
    return torch.tensor(p.rho1.mean_np), var.sqrt(), var


def test_ot_gaussian_short_run_matches_the_closed_form_cost_and_map():
    """150 Adam steps (a few seconds) of the case's defaults at d = 2, seed 0, against the exact answer: from
    N(0, I) to N(m, diag σ²) the optimal map is x ↦ m + σx and the cost ½W₂² = ½(|m|² + Σ(σᵢ − 1)²) = 1.785.
    Measured (4000 samples): cost error 0.024 (0.0008 on the solver's own 1000 evaluation samples, given the same
    bound), mean 0.028, covariance 0.120 (Frobenius), rms end-point distance 0.110; bounds ≈ 1.5×. Seeds 1 and 2
    gave cost errors 0.047 and 0.014, covariance 0.070 and 0.087. Without the terminal cost G in the objective
    nothing is pulled to ρ₁ (cost 0.09, rms distance 1.7)."""
    sol = dlpde.solve("ot-gaussian", "mfg", dim=2, steps=150, batch=256, eval_points=1000, seed=0, progress=False)
    m, sd, _ = _target(sol.problem)
    w2 = 0.5 * float(m @ m + ((sd - 1) ** 2).sum())
    assert w2 == pytest.approx(1.785) and sol.extra["reference_cost"] == pytest.approx(w2, rel=1e-12)
    r = _flow_against_map(sol, lambda x: m + sd * x)
    assert abs(r["L"] - w2) < 0.036, r
    assert abs(sol.extra["cost_L"] - w2) < 0.036, sol.extra["cost_L"]  # the solver's own report
    assert r["mean"] < 0.042 and r["cov"] < 0.18 and r["rms"] < 0.165, r


def test_relaxed_terminal_cost_short_run_matches_the_closed_form_optimum():
    """With α₃ = 1 the terminal KL no longer forces ρ(T) = ρ₁ and the running cost decides how far to go. Between
    Gaussians the optimum of ½E|T(x) − x|² + α₃ KL(T#ρ₀ ‖ ρ₁) is affine (its optimality condition is affine in x;
    the problem is displacement convex, so that solution is the minimiser): per axis x ↦ μ + s x with
    μ = α₃m/(σ² + α₃) and (1 + α₃/σ²)s² − s − α₃ = 0, cost L* = ½Σ(μ² + (s − 1)²) = 0.744 (against ½W₂² = 1.785)
    and G* = Σ log(σ/s) + (s² + (μ − m)²)/(2σ²) − ½ = 0.361. 150 Adam steps, seed 0; measured: cost error 0.0041,
    G 0.428 (0.067 above G*: the short run's density is not yet Gaussian; the objective L + G is 0.071 above its
    minimum), mean 0.0062, covariance 0.079, rms 0.097; bounds ≈ 1.5× (seeds 1, 2: cost errors 0.014, 0.003). A
    solver without the running cost transports all the way (cost 1.72, G 0.04, rms 0.75); one without G hardly
    moves (cost 0.005)."""
    alpha = (1.0, 0.0, 1.0, 1.0, 0.0)
    p = make("ot-gaussian", dim=2, alpha=alpha)
    m, sd, var = _target(p)
    a3 = alpha[2]
    mu = a3 * m / (var + a3)
    k = 1 + a3 / var
    s = (1 + torch.sqrt(1 + 4 * a3 * k)) / (2 * k)
    assert torch.allclose(k * s * s - s - a3, torch.zeros(2, dtype=F64), atol=1e-12)
    cost = 0.5 * float((mu ** 2 + (s - 1) ** 2).sum())
    kl = float((torch.log(sd / s) + (s * s + (mu - m) ** 2) / (2 * var) - 0.5).sum())
    assert cost == pytest.approx(0.7439, abs=1e-4) and kl == pytest.approx(0.3611, abs=1e-4)
    sol = dlpde.solve(p, "mfg", steps=150, batch=256, eval_points=500, seed=0, progress=False)
    r = _flow_against_map(sol, lambda x: mu + s * x)
    assert abs(r["L"] - cost) < 0.0062 and abs(r["G"] - kl) < 0.10, r
    assert r["L"] + r["G"] > cost + kl - 0.03  # nothing beats the minimum (up to sampling noise)
    assert r["mean"] < 0.0093 and r["cov"] < 0.118 and r["rms"] < 0.145, r


def test_crowd_motion_short_run_writes_pictures(tmp_path):
    """The pipeline only (5 steps): the entropy term is reported, the obstacle grid and paths have their shapes and
    both pictures are written; what the numbers mean is checked by the tests below."""
    from dlpde.plotting_mfg import plot_density, plot_trajectories

    sol = dlpde.solve("crowd-motion", "mfg", dim=3, steps=5, batch=64, width=8, nt=2, eval_points=200,
                      progress=False)
    e = sol.extra
    assert sol.status == "ok" and "cost_F_entropy" in e and math.isfinite(e["cost_F_obstacle"])
    assert e["obstacle"].shape == (64, 64) and e["sample_paths"].shape == (200, e["nt_eval"] + 1, 2)
    for fn in (plot_density, plot_trajectories):  # d = 3: histograms of the pushed samples
        png = fn(sol, tmp_path / f"{fn.__name__}.png")
        assert open(png, "rb").read(8) == b"\x89PNG\r\n\x1a\n"
    sol.extra.pop("sample_paths")
    with pytest.raises(ValueError, match="mfg"):
        plot_density(sol, tmp_path / "x.png")


class DriftPotential(nn.Module):
    """Φ(x, t) = c·x₂: every sample moves straight down at speed c, x(t) = x₀ − (0, ct) (RK4 is exact)."""

    def __init__(self, c, dim):
        super().__init__()
        self.c, self.dim = c, dim
        self.dummy = nn.Parameter(torch.zeros(1, dtype=F64))

    def forward(self, s):
        return self.c * s[:, 1:2]

    def grad_laplacian(self, s):
        g = torch.zeros_like(s)
        g[:, 1] = self.c
        return self(s)[:, 0], g, torch.zeros_like(s[:, 0])


def test_crowd_motion_costs_and_obstacle_statistics_of_a_known_flow():
    """The crowd pushed straight down through the obstacle by Φ = 6x₂ (x(1) = x₀ − (0, 6), which is ρ₁ exactly):
    every reported term against its value per sample in closed form — L = 18, G = 0, the obstacle cost
    ∫₀¹ 50 exp(−x₁²/2 − (x₂ − 6t)²) dt = 50 e^{−x₁²/2} (√π/12)(erf x₂ − erf(x₂ − 6)), the entropy term
    λ log ρ₀(x₀), the HJB residual ∫₀¹ |−∂ₜΦ + ½|∇Φ|² − α₂(Q + λ log ρ)| dt = ∫₀¹ |18 − Q(x(t)) − λ log ρ₀| dt
    (a fine trapezoid rule here; a wrong sign of δF/δρ gives ≈ 31 instead of 15.1), the final-time residual
    |Φ(x(1), 1) − α₃·0| = 6|x₂ − 6| — and the fraction of paths whose maximum of Q over the nt + 1 path times
    exceeds half its peak, with the obstacle grid. Measured relative errors: obstacle 9e-7, HJB 2e-5."""
    from scipy.special import erf

    p = make("crowd-motion", dim=2)
    alpha, n, nt = p.alpha, 2000, 16
    e = evaluate_mfg(DriftPotential(6.0, 2), p, alpha=alpha, nt=nt, n=n, generator=torch.Generator().manual_seed(4))
    x0 = p.rho0.sample(n, generator=torch.Generator().manual_seed(4), dtype=F64)
    x1, x2 = x0[:, 0].numpy(), x0[:, 1].numpy()
    obstacle = 50 * np.exp(-x1 ** 2 / 2) * math.sqrt(math.pi) / 12 * (erf(x2) - erf(x2 - 6))
    assert e["cost_L"] == pytest.approx(18.0, rel=1e-12) and abs(e["cost_G"]) < 1e-10
    assert e["cost_F_obstacle"] == pytest.approx(obstacle.mean(), rel=2e-6)  # RK4, 16 steps, of a smooth integrand
    assert e["cost_F_obstacle"] > 10 * e["cost_F_obstacle_stderr"] > 0  # the crowd goes through the obstacle
    assert e["cost_F_entropy"] == pytest.approx(0.01 * float(p.rho0.log_prob(x0).mean()), rel=1e-10)
    assert e["cost_HJB_final"] == pytest.approx(float(6 * (6 - x0[:, 1]).abs().mean()), rel=1e-10)
    tf = np.linspace(0.0, 1.0, 4001)
    lam_log_rho0 = 0.01 * p.rho0.log_prob(x0).numpy()
    r = np.abs(18 - lam_log_rho0[:, None] - 50 * np.exp(-x1[:, None] ** 2 / 2 - (x2[:, None] - 6 * tf) ** 2))
    trapezoid = ((r[:, 1:] + r[:, :-1]) / 2 * np.diff(tf)).sum(1)
    assert e["cost_HJB"] == pytest.approx(float(trapezoid.mean()), rel=5e-5)
    t = np.linspace(0.0, 1.0, nt + 1)
    q = 50 * np.exp(-x1[:, None] ** 2 / 2 - (x2[:, None] - 6 * t[None]) ** 2)  # Q along each path (n, nt + 1)
    assert e["paths_in_obstacle_core"] == pytest.approx(float((q.max(1) > 25).mean()), abs=1.5 / n)
    assert e["obstacle_max_along_path"] == pytest.approx(float(q.max(1).mean()), rel=1e-6)
    assert 0.9 < e["paths_in_obstacle_core"] < 1  # most paths cross the core: the statistic can be large
    X1, X2 = np.meshgrid(e["grid_x1"], e["grid_x2"], indexing="xy")
    assert np.allclose(e["obstacle"], 50 * np.exp(-0.5 * (X1 ** 2 + X2 ** 2 / 0.5)), rtol=1e-6)


def _obstacle_cost_and_core(model, problem, x0, alpha, nt=16):
    """Obstacle cost E∫Q(x(t))dt, the fraction of paths entering the core Q > ½ max Q of ``problem``'s obstacle,
    and the fraction of paths that end past it (x₂(1) below the core, x₂ < −√(ln 2))."""
    from dlpde.solvers.mfg import obstacle_statistics

    with torch.no_grad():
        c = characteristics(model, problem, x0, problem.rho0.log_prob(x0), alpha=alpha, nt=nt)
        core = obstacle_statistics(model, problem, x0, alpha1=alpha[0], nt=nt)["paths_in_obstacle_core"]
    past = float((c["x"][:, 1] < -math.sqrt(math.log(2))).double().mean())
    return float(c["F"][:, problem.active_interactions.index("obstacle")].mean()), core, past


@pytest.mark.parametrize("alpha,max_ratio,min_drop", [(None, 0.5, 0.8), ((1.0, 1.0, 5.0, 0.0, 1.0), 0.6, 0.25)],
                         ids=["case-alpha", "obstacle-only-in-F"])
def test_crowd_motion_goes_around_the_obstacle(alpha, max_ratio, min_drop):
    """100 Adam steps of crowd motion (d = 2) against the same run (budget, seed) with obstacle_height = 0, both
    flows measured on the same 2000 samples against the height-50 obstacle: the obstacle cost must fall below
    ``max_ratio`` × the obstacle-free run's and the fraction of paths entering the core (Q > 25) by ``min_drop``,
    while at least 40 % of the paths end past the obstacle (not avoiding it by stopping short). Measured with seeds
    0 / 1 / 2: case α = (1, 1, 5, 20, 1): cost ratio 0.38 / 0.25 / 0.26, core 0.017 / 0.001 / 0.001 against
    0.997 / 0.998 / 1.000, past the obstacle 0.46 / 0.94 / 0.86; α₄ = 0: 0.41 / 0.46 / 0.39, core 0.55 / 0.60 /
    0.42 against 0.99 / 0.99 / 1.00, past 1.00 (obstacle-free runs: past 0.70–0.99). With the case's α the HJB
    penalty (α₄ = 20, its residual holds −α₂Q) steers the crowd by itself: with F dropped from the objective the
    ratio was still 0.38. With α₄ = 0, F is the obstacle's only way into the objective, and without it the two runs
    are identical (ratio 1, drop 0)."""
    p50 = make("crowd-motion", dim=2)
    x0 = p50.rho0.sample(2000, generator=torch.Generator().manual_seed(5))
    kw = dict(steps=100, batch=256, eval_points=200, seed=0, progress=False, **({"alpha": alpha} if alpha else {}))
    measured = {}
    for height in (50.0, 0.0):
        sol = dlpde.solve(make("crowd-motion", dim=2, obstacle_height=height), "mfg", **kw)
        assert sol.status == "ok"
        measured[height] = _obstacle_cost_and_core(sol.model, p50, x0, sol.extra["alpha"])
    (cost, core, past), (cost_free, core_free, past_free) = measured[50.0], measured[0.0]
    assert core_free > 0.95  # without the obstacle the crowd goes straight through the core
    assert past > 0.4 and past_free > 0.4, (past, past_free)
    assert cost < max_ratio * cost_free, (cost, cost_free)
    assert core < core_free - min_drop, (core, core_free)


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
