"""Tables from records: ``runs.csv`` (one wide row per cell, one identity per label) and
``curves.csv``. The leaderboard built from them is :mod:`boltzbench.report.ranks`. Pure
pandas; no plotting, no files written here.
"""

from __future__ import annotations

import json
import math
import sys
from pathlib import Path
from typing import Any

import pandas as pd

from boltzbench.costs import decompose
from boltzbench.counter import total_cost
from boltzbench.fingerprint import TargetIdentity, is_stale
from boltzbench.protocols import DEFAULT_PRIMARY
from boltzbench.records import CURVE_MAX_POINTS, iter_records
from boltzbench.registry import METRICS, UnknownNameError

COUNT_COLUMNS = [
    "energy_evals_train",
    "grad_evals_train",
    "energy_evals_sample",
    "grad_evals_sample",
    "hvp_evals_train",
    "hvp_evals_sample",
]
#: the decomposed cost (:mod:`boltzbench.costs`) and the seconds behind it
COST_COLUMNS = [
    "seconds",
    "target_seconds_train",
    "target_seconds_sample",
    "method_seconds",
    "cost_kind",
    "n_effective",
    "fixed_evals",
    "per_draw_evals",
    "fixed_seconds",
    "per_draw_seconds",
    "fixed_method_seconds",
    "per_draw_method_seconds",
    "target_seconds_per_eval",
    "bias",
    "bias_se",
    "bias_draws",
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
    "tier",
    "tier_reason",
    "distinct_fraction",
    *COST_COLUMNS,
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


def _cost_row(record: dict[str, Any]) -> dict[str, Any]:
    """The cost columns of an ok record (decomposed here when it was scored before its
    record carried ``costs``)."""
    costs = record.get("costs") or decompose(record)
    row = {k: costs.get(k) for k in COST_COLUMNS if k in costs}
    row["cost_kind"] = costs.get("kind")
    counts = record.get("counts", {})  # measured per phase (absent in older records)
    row["target_seconds_train"] = counts.get("target_seconds_train")
    row["target_seconds_sample"] = counts.get("target_seconds_sample")
    seconds = (record.get("train_seconds") or 0.0) + (record.get("sample_seconds") or 0.0)
    row["seconds"] = seconds
    row["method_seconds"] = seconds - (record.get("counts", {}).get("target_seconds") or 0.0)
    bias = record.get("bias") or {}
    row["bias"], row["bias_se"], row["bias_draws"] = (
        bias.get("value"),
        bias.get("se"),
        bias.get("draws"),
    )
    return row


def _row(record: dict[str, Any]) -> dict[str, Any]:
    row: dict[str, Any] = {k: record.get(k) for k in BASE_COLUMNS if k not in COUNT_COLUMNS}
    counts = dict(record.get("counts", {}))
    if record.get("status") == "ok":
        row.update(_cost_row(record))
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
    # a record scored before failure tiers: ok cells count as ok until rescored
    row["tier"] = record.get("tier", "ok" if record.get("status") == "ok" else None)
    row["tier_reason"] = record.get("tier_reason", "")
    row["distinct_fraction"] = record.get("distinct_fraction")
    for key in PROVENANCE_COLUMNS[-5:] + ["config_hash", "primary_metric", "samples_file"]:
        row[key] = record.get(key)
    return row


def load_runs(
    out_dir: Path, fingerprints: dict[str, TargetIdentity | None] | None = None
) -> pd.DataFrame:
    """One wide row per cell record in ``out_dir/cells``. A file that cannot be trusted
    (see :func:`boltzbench.records.read_record`) is left out, with a line on stderr. A
    label used for unlike cells is split by what differs (:func:`split_identities`), so
    that unlike cells are never pooled as seeds. With ``fingerprints`` (target -> its current
    identity), a record scored against another definition of its target is
    reported on stderr and marked in the ``stale`` column."""
    rows = []
    for path, record, problem in iter_records(out_dir):
        if record is None:
            if problem:
                print(f"boltzbench: leaving out {path.name}: {problem}", file=sys.stderr)
            continue
        row = _row(record)
        row["stale"] = is_stale(record, (fingerprints or {}).get(record.get("target")))
        if row["stale"]:
            print(
                f"boltzbench: {path.name} is stale: its target {record.get('target')!r} has "
                "changed since it ran (rerun with boltzbench run to recompute it)",
                file=sys.stderr,
            )
        rows.append(row)
    if not rows:
        return pd.DataFrame(columns=BASE_COLUMNS + PROVENANCE_COLUMNS)
    df = split_identities(pd.DataFrame(rows))
    metric_cols = metric_columns(df)
    floor_cols = [f"{m}_floor" for m in metric_cols if f"{m}_floor" in df]
    estimator_cols = [f"{m}_estimator" for m in metric_cols if f"{m}_estimator" in df]
    diag_cols = sorted(c for c in df.columns if c.startswith("diag_"))
    order = BASE_COLUMNS + metric_cols + floor_cols + estimator_cols + diag_cols
    order += PROVENANCE_COLUMNS
    order += [c for c in df.columns if c not in order]
    df = df.reindex(columns=order)
    return df.sort_values(["target", "method", "seed"], kind="stable").reset_index(drop=True)


#: what makes two cells of one label alike (the budget is a column of its own: a sweep's
#: budgets are ranked separately), with how a label shows the difference
IDENTITY = {
    "config_hash": lambda v: f"config {str(v)[:6]}",
    "n_samples": lambda v: f"n={int(v)}" if pd.notna(v) else "n=default",
    "cost_model": lambda v: "cost " + ",".join(f"{k}={c:g}" for k, c in json.loads(v).items()),
    # scored against another definition of the target than the current one
    "stale": lambda v: "stale target" if str(v) == "True" else "current target",
}


def split_identities(df: pd.DataFrame) -> pd.DataFrame:
    """Relabel rows so that one (target, label) never pools unlike cells: where a label's
    cells on a target differ in configuration, sample count, cost model or target
    definition (stale or current), each kind gets the label plus what differs, e.g.
    ``mala (n=2000)`` and ``mala (n=10000)``. Alike cells keep their label."""
    df = df.copy()
    keys = [k for k in IDENTITY if k in df]
    text = {k: df[k].map(str) for k in keys}  # NaN and None as text: they are identities too
    identity = pd.Series(
        ["|".join(parts) for parts in zip(*text.values(), strict=True)], index=df.index
    )
    for (_, label), group in df.groupby(["target", "method"], sort=False):
        if identity[group.index].nunique() < 2:
            continue
        differs = [k for k in keys if text[k][group.index].nunique() > 1]
        for i in group.index:
            what = ", ".join(IDENTITY[k](df.at[i, k]) for k in differs)
            df.at[i, "method"] = f"{label} ({what})"
    return df


CURVE_COLUMNS = ["target", "method", "seed", "budget", "phase", "energy_evals", "grad_evals"]
CURVE_COLUMNS += ["evals", "cost", "n", "n_scored"]


def load_curves(out_dir: Path) -> pd.DataFrame:
    """Tidy quality-against-cost points: one row per snapshot of every ok cell
    (target, method, seed, budget, phase, energy_evals, grad_evals, evals, n, n_scored,
    metrics). ``n`` is the number of draws the snapshot held; in a curve scored before that
    was recorded it is NaN where the snapshot was thinned (its drawn count is lost)."""
    rows = []
    for _, record, _ in iter_records(out_dir):
        if record is None or record.get("status") != "ok":
            continue
        for point in record.get("curve") or []:
            keys = ("target", "method", "seed", "budget")
            point = {"cost": point.get("evals")} | point  # records before the cost model
            if "n_scored" not in point:  # before n_scored, n was the thinned count
                n = point.get("n")
                point["n_scored"] = n
                point["n"] = n if n is not None and n < CURVE_MAX_POINTS else math.nan
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
