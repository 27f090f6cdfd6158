"""Equal budgets: every built-in method stays within a cell's budget, and the ones that
size their work to it (chains, drifting, OSDS) spend most of it."""

import pytest

from boltzbench.counter import BudgetExceeded, Counter, charging
from boltzbench.protocols import build_method
from boltzbench.registry import METHODS, TARGETS

ADAPTIVE = ["ula", "mala", "hmc", "pt", "drifting", "drifting_force", "osds"]
SMALL = {
    "osds": {"batch_size": 16, "n_steps": 4},
    "drifting": {"batch_size": 64},
    "drifting_force": {"batch_size": 64},
    "pt": {"n_chains": 20},
    "hmc": {"n_chains": 50},
}


def _run(name, budget, n=200):
    target = TARGETS.get("gmm4")()
    counter = Counter(target, budget=budget, n_samples=n)
    method, _ = build_method(METHODS.get(name), SMALL.get(name, {}))
    with charging(counter, "train"):
        method.fit(counter, seed=0)
    with charging(counter, "sample"):
        x = method.sample(n)
    return counter, x


@pytest.mark.parametrize("name", ADAPTIVE)
def test_adaptive_methods_spend_most_of_the_budget_and_never_more(name):
    used = []
    for budget in (20_000, 60_000):
        counter, x = _run(name, budget)
        assert x.shape == (200, 2)
        assert counter.used <= budget
        assert counter.used >= 0.75 * budget, (name, budget, counter.used)
        used.append(counter.used)
    assert used[1] > 2 * used[0]  # a larger budget buys more work


@pytest.mark.parametrize("name", ["smc"])
def test_smc_stops_tempering_when_the_budget_runs_out(name):
    counter, x = _run(name, 12_000)
    assert counter.used <= 12_000 and x.shape == (200, 2)


def test_a_budget_too_small_for_the_samples_fails_cleanly():
    """500 pays for 200 draws from one chain (the chain-count rule); 150 cannot pay for
    one transition per draw."""
    counter, x = _run("mala", 500)
    assert x.shape == (200, 2) and counter.used <= 500
    with pytest.raises(BudgetExceeded):
        _run("mala", 150)


@pytest.mark.parametrize("target_name", ["funnel", "dw4"])
def test_hmc_random_trajectory_costs_stay_within_the_budget(target_name):
    """HMC's cost per transition is random (trajectory length 1 … 2L − 1); its plan keeps
    a 3-sd reserve. These budgets exceeded the plain-mean plan before."""
    target = TARGETS.get(target_name)()
    counter = Counter(target, budget=300_000, n_samples=2000)
    method, _ = build_method(METHODS.get("hmc"), {})
    with charging(counter, "train"):
        method.fit(counter, seed=1)
    with charging(counter, "sample"):
        x = method.sample(2000)
    assert x.shape == (2000, target.dim) and 0.75 * 300_000 <= counter.used <= 300_000
