"""The tidy leaderboard: ranking direction and metrics that do not apply to a method."""

import math

import numpy as np
import pandas as pd
import pytest

from boltzbench.report.ranks import leaderboard


def _runs():
    rows = []
    for method, elbo, status in [
        ("a", 1.0, "ok"),
        ("b", math.nan, "ok"),  # reports no ELBO at all
        ("c", 2.0, "ok"),
        ("d", 0.5, "failed"),
    ]:
        for seed in (0, 1):
            rows.append(
                {
                    "suite": "s",
                    "target": "t",
                    "method": method,
                    "seed": seed,
                    "status": status,
                    "mmd": 0.1 * (1 + seed) if method != "d" else math.nan,
                    "elbo": elbo + 0.01 * seed if status == "ok" else math.nan,
                }
            )
    return pd.DataFrame(rows)


def test_not_applicable_metrics_get_no_row_and_higher_elbo_ranks_first():
    board = leaderboard(_runs())
    elbo = board[board["metric"] == "elbo"].set_index("method")
    assert "b" not in elbo.index  # not applicable, not "failed"
    assert elbo.loc["c", "rank"] == 1 and elbo.loc["a", "rank"] == 2  # higher is better
    assert elbo.loc["d", "rank"] == 3  # a failed method ranks last
    mmd = board[board["metric"] == "mmd"].set_index("method")
    assert set(mmd.index) == {"a", "b", "c", "d"} and mmd.loc["d", "rank"] == 4


def test_a_split_set_of_seeds_does_not_reach_below_its_values():
    """Three of five seeds collapsed (PITA on funnel): the t-interval reached below zero
    and so the exact floor; the order-statistic interval stays inside the values' range
    and keeps the method apart from one whose seeds are all near the floor."""
    from boltzbench.report.ranks import interval, shared_ranks

    split = np.array([0.96, 50.09, 50.09, 0.91, 50.09])
    good = np.array([0.01, 0.012, 0.009, 0.011, 0.013])
    (m1, l1, h1, _), (m2, l2, h2, _) = interval(split), interval(good)
    assert split.min() <= l1 and h1 <= split.max() and m1 == 50.09
    assert list(shared_ranks([m1, m2], [l1, l2], [h1, h2], [False, False])) == [2, 1]


def test_overlapping_intervals_share_a_rank():
    from boltzbench.report.ranks import shared_ranks

    # a and b overlap; c is worse than both beyond the intervals; d failed
    means = [1.0, 1.1, 3.0, np.nan]
    lows = [0.8, 0.9, 2.8, np.nan]
    highs = [1.2, 1.3, 3.2, np.nan]
    ranks = shared_ranks(means, lows, highs, [False, False, False, True])
    assert list(ranks) == [1, 1, 3, 4]
    # higher is better: reversed
    ranks = shared_ranks(means, lows, highs, [False] * 4, lower=False)
    assert list(ranks[:3]) == [2, 2, 1]


def test_budgets_rank_separately_and_the_headline_is_the_largest():
    from boltzbench.report.ranks import at_largest_budget

    rows = []
    for budget, better in [(1000, "a"), (10000, "b")]:
        for method in ("a", "b"):
            for seed in (0, 1):
                rows.append(
                    {
                        "suite": "s",
                        "target": "t",
                        "method": method,
                        "seed": seed,
                        "status": "ok",
                        "budget": budget,
                        "mmd": (0.1 if method == better else 0.2) + 0.01 * seed,
                    }
                )
    board = leaderboard(pd.DataFrame(rows))
    ranks = board.set_index(["budget", "method"])["rank"]
    assert ranks[(1000, "a")] == 1 and ranks[(10000, "b")] == 1
    assert set(at_largest_budget(board)["budget"]) == {10000}


def _board(means):
    return pd.DataFrame(
        [
            {
                "target": "t",
                "method": m,
                "budget": None,
                "metric": "mmd",
                "median": v,
                "low": v - 0.01,
                "high": v + 0.01,
            }
            for m, v in means.items()
        ]
    )


def test_compare_classifies_changes():
    from boltzbench.report.compare import compare

    now = _board({"a": 0.1, "b": 0.5, "c": 0.3, "new": 0.2})
    before = _board({"a": 0.3, "b": 0.2, "c": 0.305, "gone": 0.1})
    change = compare(now, before).set_index("method")["change"]
    assert change["a"] == "better" and change["b"] == "worse" and change["c"] == "same"
    assert change["new"] == "new" and change["gone"] == "gone"


def _even_runs(mala_train: float = 200) -> pd.DataFrame:
    base = {"target": "t", "status": "ok", "primary_metric": "mmd", "budget": 1e4}
    return pd.DataFrame(
        [
            base
            | {"method": "drifting", "registry_name": "drifting", "seed": s, "mmd": 0.01}
            | {"cost_train": 1000, "cost_sample": 50, "n_samples": 50}
            | {"train_seconds": 2.0, "sample_seconds": 0.5}
            for s in (0, 1)
        ]
        + [
            base
            | {"method": "mala", "registry_name": "mala", "seed": s, "mmd": 0.001}
            | {"cost_train": mala_train, "cost_sample": 800, "n_samples": 200}
            | {"train_seconds": 1.0, "sample_seconds": 1.0}
            for s in (0, 1)
        ]
    )


def _curve(seed, points, budget=1e4):
    return [
        {"target": "t", "method": "mala", "seed": seed, "phase": "sample", "budget": budget}
        | {"cost": e, "n": n, "mmd": q}
        for e, n, q in points
    ]


def test_break_even_by_hand():
    """An amortized sampler with MMD² 0.01 (the primary metric here), training 1000 cost
    units, 1 per sample; MCMC warms up for 200 units and first reaches 0.01 at 600 units
    with 100 draws: 4 units a draw, so n* = (1000 − 200) / (4 − 1) = 266.7. Throughput: 50
    samples in 0.5 s is 100/s; MCMC spends 2 s on 1000 evaluations, so 4 evaluations a draw
    give 1 / (4 · 0.002) = 125/s. Warm-up and cost per draw are separate fields."""
    from boltzbench.report.breakeven import break_even

    points = [(300, 50, 0.05), (600, 100, 0.008), (1000, 200, 0.001)]
    curves = pd.DataFrame(_curve(0, points) + _curve(1, points))
    row = break_even(_even_runs(), curves).iloc[0]
    assert row["method"] == "drifting" and row["mcmc"] == "mala" and row["budget"] == 1e4
    assert row["mcmc_warmup_evals"] == 200 and row["mcmc_evals_per_draw"] == pytest.approx(4.0)
    assert row["break_even_n"] == pytest.approx(800 / 3)
    assert row["samples_per_second"] == pytest.approx(100.0)
    assert row["mcmc_samples_per_second"] == pytest.approx(125.0)
    # a warm-up dearer than the training and a dearer draw: never dearer, n* = 0
    from boltzbench.report.breakeven import _pair_n

    assert _pair_n(t=100, s=1, w=200, c=4) == 0 and _pair_n(t=300, s=5, w=200, c=4) == math.inf


def test_break_even_averages_seeds_on_a_common_cost_grid_and_pairs_within_a_budget():
    """Seeds snapshot at different costs: each is interpolated on the union of their costs
    over the common range before averaging (no seed is dropped for not sharing a cost).
    At 600 the seed mean is (0.008 + 0.016)/2 > 0.01, at 700 (0.00625 + 0.009)/2 <= 0.01,
    with (125 + 100)/2 draws. A curve of another budget is not paired."""
    from boltzbench.report.breakeven import break_even, seed_mean_curve

    seed0 = [(300, 50, 0.05), (600, 100, 0.008), (1000, 200, 0.001)]
    seed1 = [(400, 60, 0.03), (700, 100, 0.009), (1100, 200, 0.001)]
    other = _curve(0, [(100, 100, 0.0)], budget=1e6)
    curves = pd.DataFrame(_curve(0, seed0) + _curve(1, seed1) + other)
    mean = seed_mean_curve(curves[curves["budget"] == 1e4], "mmd")
    assert list(mean["cost"]) == [400, 600, 700, 1000]  # the range both seeds cover
    assert mean["value"].iloc[1] == pytest.approx((0.008 + 0.016) / 2)
    row = break_even(_even_runs(), curves).iloc[0]
    n_at_700 = (125 + 100) / 2  # seed 0 interpolated between 100 and 200 draws
    assert row["mcmc_evals_per_draw"] == pytest.approx((700 - 200) / n_at_700)
    assert len(break_even(_even_runs(), curves)) == 1  # the 1e6 curve has no 1e6 cells


def test_a_report_without_plots_removes_the_figures_it_would_redraw(tmp_path):
    from boltzbench.report.build import remove_figures

    plots = tmp_path / "plots"
    plots.mkdir()
    for name in ("heatmap.png", "curves.pdf", "bars.svg", "notes.txt"):
        (plots / name).write_text("x")
    remove_figures(plots)
    assert sorted(p.name for p in plots.iterdir()) == ["notes.txt"]
    remove_figures(tmp_path / "missing")  # no folder: nothing to do


def test_a_report_built_without_plots_leaves_no_stale_figure(tmp_path):
    """``score --no-plots`` and ``report --no-plots`` once left the previous figures in
    plots/, showing numbers the new tables no longer held."""
    from boltzbench.report.build import build_report

    (tmp_path / "cells").mkdir()
    (tmp_path / "plots").mkdir()
    (tmp_path / "plots" / "heatmap.png").write_bytes(b"old")
    build_report(tmp_path, plots=False)
    assert not (tmp_path / "plots" / "heatmap.png").exists()
