"""The chain-count rule: closed forms of :func:`chain_count` and :func:`per_draw_factor`,
every chain method stating its chains, budgets too small for the default chains or
trajectories still delivering, and NUTS's pilot charged to the cell."""

import math

import pytest
from boltzbench.baselines.hmc import HMC, HMCConfig
from boltzbench.baselines.mcmc import PRODUCTION_SHARE, chain_count, per_draw_factor
from boltzbench.baselines.nuts import NUTS, NUTSConfig
from boltzbench.baselines.pt import ParallelTempering, PTConfig

from boltzbench.budget import MARGIN
from boltzbench.counter import Counter
from boltzbench.driver import run_method
from boltzbench.protocols import build_method
from boltzbench.registry import METHODS, TARGETS
from boltzbench.testing import CorrelatedGaussian


def _run(method, target, n, budget=None, seed=0):
    """Fit and draw n as a cell does (boltzbench.driver.run_method): samples and counter."""
    counter = Counter(target, budget=budget, n_samples=n)
    return run_method(method, counter, seed, n).samples, counter


def test_chain_count_is_the_cap_without_a_budget_and_the_closed_form_under_one():
    target = CorrelatedGaussian(dim=2)
    assert chain_count(Counter(target), 200, 500, 1.0) == 200
    for budget, cost, expected in [(1e4, 1.0, 19), (1e5, 1.0, 196), (1e6, 1.0, 200), (1e4, 5, 3)]:
        counter = Counter(target, budget=budget)
        assert chain_count(counter, 200, 500, cost) == expected
        assert expected == max(1, min(200, math.floor((1 - MARGIN) * budget / (500 * cost))))
    assert chain_count(Counter(target, budget=10), 200, 500, 1.0) == 1  # at least one
    assert chain_count(Counter(target, budget=1e4), 200, 500, 1.0, least=40) == 40  # floor
    assert chain_count(Counter(target, budget=1e4), 30, 500, 1.0, least=40) == 30  # cap wins
    with pytest.raises(ValueError, match="min_transitions"):
        chain_count(Counter(target, budget=1e4), 200, 0, 1.0)


def test_per_draw_factor_shrinks_only_when_the_draws_would_take_too_much():
    target = CorrelatedGaussian(dim=2)
    assert per_draw_factor(Counter(target), 2000, 8, 2) == 8  # no budget
    room = PRODUCTION_SHARE * (1 - MARGIN)
    assert per_draw_factor(Counter(target, budget=1e4), 2000, 8, 2) == math.floor(room * 5)
    assert per_draw_factor(Counter(target, budget=31_623), 2000, 8, 2) == 8
    assert per_draw_factor(Counter(target, budget=1e3), 2000, 5, 1) == 1  # never below least


@pytest.mark.parametrize("name", ["ula", "mala", "hmc", "nuts", "pt"])
def test_every_chain_method_states_its_chains_and_the_rule_sets_them(name):
    target = TARGETS.get("gmm4")()
    method, _ = build_method(METHODS.get(name), {"snapshots": False})
    x, counter = _run(method, target, 400, budget=5_000)
    chains = method.diagnostics()["chains"]
    assert x.shape == (400, 2) and counter.used <= 5_000
    assert chains == method.n_chains and 1 <= chains <= method.config.n_chains
    if name in ("ula", "mala"):  # one gradient per chain and transition
        assert chains == math.floor((1 - MARGIN) * 5_000 / 50)
    unbudgeted, _ = build_method(METHODS.get(name), {"snapshots": False, "warmup": 20})
    _run(unbudgeted, target, 400)
    assert unbudgeted.diagnostics()["chains"] == unbudgeted.config.n_chains


def test_hmc_and_pt_deliver_2000_draws_at_1e4_by_shortening_trajectory_and_ladder():
    """200 chains × 5 leapfrog steps, or 8 temperatures, cannot pay for 2000 draws at 1e4
    (the sweep's failed cells before the rule); shortened, both deliver within budget."""
    target = TARGETS.get("gmm4")()
    hmc = HMC(HMCConfig(snapshots=False))
    x, counter = _run(hmc, target, 2000, budget=10_000)
    d = hmc.diagnostics()
    assert x.shape == (2000, 2) and counter.used <= 10_000
    assert d["n_leapfrog"] == 2 and d["chains"] == math.floor(0.98 * 10_000 / (50 * 2))
    pt = ParallelTempering(PTConfig(snapshots=False))
    x, counter = _run(pt, target, 2000, budget=10_000)
    d = pt.diagnostics()
    assert x.shape == (2000, 2) and counter.used <= 10_000
    assert d["n_temps"] == 2 and pt.temps[1] == pytest.approx(30.0 ** (1 / 7))


def test_nuts_prices_a_transition_with_a_charged_pilot():
    target = CorrelatedGaussian(dim=3)
    nuts = NUTS(NUTSConfig(snapshots=False))
    x, counter = _run(nuts, target, 500, budget=40_000)
    d = nuts.diagnostics()
    assert x.shape == (500, 3) and counter.used <= 40_000
    assert d["pilot_evals"] > 0
    # the chains' own leapfrog steps, the step-size searches and the starts leave room
    # for the pilot's evaluations only: everything was charged through the counter
    own = nuts.leapfrog_steps["train"] + nuts.leapfrog_steps["sample"] + nuts.search_steps
    c = counter.counts
    assert c.grad_evals_train + c.grad_evals_sample == own + d["pilot_evals"] + d["chains"]
    assert 10 <= d["chains"] < 200  # at least one chain per 50 draws, under the cap


def test_nuts_chains_are_long_enough_to_adapt_the_metric_on_a_narrow_target():
    """The class of pdb_blr's failure: a posterior much narrower than the broad start needs
    Stan's metric windows. With ``min_transitions`` 300 the rule gave pdb_blr 95–200 chains
    of about 140 warm-up transitions, none of which updated the metric (step 0.002, four
    seeds of five without overlap). On this Gaussian (sd 0.01–0.02 from a start of sd 1)
    300 gives 49 chains and two updates, the default 14 chains and four."""
    target = CorrelatedGaussian(dim=5, eigenvalues=(1e-4, 4e-4), init_std=1.0)
    method = NUTS(NUTSConfig(snapshots=False))
    _, counter = _run(method, target, 300, budget=100_000)
    d = method.diagnostics()
    assert counter.used <= 100_000
    assert d["metric_updates"] >= 3, d
