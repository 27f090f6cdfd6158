import torch
from boltzbench.baselines.mala import MALA, MALAConfig

from boltzbench.counter import Counter, charging


def test_mala_recovers_gaussian_moments(gaussian2d):
    counter = Counter(gaussian2d)
    method = MALA(MALAConfig(n_chains=400, warmup=400, thin=5, step_size=0.2))
    method.fit(counter, seed=0)
    with charging(counter, "sample"):
        x = method.sample(4000).to(torch.float64)
    assert torch.allclose(x.mean(0), gaussian2d.mu, atol=0.1)
    assert torch.allclose(torch.cov(x.T), gaussian2d.sigma, atol=0.15)
    diag = method.diagnostics()
    assert 0.3 < diag["acceptance_sample"] < 1.0


def test_mala_counts_one_value_and_one_gradient_per_chain_step(gaussian2d):
    counter = Counter(gaussian2d)
    method = MALA(MALAConfig(n_chains=10, warmup=7, thin=3))
    method.fit(counter, seed=0)
    with charging(counter, "sample"):
        method.sample(25)  # 3 rounds of 10 chains × 3 steps
    c = counter.counts
    assert (c.energy_evals_train, c.grad_evals_train) == (10 * 8, 10 * 8)  # start + 7 steps
    assert (c.energy_evals_sample, c.grad_evals_sample) == (90, 90)


def test_mala_is_deterministic_given_seed(gaussian2d):
    def run(seed):
        m = MALA(MALAConfig(n_chains=20, warmup=20))
        m.fit(Counter(gaussian2d), seed=seed)
        return m.sample(40)

    assert torch.equal(run(3), run(3))
    assert not torch.equal(run(3), run(4))
