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
:func:`cross_check` compares the suite's own reference generator with the draws.
"""

from __future__ import annotations

import hashlib
import json
import math
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np
import torch
from boltzbench.targets.base import BaseTarget
from boltzbench.targets.reference import Reference

from boltzbench.guard import check
from boltzbench.protocols import MetricSpec
from boltzbench.registry import register_target

DATA = Path(__file__).resolve().parent / "data" / "posteriordb"
#: chains of posteriordb's draws that form the reference set; the others are for floors
REFERENCE_CHAINS = 5
#: the cross-check's tolerances: means within this many combined Monte-Carlo standard
#: errors, standard deviations within this relative error, per coordinate
CROSS_MEAN_MCSE = 4.0
CROSS_SD_RTOL = 0.10
GP_JITTER = 1e-10  # gp_pois_regr.stan's diagonal jitter
_LOG_2PI = math.log(2 * math.pi)


# log densities, float64, broadcasting -----------------------------------------------------
def _normal(x: torch.Tensor, loc: Any, scale: Any) -> torch.Tensor:
    scale = torch.as_tensor(scale, dtype=torch.float64)
    return -0.5 * ((x - loc) / scale) ** 2 - torch.log(scale) - 0.5 * _LOG_2PI


def _normal_log_scale(x: torch.Tensor, loc: Any, log_scale: torch.Tensor) -> torch.Tensor:
    return -0.5 * ((x - loc) * torch.exp(-log_scale)) ** 2 - log_scale - 0.5 * _LOG_2PI


def _cauchy(x: torch.Tensor, scale: float) -> torch.Tensor:
    return -math.log(math.pi * scale) - torch.log1p((x / scale) ** 2)


def _student_t(x: torch.Tensor, nu: float, loc: float, scale: float) -> torch.Tensor:
    c = math.lgamma((nu + 1) / 2) - math.lgamma(nu / 2) - 0.5 * math.log(nu * math.pi)
    return c - math.log(scale) - (nu + 1) / 2 * torch.log1p(((x - loc) / scale) ** 2 / nu)


class PosteriorDBTarget(BaseTarget):
    """A posteriordb posterior on Stan's unconstrained space (see the module docstring).

    Subclasses set ``posterior`` (posteriordb's name, also the shipped file's) and
    ``mapping`` (how the draws became unconstrained coordinates), and implement
    :meth:`log_density` in float64.
    """

    posterior: str = ""
    mapping: str = ""
    reference_kind = "posteriordb"

    @cached_property
    def _file(self) -> dict[str, np.ndarray]:
        path = DATA / f"{self.posterior}.npz"
        with np.load(path, allow_pickle=False) as z:
            arrays = {k: z[k] for k in z.files}
        arrays["sha256"] = np.array(hashlib.sha256(path.read_bytes()).hexdigest())
        return arrays

    def _array(self, key: str) -> torch.Tensor:
        return torch.as_tensor(self._file[key], dtype=torch.float64)

    @cached_property
    def info(self) -> dict[str, Any]:
        """posteriordb's settings, diagnostics and checks, as packed."""
        return json.loads(str(self._file["info"]))

    @property
    def coordinate_names(self) -> list[str]:
        """Names of the unconstrained coordinates, e.g. ``log_tau``."""
        return [str(s) for s in self._file["names"]]

    def log_density(self, u: torch.Tensor) -> torch.Tensor:
        """log p(u) [n] (unconstrained, with log-Jacobian) for u [n, d] float64."""
        raise NotImplementedError

    def energy(self, x: torch.Tensor) -> torch.Tensor:
        return (-self.log_density(x.to(torch.float64))).to(x.dtype)

    # posteriordb's draws --------------------------------------------------------------
    def draws(self) -> torch.Tensor:
        """All posteriordb draws on the unconstrained space, [chains, draws, d] float32.
        Not available while a method runs."""
        check(f"the posteriordb draws of {self.name!r}")
        return torch.from_numpy(self._file["draws"].copy())

    @staticmethod
    def _round_by_round(chains: torch.Tensor) -> torch.Tensor:
        # [c, m, d] -> [m * c, d], so that any prefix spreads over all chains
        return chains.transpose(0, 1).reshape(-1, chains.shape[-1]).contiguous()

    def reference(self) -> Reference:
        """posteriordb's chains 1–5 (5000 draws, round by round), mapped to the
        unconstrained space; provenance kind ``"posteriordb"``."""
        check(f"the reference set of {self.name!r}")
        return self._reference

    @cached_property
    def _reference(self) -> Reference:
        n = self.metric_spec.n_reference
        chains = self.draws()[:REFERENCE_CHAINS]
        if n > chains.shape[0] * chains.shape[1]:
            raise ValueError(f"{self.name}: n_reference {n} exceeds the {REFERENCE_CHAINS} chains")
        samples = self._round_by_round(chains)[:n]
        energies = self.energy(samples.double())
        info = self.info
        checks = {k: bool(v) for k, v in info["posteriordb_checks"].items()}
        checks["energy_finite_at_all_draws"] = bool(torch.isfinite(energies).all())
        checks["mapping_round_trip_below_1e_8"] = info["mapping_round_trip_error"] < 1e-8
        sampler = info["inference"]
        return Reference(
            samples,
            {
                "kind": "posteriordb",
                "method": (
                    f"posteriordb reference draws of {self.posterior} "
                    f"({sampler['method']}, {info['nchains']} chains; chains 1-"
                    f"{REFERENCE_CHAINS} here)"
                ),
                "target": self.name,
                "posterior": self.posterior,
                "n": n,
                "source": info["source"],
                "source_commit": info["source_commit"],
                "licence": "BSD-3-Clause (targets/data/posteriordb/LICENCE.md)",
                "inference": sampler,
                "r_hat_max": info["r_hat_max"],
                "ess_bulk_min": info["ess_bulk_min"],
                "ess_tail_min": info["ess_tail_min"],
                "divergent_transitions": info["divergent_transitions"],
                "mapping": self.mapping,
                "coordinates": self.coordinate_names,
                "halves": {
                    "reference": f"chains 1-{REFERENCE_CHAINS}",
                    "floor": f"chains {REFERENCE_CHAINS + 1}-{info['nchains']}",
                },
                "reference_version": self.reference_version,
                "file_sha256": str(self._file["sha256"]),
                "sha256": hashlib.sha256(samples.numpy().tobytes()).hexdigest(),
                "checks": checks,
            },
        )

    def floor_draws(self) -> torch.Tensor:
        """The held-out half, chains 6–10 (5000 draws [5000, d], round by round): draws
        independent of the reference, which :mod:`boltzbench.floors` cuts into disjoint sets
        for noise floors. Not available while a method runs."""
        check(f"the held-out posteriordb draws of {self.name!r}")
        return self._round_by_round(self.draws()[REFERENCE_CHAINS:])

    @cached_property
    def content_hash(self) -> str:
        """What the target's definition fingerprint is keyed on: the shipped file and the
        source of the classes that define the density (stable across lazily cached data)."""
        import inspect

        sources = [
            inspect.getsource(k) for k in type(self).__mro__ if issubclass(k, PosteriorDBTarget)
        ]
        blob = json.dumps([self.name, str(self._file["sha256"]), sources])
        return hashlib.sha256(blob.encode()).hexdigest()


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


# cross-check of the suite's reference generator --------------------------------------------
def _moments_and_mcse(draws: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per coordinate of draws [chains, m, d]: mean, sd and the Monte-Carlo standard error
    of the mean (sd / sqrt(ESS of the mean), ArviZ)."""
    import warnings

    import arviz as az

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ess = az.ess(az.convert_to_dataset({"x": draws}), method="mean")["x"].values
    flat = draws.reshape(-1, draws.shape[-1])
    sd = flat.std(0, ddof=1)
    return flat.mean(0), sd, sd / np.sqrt(ess)


def compare_draws(ours: np.ndarray, theirs: np.ndarray) -> dict[str, bool | float]:
    """Named checks of draws [chains, m, d] against posteriordb's draws [chains', m', d]:
    ``means_within_4_mcse`` (|Δmean| < 4 √(MCSE_ours² + MCSE_theirs²) in every coordinate),
    ``sds_within_10_percent`` (|sd_ours / sd_theirs − 1| < 0.1 in every coordinate), with
    the worst values ``max_mean_z`` and ``max_sd_rel_error``."""
    m1, s1, e1 = _moments_and_mcse(np.asarray(ours, dtype=np.float64))
    m2, s2, e2 = _moments_and_mcse(np.asarray(theirs, dtype=np.float64))
    z = np.abs(m1 - m2) / np.sqrt(e1**2 + e2**2)
    rel = np.abs(s1 / s2 - 1)
    return {
        "means_within_4_mcse": bool(np.all(z < CROSS_MEAN_MCSE)),
        "sds_within_10_percent": bool(np.all(rel < CROSS_SD_RTOL)),
        "max_mean_z": float(z.max()),
        "argmax_mean_z": int(z.argmax()),
        "max_sd_rel_error": float(rel.max()),
        "argmax_sd_rel_error": int(rel.argmax()),
    }


def cross_check(name: str, seed: int = 20260318, **settings: Any) -> dict[str, bool | float]:
    """Run the suite's reference generator (:func:`~boltzbench.targets.generated.chain_reference`
    with ``logreg_cancer``'s settings, MALA with the mass matrix it picks for the dimension,
    20 chains, 20000 warm-up steps, every 100th kept; ``settings`` override them, e.g.
    ``extra={"mass_matrix": "identity"}``) on the posteriordb target ``name`` and compare its
    chains with all 10 000 posteriordb draws (:func:`compare_draws`). The generator's own
    convergence checks and diagnostics are included, prefixed ``generator_``."""
    from boltzbench.targets.generated import chain_reference

    from boltzbench.registry import TARGETS

    target = TARGETS.get(name)()
    n = settings.pop("n", target.metric_spec.n_reference)
    config = {"method": "mala", "n_chains": 20, "warmup": 20000, "thin": 100, **settings}
    samples, info = chain_reference(target, n, seed, **config)
    # samples are ordered round by round: back to [chains, rounds, d]
    chains = config["n_chains"]
    if n % chains:
        raise ValueError(f"n = {n} must be a multiple of n_chains = {chains}")
    ours = samples.reshape(-1, chains, target.dim).transpose(0, 1).numpy()
    out: dict[str, bool | float] = {}
    for k, v in info["checks"].items():
        out[f"generator_{k}"] = bool(v)
    for k in ("r_hat_energy", "r_hat_coords_max", "ess_energy", "ess_coords_min", "seconds"):
        out[f"generator_{k}"] = float(info[k])
    diagnostics = info.get("sampler_diagnostics", {})
    out["generator_mass_matrix"] = info["settings"].get("mass_matrix", "identity")
    for k in (
        "step_size",
        "acceptance_sample",
        "frozen_fraction",
        "acceptance_chain_min",
        "mass_matrix_condition",
    ):
        v = diagnostics.get(k)
        out[f"generator_{k}"] = math.nan if v is None else float(v)
    out.update(compare_draws(ours, target.draws().numpy()))
    return out
