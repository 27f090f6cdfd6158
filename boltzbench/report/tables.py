"""Tables from records: ``runs.csv`` (one wide row per cell), ``curves.csv`` and the tidy
``leaderboard.csv`` with intervals over seeds, shared ranks and each target's primary
metric. Pure pandas; no plotting, no files written here.
"""

from __future__ import annotations

import json
import math
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from boltzbench.counter import total_cost
from boltzbench.protocols import DEFAULT_PRIMARY
from boltzbench.records import iter_records
from boltzbench.registry import METRICS, UnknownNameError

COUNT_COLUMNS = [
    "energy_evals_train",
    "grad_evals_train",
    "energy_evals_sample",
    "grad_evals_sample",
    "hvp_evals_train",
    "hvp_evals_sample",
]
BASE_COLUMNS = [
    "suite",
    "target",
    "method",
    "seed",
    "status",
    "error",
    *COUNT_COLUMNS,
    "cost_train",
    "cost_sample",
    "total_cost",
    "budget",
    "budget_used",
    "target_seconds",
    "train_seconds",
    "sample_seconds",
    "n_samples",
    "samples_per_second",
]
PROVENANCE_COLUMNS = [
    "registry_name",
    "params",
    "config_hash",
    "config",
    "cost_model",
    "primary_metric",
    "metric_version",
    "target_fingerprint",
    "git_sha",
    "torch_version",
    "device",
    "cell_id",
    "stale",
]
#: built-in metrics in the order tables show them (others follow alphabetically)
METRIC_ORDER = (
    "mmd_multi",
    "mmd",
    "mean_error",
    "cov_error",
    "w2",
    "sliced_w2",
    "mode_mass_error",
)


def lower_is_better(metric: str) -> bool:
    """The metric's direction, from its registration (unknown metrics: lower)."""
    try:
        return bool(getattr(METRICS.get(metric), "lower_is_better", True))
    except UnknownNameError:
        return True


def _row(record: dict[str, Any]) -> dict[str, Any]:
    row: dict[str, Any] = {k: record.get(k) for k in BASE_COLUMNS if k not in COUNT_COLUMNS}
    counts = dict(record.get("counts", {}))
    row.update({k: counts.get(k) for k in COUNT_COLUMNS})
    row["target_seconds"] = counts.get("target_seconds")
    row["total_cost"] = total_cost(counts)
    for phase in ("train", "sample"):  # records before the cost model: one unit each
        legacy = sum(counts.get(f"{k}_evals_{phase}", 0) or 0 for k in ("energy", "grad", "hvp"))
        row[f"cost_{phase}"] = counts.get(f"cost_{phase}", legacy)
    budget = record.get("budget")
    row["budget_used"] = row["total_cost"] / budget if budget else None
    for name, value in record.get("metrics", {}).items():
        row[name] = value
    for name, value in record.get("floors", {}).items():
        row[f"{name}_floor"] = value
    for name, value in record.get("metric_estimators", {}).items():
        row[f"{name}_estimator"] = value
    for name, value in record.get("diagnostics", {}).items():
        row[f"diag_{name}"] = value
    seconds, n = record.get("sample_seconds"), record.get("n_samples")
    row["samples_per_second"] = n / seconds if seconds and n else None
    row["params"] = json.dumps(record.get("params", {}), sort_keys=True)
    row["config"] = json.dumps(record.get("config", {}), sort_keys=True)
    row["cost_model"] = json.dumps(record.get("cost_model", {}), sort_keys=True)
    versions = record.get("metric_versions", {})
    row["metric_version"] = ";".join(f"{k}={v}" for k, v in sorted(versions.items()))
    row["registry_name"] = record.get("registry_name", record.get("method_registry_name"))
    for key in PROVENANCE_COLUMNS[-5:] + ["config_hash", "primary_metric", "samples_file"]:
        row[key] = record.get(key)
    return row


def load_runs(out_dir: Path, fingerprints: dict[str, str | None] | None = None) -> pd.DataFrame:
    """One wide row per cell record in ``out_dir/cells``. A file that cannot be trusted
    (see :func:`boltzbench.records.read_record`) is left out, with a line on stderr. A
    label used with more than one configuration becomes ``label@<config hash>``, so that
    configurations are never pooled as seeds. With ``fingerprints`` (target -> its current
    definition fingerprint), a record scored against another definition of its target is
    reported on stderr and marked in the ``stale`` column."""
    rows = []
    for path, record, problem in iter_records(out_dir):
        if record is None:
            if problem:
                print(f"boltzbench: leaving out {path.name}: {problem}", file=sys.stderr)
            continue
        row = _row(record)
        current = (fingerprints or {}).get(record.get("target"))
        row["stale"] = bool(current and record.get("target_fingerprint") not in (None, current))
        if row["stale"]:
            print(
                f"boltzbench: {path.name} is stale: its target {record.get('target')!r} has "
                "changed since it ran (rerun with boltzbench run to recompute it)",
                file=sys.stderr,
            )
        rows.append(row)
    if not rows:
        return pd.DataFrame(columns=BASE_COLUMNS + PROVENANCE_COLUMNS)
    df = pd.DataFrame(rows)
    variants = df.groupby("method")["config_hash"].transform("nunique")
    clash = variants > 1
    df.loc[clash, "method"] = df.loc[clash, "method"] + "@" + df.loc[clash, "config_hash"].str[:6]
    metric_cols = metric_columns(df)
    floor_cols = [f"{m}_floor" for m in metric_cols if f"{m}_floor" in df]
    estimator_cols = [f"{m}_estimator" for m in metric_cols if f"{m}_estimator" in df]
    diag_cols = sorted(c for c in df.columns if c.startswith("diag_"))
    order = BASE_COLUMNS + metric_cols + floor_cols + estimator_cols + diag_cols
    order += PROVENANCE_COLUMNS
    order += [c for c in df.columns if c not in order]
    df = df.reindex(columns=order)
    return df.sort_values(["target", "method", "seed"], kind="stable").reset_index(drop=True)


CURVE_COLUMNS = ["target", "method", "seed", "budget", "phase", "energy_evals", "grad_evals"]
CURVE_COLUMNS += ["evals", "cost", "n"]


def load_curves(out_dir: Path) -> pd.DataFrame:
    """Tidy quality-against-cost points: one row per snapshot of every ok cell
    (target, method, seed, budget, phase, energy_evals, grad_evals, evals, n, metrics)."""
    rows = []
    for _, record, _ in iter_records(out_dir):
        if record is None or record.get("status") != "ok":
            continue
        for point in record.get("curve") or []:
            keys = ("target", "method", "seed", "budget")
            point = {"cost": point.get("evals")} | point  # records before the cost model
            rows.append({k: record.get(k) for k in keys} | point)
    if not rows:
        return pd.DataFrame(columns=CURVE_COLUMNS + ["mmd"])
    df = pd.DataFrame(rows)
    return df.sort_values(["target", "method", "seed", "evals"], kind="stable").reset_index(
        drop=True
    )


def metric_columns(df: pd.DataFrame) -> list[str]:
    """Metric columns present in a runs table, built-ins first (:data:`METRIC_ORDER`)."""
    skip = set(BASE_COLUMNS) | set(PROVENANCE_COLUMNS) | {"samples_file"}
    cols = [
        c
        for c in df.columns
        if c not in skip and not c.endswith(("_floor", "_estimator")) and not c.startswith("diag_")
    ]
    first = [m for m in METRIC_ORDER if m in cols]
    return first + sorted(c for c in cols if c not in first)


def primary_metrics(runs: pd.DataFrame) -> dict[str, str]:
    """Each target's primary metric, as its records declare it (else DEFAULT_PRIMARY)."""
    out = {}
    for target, group in runs.groupby("target"):
        named = group["primary_metric"].dropna() if "primary_metric" in group else []
        out[target] = str(named.iloc[0]) if len(named) else DEFAULT_PRIMARY
    return out


CONFIDENCE = 0.95
#: bootstrap resamples of the seeds behind each interval, and their generator's seed
BOOTSTRAP = 4000
BOOTSTRAP_SEED = 0


def interval(values: np.ndarray) -> tuple[float, float, float]:
    """Mean over seeds and its 95% percentile-bootstrap interval (:data:`BOOTSTRAP`
    resamples of the seeds with replacement, a fixed generator: the same values give the
    same interval); NaN bounds with fewer than 2 finite values.

    Not the Student-t interval used before: with five seeds, a method whose seeds split
    between 0.9 and 50 (PITA on ``funnel``: three of five collapsed) got mean ± t·s/√n =
    [−3.0, 63.9], below zero for a metric that cannot be, so it reached the exact floor
    and shared the first rank. A bootstrap interval stays inside the range of the values
    ([10.7, 50.1] there)."""
    values = np.asarray(values, dtype=float)
    values = values[np.isfinite(values)]
    if len(values) == 0:
        return math.nan, math.nan, math.nan
    mean = float(values.mean())
    if len(values) < 2:
        return mean, math.nan, math.nan
    rng = np.random.default_rng(BOOTSTRAP_SEED)
    means = values[rng.integers(0, len(values), (BOOTSTRAP, len(values)))].mean(1)
    low, high = np.quantile(means, [(1 - CONFIDENCE) / 2, (1 + CONFIDENCE) / 2])
    return mean, float(low), float(high)


def shared_ranks(means, lows, highs, failed, lower: bool = True) -> np.ndarray:
    """Ranks with ties where intervals overlap: a method's rank is 1 + the number of
    methods that are better beyond the intervals (the other's whole interval on the
    better side of this one's). A failed method (or one without a value) ranks after
    every method that did not fail. Without intervals (one seed) the means decide."""
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
    "mean",
    "low",
    "high",
    "floor",
    "within_floor",
    "rank",
    "mean_rank",
]


def leaderboard(runs: pd.DataFrame) -> pd.DataFrame:
    """Tidy table: one row per (target, method, budget, metric) with the mean over seeds
    and its 95% bootstrap interval (``n_seeds`` says over how many), the noise floor,
    ``within_floor`` (the interval reaches the floor: indistinguishable from exact sampling
    at this sample size), ``primary`` (the target's primary metric), the shared rank within
    (target, budget, metric) (1 = best; ties where intervals overlap; a method with a
    failed cell ranks last) and the mean rank over targets at that budget. A metric that
    none of a method's (all ok) cells produced gets no row."""
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
            mean, low, high = interval(values)
            floor_col = f"{metric}_floor"
            floor = (
                float(pd.to_numeric(ok[floor_col], errors="coerce").mean())
                if floor_col in ok and len(ok)
                else math.nan
            )
            rows.append(
                {
                    "suite": ",".join(sorted(set(group["suite"].astype(str)))),
                    "target": target,
                    "method": method,
                    "budget": budget,
                    "metric": metric,
                    "primary": metric == primary.get(target),
                    "n_seeds": len(group),
                    "n_ok": len(ok),
                    "mean": mean,
                    "low": low,
                    "high": high,
                    "floor": floor,
                    "within_floor": bool(
                        np.isfinite(floor)
                        and np.isfinite(mean)
                        and (low if np.isfinite(low) else mean) <= floor
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
        failed = (group["n_ok"] < group["n_seeds"]).to_numpy()
        table.loc[group.index, "rank"] = shared_ranks(
            group["mean"], group["low"], group["high"], failed, lower_is_better(metric)
        )
    table["rank"] = table["rank"].astype(int)
    table["mean_rank"] = table.groupby(["method", "budget", "metric"], dropna=False)[
        "rank"
    ].transform("mean")
    table["budget"] = table["budget"].astype("Int64")
    order = ["metric", "target", "budget", "rank", "method"]
    return table[LEADERBOARD_COLUMNS].sort_values(order).reset_index(drop=True)


def overall(board: pd.DataFrame, runs: pd.DataFrame) -> pd.DataFrame:
    """One row per method at each target's largest budget: the mean rank over targets by
    each target's primary metric, targets ranked, ok cells / cells, mean total cost per
    cell and failures; sorted by mean rank."""
    columns = ["method", "mean_rank", "targets", "ok", "cells", "mean_cost", "failures"]
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
