"""Break-even sample counts: after how many samples does an amortized sampler's training
cost pay for itself against MCMC at equal quality? (The full answer, over N and a price
per evaluation, is :mod:`boltzbench.score.winner`; this is its pairwise reading from the
curves the cells recorded.)

An amortized method with a cell in a failure tier (:mod:`boltzbench.score.tiers`) gets one
row, ``tier`` set and no break-even: it has no quality to pay off.

Pairs are formed within one budget (a sweep pairs each budget's cells with the same
budget's, never across budgets). For an amortized method A: q = its mean over seeds of the
target's primary metric (lower is better), T = its mean training cost, s = its mean
sampling cost per sample. For an MCMC method M (one with production snapshots): W = its
mean warm-up cost (everything charged before its first production draw), and its seeds'
production curves, each interpolated on a common cost grid (the union of the seeds' costs
over the range every seed covers) and averaged, give the first cost C at which the mean
curve reaches q and the draws n_C it then holds (counted before any thinning for scoring);
c = (C − W) / n_C is M's production cost per draw there. Drawing n samples costs T + n s
with A and W + n c with M, so A is cheaper beyond n* = (T − W) / (c − s); n* = 0 when A is
never dearer (T ≤ W and s ≤ c), infinite when it never catches up (c ≤ s and T > W), undefined
(NaN, "M never reached q") when M's mean curve never gets to q. A curve point whose drawn
count was not recorded (records scored before ``n_scored``) is left out. Costs are budget
units under the cells' cost model.

Throughput in wall-clock terms sits beside it: ``samples_per_second`` is A's mean
n / sample_seconds; ``mcmc_samples_per_second`` is what M delivers at A's quality in its
steady state, 1 / (c · t_M) with t_M = M's mean seconds per evaluation (train + sample
seconds over all its evaluations). Both are measured on the machine that ran the cells.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from boltzbench.registry import is_amortized
from boltzbench.report.tables import primary_metrics

COLUMNS = [
    "target",
    "budget",
    "method",
    "mcmc",
    "metric",
    "quality",
    "train_evals",
    "sample_evals_per_sample",
    "mcmc_warmup_evals",
    "mcmc_evals_per_draw",
    "break_even_n",
    "samples_per_second",
    "mcmc_samples_per_second",
    "tier",
]


def seed_mean_curve(curve: pd.DataFrame, metric: str) -> pd.DataFrame:
    """Seeds of one method's curve ([seed, cost, n, metric] rows) interpolated on a common
    cost grid (the union of their costs over the range every seed covers) and averaged:
    [cost, value, n], sorted by cost; empty when the seeds' ranges do not overlap."""
    seeds = []
    for _, g in curve.groupby("seed", sort=True):
        g = g[["cost", "n", metric]].apply(pd.to_numeric, errors="coerce").dropna()
        g = g.sort_values("cost").drop_duplicates("cost", keep="last")
        if len(g):
            seeds.append(g)
    if not seeds:
        return pd.DataFrame(columns=["cost", "value", "n"])
    lo = max(float(g["cost"].min()) for g in seeds)
    hi = min(float(g["cost"].max()) for g in seeds)
    grid = np.unique(np.concatenate([g["cost"].to_numpy(float) for g in seeds]))
    grid = grid[(grid >= lo) & (grid <= hi)]
    if not len(grid):
        return pd.DataFrame(columns=["cost", "value", "n"])
    value = np.mean([np.interp(grid, g["cost"], g[metric]) for g in seeds], axis=0)
    n = np.mean([np.interp(grid, g["cost"], g["n"]) for g in seeds], axis=0)
    return pd.DataFrame({"cost": grid, "value": value, "n": n})


def _pair_n(t: float, s: float, w: float, c: float) -> float:
    """n* where T + n s = W + n c (see the module docstring)."""
    if t <= w and s <= c:
        return 0.0
    if c > s:
        return (t - w) / (c - s)
    return math.inf


def break_even(runs: pd.DataFrame, curves: pd.DataFrame) -> pd.DataFrame:
    """One row per (target, budget, amortized method, MCMC method); see the module
    docstring."""
    if runs.empty or curves.empty:
        return pd.DataFrame(columns=COLUMNS)
    primary = primary_metrics(runs)
    ok = runs[runs["status"] == "ok"].copy()
    ok["budget"] = ok["budget"] if "budget" in ok else math.nan
    ok["train_evals"] = pd.to_numeric(ok["cost_train"], errors="coerce").fillna(0)
    ok["sample_evals"] = pd.to_numeric(ok["cost_sample"], errors="coerce").fillna(0)
    seconds = ok["train_seconds"].fillna(0) + ok["sample_seconds"].fillna(0)
    ok["seconds_per_eval"] = seconds / (ok["train_evals"] + ok["sample_evals"]).replace(0, np.nan)
    ok["throughput"] = ok["n_samples"] / ok["sample_seconds"].replace(0, np.nan)
    production = curves[curves["phase"] == "sample"].copy()
    if "budget" not in production:
        production["budget"] = math.nan
    rows = []
    for (target, budget), sub in ok.groupby(["target", "budget"], sort=True, dropna=False):
        metric = primary.get(target)
        if metric not in sub or metric not in production:
            continue
        same = production["target"] == target
        same &= production["budget"].isna() if pd.isna(budget) else production["budget"] == budget
        amortized = sub[sub["registry_name"].map(is_amortized)]
        mcmc_curves = production[same & ~production["method"].isin(set(amortized["method"]))]
        head = {"target": target, "budget": budget, "metric": metric}
        for method, group in amortized.groupby("method", sort=True):
            tiers = group["tier"].fillna("ok") if "tier" in group else pd.Series(["ok"])
            failing = sorted(set(tiers) - {"ok"})
            if failing:  # a sampler in a failure tier has no quality to pay off
                rows.append(head | {"method": method, "mcmc": "–", "tier": failing[0]})
                continue
            q = float(pd.to_numeric(group[metric], errors="coerce").mean())
            t = float(group["train_evals"].mean())
            s = float((group["sample_evals"] / group["n_samples"]).mean())
            rate = float(group["throughput"].mean())
            for mcmc, curve in mcmc_curves.groupby("method", sort=True):
                cells = sub[sub["method"] == mcmc]
                t_m = float(cells["seconds_per_eval"].mean())
                w = float(cells["train_evals"].mean()) if len(cells) else math.nan
                mean = seed_mean_curve(curve, metric)
                reached = mean[mean["value"] <= q]
                c, n_star = math.nan, math.nan
                if len(reached) and math.isfinite(w):
                    first = reached.iloc[0]
                    c = (float(first["cost"]) - w) / float(first["n"])
                    n_star = _pair_n(t, s, w, c)
                rows.append(
                    head
                    | {"method": method, "mcmc": mcmc, "quality": q, "train_evals": t}
                    | {"sample_evals_per_sample": s, "mcmc_warmup_evals": w}
                    | {"mcmc_evals_per_draw": c, "break_even_n": n_star}
                    | {"samples_per_second": rate, "tier": "ok"}
                    | {"mcmc_samples_per_second": 1.0 / (c * t_m) if c * t_m > 0 else math.nan}
                )
    return pd.DataFrame(rows, columns=COLUMNS)


def describe(row: pd.Series) -> str:
    """A one-line reading of a break-even row."""
    if row.get("tier", "ok") not in ("ok", None) and isinstance(row.get("tier"), str):
        return f"n/a: {row['tier']} (a failure tier: no quality to pay off)"
    n = row["break_even_n"]
    rate = f"{row['samples_per_second']:.3g} samples/s"
    if not np.isfinite(row["mcmc_evals_per_draw"]):
        return f"{row['mcmc']} never reached {row['metric']} {row['quality']:.3g}; {rate}"
    rate += f" against {row['mcmc']}'s {row['mcmc_samples_per_second']:.3g} at equal quality"
    if math.isinf(n):
        return f"never repaid against {row['mcmc']}; {rate}"
    return f"repaid after {n:.3g} samples against {row['mcmc']}; {rate}"
