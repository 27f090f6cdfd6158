"""NUTS: exactness on Gaussians within Monte-Carlo error, counted evaluations equal to the
leapfrog steps taken, the generalized U-turn criterion (with Stan's seam checks), the
tree-depth cap, divergences, the warm-up windows and the budget."""

import math

import pytest
import torch
from boltzbench.baselines.diagnostics import ess_rhat
from boltzbench.baselines.nuts import NUTS, NUTSConfig, adaptation_windows
from boltzbench.baselines.nuts_tree import merge_ok, no_uturn

from boltzbench.counter import BudgetExceeded, Counter, charging
from boltzbench.testing import CorrelatedGaussian


class DiagonalGaussian:
    """N(μ, diag(σ²)) with σ from 0.3 to 3 (condition number 100): NUTS needs the
    diagonal metric to be cheap here."""

    name = "diagonal_gaussian"
    dim = 10
    init_std = 3.0
    mu = torch.linspace(-1.0, 1.0, 10, dtype=torch.float64)
    sd = torch.logspace(math.log10(0.3), math.log10(3.0), 10, dtype=torch.float64)
    cov = torch.diag(sd**2)

    def energy(self, x):
        return (0.5 * (((x.double() - self.mu) / self.sd) ** 2).sum(1)).to(x.dtype)

    def score(self, x):
        return (-(x.double() - self.mu) / self.sd**2).to(x.dtype)

    def energy_and_score(self, x):
        return self.energy(x), self.score(x)


def _run(method, target, n, seed=0, budget=None):
    counter = Counter(target, budget=budget, n_samples=n)
    with charging(counter, "train"):
        method.fit(counter, seed=seed)
    with charging(counter, "sample"):
        x = method.sample(n)
    return x, counter


@pytest.mark.parametrize(
    "target", [CorrelatedGaussian(dim=10), DiagonalGaussian()], ids=["correlated", "diagonal"]
)
def test_gaussian_moments_within_monte_carlo_error(target):
    """Every mean and covariance entry within 4.5 Monte-Carlo standard errors (from the
    bulk ESS of the quantity averaged), as for MALA and HMC in test_mcmc."""
    m = NUTS(NUTSConfig(n_chains=20, warmup=200))
    _run(m, target, 2000)
    draws = m.draws.double()  # [chains, rounds, d]
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
    d = m.diagnostics()
    assert d["rhat"] < 1.05
    assert d["frozen_fraction"] == 0.0
    assert d["divergences_sample"] == 0
    assert 0.7 < d["acceptance_sample"] < 0.97
    # the metric learned the scales: short trees (an identity metric needs 19 steps per
    # transition on the diagonal target, the learned one 6), inverse mass ≈ variances
    assert d["leapfrog_per_transition_sample"] < 10
    if isinstance(target, DiagonalGaussian):
        ratio = m.inv_mass.double() / target.sd**2
        assert ((ratio - 1).abs() < 0.3).all(), ratio


def test_counted_evaluations_are_the_leapfrog_steps_taken():
    target = CorrelatedGaussian(dim=4)
    m = NUTS(NUTSConfig(n_chains=10, warmup=40))
    _, counter = _run(m, target, 50)
    c = counter.counts
    train = 10 + m.search_steps + m.leapfrog_steps["train"]  # start, step-size search, trees
    assert c.energy_evals_train == c.grad_evals_train == train
    assert c.energy_evals_sample == c.grad_evals_sample == m.leapfrog_steps["sample"]
    assert c.cost_train == train and c.cost_sample == m.leapfrog_steps["sample"]
    d = m.diagnostics()
    assert d["leapfrog_per_transition_sample"] * 50 == m.leapfrog_steps["sample"]


def test_tree_depth_cap_gives_exactly_two_to_the_depth_minus_one_steps():
    """A step far too small to turn within 7 steps: every tree stops at max_depth 3."""
    target = CorrelatedGaussian(dim=3)
    m = NUTS(NUTSConfig(n_chains=8, warmup=0, thin=3, step_size=1e-4, max_depth=3))
    _, counter = _run(m, target, 16)  # 2 rounds × 3 transitions
    assert counter.counts.grad_evals_sample == 8 * 2 * 3 * 7
    d = m.diagnostics()
    assert d["tree_depth_sample"] == 3.0 and d["max_depth_fraction_sample"] == 1.0


def test_divergences_are_counted_and_discarded():
    """A step of 30 standard deviations: the first leapfrog step diverges, the subtree is
    discarded and the chain stays put."""
    target = CorrelatedGaussian(dim=3, eigenvalues=(1.0, 1.0))
    x0 = None

    class Watch(NUTS):
        def _initial(self, n):
            nonlocal x0
            x0 = super()._initial(n)
            return x0

    m = Watch(NUTSConfig(n_chains=8, warmup=0, thin=2, step_size=10.0))
    x, counter = _run(m, target, 8)
    d = m.diagnostics()
    assert d["divergences_sample"] == 16 and d["leapfrog_per_transition_sample"] == 1.0
    assert d["frozen_fraction"] == 1.0 and torch.equal(x, x0)


def test_no_uturn_criterion():
    p = torch.tensor([[1.0, 0.0]])
    assert no_uturn(p, p, 2 * p).all()  # straight on
    back = torch.tensor([[-1.0, 0.2]])
    assert not no_uturn(p, back, p + back).any()  # the far end runs back
    # symmetric in its two ends
    a, b, rho = torch.randn(3, 100, 4).unbind(0)
    assert torch.equal(no_uturn(a, b, rho), no_uturn(b, a, rho))


def test_merge_checks_the_seam_between_subtrees():
    """Two 2-leaf subtrees whose merged span passes the plain criterion, while the old
    subtree extended by the new one's first leaf turns back (Stan's extra check)."""
    one = torch.ones(2)
    a1 = a2 = torch.tensor([[1.0, 0.0]])
    b1, b2 = torch.tensor([[-3.0, 1.0]]), torch.tensor([[3.0, 0.0]])
    old, new = (a1 + a2, a1, a2), (b1 + b2, b1, b2)
    assert no_uturn(a1, b2, a1 + a2 + b1 + b2).all()
    assert not merge_ok(old, new, one).any()
    b1 = torch.tensor([[1.0, 0.0]])
    assert merge_ok(old, (b1 + b2, b1, b2), one).all()


@pytest.mark.parametrize("eps", [0.1, 0.05])
def test_trajectories_stop_at_half_a_period(eps):
    """On N(0, I) with the identity metric the flow has period 2π: the generalized
    criterion ends trajectories after about half of it, π / ε steps, whatever ε."""
    target = CorrelatedGaussian(dim=5, eigenvalues=(1.0, 1.0), centred=True, init_std=1.0)
    m = NUTS(NUTSConfig(n_chains=20, warmup=0, step_size=eps))
    _run(m, target, 200)
    d = m.diagnostics()
    length = d["leapfrog_per_transition_sample"] * eps
    assert abs(length - math.pi) < 0.25 * math.pi, length
    assert d["max_depth_fraction_sample"] == 0.0


def test_adaptation_windows_follow_stan():
    assert adaptation_windows(1000) == [(75, 100), (100, 150), (150, 250), (250, 450), (450, 950)]
    assert adaptation_windows(200) == [(75, 100), (100, 150)]
    assert adaptation_windows(100) == [(15, 90)]  # 15 % / 75 % / 10 %
    assert adaptation_windows(19) == []


def test_budget_is_respected_and_spent():
    target = CorrelatedGaussian(dim=5)
    budget = 30_000
    m = NUTS(NUTSConfig(n_chains=16, warmup=1000))
    x, counter = _run(m, target, 400, budget=budget)
    assert x.shape == (400, 5) and torch.isfinite(x).all()
    assert 0.9 * budget <= counter.used <= budget
    d = m.diagnostics()
    assert d["budget_capped"] == 0 and d["rhat"] < 1.05
    assert m.thin_used > 1  # what warm-up left went to thinning


def test_tight_budget_caps_trees_but_never_overruns():
    """Production at ~2 steps per transition does not fit: trees are cut, the counter is
    not crossed."""
    target = CorrelatedGaussian(dim=5)
    budget = 1400
    m = NUTS(NUTSConfig(n_chains=10, warmup=100))
    x, counter = _run(m, target, 1000, budget=budget)
    assert x.shape == (1000, 5) and counter.used <= budget


def test_budget_too_small_for_the_samples_fails_before_any_evaluation():
    target = CorrelatedGaussian(dim=5)
    counter = Counter(target, budget=1000, n_samples=2000)
    with pytest.raises(BudgetExceeded, match="nuts"):
        NUTS(NUTSConfig(n_chains=20)).fit(counter, seed=0)
    assert counter.used == 0


def test_fixed_seed_gives_identical_draws_and_counts():
    """(The conformance kit in tests/test_conformance.py runs ``nuts`` as a cell would.)"""
    target = CorrelatedGaussian(dim=3)
    runs = [_run(NUTS(NUTSConfig(n_chains=8, warmup=30)), target, 40, seed=s) for s in (5, 5, 6)]
    (a, ca), (b, cb), (c, _) = runs
    assert torch.equal(a, b) and not torch.equal(a, c)
    assert ca.used == cb.used and ca.counts.grad_evals_sample == cb.counts.grad_evals_sample
