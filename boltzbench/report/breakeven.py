"""Break-even sample counts: after how many samples does an amortized sampler's training
cost pay for itself against MCMC at equal quality?

An amortized method with a cell in a failure tier (:mod:`boltzbench.score.tiers`) gets one
row, ``tier`` set and no break-even: it has no quality to pay off.

For an amortized method A on a target: q = its mean over seeds of the target's primary
metric (lower is better), T = its mean training
evaluations, s = its mean sampling evaluations per sample. For an MCMC method M (one with
production snapshots): c_M = the evaluations M has spent (warm-up included) when its
seed-averaged curve of that metric, over its production snapshots, first reaches q, divided by the
number of draws it has then. Drawing n samples then costs T + n s with A and n c_M with M,
so A is cheaper beyond n* = T / (c_M − s); n* is infinite when c_M ≤ s, and undefined
(NaN, "M never reached q") when M's curve never gets to q. "Evaluations" here are budget
units under the cells' cost model (``cost_train``, ``cost_sample``, the curves' ``cost``).

Throughput in wall-clock terms sits beside it: ``samples_per_second`` is A's mean
n / sample_seconds; ``mcmc_samples_per_second`` is what M delivers at A's quality,
1 / (c_M · t_M) with t_M = M's mean seconds per evaluation (train + sample seconds over
all its evaluations). Both are measured on the machine that ran the cells.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from boltzbench.registry import is_amortized
from boltzbench.report.tables import primary_metrics

COLUMNS = [
    "target",
    "method",
    "mcmc",
    "metric",
    "quality",
    "train_evals",
    "sample_evals_per_sample",
    "mcmc_evals_per_sample",
    "break_even_n",
    "samples_per_second",
    "mcmc_samples_per_second",
    "tier",
]


def break_even(runs: pd.DataFrame, curves: pd.DataFrame) -> pd.DataFrame:
    """One row per (target, amortized method, MCMC method); see the module docstring."""
    if runs.empty or curves.empty:
        return pd.DataFrame(columns=COLUMNS)
    primary = primary_metrics(runs)
    ok = runs[runs["status"] == "ok"].copy()
    ok["train_evals"] = pd.to_numeric(ok["cost_train"], errors="coerce").fillna(0)
    ok["sample_evals"] = pd.to_numeric(ok["cost_sample"], errors="coerce").fillna(0)
    seconds = ok["train_seconds"].fillna(0) + ok["sample_seconds"].fillna(0)
    ok["seconds_per_eval"] = seconds / (ok["train_evals"] + ok["sample_evals"]).replace(0, np.nan)
    ok["throughput"] = ok["n_samples"] / ok["sample_seconds"].replace(0, np.nan)
    production = curves[curves["phase"] == "sample"]
    rows = []
    for target, sub in ok.groupby("target", sort=True):
        metric = primary.get(target)
        if metric not in sub or metric not in production:
            continue
        amortized = sub[sub["registry_name"].map(is_amortized)]
        mcmc_curves = production[
            (production["target"] == target) & ~production["method"].isin(set(amortized["method"]))
        ]
        for method, group in amortized.groupby("method", sort=True):
            tiers = group["tier"].fillna("ok") if "tier" in group else pd.Series(["ok"])
            failing = sorted(set(tiers) - {"ok"})
            if failing:  # a sampler in a failure tier has no quality to pay off
                rows.append(
                    {"target": target, "method": method, "metric": metric, "mcmc": "–"}
                    | {"tier": failing[0], "break_even_n": math.nan}
                )
                continue
            q = float(pd.to_numeric(group[metric], errors="coerce").mean())
            t = float(group["train_evals"].mean())
            s = float((group["sample_evals"] / group["n_samples"]).mean())
            rate = float(group["throughput"].mean())
            for mcmc, curve in mcmc_curves.groupby("method", sort=True):
                t_m = float(sub.loc[sub["method"] == mcmc, "seconds_per_eval"].mean())
                mean = curve.groupby("cost").agg(value=(metric, "mean"), n=("n", "mean"))
                reached = mean[mean["value"] <= q]
                if reached.empty:
                    c_m, n_star = math.nan, math.nan
                else:
                    evals = float(reached.index[0])
                    c_m = evals / float(reached["n"].iloc[0])
                    n_star = t / (c_m - s) if c_m > s else math.inf
                rows.append(
                    {
                        "target": target,
                        "method": method,
                        "mcmc": mcmc,
                        "metric": metric,
                        "quality": q,
                        "train_evals": t,
                        "sample_evals_per_sample": s,
                        "mcmc_evals_per_sample": c_m,
                        "break_even_n": n_star,
                        "samples_per_second": rate,
                        "mcmc_samples_per_second": 1.0 / (c_m * t_m) if c_m * t_m > 0 else math.nan,
                        "tier": "ok",
                    }
                )
    return pd.DataFrame(rows, columns=COLUMNS)


def describe(row: pd.Series) -> str:
    """A one-line reading of a break-even row."""
    if row.get("tier", "ok") not in ("ok", None) and isinstance(row.get("tier"), str):
        return f"n/a: {row['tier']} (a failure tier: no quality to pay off)"
    n = row["break_even_n"]
    rate = f"{row['samples_per_second']:.3g} samples/s"
    if not np.isfinite(row["mcmc_evals_per_sample"]):
        return f"{row['mcmc']} never reached {row['metric']} {row['quality']:.3g}; {rate}"
    rate += f" against {row['mcmc']}'s {row['mcmc_samples_per_second']:.3g} at equal quality"
    if math.isinf(n):
        return f"never repaid against {row['mcmc']}; {rate}"
    return f"repaid after {n:.3g} samples against {row['mcmc']}; {rate}"
