"""Costs in two currencies, decomposed: the chain ESS they divide by (against AR(1) chains
of known ESS and chains stuck in their modes), the decomposition's fields on records with
known numbers, and a cell that records them (warm-up and per-draw costs separate)."""

import math

import numpy as np
import pytest
import torch

from boltzbench.costs import decompose, predicted_cost
from boltzbench.registry import TARGETS
from boltzbench.run.cells import Cell, execute_cell, resolve
from boltzbench.score.ess import bulk_ess, chain_ess, chain_means_ess


def _ar1(chains: int, rounds: int, rho: float, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    x = np.zeros((chains, rounds))
    x[:, 0] = rng.normal(size=chains) / math.sqrt(1 - rho**2)  # stationary start
    for t in range(1, rounds):
        x[:, t] = rho * x[:, t - 1] + rng.normal(size=chains)
    return x[..., None]


@pytest.mark.parametrize("rho", [0.0, 0.5, 0.9])
def test_bulk_ess_of_ar1_chains_matches_the_closed_form(rho):
    """ESS of an AR(1) chain of n draws is n (1 − ρ)/(1 + ρ)."""
    x = _ar1(8, 4000, rho)
    exact = x.size * (1 - rho) / (1 + rho)
    assert bulk_ess(x)[0] == pytest.approx(exact, rel=0.15)
    assert chain_means_ess(x)[0] == pytest.approx(exact, rel=0.6)  # 8 chains: a rough one


def test_chains_stuck_in_their_modes_have_one_draw_each():
    """A mode indicator that never changes within a chain: the chains' allocation is all
    that is known, so the ESS is the number of chains, not the number of draws."""
    rng = np.random.default_rng(1)
    stuck = np.repeat((rng.random(100) < 0.3).astype(float)[:, None], 50, axis=1)[..., None]
    assert chain_means_ess(stuck)[0] == pytest.approx(100, rel=0.02)
    mixing = (rng.random((100, 50, 1)) < 0.3).astype(float)
    assert chain_means_ess(mixing)[0] == 5000  # independent draws: capped at n


def test_chain_ess_on_gmm4_takes_the_worst_statistic():
    """Chains that never leave their mode on gmm4: coordinates and energy mix within the
    mode, the mode indicators do not, and the minimum is the number of chains."""
    target = TARGETS.get("gmm4")()
    gen = torch.Generator().manual_seed(0)
    starts = target.sample(40, gen)[:, None, :]  # 40 chains, each near one exact draw
    draws = starts + 0.05 * torch.randn(40, 30, 2, generator=gen)  # jitter within a mode
    ess = chain_ess(target, draws.double())
    assert set(ess) == {"coordinates", "energy", "modes", "min"}
    assert ess["modes"] == pytest.approx(40, rel=0.05)
    assert ess["min"] == ess["modes"] < ess["energy"]


def _record(**over):
    record = {
        "status": "ok",
        "registry_name": "mala",
        "n_samples": 1000,
        "train_seconds": 3.0,
        "sample_seconds": 5.0,
        "counts": {
            "cost_train": 4000.0,
            "cost_sample": 6000.0,
            "grad_evals_train": 4000,
            "grad_evals_sample": 6000,
            "target_seconds": 4.0,
            "target_seconds_train": 1.0,
            "target_seconds_sample": 3.0,
        },
        "ess": {"coordinates": 400.0, "energy": 300.0, "min": 300.0},
        "chain_shape": [10, 100],
    }
    return record | over


def test_a_chain_costs_its_warmup_once_and_its_production_per_effective_draw():
    costs = decompose(_record())
    assert costs["kind"] == "chain" and costs["n_effective"] == 300
    assert costs["fixed_evals"] == 4000 and costs["per_draw_evals"] == pytest.approx(20)
    assert costs["fixed_target_seconds"] == 1.0 and costs["fixed_method_seconds"] == 2.0
    assert costs["per_draw_target_seconds"] == pytest.approx(3.0 / 300)
    assert costs["per_draw_method_seconds"] == pytest.approx(2.0 / 300)
    assert costs["target_seconds_per_eval"] == pytest.approx(4.0 / 10_000)  # per budget unit
    evals, seconds = predicted_cost(costs, 300)
    assert evals == pytest.approx(10_000) and seconds == pytest.approx(8.0)
    # at a price of 1 s an evaluation: evaluations times the price plus the method's own
    evals, seconds = predicted_cost(costs, 300, seconds_per_eval=1.0)
    assert seconds == pytest.approx(10_000 + 2.0 + 2.0)


def test_a_learned_sampler_pays_training_once():
    record = _record(registry_name="drifting", ess=None, chain_shape=None)
    record["counts"] |= {"cost_sample": 0.0, "grad_evals_sample": 0, "target_seconds_sample": 0}
    record["draw_probe"] = {"sizes": [1000, 10_000], "seconds": [0.01, 0.05], "evals": [0, 0]}
    costs = decompose(record)
    assert costs["kind"] == "learned" and costs["n_effective"] == 1000
    assert costs["fixed_evals"] == 4000 and costs["per_draw_evals"] == 0
    assert costs["per_draw_seconds"] == pytest.approx(0.05 / 10_000)  # the largest probe
    assert costs["per_draw_seconds_at"] == 10_000


def test_records_before_the_phase_split_share_seconds_by_cost():
    record = _record()
    for key in ("target_seconds_train", "target_seconds_sample"):
        record["counts"].pop(key)
    costs = decompose(record)
    assert costs["seconds_split"] == "by cost share"
    assert costs["fixed_target_seconds"] == pytest.approx(4.0 * 0.4)


def test_a_cell_records_its_decomposed_cost_and_a_learned_sampler_its_bias():
    """A chain cell: warm-up and production cost as separate fields, ESS from its chains.
    A learned cell with a draw probe: timed batches and a bias measured on them."""
    params = (("n_chains", 40), ("warmup", 100))
    chain = resolve(Cell("t", "banana", "mala", 0, params=params, budget=30_000, n_samples=400))
    record, _ = execute_cell(chain, {})
    costs = record["costs"]
    assert record["status"] == "ok" and costs["kind"] == "chain"
    assert costs["fixed_evals"] == record["counts"]["cost_train"] > 0
    assert costs["per_draw_evals"] * costs["n_effective"] == pytest.approx(
        record["counts"]["cost_sample"]
    )
    assert set(record["ess"]) == {"coordinates", "energy", "min"}  # banana has no modes
    assert record["chain_shape"] == [40, 10]
    params = (("batch_size", 32), ("steps", 100))  # under 100 steps: tiered untrained, no probe
    learned = resolve(
        Cell("t", "gmm4", "drifting", 0, params=params, n_samples=400, draw_probe=2000)
    )
    record, _ = execute_cell(learned, {})
    assert record["draw_probe"]["sizes"] == [1000] and record["draw_probe"]["evals"] == [0]
    bias = record["bias"]
    assert bias["blocks"] == 2 and bias["block"] == 400 and bias["metric"] == "mmd_multi"
    assert bias["value"] == pytest.approx(bias["mean"] - bias["floor"])
    assert record["counts"]["cost_sample"] == 0  # the probe is not the cell's cost


def test_bias_of_exact_draws_is_zero_and_of_shifted_draws_is_not():
    """block_bias removes the finite-n floor: exact draws score 0 within their standard
    error; draws shifted by 0.3 (a third of the modes' spacing) do not."""
    from boltzbench.score.bias import block_bias

    target = TARGETS.get("gmm4")()
    exact = target.sample(16_000, torch.Generator().manual_seed(5))
    bias = block_bias(target, exact, 2000)
    assert bias["blocks"] == 8 and abs(bias["value"]) < 4 * bias["se"]
    shifted = block_bias(target, exact + 0.3, 2000)
    assert shifted["value"] > 20 * shifted["se"] > 0


def test_chains_that_never_change_mode_are_charged_as_new_chains():
    """Mode indicators at one draw per chain: running longer adds nothing, so a chain's
    whole cost (warm-up included) buys one effective draw and nothing is fixed."""
    record = _record(ess={"coordinates": 400.0, "modes": 11.0, "min": 11.0})
    costs = decompose(record)  # 10 chains
    assert costs["effective_from"].startswith("new chains")
    assert costs["fixed_evals"] == 0 and costs["per_draw_evals"] == pytest.approx(10_000 / 11)
    assert costs["per_draw_seconds"] == pytest.approx(8.0 / 11)
    mixing = decompose(_record(ess={"coordinates": 400.0, "modes": 300.0, "min": 300.0}))
    assert mixing["fixed_evals"] == 4000 and mixing["effective_from"] == "declared statistics"


def test_one_chain_has_no_chain_means_ess_and_a_constant_indicator_one_per_chain():
    rng = np.random.default_rng(2)
    assert np.isnan(chain_means_ess(rng.random((1, 50, 1)))).all()
    assert chain_means_ess(np.ones((30, 20, 1)))[0] == 30
