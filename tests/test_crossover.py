"""boltzbench.report.crossover: the budgets at which a sweep's amortized samplers overtake MCMC."""

from __future__ import annotations

import math

import pandas as pd

from boltzbench.report.crossover import COLUMNS, crossover, summary_table

BUDGETS = [1e4, 1e5, 1e6]


def _board(
    values: dict[str, list[tuple[float, float, float]]],
    metric: str = "mmd_multi",
    floor: float = -1.0,
):
    """A leaderboard of one target: per method, (mean, low, high) at each of BUDGETS; an
    interval whose low end is at or below ``floor`` is within the floor."""
    rows = []
    for method, triples in values.items():
        for budget, (mean, low, high) in zip(BUDGETS, triples, strict=True):
            rows.append(
                {
                    "target": "t",
                    "method": method,
                    "budget": budget,
                    "metric": metric,
                    "primary": True,
                    "median": mean,
                    "low": low,
                    "high": high,
                    "within_floor": bool(low <= floor),
                }
            )
    # a non-primary metric must be ignored
    rows.append({**rows[0], "metric": "w2", "primary": False, "median": -1.0})
    return pd.DataFrame(rows)


def _row(cross: pd.DataFrame, method: str, mcmc: str) -> pd.Series:
    return cross[(cross["method"] == method) & (cross["mcmc"] == mcmc)].iloc[0]


def test_ahead_from_first_ahead_and_clearly_ahead():
    board = _board(
        {
            # ahead of mala at 1e4 (mean only), behind at 1e5, clearly ahead at 1e6
            "amort": [(1.0, 0.9, 1.1), (1.0, 0.9, 1.1), (0.1, 0.05, 0.15)],
            "mala": [(1.05, 0.5, 1.5), (0.5, 0.4, 0.6), (0.5, 0.4, 0.6)],
            # amort never ahead of smc
            "smc": [(0.01, 0.0, 0.02)] * 3,
        }
    )
    cross = crossover(board, amortized={"amort"})
    assert list(cross.columns) == COLUMNS
    assert len(cross) == 2  # one amortized method x two MCMC methods
    r = _row(cross, "amort", "mala")
    assert r["first_ahead"] == 1e4
    assert r["ahead_from"] == 1e6  # behind at 1e5, so "from" is the last switch
    assert r["first_clearly_ahead"] == 1e6
    assert r["clearly_at_largest"]
    s = _row(cross, "amort", "smc")
    assert math.isnan(s["first_ahead"]) and math.isnan(s["ahead_from"])
    assert not s["clearly_at_largest"]


def test_ahead_at_every_budget_is_ahead_from_the_smallest():
    board = _board({"a": [(0.1, 0.0, 0.2)] * 3, "m": [(0.15, 0.1, 0.3)] * 3})
    r = crossover(board, amortized={"a"}).iloc[0]
    assert r["ahead_from"] == 1e4 and r["first_ahead"] == 1e4
    assert math.isnan(r["first_clearly_ahead"])  # the intervals overlap at every budget


def test_higher_is_better_metric_flips_the_comparison():
    # ess_fraction: higher is better; "a" is ahead only at 1e6
    board = _board(
        {"a": [(0.1, 0.0, 0.2), (0.2, 0.1, 0.3), (0.9, 0.8, 0.95)], "m": [(0.5, 0.4, 0.6)] * 3},
        metric="ess_fraction",
    )
    r = crossover(board, amortized={"a"}).iloc[0]
    assert r["first_ahead"] == 1e6 and r["ahead_from"] == 1e6
    assert r["clearly_at_largest"]  # a's low 0.8 is above m's high 0.6


def test_failed_budgets_and_single_budget_targets():
    nan = float("nan")
    # the amortized method fails at 1e6: not ahead there
    board = _board({"a": [(0.1,) * 3, (0.1,) * 3, (nan,) * 3], "m": [(0.5,) * 3] * 3})
    r = crossover(board, amortized={"a"}).iloc[0]
    assert r["first_ahead"] == 1e4 and math.isnan(r["ahead_from"])
    # the MCMC method cannot deliver at 1e4 (no ok seed): that budget is not compared
    board = _board({"a": [(0.1,) * 3] * 3, "m": [(nan,) * 3, (0.5,) * 3, (0.5,) * 3]})
    r = crossover(board, amortized={"a"}).iloc[0]
    assert r["first_ahead"] == 1e5 and r["ahead_from"] == 1e5
    assert r["not_compared"] == "1e+04" and r["at_largest"] == "ahead"
    # neither has an ok seed anywhere: never ahead
    board = _board({"a": [(nan,) * 3] * 3, "m": [(nan,) * 3] * 3})
    r = crossover(board, amortized={"a"}).iloc[0]
    assert math.isnan(r["first_ahead"]) and r["at_largest"] == "n/a"
    one = board[board["budget"] == 1e4]
    assert crossover(one, amortized={"a"}).empty


def test_summary_table_groups_the_mcmc_methods_by_standing_at_the_largest_budget():
    board = _board(
        {
            "a": [(0.1, 0.05, 0.15)] * 3,
            "m1": [(0.5, 0.4, 0.6)] * 3,  # a clearly ahead from 1e4
            "m2": [(0.01, 0.0, 0.02)] * 3,  # ahead of a
            "m3": [(0.3, 0.001, 0.6)] * 3,  # reaches the floor: tied (a's mean is better)
        },
        floor=0.005,
    )
    cross = crossover(board, amortized={"a"})
    assert dict(zip(cross["mcmc"], cross["at_largest"], strict=True)) == {
        "m1": "ahead",
        "m2": "behind",
        "m3": "tied",
    }
    lines = summary_table(cross)
    assert lines[0] == "| amortized method | `t` (mmd_multi) |"
    assert lines[2] == "| `a` | ahead: m1 1e+04*; tied: m3; behind: m2 |"
    assert summary_table(crossover(board.iloc[0:0], amortized={"a"})) == []


def test_an_mcmc_method_at_the_exact_floor_cannot_be_beaten():
    """Both at the floor (unbiased MMD² near zero, even negative): a lower mean is noise."""
    board = _board(
        {
            "a": [(-2e-4, -5e-4, 1e-4)] * 3,
            "m": [(0.5, 0.4, 0.6), (3e-4, 1e-4, 6e-4), (3e-4, 1e-4, 6e-4)],
        },
        floor=2e-4,
    )
    r = crossover(board, amortized={"a"}).iloc[0]
    assert r["first_ahead"] == 1e4 and r["first_clearly_ahead"] == 1e4  # m not at the floor
    assert math.isnan(r["ahead_from"]) and not r["clearly_at_largest"]


def test_sweep_failures_below_the_largest_budget_are_listed_once_per_method_and_budget():
    from boltzbench.report.markdown import _sweep_failures

    def run(target, seed, budget, status="ok", error=""):
        cell = f"{target}-{seed}-{budget}"
        return dict(
            target=target,
            method="pt",
            seed=seed,
            budget=budget,
            status=status,
            error=error,
            cell_id=cell,
        )

    runs = pd.DataFrame(
        [run(t, s, 1e4, "budget_exceeded", f"cannot pay ({t} {s})") for t in "xy" for s in (0, 1)]
        + [run("x", 0, 1e6, "crashed", "boom"), run("x", 1, 1e6)]
    )
    main = runs[runs["budget"] == 1e6]  # its failure is listed under its target instead
    lines = _sweep_failures(runs, main)
    assert lines[2:] == [
        "- `pt` at 1e+04 on `x`, `y`: 4 cells budget_exceeded (cannot pay (x 0))",
        "",
    ]
    assert _sweep_failures(runs[runs["status"] == "ok"], main) == []


def test_a_budget_only_the_amortized_method_ran_at_does_not_hide_the_comparison():
    """The sweep's long budgets: the amortized method alone was run at 1e6, so the pair is
    compared at 1e5, the largest budget both were run at."""
    board = _board({"a": [(0.9,) * 3, (0.1,) * 3, (0.05,) * 3], "m": [(0.5,) * 3] * 3})
    board = board[~((board["method"] == "m") & (board["budget"] == 1e6))]
    r = crossover(board, amortized={"a"}).iloc[0]
    assert r["largest_budget"] == 1e5 and r["at_largest"] == "ahead"
    assert r["ahead_from"] == 1e5 and r["not_compared"] == ""
