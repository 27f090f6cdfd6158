import pytest
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


class _Stretched:
    """N(μ, Σ) in 5-D with standard deviations 100, 10, 3, 1, 1 along the axes of a fixed
    random rotation (``rotated``) or along the coordinate axes: condition number 10⁴."""

    name = "stretched5d"
    dim = 5
    init_std = 1.0

    def __init__(self, rotated: bool = True) -> None:
        sd = torch.tensor([100.0, 10.0, 3.0, 1.0, 1.0], dtype=torch.float64)
        q = torch.eye(5, dtype=torch.float64)
        if rotated:
            g = torch.Generator().manual_seed(0)
            q, _ = torch.linalg.qr(torch.randn(5, 5, generator=g, dtype=torch.float64))
        self.sigma = q @ torch.diag(sd**2) @ q.T
        self.precision = torch.linalg.inv(self.sigma)
        self.mu = torch.tensor([5.0, -3.0, 1.0, 0.0, 2.0], dtype=torch.float64)

    def energy(self, x):
        d = x.to(torch.float64) - self.mu
        return (0.5 * (d @ self.precision * d).sum(1)).to(x.dtype)

    def score(self, x):
        return (-(x.to(torch.float64) - self.mu) @ self.precision).to(x.dtype)

    def energy_and_score(self, x):
        return self.energy(x), self.score(x)


def _errors(target, mass_matrix, seed=0):
    """Worst standardised mean error and relative variance error of 2000 draws (20 chains,
    2000 warm-up steps, thin 10), and the method."""
    counter = Counter(target)
    m = MALA(MALAConfig(n_chains=20, warmup=2000, thin=10, mass_matrix=mass_matrix))
    m.fit(counter, seed=seed)
    with charging(counter, "sample"):
        x = m.sample(2000).to(torch.float64)
    sd = target.sigma.diagonal().sqrt()
    mean_err = float(((x.mean(0) - target.mu) / sd).abs().max())
    var_err = float((x.var(0) / sd**2 - 1).abs().max())
    return mean_err, var_err, m


def test_dense_mass_matrix_recovers_a_stretched_gaussian_where_identity_does_not():
    target = _Stretched(rotated=True)
    mean_err, var_err, m = _errors(target, "dense")
    # ESS ≈ 2000: the standardised mean errs by ≈ 0.02, the variance ratio by ≈ 0.03
    assert mean_err < 0.1 and var_err < 0.15
    diag = m.diagnostics()
    assert diag["rhat"] < 1.01 and diag["ess_bulk"] > 1000
    assert 3e3 < diag["mass_matrix_condition"] < 3e4  # Σ's is 10⁴
    # the same steps with the identity: the sd-100 direction has not mixed
    id_mean, id_var, identity = _errors(target, "identity")
    assert id_var > 0.3 and id_var > 5 * var_err
    assert identity.diagnostics()["ess_bulk"] < 0.1 * diag["ess_bulk"]


def test_diagonal_mass_matrix_recovers_an_axis_aligned_stretched_gaussian():
    mean_err, var_err, m = _errors(_Stretched(rotated=False), "diagonal")
    assert mean_err < 0.1 and var_err < 0.15
    assert m.chol.shape == (5,)


@pytest.mark.parametrize("mass_matrix", ["diagonal", "dense"])
def test_mass_matrix_keeps_counts_exact_and_draws_seeded(mass_matrix):
    target = _Stretched()

    def run(seed):
        counter = Counter(target)
        m = MALA(MALAConfig(n_chains=10, warmup=40, thin=3, mass_matrix=mass_matrix))
        m.fit(counter, seed=seed)
        with charging(counter, "sample"):
            x = m.sample(25)  # 3 rounds of 10 chains × 3 steps
        assert m.chol is not None  # adapted after windows 1 and 2
        return x, counter.counts

    x, c = run(3)
    assert (c.energy_evals_train, c.grad_evals_train) == (10 * 41, 10 * 41)  # start + 40
    assert (c.energy_evals_sample, c.grad_evals_sample) == (90, 90)
    assert torch.equal(x, run(3)[0])
    assert not torch.equal(x, run(4)[0])


def test_unknown_mass_matrix_is_refused(gaussian2d):
    with pytest.raises(ValueError, match="unknown mass_matrix 'full'"):
        MALA(MALAConfig(n_chains=4, warmup=2, mass_matrix="full")).fit(Counter(gaussian2d), seed=0)


def test_reference_generator_picks_dense_up_to_50_dimensions():
    from boltzbench.targets.generated import reference_mass_matrix

    assert reference_mass_matrix(31) == "dense" and reference_mass_matrix(51) == "diagonal"


def test_mass_matrix_estimate_leaves_out_chains_far_out_in_the_tails():
    from boltzbench.baselines.mcmc import MassMatrixEstimator

    g = torch.Generator().manual_seed(0)
    est = MassMatrixEstimator(n_chains=4, dim=2, dense=True)
    for _ in range(500):
        x = torch.randn(4, 2, generator=g, dtype=torch.float64) * torch.tensor([1.0, 0.1])
        energy = 0.5 * (x**2 / torch.tensor([1.0, 0.01])).sum(1)
        x[3] += 1e4  # a chain stuck far out, at a huge energy
        energy[3] = 1e11
        est.add(x, energy)
    assert est.bulk().tolist() == [True, True, True, False]
    cov = est.factor() @ est.factor().T
    assert torch.allclose(cov.diagonal(), torch.tensor([1.0, 0.01], dtype=torch.float64), rtol=0.15)
