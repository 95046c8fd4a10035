r"""Optimal transport and mean-field games in the Lagrangian (characteristics) form, and their named cases.

Ruthotto, Osher, Li, Nurbekyan & Fung, PNAS 117 (2020) 9183; Onken et al., OT-Flow, AAAI 2021 (REFERENCES.md §4)::

    min_{ρ, v}  α₁ ∫₀ᵀ∫ ½|v|² ρ dx dt + α₂ ∫₀ᵀ F(ρ(t)) dt + α₃ G(ρ(T)),   ∂ₜρ + ∇·(ρv) = 0,  ρ(0) = ρ₀,

with v = −(1/α₁)∇ₓΦ for a potential Φ solving the HJB equation −∂ₜΦ + |∇ₓΦ|²/(2α₁) = α₂ δF/δρ,
Φ(·, T) = α₃ δG/δρ. The solver (``dlpde.solvers.mfg``) integrates the characteristics from samples of ρ₀.

Interaction F(ρ) = λ_P ∫Q ρ dx (obstacle / preference) + λ_E ∫ρ log ρ dx (entropy) + λ_C ∫ρ² dx (congestion);
terminal cost G = KL(ρ(T) ‖ ρ₁) or, if ``terminal`` is given, G(ρ) = ∫ g ρ dx. First variations are taken without
the additive constants (+1 in δ(ρ log ρ)): on probability densities they are defined up to a constant, which only
shifts Φ by a + b·t and leaves the characteristics unchanged.
"""
from __future__ import annotations

import math
from typing import Callable, Sequence

import numpy as np
import torch

from dlpde.geometry import Box, SpaceTime
from dlpde.problems.base import Problem
from dlpde.problems.case import Case

Tensor = torch.Tensor
LOG_2PI = math.log(2 * math.pi)


# ---------------------------------------------------------------------------------------------------------
# Densities: sample on a device from an explicit generator; log_prob where it is known.


class Density:
    """A probability density on R^dim: ``sample(n, generator=, device=, dtype=)`` → (n, dim) and, when
    ``has_log_prob``, ``log_prob(x)`` → (n,)."""

    dim: int
    has_log_prob: bool = True

    def sample(self, n: int, *, generator: torch.Generator | None = None, device=None,
               dtype: torch.dtype = torch.float32) -> Tensor:
        raise NotImplementedError

    def log_prob(self, x: Tensor) -> Tensor:
        raise ValueError(f"{type(self).__name__} has no log-density (it is given by samples only)")

    def params(self) -> dict:
        raise NotImplementedError


def _count(n) -> int:
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise ValueError(f"the number of samples n must be a positive integer, got {n!r}")
    return n


def _gen_device(generator, device) -> torch.device:
    return generator.device if generator is not None else torch.device(device or "cpu")


class GaussianDensity(Density):
    """N(mean, cov). ``cov`` is a full (d, d) matrix, a vector of d variances (diagonal) or a scalar (× I)."""

    def __init__(self, mean: Sequence[float], cov):
        m = np.asarray(mean, dtype=np.float64).reshape(-1)
        if m.size == 0 or not np.all(np.isfinite(m)):
            raise ValueError(f"mean must be a non-empty vector of finite numbers, got {mean!r}")
        d = m.size
        c = np.asarray(cov, dtype=np.float64)
        if c.ndim == 0:
            c = np.full(d, float(c))
        if c.ndim == 1:
            if c.size != d:
                raise ValueError(f"cov as a vector of variances needs {d} entries (one per coordinate), got {c.size}")
            c = np.diag(c)
        if c.shape != (d, d) or not np.all(np.isfinite(c)) or not np.allclose(c, c.T, atol=1e-12):
            raise ValueError(f"cov must be a symmetric ({d}, {d}) matrix, a vector of {d} variances or a scalar")
        try:
            chol = np.linalg.cholesky(c)
        except np.linalg.LinAlgError:
            raise ValueError("cov must be positive definite") from None
        self.dim = d
        self.mean_np, self.cov_np = m, c
        self.diagonal = bool(np.all(c == np.diag(np.diag(c))))
        self._mean = torch.as_tensor(m)
        self._chol = torch.as_tensor(chol)
        self._logdet = float(2 * np.log(np.diag(chol)).sum())

    def sample(self, n, *, generator=None, device=None, dtype=torch.float32):
        n = _count(n)
        device = torch.device(device or "cpu")
        z = torch.randn(n, self.dim, generator=generator, device=_gen_device(generator, device),
                        dtype=torch.float64).to(device)
        if self.diagonal:
            x = self._mean.to(device) + z * torch.diagonal(self._chol).to(device)
        else:
            x = self._mean.to(device) + z @ self._chol.to(device).T
        return x.to(dtype)

    def log_prob(self, x):
        diff = x - self._mean.to(x)
        if self.diagonal:
            y = diff / torch.diagonal(self._chol).to(x)
        else:
            y = torch.linalg.solve_triangular(self._chol.to(x), diff.T, upper=False).T
        return -0.5 * (y * y).sum(dim=1) - 0.5 * (self.dim * LOG_2PI + self._logdet)

    def params(self) -> dict:
        cov = np.diag(self.cov_np).tolist() if self.diagonal else self.cov_np.tolist()
        return {"mean": self.mean_np.tolist(), "cov": cov}


class GaussianMixture(Density):
    """Σ_k w_k N(means[k], variances[k]·I) (isotropic components), weights summing to one."""

    def __init__(self, means: Sequence[Sequence[float]], variances: Sequence[float],
                 weights: Sequence[float] | None = None):
        mu = np.asarray(means, dtype=np.float64)
        if mu.ndim != 2 or mu.shape[0] < 1 or not np.all(np.isfinite(mu)):
            raise ValueError(f"means must be a (k, d) array of finite numbers, got shape {mu.shape}")
        k, d = mu.shape
        var = np.broadcast_to(np.asarray(variances, dtype=np.float64), (k,)).copy()
        if not np.all(var > 0):
            raise ValueError("variances must be positive (one per component or one for all)")
        w = np.full(k, 1.0 / k) if weights is None else np.asarray(weights, dtype=np.float64)
        if w.shape != (k,) or np.any(~(w >= 0)) or abs(w.sum() - 1) > 1e-9:
            raise ValueError(f"weights must be {k} non-negative numbers summing to 1")
        self.dim, self.means_np, self.var_np, self.weights_np = d, mu, var, w
        self._mu, self._var, self._w = torch.as_tensor(mu), torch.as_tensor(var), torch.as_tensor(w)

    def sample(self, n, *, generator=None, device=None, dtype=torch.float32):
        n = _count(n)
        device = torch.device(device or "cpu")
        gd = _gen_device(generator, device)
        comp = torch.multinomial(self._w.to(gd), n, replacement=True, generator=generator).to(device)
        z = torch.randn(n, self.dim, generator=generator, device=gd, dtype=torch.float64).to(device)
        x = self._mu.to(device)[comp] + z * self._var.to(device)[comp].sqrt()[:, None]
        return x.to(dtype)

    def log_prob(self, x):
        mu, var, w = self._mu.to(x), self._var.to(x), self._w.to(x)
        sq = ((x[:, None, :] - mu[None]) ** 2).sum(-1)  # (n, k)
        comp = -0.5 * sq / var - 0.5 * self.dim * (LOG_2PI + torch.log(var)) + torch.log(w)
        return torch.logsumexp(comp, dim=1)

    def params(self) -> dict:
        return {"means": self.means_np.tolist(), "variances": self.var_np.tolist(),
                "weights": self.weights_np.tolist()}


class SampleDensity(Density):
    """The empirical measure of user samples (N, d): ``sample`` draws with replacement; no log-density, so
    the entropy/congestion terms and the final-time HJB penalty are unavailable and KL is known up to a constant."""

    has_log_prob = False

    def __init__(self, samples):
        x = torch.as_tensor(np.asarray(samples, dtype=np.float64))
        if x.ndim != 2 or x.shape[0] < 2 or not bool(torch.isfinite(x).all()):
            raise ValueError(f"samples must be a finite (N, d) array with N >= 2, got shape {tuple(x.shape)}")
        self.dim, self._x = x.shape[1], x

    def sample(self, n, *, generator=None, device=None, dtype=torch.float32):
        n = _count(n)
        device = torch.device(device or "cpu")
        idx = torch.randint(0, self._x.shape[0], (n,), generator=generator, device=_gen_device(generator, device))
        return self._x.to(device)[idx.to(device)].to(dtype)

    def params(self) -> dict:
        return {"samples": f"{self._x.shape[0]} user samples (not saved)"}


# ---------------------------------------------------------------------------------------------------------
# Problems


def _weight(name, v) -> float:
    if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v) or v < 0:
        raise ValueError(f"{name} must be a non-negative finite number, got {v!r}")
    return float(v)


class MeanFieldGame(Problem):
    """A potential mean-field game (Ruthotto et al. 2020): transport ρ₀ over [0, T] at kinetic cost ½|v|², with
    interaction F (obstacle λ_P ∫Qρ, entropy λ_E ∫ρlogρ, congestion λ_C ∫ρ²) and terminal cost KL(ρ(T)‖ρ₁)
    (``rho1``) or ∫gρ (``terminal`` = g). ``alpha`` = (α₁ … α₅) are the default weights of L, F, G and the two HJB
    penalties; ``box`` = (lo, hi) is the window for pictures and evaluation grids (first two coordinates)."""

    time_dependent = True
    interaction_names = ("obstacle", "entropy", "congestion")

    def __init__(self, rho0: Density, *, rho1: Density | None = None, terminal: Callable[[Tensor], Tensor] | None = None,
                 T: float = 1.0, obstacle: Callable[[Tensor], Tensor] | None = None, obstacle_weight: float = 1.0,
                 entropy_weight: float = 0.0, congestion_weight: float = 0.0,
                 alpha: Sequence[float] = (1.0, 1.0, 5.0, 1.0, 5.0), box: tuple | None = None,
                 case: str = "custom", params: dict | None = None):
        if not isinstance(rho0, Density):
            raise TypeError(f"rho0 must be a dlpde.problems.mfg Density, got {type(rho0).__name__}")
        if (rho1 is None) == (terminal is None):
            raise ValueError("give exactly one terminal cost: rho1 (KL divergence to a density) or terminal (g(x))")
        if rho1 is not None and (not isinstance(rho1, Density) or rho1.dim != rho0.dim or not rho1.has_log_prob):
            raise ValueError("rho1 must be a Density with a log-density in the same dimension as rho0")
        if terminal is not None and not callable(terminal):
            raise TypeError("terminal must be a callable x (n, d) -> g(x) (n,)")
        if obstacle is not None and not callable(obstacle):
            raise TypeError("obstacle must be a callable x (n, d) -> Q(x) (n,)")
        if not (isinstance(T, (int, float)) and math.isfinite(T) and T > 0):
            raise ValueError(f"T must be a positive finite number, got {T!r}")
        self.rho0, self.rho1, self.terminal_cost, self.T = rho0, rho1, terminal, float(T)
        self.obstacle = obstacle
        self.lam_p = _weight("obstacle_weight", obstacle_weight) if obstacle is not None else 0.0
        self.lam_e = _weight("entropy_weight", entropy_weight)
        self.lam_c = _weight("congestion_weight", congestion_weight)
        if (self.lam_e or self.lam_c) and not rho0.has_log_prob:
            raise ValueError("entropy and congestion terms need log rho0; rho0 given by samples has none")
        self.alpha = check_alpha(alpha)
        self.dim = rho0.dim
        lo, hi = box if box is not None else ([-5.0, -5.0], [5.0, 5.0])
        self.box = (list(map(float, lo)), list(map(float, hi)))
        space = Box([self.box[0][i % 2] for i in range(self.dim)], [self.box[1][i % 2] for i in range(self.dim)])
        self.domain = SpaceTime(space, 0.0, self.T)
        self.case = case
        self._params = {"dim": self.dim, **(params or {})}

    def params(self) -> dict:
        return dict(self._params)

    # -- sampling -----------------------------------------------------------------------------------------
    def interior_points(self, n, *, generator=None, device=None, dtype=torch.float32, method="pseudo") -> Tensor:
        """(x, t) with x ~ ρ₀ and t ~ U(0, T), shape (n, dim + 1) (where the saved file evaluates Φ)."""
        x = self.rho0.sample(n, generator=generator, device=device, dtype=dtype)
        gd = _gen_device(generator, device)
        t = self.T * torch.rand(n, 1, generator=generator, device=gd, dtype=torch.float64)
        return torch.cat([x, t.to(x)], dim=1)

    # -- cost terms along characteristics -------------------------------------------------------------------
    @property
    def active_interactions(self) -> tuple[str, ...]:
        lam = {"obstacle": self.lam_p, "entropy": self.lam_e, "congestion": self.lam_c}
        return tuple(k for k in self.interaction_names if lam[k] > 0)

    def interaction(self, x: Tensor, t: float, log_rho: Tensor | None) -> tuple[Tensor, Tensor]:
        """Per-sample integrands of the active F terms (n, k) (λ-weighted, in ``active_interactions`` order) and
        δF/δρ (n,) at positions x on the characteristics, where log ρ(x, t) = log ρ₀(x₀) − ℓ(t)."""
        cols, dF = [], torch.zeros(x.shape[0], dtype=x.dtype, device=x.device)
        for name in self.active_interactions:
            if name == "obstacle":
                q = self.lam_p * self.obstacle(x)
                cols.append(q)
                dF = dF + q
            elif name == "entropy":
                cols.append(self.lam_e * log_rho)
                dF = dF + self.lam_e * log_rho
            else:
                rho = torch.exp(log_rho)
                cols.append(self.lam_c * rho)
                dF = dF + 2 * self.lam_c * rho
        F = torch.stack(cols, dim=1) if cols else x.new_zeros(x.shape[0], 0)
        return F, dF

    def terminal(self, x: Tensor, log_rho: Tensor | None) -> tuple[Tensor, Tensor]:
        """Per-sample terminal cost (its mean is G(ρ(T))) and δG/δρ at the end points x = z(T)."""
        if self.terminal_cost is not None:
            g = self.terminal_cost(x)
            return g, g
        lr = log_rho if log_rho is not None else torch.zeros_like(x[:, 0])
        g = lr - self.rho1.log_prob(x)  # KL(ρ(T)‖ρ₁) = E_ρ(T)[log ρ(T) − log ρ₁]
        return g, g

    # -- references -----------------------------------------------------------------------------------------
    def reference_cost(self) -> float | None:
        """The optimal transport cost ∫∫½|v|²ρ where a closed form or estimate exists (None otherwise)."""
        return None

    def reference_description(self) -> str:
        return ""


def check_alpha(alpha) -> tuple[float, ...]:
    """Five non-negative finite weights (α₁ > 0) of L, F, G, HJB residual and final-time HJB residual."""
    try:
        a = tuple(float(v) for v in alpha)
    except (TypeError, ValueError):
        raise ValueError(f"alpha must be 5 numbers (weights of L, F, G, HJB, HJB final), got {alpha!r}") from None
    if len(a) != 5 or not all(math.isfinite(v) and v >= 0 for v in a) or a[0] <= 0:
        raise ValueError(f"alpha must be 5 non-negative finite numbers with alpha[0] > 0 "
                         f"(weights of L, F, G, HJB, HJB final), got {alpha!r}")
    return a


class OptimalTransport(MeanFieldGame):
    """Dynamic optimal transport from ρ₀ to ρ₁ (Benamou–Brenier) with the terminal constraint relaxed to
    α₃·KL(ρ(T)‖ρ₁): no interaction. With T = 1 the optimal kinetic cost is ½W₂²(ρ₀, ρ₁) (W₂²/(2T) in general);
    a finite α₃ pulls the learned cost below it by a relative O(α₁/α₃) (for a pure translation exactly
    1 − (α₃/(α₁ + α₃))²). Default α = (1, 0, 2000, 10, 0): α₃ = 2000 keeps that bias near 0.1 %; the HJB residual
    weight α₄ = 10 keeps the paths straight (L within 0.5 % in our 2-D runs, against 0.8 % with α₄ = 0); the
    final-time HJB penalty is off, because with α₃ this large it asks Φ(·, T) to match 2000·log(ρ(T)/ρ₁), which
    is noise, and it slowed training in our runs (Ruthotto et al. use α = (1, 1, 5, 1, 5))."""

    def __init__(self, rho0: Density, rho1: Density, *, T: float = 1.0,
                 alpha: Sequence[float] = (1.0, 0.0, 2000.0, 10.0, 0.0), box=None, case="custom", params=None,
                 reference: Callable[[], float] | None = None, reference_description: str = ""):
        super().__init__(rho0, rho1=rho1, T=T, alpha=alpha, box=box, case=case, params=params)
        self._reference, self._reference_description, self._reference_value = reference, reference_description, None

    def reference_cost(self) -> float | None:
        if self._reference is None:
            return None
        if self._reference_value is None:
            self._reference_value = float(self._reference())
        return self._reference_value

    def reference_description(self) -> str:
        return self._reference_description

    def exact_map(self, x: Tensor) -> Tensor | None:
        """The optimal map T(x) where it is known in closed form (Gaussian to Gaussian), else None."""
        if isinstance(self.rho0, GaussianDensity) and isinstance(self.rho1, GaussianDensity):
            from dlpde.reference.gaussian_ot import gaussian_ot_map
            return torch.as_tensor(gaussian_ot_map(x.detach().double().cpu().numpy(), self.rho0.mean_np,
                                                   self.rho0.cov_np, self.rho1.mean_np, self.rho1.cov_np)).to(x)
        return None


# ---------------------------------------------------------------------------------------------------------
# Named cases (REFERENCES.md §4)

OT_GAUSSIAN_MEAN = (1.5, -1.0, 0.5, -0.5)
OT_GAUSSIAN_STD = (0.6, 1.4, 0.8, 1.2)


def ot_gaussian(dim: int = 2, mean: Sequence[float] | None = None, cov=None, mean0: Sequence[float] | None = None,
                cov0=None, alpha: Sequence[float] = (1.0, 0.0, 2000.0, 10.0, 0.0)) -> OptimalTransport:
    """OT from ρ₀ = N(mean0, cov0) (default N(0, I)) to ρ₁ = N(mean, cov); covariances full (d×d), diagonal
    (d variances) or scalar. Default ρ₁: mean (1.5, −1, 0.5, −0.5, 0, …) and standard deviations
    (0.6, 1.4, 0.8, 1.2, 1, …) (the first min(d, 4) coordinates move; the others stay N(0, 1), so the cost is the
    same for every d ≥ 4). Reference: ½W₂² in closed form (``dlpde.reference.gaussian_ot``). The case's solver
    defaults use ``quadratic="full"`` (``PotentialNet``: the expanding axes need an indefinite quadratic term) and
    1500 steps, enough up to d = 50; d = 100 needed 3000 (validation/MFG.md)."""
    if isinstance(dim, bool) or not isinstance(dim, int) or dim < 1:
        raise ValueError(f"dim must be a positive integer, got {dim!r}")
    k = min(dim, len(OT_GAUSSIAN_MEAN))
    m1 = list(mean) if mean is not None else list(OT_GAUSSIAN_MEAN[:k]) + [0.0] * (dim - k)
    c1 = cov if cov is not None else [s * s for s in OT_GAUSSIAN_STD[:k]] + [1.0] * (dim - k)
    m0 = list(mean0) if mean0 is not None else [0.0] * dim
    c0 = cov0 if cov0 is not None else 1.0
    if len(m1) != dim or len(m0) != dim:
        raise ValueError(f"mean and mean0 need {dim} entries (dim), got {len(m1)} and {len(m0)}")
    rho0, rho1 = GaussianDensity(m0, c0), GaussianDensity(m1, c1)

    def reference():
        from dlpde.reference.gaussian_ot import gaussian_transport_cost
        return gaussian_transport_cost(rho0.mean_np, rho0.cov_np, rho1.mean_np, rho1.cov_np)

    params = {"mean": m1, "cov": _jsonable(cov) if cov is not None else None, "mean0": m0,
              "cov0": _jsonable(cov0) if cov0 is not None else None, "alpha": list(alpha)}
    return OptimalTransport(rho0, rho1, alpha=alpha, box=([-4.0, -4.0], [4.0, 4.0]), case="ot-gaussian",
                            params=params, reference=reference,
                            reference_description="closed form ½W2² (dlpde.reference.gaussian_ot)")


def _jsonable(v):
    return np.asarray(v, dtype=np.float64).tolist()


def ot_mixture_2d(radius: float = 4.0, variance: float = 0.3, components: int = 8, reference_samples: int = 4000,
                  reference_repeats: int = 4, alpha: Sequence[float] = (1.0, 0.0, 2000.0, 10.0, 0.0)
                  ) -> OptimalTransport:
    """OT from eight Gaussians N(4(cos θ_k, sin θ_k), 0.3 I) on a circle to N(0, 0.3 I) (Ruthotto et al. 2020).
    Reference: ½ × the exact discrete W₂² (POT) between ``reference_samples`` samples of each, averaged over
    ``reference_repeats`` independent draws (fixed seeds)."""
    if isinstance(components, bool) or not isinstance(components, int) or components < 1:
        raise ValueError(f"components must be a positive integer, got {components!r}")
    for name, v in (("reference_samples", reference_samples), ("reference_repeats", reference_repeats)):
        if isinstance(v, bool) or not isinstance(v, int) or v < 1:
            raise ValueError(f"{name} must be a positive integer, got {v!r}")
    ang = 2 * np.pi * np.arange(components) / components
    means = radius * np.stack([np.cos(ang), np.sin(ang)], axis=1)
    rho0 = GaussianMixture(means, variance)
    rho1 = GaussianDensity([0.0, 0.0], variance)

    def reference():
        return pot_transport_cost(rho0, rho1, reference_samples, reference_repeats)[0]

    params = {"radius": radius, "variance": variance, "components": components,
              "reference_samples": reference_samples, "reference_repeats": reference_repeats, "alpha": list(alpha)}
    return OptimalTransport(rho0, rho1, alpha=alpha, box=([-6.0, -6.0], [6.0, 6.0]), case="ot-mixture-2d",
                            params=params, reference=reference,
                            reference_description=f"½ POT W2² between {reference_samples} samples of each density, "
                                                  f"mean of {reference_repeats} draws")


def pot_transport_cost(rho0: Density, rho1: Density, n: int, repeats: int, seed: int = 2024) -> tuple[float, float]:
    """½ W₂² estimated by exact discrete OT (POT) between n samples of each density, averaged over ``repeats``
    draws; returns (mean, standard error of the mean)."""
    from dlpde.reference.discrete_ot import empirical_w2_squared

    values = []
    for r in range(repeats):
        g = torch.Generator().manual_seed(seed + r)
        x = rho0.sample(n, generator=g, dtype=torch.float64).numpy()
        y = rho1.sample(n, generator=g, dtype=torch.float64).numpy()
        values.append(0.5 * empirical_w2_squared(x, y))
    v = np.asarray(values)
    return float(v.mean()), float(v.std(ddof=1) / math.sqrt(len(v))) if len(v) > 1 else math.nan


def gaussian_obstacle(height: float = 50.0, variances: Sequence[float] = (1.0, 0.5)) -> Callable[[Tensor], Tensor]:
    """Q(x) = height · exp(−½(x₁²/v₁ + x₂²/v₂)): the crowd-motion obstacle, a 2-D Gaussian bump of height 50 with
    variances (1, 0.5) (REFERENCES.md §4). Only x₁, x₂ matter. (MFGnet.jl's scripts scale a normalised Gaussian
    by 50 instead, a bump of height 50/(2π√0.5) ≈ 11.25: ``height=11.25`` gives that one.)"""
    v1, v2 = float(variances[0]), float(variances[1])
    if not (math.isfinite(height) and height >= 0 and v1 > 0 and v2 > 0):
        raise ValueError(f"the obstacle needs height >= 0 and positive variances, got {height}, {variances}")

    def Q(x: Tensor) -> Tensor:
        return height * torch.exp(-0.5 * (x[:, 0] ** 2 / v1 + x[:, 1] ** 2 / v2))

    return Q


def crowd_motion(dim: int = 2, obstacle_height: float = 50.0, entropy_weight: float = 0.01,
                 congestion_weight: float = 0.0, variance: float = 0.3,
                 alpha: Sequence[float] = (1.0, 1.0, 5.0, 20.0, 1.0)) -> MeanFieldGame:
    """Crowd motion (Ruthotto et al. 2020): ρ₀ = N((0, 3, 0, …), 0.3 I) to ρ₁ = N((0, −3, 0, …), 0.3 I) in T = 1
    around the obstacle Q (``gaussian_obstacle``), F = ∫Qρ + 0.01 ∫ρ log ρ, G = KL(ρ(T)‖ρ₁), α = (1, 1, 5, 20, 1)
    as in the paper's scripts (MFGnet.jl, runMultilevel.sh). The extra dimensions carry no cost, so the transport
    and obstacle costs of the optimum do not depend on d (the d-consistency check). ``entropy_weight=0`` gives the
    obstacle alone (REFERENCES.md §4). With the entropy term the HJB residual along the paths contains
    λ/(2σ²)(|x_idle|² − E|x_idle|²) from the d − 2 idle coordinates, which the paper's potential cannot cancel at
    d = 100, so the penalised optimum there moves (validation/MFG.md)."""
    if isinstance(dim, bool) or not isinstance(dim, int) or dim < 2:
        raise ValueError(f"crowd-motion needs dim >= 2 (the obstacle lives in x1, x2), got {dim!r}")
    m0 = [0.0, 3.0] + [0.0] * (dim - 2)
    m1 = [0.0, -3.0] + [0.0] * (dim - 2)
    params = {"obstacle_height": obstacle_height, "entropy_weight": entropy_weight,
              "congestion_weight": congestion_weight, "variance": variance, "alpha": list(alpha)}
    return MeanFieldGame(GaussianDensity(m0, variance), rho1=GaussianDensity(m1, variance), T=1.0,
                         obstacle=gaussian_obstacle(obstacle_height), obstacle_weight=1.0,
                         entropy_weight=entropy_weight, congestion_weight=congestion_weight, alpha=alpha,
                         box=([-4.0, -5.0], [4.0, 5.0]), case="crowd-motion", params=params)


__all__ = ["Density", "GaussianDensity", "GaussianMixture", "SampleDensity", "MeanFieldGame", "OptimalTransport",
           "check_alpha", "ot_gaussian", "ot_mixture_2d", "crowd_motion", "gaussian_obstacle", "pot_transport_cost"]


def cases() -> list:
    """The named OT / MFG cases for the registry (solver "mfg")."""

    common = dict(activation="logcosh", depth=2, lr=0.01, schedule="cosine", log_every=50, eval_points=10_000)
    return [
        Case("ot-gaussian", ot_gaussian, ("mfg",),
             "optimal transport N(0, I) → N(m, Σ) in any d; closed-form ½W2² (Ruthotto et al. 2020)",
             default_dim=2, defaults=dict(common, steps=1500, batch=1024, width=32, nt=4, quadratic="full")),
        Case("ot-mixture-2d", ot_mixture_2d, ("mfg",),
             "optimal transport, 8 Gaussians on a circle → one Gaussian; POT reference (Ruthotto et al. 2020)",
             defaults=dict(common, steps=2000, batch=1024, width=32, nt=4)),
        Case("crowd-motion", crowd_motion, ("mfg",),
             "mean-field game: crowd around a Gaussian obstacle, d = 2 … 100 (Ruthotto et al. 2020)",
             default_dim=2, defaults=dict(common, steps=2500, batch=1024, width=32, nt=4)),
    ]
