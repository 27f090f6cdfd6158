"""Chains that move and budgets that are spent: per-chain step sizes bring chains in from
the tails, the frozen-chain diagnostic, parallel tempering's chains chosen from the
budget, the budget use of the chain methods and SMC, and budgets too small failing up
front."""

import math

import pytest
import torch
from boltzbench.baselines.hmc import HMC, HMCConfig
from boltzbench.baselines.mala import MALA, MALAConfig
from boltzbench.baselines.pt import ParallelTempering, PTConfig
from boltzbench.baselines.smc import SMC
from boltzbench.baselines.ula import ULA, ULAConfig

from boltzbench.budget import MARGIN
from boltzbench.counter import BudgetExceeded, Counter, charging
from boltzbench.protocols import build_method
from boltzbench.registry import METHODS, TARGETS
from boltzbench.testing import CorrelatedGaussian


def _run(method, target, n, budget=None, seed=0):
    counter = Counter(target, budget=budget, n_samples=n)
    with charging(counter, "train"):
        method.fit(counter, seed=seed)
    after_warmup = method._position().clone() if hasattr(method, "_position") else None
    with charging(counter, "sample"):
        x = method.sample(n)
    return x, counter, after_warmup


def _starting_chain_0_at(cls, point: torch.Tensor):
    """``cls`` with chain 0 started at ``point`` and the others at the broad start."""

    def _initial(self, n):
        x = cls._initial(self, n)
        x[0] = point
        return x

    return type(f"{cls.__name__}FromTail", (cls,), {"_initial": _initial})


CHAINS = {
    "mala": (MALA, MALAConfig(n_chains=50, warmup=300, thin=2)),
    "hmc": (HMC, HMCConfig(n_chains=50, warmup=100)),
}


@pytest.mark.parametrize("name", CHAINS)
def test_a_chain_started_20_sd_out_in_a_gaussian_is_not_frozen_after_warmup(name):
    """(On a Gaussian a MALA proposal toward the mode is accepted for any step below
    2σ², so even one shared step brought such a chain in; the quartic tail below is the
    case that froze chains.)"""
    target = CorrelatedGaussian(dim=10, centred=True)
    chol = torch.linalg.cholesky(target.cov).float()
    tail = 20.0 * chol @ (torch.ones(10) / math.sqrt(10))  # Mahalanobis distance 20
    cls, config = CHAINS[name]
    method = _starting_chain_0_at(cls, tail)(config)
    _, _, after_warmup = _run(method, target, 50 * 100)
    x0 = after_warmup[0].double()
    assert float(x0 @ target.prec @ x0) ** 0.5 < 6.0  # in the bulk (E < 18 kT, was 200)
    assert method._moves[0] > 0.2 * method.production_transitions  # it moves
    assert method.diagnostics()["frozen_fraction"] == 0.0


@pytest.mark.parametrize("name", CHAINS)
def test_a_chain_far_out_on_a_quartic_tail_comes_in(name):
    """On double_well's x₁⁴ tail a chain at x₁ = 9 (E ≈ 6000 kT, gradient ≈ 3000) needs a
    step ~10⁴ times smaller than the bulk's: one step tuned to the batch's mean acceptance
    left it with no accepted move at all; its own step brings it in."""
    target = TARGETS.get("double_well")()
    cls, config = CHAINS[name]
    method = _starting_chain_0_at(cls, torch.tensor([9.0, 0.0]))(config)
    _, _, after_warmup = _run(method, target, 50 * 40)
    assert abs(float(after_warmup[0, 0])) < 3.0
    assert method.diagnostics()["frozen_fraction"] == 0.0


@pytest.mark.parametrize(
    "method",
    [
        ULA(ULAConfig(n_chains=20, warmup=20)),
        MALA(MALAConfig(n_chains=20, warmup=20)),
        HMC(HMCConfig(n_chains=20, warmup=20)),
        ParallelTempering(PTConfig(n_chains=20, warmup=20, n_temps=3)),
    ],
    ids=["ula", "mala", "hmc", "pt"],
)
def test_every_chain_method_reports_its_frozen_fraction(method, gaussian2d):
    _run(method, gaussian2d, 100)
    diag = method.diagnostics()
    assert diag["frozen_fraction"] == 0.0
    assert 0.0 < diag["acceptance_chain_min"] <= 1.0


def test_the_frozen_fraction_counts_chains_that_never_moved(gaussian2d):
    stuck = MALA(MALAConfig(n_chains=20, warmup=5, adapt=False, step_size=1e4))
    _run(stuck, gaussian2d, 100)
    assert stuck.diagnostics()["frozen_fraction"] == 1.0
    assert stuck.diagnostics()["acceptance_chain_min"] == 0.0


@pytest.mark.parametrize("budget, n", [(200_000, 2000), (300_000, 2000), (500_000, 10_000)])
def test_pt_chooses_its_chains_so_every_replica_makes_500_transitions(budget, n):
    target = TARGETS.get("gmm4")()
    pt = ParallelTempering(PTConfig(snapshots=False))
    x, counter, _ = _run(pt, target, n, budget)
    diag = pt.diagnostics()
    assert x.shape == (n, 2) and counter.used <= budget
    assert diag["transitions_per_replica"] >= 500
    assert diag["n_chains"] == math.floor((1 - MARGIN) * budget / (8 * 500))


@pytest.mark.parametrize("target_name", ["gmm4", "funnel"])
@pytest.mark.parametrize("name", ["ula", "mala", "hmc", "pt", "smc"])
def test_chain_methods_and_smc_spend_90_percent_of_the_budget(name, target_name):
    target = TARGETS.get(target_name)()
    budget = 100_000
    method, _ = build_method(METHODS.get(name), {})
    x, counter, _ = _run(method, target, 1000, budget)
    assert x.shape == (1000, target.dim)
    assert 0.9 * budget <= counter.used <= budget, counter.used


@pytest.mark.parametrize("name", ["ula", "mala", "hmc", "pt", "smc"])
def test_a_budget_too_small_for_the_samples_fails_before_any_evaluation(name):
    target = TARGETS.get("gmm4")()
    method, _ = build_method(METHODS.get(name), {})
    counter = Counter(target, budget=1000, n_samples=2000)
    with pytest.raises(BudgetExceeded, match="cannot pay"):
        with charging(counter, "train"):
            method.fit(counter, seed=0)
        with charging(counter, "sample"):
            method.sample(2000)
    assert counter.used == 0


def test_smc_spreads_its_moves_over_the_temperatures():
    """Under a budget every temperature gets at least ``n_moves`` moves and the budget
    buys more moves than the unbudgeted default."""
    target = TARGETS.get("double_well")()
    free, budgeted = SMC(), SMC()
    _run(free, target, 1000)
    _, counter, _ = _run(budgeted, target, 1000, 100_000)
    assert budgeted.n_temps >= 2
    assert budgeted.n_moves_done >= 5 * budgeted.n_temps
    assert budgeted.n_moves_done > 2 * free.n_moves_done
    assert counter.used >= 0.9 * 100_000
