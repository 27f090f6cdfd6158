"""The winner map: which option qualifies at N, which is cheapest at a price, what the
answer says, and the command that writes them. Options are built by hand, so that every
cost and excess is known."""

import math

import pandas as pd
import pytest

from boltzbench.report.winnermap import answer_lines, plot_winner_map
from boltzbench.score.winner import N_GRID, options, winners

FIT = {"metric": "mmd_multi", "a": 1.0, "b": 1e-4}  # level(n) = 1/n + 1e-4
#: with the fitted spread 0.8/n and mean 0.5/n of the metric over exact sets
FULL_FIT = FIT | {"sd_a": 0.8, "sd_b": 0.0, "mean_a": 0.5, "mean_b": 0.0}


def _option(method, kind, excess, fixed, per_draw, own_fixed=0.0, own_per=0.0, budget=1e5):
    return {
        "method": method,
        "budget": budget,
        "kind": kind,
        "excess": excess,
        "bias_se": 0.0,
        "seeds": 5,
        "fixed_evals": fixed,
        "per_draw_evals": per_draw,
        "fixed_method_seconds": own_fixed,
        "per_draw_method_seconds": own_per,
        "target_seconds_per_eval": 1e-6,
        "free_draws": kind == "learned" and per_draw == 0,
    }


def _row(table, n, price, requirement="floor"):
    sel = table[
        (table["n_samples"] == n)
        & (table["seconds_per_eval"] == price)
        & (table["price"] != "measured")
        & (table["requirement"] == requirement)
    ]
    assert len(sel) == 1
    return sel.iloc[0]


def test_the_cheapest_qualifying_option_wins_and_the_price_decides():
    """A chain costs 100 evaluations per draw and no training; a one-step sampler 1e6
    evaluations of training, 10 s of its own and nothing per draw, with an excess of 1e-3.
    It cannot deliver N draws at the floor once level(N) < 1e-3 (N > ~1111), and where it
    can, it wins only when training is cheaper than the chain's draws at that price."""
    opts = pd.DataFrame(
        [
            _option("mala", "chain", 0.0, 0.0, 100.0),
            _option("drifting", "learned", 1e-3, 1e6, 0.0, own_fixed=10.0, own_per=1e-5),
        ]
    )
    table = winners("t", opts, FIT, 1e-6)
    assert set(table["requirement"]) == {"floor", "tolerance"}
    assert len(table) == 2 * len(N_GRID) * 8  # seven grid prices and the measured one
    # N = 1000, price 1 s: chain 1e5 s, learned 1e6 s + 10 s -> the chain
    row = _row(table, 1000, 1.0)
    assert row["winner"] == "mala" and row["runner_up"] == "drifting"
    assert row["winner_cost_evals"] == 100 * 1000
    assert row["margin"] == pytest.approx((1e6 + 10 + 1000 * 1e-5) / 1e5)
    # N = 316 (level 3.2e-3 > 1e-3): learned qualifies; at 1 µs it costs 11 s
    row = _row(table, 316, 1e-6)
    assert row["winner"] == "mala" and row["winner_cost_seconds"] == pytest.approx(316 * 100e-6)
    # N = 1e5 at the floor: the learned sampler's excess is above level(1e5) -> out
    row = _row(table, 100_000, 1.0)
    assert row["winner"] == "mala" and row["runner_up"] == "none"
    assert row["best_learned"] == "none" and math.isnan(row["best_learned_cost_seconds"])
    # within the tolerance (level(100) = 0.0101) it qualifies and wins at 1 s for N = 1e5
    row = _row(table, 100_000, 1.0, "tolerance")
    assert row["winner"] == "drifting" and row["winner_free_draws"]
    assert row["winner_cost_seconds"] == pytest.approx(1e6 + 10 + 1e5 * 1e-5)


def test_an_excess_within_two_standard_errors_of_the_threshold_qualifies():
    over = _option("a", "direct", 0.05, 0.0, 1.0) | {"bias_se": 0.01}
    far = _option("b", "direct", 0.05, 0.0, 2.0) | {"bias_se": 0.001}
    table = winners("t", pd.DataFrame([over, far]), {"a": 1.0, "b": 0.0, "metric": "m"}, 1.0)
    # level(100) = 0.01: a is 2 se above it at most (0.05 - 0.02 = 0.03 > 0.01: out)
    row = _row(table, 100, 1.0)
    assert row["winner"] == "none"
    table = winners("t", pd.DataFrame([over, far]), {"a": 3.5, "b": 0.0, "metric": "m"}, 1.0)
    row = _row(table, 100, 1.0)  # level 0.035: a (0.05 - 0.02) qualifies, b does not
    assert row["winner"] == "a" and row["runner_up"] == "none"


def test_options_average_seeds_and_take_the_probe_bias():
    def record(seed, method, value, bias=None, registry="mala"):
        r = {
            "status": "ok",
            "tier": "ok",
            "method": method,
            "registry_name": registry,
            "budget": 1e5,
            "n_samples": 1000,
            "metrics": {"mmd_multi": value},
            "floors": {"mmd_multi": 0.001},
            "counts": {"cost_train": 100.0, "cost_sample": 1000.0, "grad_evals_sample": 1000},
            "train_seconds": 1.0,
            "sample_seconds": 1.0,
            "chain_shape": [10, 100],
            "ess": {"min": 500.0},
        }
        if bias is not None:  # a one-step sampler: no evaluations per draw
            r |= {"bias": {"metric": "mmd_multi", "value": bias, "se": 0.0}}
            r["counts"] = {"cost_train": 100.0, "cost_sample": 0.0}
        return r

    recs = [record(s, "mala", 0.003 + 0.001 * s) for s in range(3)]
    recs += [record(s, "drifting", 0.5, bias=0.01 * s, registry="drifting") for s in range(2)]
    recs.append(record(9, "mala", 0.1) | {"tier": "collapsed"})  # a failure tier: left out
    opts = options(recs, FULL_FIT).set_index("method")
    mala = opts.loc["mala"]
    # value minus the floor moved from n = 1000 to the ESS, 500, by the fitted mean
    assert mala["excess"] == pytest.approx(0.004 - (0.001 + 0.5 / 500 - 0.5 / 1000))
    assert mala["seeds"] == 3 and mala["per_draw_evals"] == pytest.approx(2.0)
    # resolution: the exact sets' spread at the ESS over root seeds
    assert mala["bias_se"] == pytest.approx(0.8 / 500 / math.sqrt(3))
    drifting = opts.loc["drifting"]
    assert drifting["excess"] == pytest.approx(0.005) and drifting["free_draws"]


def test_the_map_and_the_answer(tmp_path):
    opts = pd.DataFrame(
        [
            _option("mala", "chain", 0.0, 0.0, 100.0),
            _option("drifting", "learned", 0.0, 1e6, 0.0, own_fixed=10.0),
        ]
    )
    table = winners("t", opts, FIT, 1e-6)
    path = plot_winner_map(table, tmp_path / "winner_map.png")
    assert path is not None and path.stat().st_size > 10_000
    (line,) = answer_lines(table)
    # at 1 s: 1e6 + 10 s of training against 100 s a draw: the chain up to N = 10,000
    assert "at 1 s an evaluation from N = 31,623 (`drifting`" in line
    # at 1 µs: 11 s against 1e-4 s a draw: the chain up to N = 1e5
    assert "at its measured 1e-06 s an evaluation from N = 316,228" in line


def test_winner_command_mistakes_exit_2_with_one_line(tmp_path):
    from cli_helpers import cli_inproc

    (tmp_path / "empty" / "cells").mkdir(parents=True)
    for args in ([tmp_path / "missing"], [tmp_path / "empty"]):
        done = cli_inproc("winner", *args)
        assert done.returncode == 2 and len(done.stderr.strip().splitlines()) == 1, done


def test_validation_runs_the_winner_and_the_runner_up_at_the_predicted_cost(tmp_path):
    """Two stored options on gmm4 (SMC, MALA); one map point at N = 1000: each is rerun
    with a fresh seed, a non-learned one with the predicted evaluations as its budget, and
    its measured cost and excess sit beside the prediction."""
    from boltzbench.run.cells import Cell, resolve
    from boltzbench.run.scheduler import run_cells
    from boltzbench.run.validate import pick_points, validate
    from boltzbench.score.winner import winner_table

    params = {"mala": (("n_chains", 100), ("warmup", 50))}
    cells = [
        resolve(Cell("t", "gmm4", m, 0, params=params.get(m, ()), budget=20_000, n_samples=200))
        for m in ("smc", "mala")
    ]
    run_cells(cells, tmp_path, progress=False)
    table = winner_table(tmp_path)
    points = pick_points(table, per_target=1)
    assert len(points) == 1 and points["n_samples"].iloc[0] in (1000, 10_000, 100_000)
    checked = validate(tmp_path, table[table["n_samples"] == 1000], per_target=1)
    assert list(checked["role"]) == ["winner", "runner_up"]
    assert (checked["status"] == "ok").all() and (checked["n_samples"] == 1000).all()
    for _, row in checked.iterrows():
        assert row["run_budget"] == math.ceil(row["predicted_evals"])
        assert 0 < row["measured_evals"] <= row["run_budget"]
        assert math.isfinite(row["measured_excess"]) and isinstance(row["delivers"], bool)
    assert checked["agrees"].iloc[0] == (checked["measured_cheapest"].iloc[0] == "winner")


def _point(target, n, price, winner, kind):
    return {
        "target": target,
        "n_samples": n,
        "seconds_per_eval": price,
        "price": "fixed",
        "requirement": "floor",
        "winner": winner,
        "winner_kind": kind,
        "winner_budget": 1e4,
        "runner_up": "smc",
        "runner_up_budget": 1e4,
    }


def test_validation_points_cover_learned_and_chain_winners_spread_over_n_and_skip_slow_ones():
    """Per target: a learned winner first, a chain winner next; N and price spread over the
    picks; a point whose stored cells predict more than the allowed seconds is left out."""
    import pandas as pd

    from boltzbench.run.validate import pick_points

    rows = [
        _point(t, n, p, w, k)
        for t in ("a", "b")
        for n in (1000, 10_000, 100_000)
        for p in (1e-6, 1.0)
        for w, k in (("pita", "learned"), ("mala", "chain"), ("smc", "direct"))
        if (n, p, w)
        in {
            (1000, 1.0, "pita"),
            (10_000, 1.0, "pita"),
            (100_000, 1e-6, "mala"),
            (1000, 1e-6, "smc"),
            (10_000, 1e-6, "smc"),
        }
    ]
    table = pd.DataFrame(rows)
    picks = pick_points(table, per_target=2)
    assert list(picks["winner_kind"]) == ["learned", "chain"] * 2
    assert set(picks["n_samples"]) == {1000, 10_000, 100_000}
    assert set(picks["seconds_per_eval"]) == {1e-6, 1.0}

    def cell(method, train, sample, spent, per_draw):
        costs = {"fixed_evals": 0.0, "per_draw_evals": per_draw}
        counts = {"cost_train": spent / 2, "cost_sample": spent / 2}
        return {
            "registry_name": method,
            "train_seconds": train,
            "sample_seconds": sample,
            "n_samples": 1000,
            "counts": counts,
            "costs": costs,
        }

    cells = {}
    for t in ("a", "b"):
        cells[(t, "pita", 1e4)] = cell("pita", 10.0, 1.0, 1e4, 3.0)
        cells[(t, "smc", 1e4)] = cell("smc", 0.5, 0.5, 1e4, 10.0)
        # mala: 1 s per 1e4 evaluations and 1e4 per draw: 1e5 draws would take 1e5 s
        cells[(t, "mala", 1e4)] = cell("mala", 0.5, 0.5, 1e4, 1e4)
    slow = pick_points(table, per_target=2, cells=cells, max_seconds=600)
    assert "mala" not in set(slow["winner"]) and len(slow) == 4
    assert (slow["winner_kind"] == "learned").sum() == 2


def test_a_validation_run_gets_the_budget_the_map_priced():
    """A one-step sampler (free draws) keeps its training budget; PITA, which pays per
    draw, and a chain get the evaluations the map predicts for N draws (PITA given only
    its training budget could not pay for them)."""
    from boltzbench.run.validate import run_budget

    def stored(method, per_draw):
        return {
            "registry_name": method,
            "costs": {"fixed_evals": 8000.0, "per_draw_evals": per_draw},
        }

    assert run_budget(stored("drifting", 0.0), 10_000, 1e4) == (10_000, 8000.0)
    assert run_budget(stored("pita", 2.29), 10_000, 1e4) == (30_900, 8000.0 + 22_900.0)
    assert run_budget(stored("mala", 10.05), 1000, 1e4) == (18_050, 18_050.0)
