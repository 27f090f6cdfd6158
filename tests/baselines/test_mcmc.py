"""The MCMC baselines: exactness on a Gaussian within Monte-Carlo error, counting, tuning,
multimodal behaviour, SMC's log Z, and the shared pieces (resampling, ESS, R-hat)."""

import math

import numpy as np
import pytest
import torch
from boltzbench.baselines.diagnostics import ess_rhat
from boltzbench.baselines.hmc import HMC, HMCConfig
from boltzbench.baselines.mala import MALA, MALAConfig
from boltzbench.baselines.mcmc import DualAveraging
from boltzbench.baselines.pt import ParallelTempering, PTConfig
from boltzbench.baselines.smc import SMC, SMCConfig, next_beta
from boltzbench.baselines.ula import ULA, ULAConfig
from boltzbench.baselines.weights import ess, systematic_resample

from boltzbench.counter import Counter, charging
from boltzbench.registry import TARGETS
from boltzbench.testing import CorrelatedGaussian


def _run(method, target, n, seed=0):
    counter = Counter(target)
    with charging(counter, "train"):
        method.fit(counter, seed=seed)
    with charging(counter, "sample"):
        x = method.sample(n)
    return x, counter


@pytest.mark.parametrize(
    "method",
    [
        MALA(MALAConfig(n_chains=100, warmup=500, thin=5)),
        HMC(HMCConfig(n_chains=100, warmup=200, thin=1)),
    ],
    ids=["mala", "hmc"],
)
def test_gaussian_moments_within_monte_carlo_error(method):
    """Every mean and covariance entry within 4.5 Monte-Carlo standard errors, the error
    computed from the bulk ESS of the very quantity averaged (x_i, or the centred
    products (x_i − μ_i)(x_j − μ_j))."""
    target = CorrelatedGaussian(dim=10)
    method.fit(Counter(target), seed=0)
    method.sample(4000)
    draws = method.draws.double()  # [chains, rounds, d]
    mu, cov = target.mu, target.cov
    z = 4.5
    centred = draws - mu
    for i in range(10):
        ess_i = ess_rhat(draws[..., i : i + 1].numpy())["ess_bulk"]
        err = abs(float(draws[..., i].mean() - mu[i]))
        assert err <= z * math.sqrt(float(cov[i, i]) / ess_i), (i, err, ess_i)
        for j in range(i, 10):
            prod = centred[..., i] * centred[..., j]
            ess_ij = ess_rhat(prod[..., None].numpy())["ess_bulk"]
            var_prod = float(cov[i, i] * cov[j, j] + cov[i, j] ** 2)
            err = abs(float(prod.mean() - cov[i, j]))
            assert err <= z * math.sqrt(var_prod / ess_ij), (i, j, err, ess_ij)
    diag = method.diagnostics()
    assert diag["rhat"] < 1.05


def test_mala_step_size_adapts_to_the_target_acceptance():
    target = CorrelatedGaussian(dim=10)
    for h0 in (1e-4, 0.3):  # far too small and far too large (relative to init_std²)
        m = MALA(MALAConfig(n_chains=100, warmup=600, thin=2, step_size=h0))
        _run(m, target, 2000)
        assert abs(m.diagnostics()["acceptance_sample"] - 0.574) < 0.08


def test_hmc_counts_leapfrog_gradients_and_one_energy_per_transition(gaussian2d):
    m = HMC(HMCConfig(n_chains=10, warmup=7, thin=2, n_leapfrog=5))
    counter = Counter(gaussian2d)
    m.fit(counter, seed=0)
    train_steps = m.leapfrog_steps
    assert 7 <= train_steps <= 7 * 9  # 1 … 2·5 − 1 steps per transition
    c = counter.counts
    assert (c.energy_evals_train, c.grad_evals_train) == (10 * (1 + 7), 10 * (1 + train_steps))
    with charging(counter, "sample"):
        m.sample(25)  # 3 rounds × 2 transitions
    c = counter.counts
    sample_steps = m.leapfrog_steps - train_steps
    assert (c.energy_evals_sample, c.grad_evals_sample) == (10 * 6, 10 * sample_steps)


def test_ula_uses_gradients_only_and_pt_charges_every_replica(gaussian2d):
    _, counter = _run(ULA(ULAConfig(n_chains=10, warmup=4, thin=1)), gaussian2d, 20)
    c = counter.counts
    assert c.energy_evals_train == c.energy_evals_sample == 0
    assert (c.grad_evals_train, c.grad_evals_sample) == (40, 20)
    pt = ParallelTempering(PTConfig(n_chains=10, warmup=4, thin=1, n_temps=3))
    _, counter = _run(pt, gaussian2d, 20)
    c = counter.counts
    assert c.energy_evals_train == c.grad_evals_train == 30 * (1 + 4)
    assert c.energy_evals_sample == c.grad_evals_sample == 30 * 2


@pytest.mark.parametrize(
    "make",
    [
        lambda: ULA(ULAConfig(n_chains=20, warmup=30)),
        lambda: MALA(MALAConfig(n_chains=20, warmup=30)),
        lambda: HMC(HMCConfig(n_chains=20, warmup=30)),
        lambda: ParallelTempering(PTConfig(n_chains=20, warmup=30, n_temps=3)),
        lambda: SMC(SMCConfig(min_particles=100)),
    ],
    ids=["ula", "mala", "hmc", "pt", "smc"],
)
def test_fixed_seed_gives_identical_draws(make, gaussian2d):
    a, _ = _run(make(), gaussian2d, 60, seed=5)
    b, _ = _run(make(), gaussian2d, 60, seed=5)
    c, _ = _run(make(), gaussian2d, 60, seed=6)
    assert torch.equal(a, b) and not torch.equal(a, c)


class _StartInOneMode:
    """Mixin: every chain starts next to the gmm4 mode at (1, 1)."""

    def _initial(self, n):
        return torch.tensor([1.0, 1.0]) + 0.1 * torch.randn(n, 2, generator=self.gen)


class StuckMALA(_StartInOneMode, MALA):
    pass


class StuckPT(_StartInOneMode, ParallelTempering):
    pass


def test_pt_recovers_gmm4_mode_masses_where_mala_started_in_one_mode_does_not():
    target = TARGETS.get("gmm4")()
    masses = {}
    for name, method in {
        "mala": StuckMALA(MALAConfig(n_chains=100, warmup=500, thin=10)),
        "pt": StuckPT(PTConfig(n_chains=100, warmup=500, thin=10)),
    }.items():
        x, _ = _run(method, target, 4000)
        masses[name] = target.mode_of(x.double()).bincount(minlength=4).double() / len(x)
    assert (masses["pt"] - 0.25).abs().max() < 0.03
    assert (masses["mala"] - 0.25).abs().max() > 0.5  # never leaves the (1, 1) mode


def test_smc_recovers_log_z_of_gmm4_and_charges_only_sample():
    target = TARGETS.get("gmm4")()
    m = SMC(SMCConfig(min_particles=2000))
    x, counter = _run(m, target, 2000)
    assert abs(m.diagnostics()["log_z"] - target.log_Z) < 0.1
    assert counter.counts.energy_evals_train == counter.counts.grad_evals_train == 0
    assert counter.counts.energy_evals_sample > 0
    masses = target.mode_of(x.double()).bincount(minlength=4).double() / len(x)
    assert (masses - 0.25).abs().max() < 0.05


def test_smc_log_z_of_an_unnormalised_gaussian(gaussian2d):
    """E = ½ dᵀΣ⁻¹d has log Z = log((2π)^{d/2} |Σ|^{1/2})."""
    true = math.log(2 * math.pi) + 0.5 * math.log(float(torch.linalg.det(gaussian2d.sigma)))
    m = SMC(SMCConfig(min_particles=4000))
    _run(m, gaussian2d, 100)
    assert abs(m.log_z - true) < 0.05


def test_systematic_resampling_keeps_each_count_within_one_of_n_w():
    g = torch.Generator().manual_seed(0)
    log_w = torch.randn(50, generator=g, dtype=torch.float64) * 2
    idx = systematic_resample(log_w, g)
    expected = 50 * torch.softmax(log_w, 0)
    counts = idx.bincount(minlength=50).double()
    assert ((counts - expected).abs() < 1.0 + 1e-9).all()


def test_next_beta_keeps_the_ess_at_the_threshold():
    g = torch.Generator().manual_seed(1)
    delta = 10 * torch.randn(1000, generator=g, dtype=torch.float64)
    b = next_beta(delta, 0.0, 500.0)
    assert 0 < b < 1
    assert abs(ess(-b * delta) - 500.0) < 1.0
    assert next_beta(torch.zeros(10, dtype=torch.float64), 0.3, 5.0) == 1.0


def test_ess_and_rhat_on_independent_and_on_separated_chains():
    rng = np.random.default_rng(0)
    iid = rng.standard_normal((8, 500, 2))
    out = ess_rhat(iid)
    assert 0.8 * 4000 < out["ess_bulk"] < 1.2 * 4000
    assert out["rhat"] < 1.01
    stuck = iid + np.arange(8)[:, None, None]  # every chain in its own place
    assert ess_rhat(stuck)["rhat"] > 1.5
    assert ess_rhat(iid[:, :3]) == {}


def test_dual_averaging_finds_the_step_of_a_known_acceptance_curve():
    """With acceptance exp(−h) the rate 0.574 is reached at h = −log 0.574."""
    da = DualAveraging(torch.tensor(1e-3), 0.574)
    h = torch.tensor(1e-3)
    for _ in range(2000):
        h = da.update(torch.exp(-h))
    assert abs(float(da.final) + math.log(0.574)) < 0.02


def test_chain_snapshots_cost_increases_and_the_last_is_the_whole_sample(gaussian2d):
    m = MALA(MALAConfig(n_chains=10, warmup=20, thin=2))
    x, counter = _run(m, gaussian2d, 70)
    evals = [s.energy_evals + s.grad_evals for s in m.snapshots]
    assert evals == sorted(evals) and len(set(evals)) == len(evals)
    assert [s.phase for s in m.snapshots][:5] == ["train"] * 5  # after 1, 2, 4, 8, 16
    last = m.snapshots[-1]
    assert last.phase == "sample" and torch.equal(last.samples[:70], x)
    c = counter.counts
    assert evals[-1] == c.energy_evals_train + c.grad_evals_train + 2 * 10 * 2 * 7
