"""PITA's pieces: Feynman–Kac annealing with an exact model, the divergence estimator,
resampling, and the method on gmm4 / double_well against MALA started at T = 1."""

import math

import pytest
import torch
from boltzbench.baselines.mala import MALA, MALAConfig
from boltzbench.baselines.pita import PITA, PITAConfig, divergence, fk_anneal
from boltzbench.baselines.weights import systematic_resample

from boltzbench.counter import Counter, charging
from boltzbench.registry import TARGETS


@pytest.mark.parametrize("resample", ["always", "ess"])
def test_fk_annealing_of_an_exact_gaussian_model_reaches_the_colder_gaussian(resample):
    """An exact model of N(0, T0 I) under a VE process (p_σ = N(0, (T0 + σ²) I)) annealed
    with γ = T0/T1 gives weighted particles of N(0, T1 I): the weighted mean and second
    moment agree within Monte-Carlo error (computed from the weights' ESS)."""
    t0, t1, d, n = 4.0, 1.0, 2, 4000

    def score(y, sigma):
        return -y / (t0 + sigma**2)

    def energy(y, sigma):
        return (y * y).sum(1) / (2 * (t0 + sigma.squeeze(1) ** 2))

    gen = torch.Generator().manual_seed(0)
    y, log_a = fk_anneal(score, energy, n, d, t0 / t1, 0.01, 5.0, 200, gen, resample=resample)
    w = torch.softmax(log_a.double(), 0)
    n_eff = 1.0 / float((w**2).sum())
    mean = (w[:, None] * y.double()).sum(0)
    second = (w[:, None] * y.double() ** 2).sum(0)
    assert (mean.abs() < 4.5 * math.sqrt(t1 / n_eff)).all(), mean
    # var of y² under N(0, t1) is 2 t1²
    assert ((second - t1).abs() < 4.5 * math.sqrt(2 * t1**2 / n_eff)).all(), second
    assert n_eff > 0.2 * n


def test_the_weights_carry_the_correction():
    """With a wrong score (that of N(0, 1) instead of N(0, 4); the drift is then wrong,
    the energy right) and no resampling, the unweighted particles miss N(0, 1)
    while the weighted ones hit it: the Feynman–Kac weights correct any drift."""
    t0 = 4.0

    def wrong_score(y, sigma):
        return -y / (1.0 + sigma**2)

    def energy(y, sigma):
        return (y * y).sum(1) / (2 * (t0 + sigma.squeeze(1) ** 2))

    gen = torch.Generator().manual_seed(0)
    y, log_a = fk_anneal(wrong_score, energy, 4000, 2, 4.0, 0.01, 5.0, 200, gen, "never")
    unweighted = float(y.double().pow(2).mean())
    w = torch.softmax(log_a.double(), 0)
    weighted = float((w[:, None] * y.double() ** 2).sum(0).mean())
    assert abs(unweighted - 1.0) > 0.25  # 0.69
    assert abs(weighted - 1.0) < 0.05  # 0.99


def test_divergence_exact_and_hutchinson_match_the_trace():
    a = torch.tensor([[1.0, 2.0, 0.0], [0.5, -1.0, 3.0], [0.0, 1.0, 2.5]])

    def field(y):
        return torch.tanh(y) @ a.T + y**2

    y = torch.randn(64, 3, generator=torch.Generator().manual_seed(0))
    jac = torch.func.vmap(torch.func.jacrev(lambda v: field(v[None])[0]))(y)
    exact = jac.diagonal(dim1=1, dim2=2).sum(1)
    _, div = divergence(field, y, exact_max_dim=10)
    assert torch.allclose(div, exact, atol=1e-5)
    gen = torch.Generator().manual_seed(1)
    estimates = torch.stack([divergence(field, y, gen, exact_max_dim=0)[1] for _ in range(4000)])
    se = estimates.std(0) / math.sqrt(4000)
    assert ((estimates.mean(0) - exact).abs() < 5 * se + 1e-6).all()


def test_systematic_resampling_is_unbiased():
    gen = torch.Generator().manual_seed(3)
    log_w = torch.randn(20, generator=gen, dtype=torch.float64)
    reps = 4000
    counts = torch.zeros(20, dtype=torch.float64)
    for _ in range(reps):
        counts += systematic_resample(log_w, gen).bincount(minlength=20).double()
    expected = 20 * torch.softmax(log_w, 0)
    # each count is within floor/ceil of its expectation, so its s.d. is at most 1/2
    assert ((counts / reps - expected).abs() < 5 * 0.5 / math.sqrt(reps)).all()


SMALL = dict(
    n_temps=4,
    data_chains=200,
    data_warmup=300,
    data_size=2000,
    buffer_size=2000,
    train_steps=400,
    anneal_steps=100,
)


class _MALAFromOneMode(MALA):
    def _initial(self, n):
        return torch.tensor([1.0, 1.0]) + 0.1 * torch.randn(n, 2, generator=self.gen)


def test_pita_recovers_gmm4_mode_masses_and_charges_every_stage():
    target = TARGETS.get("gmm4")()
    counter = Counter(target)
    m = PITA(PITAConfig(**SMALL))
    with charging(counter, "train"):
        m.fit(counter, seed=0)
    with charging(counter, "sample"):
        x = m.sample(2000)
    masses = target.mode_of(x.double()).bincount(minlength=4).double() / len(x)
    assert (masses - 0.25).abs().max() < 0.05, masses
    c = counter.counts
    d = m.diagnostics()
    assert d["evals_training"] == 0
    assert d["evals_data"] + d["evals_annealing"] == c.energy_evals_train + c.grad_evals_train
    assert d["evals_sampling"] == c.energy_evals_sample + c.grad_evals_sample > 0
    # MALA started in one mode at T = 1 stays there
    stuck = _MALAFromOneMode(MALAConfig(n_chains=100, warmup=300))
    stuck.fit(Counter(target), seed=0)
    xs = stuck.sample(2000)
    stuck_masses = target.mode_of(xs.double()).bincount(minlength=4).double() / len(xs)
    assert (stuck_masses - 0.25).abs().max() > 0.5


def test_pita_recovers_the_double_well_masses():
    target = TARGETS.get("double_well")()
    counter = Counter(target)
    m = PITA(PITAConfig(**SMALL))
    m.fit(counter, seed=0)
    x = m.sample(2000)
    assert abs(float((x[:, 0] > 0).double().mean()) - target.mode_masses[1]) < 0.05
