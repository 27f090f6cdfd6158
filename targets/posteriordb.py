"""Six real posteriors from posteriordb, with its reference draws as the reference sets.

posteriordb (the Stan developers' database of posteriors, BSD-3, see
``targets/data/posteriordb/LICENCE.md``) publishes for each posterior a Stan model, its data
and 10 000 reference draws from long NUTS runs (10 chains × 1000 draws, thinned, with
recorded R-hat and ESS). These are the suite's only references that no sampler of ours
produced. The targets are the models' log densities written here in torch from the Stan
programs' mathematics, on Stan's **unconstrained** space: a parameter with ``lower=0`` is
``log`` of it, one in (0, 1) its ``logit``, an ``ordered[2]`` vector (y₁, log(y₂ − y₁));
each transform adds its log-Jacobian. Coordinates follow the Stan declaration order.

    E(u) = −log p(θ(u) | data) − log |det ∂θ/∂u|   (with all normalising constants)

Reference: posteriordb's draws mapped to those coordinates by ``scripts/pack_posteriordb.py``
(shipped as ``targets/data/posteriordb/<posterior>.npz``; no network). Chains 1–5 (5000
draws, ordered round by round) are the reference set; chains 6–10, an independent second
half, are kept apart for noise floors (:meth:`PosteriorDBTarget.floor_draws`).
:func:`boltzbench.targets.posteriordb_check.cross_check` compares the suite's own reference
generator with the draws. The shared base class and density building blocks are in
:mod:`boltzbench.targets.posteriordb_base`.
"""

from __future__ import annotations

import math
from functools import cached_property
from typing import Any

import numpy as np
import torch
from boltzbench.targets.posteriordb_base import (
    _LOG_2PI,
    GP_JITTER,
    PosteriorDBTarget,
    _cauchy,
    _normal,
    _normal_log_scale,
    _student_t,
)

from boltzbench.protocols import MetricSpec
from boltzbench.registry import register_target


@register_target("pdb_eight_schools")
class EightSchools(PosteriorDBTarget):
    """posteriordb eight_schools_noncentered (10-D): θ̃ [8], μ, log τ.

    θ̃ ~ N(0, 1), μ ~ N(0, 5), τ ~ half-Cauchy(0, 5), y_j ~ N(μ + τ θ̃_j, σ_j); the
    half-Cauchy funnel in τ makes it hierarchical and heavy-tailed."""

    name = "pdb_eight_schools"
    dim = 10
    posterior = "eight_schools-eight_schools_noncentered"
    mapping = "theta_trans = (theta - mu) / tau (the draws hold theta); log_tau = log(tau)"
    init_std = 2.0
    metric_spec = MetricSpec(mmd_bandwidth=5.4161)

    @cached_property
    def data(self) -> tuple[torch.Tensor, torch.Tensor]:
        """(y [8], σ [8])."""
        return self._array("y"), self._array("sigma")

    def log_density(self, u: torch.Tensor) -> torch.Tensor:
        y, sigma = self.data
        tt, mu, log_tau = u[:, :8], u[:, 8], u[:, 9]
        theta = mu[:, None] + torch.exp(log_tau)[:, None] * tt
        return (
            _normal(tt, 0.0, 1.0).sum(1)
            + _normal(y, theta, sigma).sum(1)
            + _normal(mu, 0.0, 5.0)
            + _cauchy(torch.exp(log_tau), 5.0)
            + math.log(2.0)  # half-Cauchy
            + log_tau  # log-Jacobian of τ = exp(u)
        )


@register_target("pdb_diamonds")
class Diamonds(PosteriorDBTarget):
    """posteriordb diamonds (26-D, brms): b [24], Intercept, log σ.

    Log-price regression on 24 centred predictors, 5000 diamonds: b ~ N(0, 1),
    Intercept ~ t₃(8, 10), σ ~ half-t₃(0, 10), Y ~ N(Intercept + X_c b, σ). Strongly
    correlated (hard for plain NUTS); the likelihood uses the exact QR form of the
    residual sum of squares."""

    name = "pdb_diamonds"
    dim = 26
    posterior = "diamonds-diamonds"
    mapping = "b and Intercept as drawn; log_sigma = log(sigma)"
    init_std = 3.0
    metric_spec = MetricSpec(mmd_bandwidth=0.82342)

    @cached_property
    def stats(self) -> dict[str, Any]:
        """Sufficient statistics: with X_c = QR and Y_c = Y − Ȳ,
        ‖Y − a − X_c b‖² = ‖Qᵀ Y_c − R b‖² + ‖Y_c − Q Qᵀ Y_c‖² + N (Ȳ − a)²."""
        x, y = self._file["X"], self._file["Y"]
        xc = x - x.mean(0)
        yc = y - y.mean()
        q, r = np.linalg.qr(xc)
        z = q.T @ yc
        return {
            "R": torch.as_tensor(r),
            "z": torch.as_tensor(z),
            "rss0": float(((yc - q @ z) ** 2).sum()),
            "y_mean": float(y.mean()),
            "n": len(y),
        }

    def log_density(self, u: torch.Tensor) -> torch.Tensor:
        s = self.stats
        b, a, log_sigma = u[:, :24], u[:, 24], u[:, 25]
        rss = ((s["z"] - b @ s["R"].T) ** 2).sum(1) + s["rss0"] + s["n"] * (s["y_mean"] - a) ** 2
        loglik = -s["n"] * (log_sigma + 0.5 * _LOG_2PI) - 0.5 * rss * torch.exp(-2 * log_sigma)
        return (
            _normal(b, 0.0, 1.0).sum(1)
            + _student_t(a, 3.0, 8.0, 10.0)
            + _student_t(torch.exp(log_sigma), 3.0, 0.0, 10.0)
            + math.log(2.0)  # − student_t_lccdf(0 | 3, 0, 10)
            + loglik
            + log_sigma
        )


@register_target("pdb_ark")
class ArK(PosteriorDBTarget):
    """posteriordb arK (7-D): α, β [5], log σ.

    AR(5) time series of length 200: α, β ~ N(0, 10), σ ~ half-Cauchy(0, 2.5),
    y_t ~ N(α + Σ_k β_k y_{t−k}, σ) for t > 5."""

    name = "pdb_ark"
    dim = 7
    posterior = "arK-arK"
    mapping = "alpha and beta as drawn; log_sigma = log(sigma)"
    init_std = 1.0
    metric_spec = MetricSpec(mmd_bandwidth=0.2441)
    order = 5

    @cached_property
    def data(self) -> tuple[torch.Tensor, torch.Tensor]:
        """(lagged design Z [T − K, K] with Z[t, k] = y[t + K − k − 1], response y[K:])."""
        y, k = self._array("y"), self.order
        lags = torch.stack([y[k - j - 1 : len(y) - j - 1] for j in range(k)], dim=1)
        return lags, y[k:]

    def log_density(self, u: torch.Tensor) -> torch.Tensor:
        lags, y = self.data
        alpha, beta, log_sigma = u[:, 0], u[:, 1:6], u[:, 6]
        mean = alpha[:, None] + beta @ lags.T
        return (
            _normal(alpha, 0.0, 10.0)
            + _normal(beta, 0.0, 10.0).sum(1)
            + _cauchy(torch.exp(log_sigma), 2.5)
            + math.log(2.0)
            + _normal_log_scale(y, mean, log_sigma[:, None]).sum(1)
            + log_sigma
        )


@register_target("pdb_blr")
class BLR(PosteriorDBTarget):
    """posteriordb sblrc-blr (6-D): β [5], log σ.

    Bayesian linear regression, 100 cases: β ~ N(0, 10), σ ~ half-N(0, 10),
    y ~ N(Xβ, σ); near-Gaussian, but β is 70× narrower than log σ."""

    name = "pdb_blr"
    dim = 6
    posterior = "sblrc-blr"
    mapping = "beta as drawn; log_sigma = log(sigma)"
    init_std = 1.0
    metric_spec = MetricSpec(mmd_bandwidth=0.067837)

    @cached_property
    def data(self) -> tuple[torch.Tensor, torch.Tensor]:
        """(X [100, 5], y [100])."""
        return self._array("X"), self._array("y")

    def log_density(self, u: torch.Tensor) -> torch.Tensor:
        x, y = self.data
        beta, log_sigma = u[:, :5], u[:, 5]
        return (
            _normal(beta, 0.0, 10.0).sum(1)
            + _normal(torch.exp(log_sigma), 0.0, 10.0)
            + _normal_log_scale(y, beta @ x.T, log_sigma[:, None]).sum(1)
            + log_sigma
        )


@register_target("pdb_gp_pois_regr")
class GPPoisRegr(PosteriorDBTarget):
    """posteriordb gp_pois_regr (13-D): log ρ, log α, f̃ [11].

    Latent GP with squared-exponential kernel (amplitude α, length ρ) on 11 inputs,
    Poisson counts: ρ ~ Gamma(25, 4), α ~ half-N(0, 2), f̃ ~ N(0, I),
    f = L(ρ, α) f̃, k ~ Poisson(e^f). Where the Cholesky factor of the jittered covariance
    does not exist in float64 (ρ ≳ 20 together with α ≳ 1000, far outside the broad start)
    the energy is +inf, as Stan rejects such points."""

    name = "pdb_gp_pois_regr"
    dim = 13
    posterior = "gp_pois_regr-gp_pois_regr"
    mapping = (
        "log_rho = log(rho), log_alpha = log(alpha); f_tilde = L(rho, alpha)^-1 f "
        "(the draws hold f), L = cholesky(alpha^2 exp(-(x_i - x_j)^2 / (2 rho^2)) + 1e-10 I)"
    )
    init_std = 1.0
    metric_spec = MetricSpec(mmd_bandwidth=3.4241)

    @cached_property
    def data(self) -> tuple[torch.Tensor, torch.Tensor]:
        """(inputs x [11], counts k [11])."""
        return self._array("x"), self._array("k")

    def log_density(self, u: torch.Tensor) -> torch.Tensor:
        x, k = self.data
        log_rho, log_alpha, f_tilde = u[:, 0], u[:, 1], u[:, 2:]
        rho, alpha = torch.exp(log_rho), torch.exp(log_alpha)
        sq = (x[:, None] - x[None, :]) ** 2
        eye = torch.eye(len(x), dtype=torch.float64)
        cov = alpha[:, None, None] ** 2 * torch.exp(-0.5 * sq / rho[:, None, None] ** 2)
        cov = cov + GP_JITTER * eye
        chol, info = torch.linalg.cholesky_ex(cov.detach())
        bad = info != 0
        if bad.any():  # keep the factorisation (and its gradient) finite on those rows
            cov = torch.where(bad[:, None, None], eye, cov)
        chol = torch.linalg.cholesky(cov)
        f = (chol @ f_tilde[:, :, None]).squeeze(-1)
        lp = (
            (25.0 * math.log(4.0) - math.lgamma(25.0) + 24.0 * log_rho - 4.0 * rho)  # Gamma
            + _normal(alpha, 0.0, 2.0)
            + math.log(2.0)
            + _normal(f_tilde, 0.0, 1.0).sum(1)
            + (k * f - torch.exp(f) - torch.lgamma(k + 1)).sum(1)
            + log_rho
            + log_alpha
        )
        return torch.where(bad, -torch.inf, lp)


@register_target("pdb_gauss_mix")
class GaussMix(PosteriorDBTarget):
    """posteriordb low_dim_gauss_mix (5-D): μ₁, log(μ₂ − μ₁), log σ₁, log σ₂, logit θ.

    Two-component normal mixture of 1000 points with ordered means: μ ~ N(0, 2),
    σ ~ half-N(0, 2), θ ~ Beta(5, 5), y_n ~ θ N(μ₁, σ₁) + (1 − θ) N(μ₂, σ₂).
    init_std 1 (the mode lies within 2.8 init_std of 0): from N(0, 2² I) a share of chains lands
    on a metastable one-cluster ridge about 390 kT above the mode (both components on the
    pooled data, σ ≈ 2.9) and stays there for the whole run of the suite's MALA."""

    name = "pdb_gauss_mix"
    dim = 5
    posterior = "low_dim_gauss_mix-low_dim_gauss_mix"
    mapping = (
        "mu[1] as drawn, log(mu[2] - mu[1]) (Stan's ordered transform); "
        "log_sigma = log(sigma); logit_theta = logit(theta)"
    )
    init_std = 1.0
    metric_spec = MetricSpec(mmd_bandwidth=0.11558)

    @cached_property
    def data(self) -> torch.Tensor:
        """y [1000]."""
        return self._array("y")

    def log_density(self, u: torch.Tensor) -> torch.Tensor:
        y = self.data
        mu1 = u[:, 0]
        mu2 = mu1 + torch.exp(u[:, 1])
        log_s1, log_s2 = u[:, 2], u[:, 3]
        log_theta = torch.nn.functional.logsigmoid(u[:, 4])
        log_1m_theta = torch.nn.functional.logsigmoid(-u[:, 4])
        comp1 = log_theta[:, None] + _normal_log_scale(y, mu1[:, None], log_s1[:, None])
        comp2 = log_1m_theta[:, None] + _normal_log_scale(y, mu2[:, None], log_s2[:, None])
        # logsumexp, not logaddexp: the latter's double backward (hvp) is NaN where the
        # two components differ by a lot
        loglik = torch.logsumexp(torch.stack([comp1, comp2]), dim=0).sum(1)
        log_beta_55 = 2 * math.lgamma(5.0) - math.lgamma(10.0)
        return (
            _normal(mu1, 0.0, 2.0)
            + _normal(mu2, 0.0, 2.0)
            + _normal(torch.exp(log_s1), 0.0, 2.0)
            + _normal(torch.exp(log_s2), 0.0, 2.0)
            + 2 * math.log(2.0)
            + 4.0 * log_theta
            + 4.0 * log_1m_theta
            - log_beta_55
            + loglik
            + u[:, 1]  # ordered transform
            + log_s1
            + log_s2
            + log_theta
            + log_1m_theta  # logit transform
        )
