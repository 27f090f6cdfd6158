"""Seeds to one number, an interval, and a shared rank.

**The centre and the interval.** Each (target, method, budget, metric) row shows the
*median* over seeds and a distribution-free confidence interval for it: the order
statistics [x₍ₖ₎, x₍ₙ₊₁₋ₖ₎] of the n seed values, with k the largest whose exact coverage
1 − 2·P(Binomial(n, ½) ≤ k − 1) is at least :data:`LEVEL_MIN`. Its coverage holds for any
continuous distribution of the seeds' values, skewed or heavy-tailed: with five seeds it
is [min, max] at 93.75 %; with ten, [x₍₂₎, x₍₉₎] at 97.9 %. With fewer than five seeds no
order-statistic interval reaches :data:`LEVEL_MIN`; the widest ([min, max]) is given and
its (lower) level is in the ``level`` column. ``tests/test_ranks.py`` checks the
coverage by simulation.

Why not the mean: with five seeds neither Student-t nor a percentile bootstrap covers the
mean of a skewed distribution at 95 % (measured: Student-t 82–92 % on log-normal, gamma and
exponential seed values; the bootstrap about 85 %), and a shared rank built on an interval
that is too narrow rewards methods whose seeds disagree.

**Shared ranks.** A method's rank is 1 + the number of methods better than it beyond the
intervals (the other's whole interval on the better side of this one's); overlapping
intervals share a rank. A row with a failed cell or a cell in a failure tier
(:mod:`boltzbench.score.tiers`) ranks after every row without one.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
from scipy import stats

from boltzbench.report.tables import lower_is_better, metric_columns, primary_metrics

#: the least coverage an interval is chosen for (the closest order-statistic level to 95 %
#: with five seeds is 93.75 %)
LEVEL_MIN = 0.93


def order_level(n: int, k: int) -> float:
    """Exact coverage of [x₍ₖ₎, x₍ₙ₊₁₋ₖ₎] for the median of a continuous distribution."""
    return float(1.0 - 2.0 * stats.binom.cdf(k - 1, n, 0.5))


def order_k(n: int) -> int:
    """The largest k with :func:`order_level` (n, k) ≥ :data:`LEVEL_MIN` (1 if none)."""
    k = 1
    while k + 1 <= (n + 1) // 2 and order_level(n, k + 1) >= LEVEL_MIN:
        k += 1
    return k


def interval(values: np.ndarray) -> tuple[float, float, float, float]:
    """(median, low, high, level) of the finite ``values`` (one per seed); NaN bounds and
    level with fewer than 2 finite values."""
    values = np.sort(np.asarray(values, dtype=float))
    values = values[np.isfinite(values)]
    n = len(values)
    if n == 0:
        return math.nan, math.nan, math.nan, math.nan
    median = float(np.median(values))
    if n < 2:
        return median, math.nan, math.nan, math.nan
    k = order_k(n)
    return median, float(values[k - 1]), float(values[n - k]), order_level(n, k)


def shared_ranks(means, lows, highs, failed, lower: bool = True) -> np.ndarray:
    """Ranks with ties where intervals overlap (see the module docstring). ``means`` are
    the rows' centres; a failed row (or one without a value) ranks after every row that
    did not fail. Without intervals (one seed) the centres decide."""
    means, lows, highs = (np.asarray(a, dtype=float) for a in (means, lows, highs))
    failed = np.asarray(failed, dtype=bool) | ~np.isfinite(means)
    sign = 1.0 if lower else -1.0
    lo = np.where(np.isfinite(lows), lows, means)
    hi = np.where(np.isfinite(highs), highs, means)
    best = np.where(sign > 0, lo, -hi)  # the most favourable end, in "lower is better"
    worst = np.where(sign > 0, hi, -lo)
    ranks = np.empty(len(means), dtype=int)
    for i in range(len(means)):
        if failed[i]:
            ranks[i] = int((~failed).sum()) + 1
            continue
        beaten_by = (~failed) & (worst < best[i])
        ranks[i] = 1 + int(beaten_by.sum())
    return ranks


LEADERBOARD_COLUMNS = [
    "suite",
    "target",
    "method",
    "budget",
    "metric",
    "primary",
    "n_seeds",
    "n_ok",
    "tier",
    "tier_seeds",
    "median",
    "low",
    "high",
    "level",
    "floor",
    "within_floor",
    "rank",
    "mean_rank",
]


def row_tier(group: pd.DataFrame) -> tuple[str, int, int]:
    """A (target, method, budget) row's tier, how many of its cells are in it, and how
    many are ok: the tier is ``ok`` when every cell ran ok and is in tier ok; else the most
    common failure among its cells (a status such as ``budget_exceeded``, or a tier such
    as ``collapsed``)."""
    labels = [
        str(t) if s == "ok" and isinstance(t, str) else ("ok" if s == "ok" else str(s))
        for s, t in zip(group["status"], group.get("tier", group["status"]), strict=True)
    ]
    bad = [x for x in labels if x != "ok"]
    n_ok = len(labels) - len(bad)
    if not bad:
        return "ok", n_ok, n_ok
    worst = max(sorted(set(bad)), key=bad.count)
    return worst, bad.count(worst), n_ok


def leaderboard(runs: pd.DataFrame) -> pd.DataFrame:
    """Tidy table: one row per (target, method, budget, metric): the median over the ok
    cells' seeds and its order-statistic interval (``level``: its exact coverage), the
    noise floor, ``within_floor`` (the interval reaches the floor: indistinguishable from
    exact sampling at this sample size), the row's ``tier`` (``ok`` or the failure most of
    its failing cells share, ``tier_seeds`` of them), ``primary`` (the target's primary
    metric), the shared rank within (target, budget, metric) — rows not in tier ``ok``
    rank after every row that is — and the mean rank over targets at that budget. A metric
    that none of a method's (all ok) cells produced gets no row."""
    if runs.empty:
        return pd.DataFrame(columns=LEADERBOARD_COLUMNS)
    budget = runs["budget"] if "budget" in runs else pd.Series(np.nan, index=runs.index)
    runs = runs.assign(budget=pd.to_numeric(budget, errors="coerce"))
    primary = primary_metrics(runs)
    rows = []
    for metric in metric_columns(runs):
        applicable = runs.groupby("target")[metric].apply(
            lambda col: bool(np.isfinite(pd.to_numeric(col, errors="coerce")).any())
        )
        groups = runs.groupby(["target", "method", "budget"], sort=True, dropna=False)
        for (target, method, budget), group in groups:
            if not applicable.get(target, False):
                continue  # the metric does not apply to this target (or nothing ran ok)
            ok = group[group["status"] == "ok"]
            values = pd.to_numeric(ok[metric], errors="coerce").to_numpy(dtype=float)
            if len(ok) == len(group) and not np.isfinite(values).any():
                continue  # every cell ran and the metric does not apply to this method
            median, low, high, level = interval(values)
            floor_col = f"{metric}_floor"
            floor = (
                float(pd.to_numeric(ok[floor_col], errors="coerce").mean())
                if floor_col in ok and len(ok)
                else math.nan
            )
            tier, tier_seeds, n_ok = row_tier(group)
            rows.append(
                {
                    "suite": ",".join(sorted(set(group["suite"].astype(str)))),
                    "target": target,
                    "method": method,
                    "budget": budget,
                    "metric": metric,
                    "primary": metric == primary.get(target),
                    "n_seeds": len(group),
                    "n_ok": n_ok,
                    "tier": tier,
                    "tier_seeds": tier_seeds,
                    "median": median,
                    "low": low,
                    "high": high,
                    "level": level,
                    "floor": floor,
                    "within_floor": bool(
                        np.isfinite(floor)
                        and np.isfinite(median)
                        and (low if np.isfinite(low) else median) <= floor
                    ),
                }
            )
    table = pd.DataFrame(rows, columns=LEADERBOARD_COLUMNS[:-2])
    if table.empty:
        return pd.DataFrame(columns=LEADERBOARD_COLUMNS)
    # a target whose declared primary metric was not computed (a run with --metrics that
    # leaves it out) is ranked by the first metric of METRIC_ORDER it has
    order = metric_columns(runs)
    for _, rows in table.groupby("target"):
        if not rows["primary"].any():
            fallback = next(m for m in order if m in set(rows["metric"]))
            table.loc[rows.index[rows["metric"] == fallback], "primary"] = True
    table["rank"] = 0
    for (_, _, metric), group in table.groupby(
        ["target", "budget", "metric"], sort=False, dropna=False
    ):
        failed = (group["tier"] != "ok").to_numpy()
        table.loc[group.index, "rank"] = shared_ranks(
            group["median"], group["low"], group["high"], failed, lower_is_better(metric)
        )
    table["rank"] = table["rank"].astype(int)
    table["mean_rank"] = table.groupby(["method", "budget", "metric"], dropna=False)[
        "rank"
    ].transform("mean")
    table["budget"] = table["budget"].astype("Int64")
    order = ["metric", "target", "budget", "rank", "method"]
    return table[LEADERBOARD_COLUMNS].sort_values(order).reset_index(drop=True)


def _mean_seconds(cells: pd.DataFrame) -> float:
    """Mean wall seconds per cell of the method's own fit and sample (NaN when none)."""
    train = pd.to_numeric(cells["train_seconds"], errors="coerce")
    sample = pd.to_numeric(cells["sample_seconds"], errors="coerce")
    return float((train.fillna(0) + sample.fillna(0))[train.notna()].mean())


def overall(board: pd.DataFrame, runs: pd.DataFrame) -> pd.DataFrame:
    """One row per method at each target's largest budget: the mean rank over targets by
    each target's primary metric, targets ranked, ok cells / cells, the mean cost per cell
    in both currencies (budget units; wall seconds of fit and sample, and of those the
    seconds inside the target's energy) and failures; sorted by mean rank."""
    columns = ["method", "mean_rank", "targets", "ok", "cells", "mean_cost", "mean_seconds"]
    columns += ["mean_target_seconds", "failures"]
    main = at_largest_budget(board)
    main = main[main["primary"].astype(bool)] if not main.empty else main
    runs = at_largest_budget(runs)
    if main.empty or runs.empty:
        return pd.DataFrame(columns=columns)
    rows = []
    for method, group in main.groupby("method"):
        cells = runs[runs["method"] == method]
        rows.append(
            {
                "method": method,
                "mean_rank": float(group["rank"].mean()),
                "targets": int(group["target"].nunique()),
                "ok": int((cells["status"] == "ok").sum()),
                "cells": len(cells),
                "mean_cost": float(pd.to_numeric(cells["total_cost"], errors="coerce").mean()),
                "mean_seconds": _mean_seconds(cells),
                "mean_target_seconds": float(
                    pd.to_numeric(cells["target_seconds"], errors="coerce").mean()
                ),
                "failures": int((cells["status"] != "ok").sum()),
            }
        )
    return (
        pd.DataFrame(rows, columns=columns)
        .sort_values(["mean_rank", "method"])
        .reset_index(drop=True)
    )


def at_largest_budget(table: pd.DataFrame) -> pd.DataFrame:
    """The rows (of the leaderboard or of the runs) at each target's largest budget
    (unbudgeted rows where a target has no budget): what the heatmap, the bars, the curves
    and the markdown tables show."""
    if table.empty:
        return table
    budget = pd.to_numeric(table["budget"], errors="coerce")
    top = budget.groupby(table["target"]).transform("max")
    return table[(budget == top) | (top.isna() & budget.isna())]
