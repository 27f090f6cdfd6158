"""Which sampler delivers N draws at a required quality most cheaply, at a given price per
energy evaluation? The winner map of a sweep folder.

**The parts.** Every ok cell not in a failure tier carries its decomposed cost
(:mod:`boltzbench.costs`): fixed + N · per draw, in evaluations, and the method's own
seconds beside them. Seeds are averaged per (method, budget); each budget is one option.

**The quality a method can deliver.** Its excess error over exact sampling (``bias``,
primary metric, lower is better): for a learned sampler with a draw probe, the block bias on
1e5 of its draws (:mod:`boltzbench.score.bias`); otherwise its value minus the exact floor
at its effective number of draws (a chain's ESS, else its draws), the floor moved there by
the fitted mean over exact sets. ``bias_se`` is what the measurement resolves: the standard
deviation of the metric over exact sets at its effective draws (the probe's block standard
error for a probe) over √seeds — not the seeds' spread, which five seeds estimate too
roughly to certify anything. More draws cannot lower a learned sampler's
bias; a chain's shrinks with its length, so a chain that reached the floor at its ESS is
taken to stay there (it is unbiased up to its measured excess).

**The requirement at N.** ``floor``: excess within the exact sampler's noise at N draws,
``level(N)``; ``tolerance``: within the noise of 100 exact draws, ``level(100)``, whatever N.
``level(n)`` is the root-mean-square of the metric over exact sets of n draws
(:func:`exact_levels`, at n = 250 … 4000) fitted as a/n + b: b is what the finite reference
itself cannot resolve, so beyond N ≈ the reference's size every method whose excess is
within b of 0 qualifies. A method qualifies unless its excess is more than two standard
errors above the threshold (``bias − 2·bias_se ≤ threshold``): where the measurements cannot
resolve the threshold (large N), the map gives the benefit of the doubt, and
``winner_resolution`` (2·bias_se of the winner) says how far that reaches.

**The price.** Seconds = evaluations × price + the method's own seconds (training, network
sampling, chain arithmetic), at the target's measured price per evaluation and at prices
from 1 µs to 1 s. The winner is the qualifying option of least seconds; the runner-up the
best option of another method; ``best_learned`` the cheapest qualifying sampler whose draws
cost no evaluations (``free_draws``: a one-step generator or a network flow; PITA, which
corrects its draws with the energy, is learned but not free).
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any

import numpy as np
import pandas as pd

from boltzbench.costs import decompose
from boltzbench.fingerprint import fingerprint
from boltzbench.protocols import primary_metric
from boltzbench.registry import METRICS
from boltzbench.score.floors import floor_sets

N_GRID = tuple(int(round(10 ** (k / 2))) for k in range(4, 15))  # 1e2 ... 1e7
PRICES = (1e-6, 1e-5, 1e-4, 1e-3, 1e-2, 1e-1, 1.0)
LEVEL_NS = (250, 500, 1000, 2000, 4000)
TOLERANCE_N = 100
COLUMNS = [
    "target",
    "metric",
    "n_samples",
    "seconds_per_eval",
    "price",
    "requirement",
    "threshold",
    "winner",
    "winner_budget",
    "winner_kind",
    "winner_free_draws",
    "runner_up",
    "runner_up_budget",
    "winner_cost_evals",
    "winner_cost_seconds",
    "runner_up_cost_seconds",
    "margin",
    "winner_excess",
    "winner_resolution",
    "best_learned",
    "best_learned_cost_seconds",
]


_LEVELS: dict[tuple[str, tuple[int, ...]], dict[str, Any]] = {}


def exact_levels(target: Any, ns: Iterable[int] = LEVEL_NS) -> dict[str, Any]:
    """RMS of the primary metric over exact sets at each n, and the fit a/n + b (a, b ≥ 0;
    least squares in relative terms). None when the target has no exact sets there.
    Computed once per target definition in a process."""
    key = (fingerprint(target), tuple(ns))
    if key not in _LEVELS:
        _LEVELS[key] = _exact_levels(target, key[1])
    return _LEVELS[key]


def _exact_levels(target: Any, ns: tuple[int, ...]) -> dict[str, Any]:
    name = primary_metric(target)
    fn = METRICS.get(name)
    reference = target.reference().samples
    stats: dict[str, dict[int, float]] = {"levels": {}, "spreads": {}, "means": {}}
    for n in ns:
        values = [fn(x, reference, target) for x in floor_sets(target, n)]
        if len(values) >= 2 and None not in values:
            v = np.array(values, dtype=float)
            stats["levels"][n] = float(np.sqrt(np.mean(v**2)))
            stats["spreads"][n] = float(v.std(ddof=1))
            stats["means"][n] = float(v.mean())
    out: dict[str, Any] = {"metric": name, **stats, "a": None, "b": None}
    if len(stats["levels"]) < 2:
        return out
    n = np.array(list(stats["levels"]), dtype=float)
    for key, prefix in (("levels", ""), ("spreads", "sd_")):
        y = np.array(list(stats[key].values()))
        design = np.stack([1 / n, np.ones_like(n)], 1) / y[:, None]
        coef, *_ = np.linalg.lstsq(design, np.ones_like(y), rcond=None)
        out[f"{prefix}a"], out[f"{prefix}b"] = (max(float(c), 0.0) for c in coef)
    y = np.array(list(stats["means"].values()))
    coef, *_ = np.linalg.lstsq(np.stack([1 / n, np.ones_like(n)], 1), y, rcond=None)
    out["mean_a"], out["mean_b"] = float(coef[0]), float(coef[1])
    return out


def level(fit: dict[str, Any], n: float) -> float:
    """The fitted exact noise level (RMS over exact sets) a/n + b at n draws."""
    return fit["a"] / n + fit["b"]


def spread(fit: dict[str, Any], n: float) -> float:
    """The fitted standard deviation of the metric over exact sets of n draws (n clipped
    at 100 below: the fit is not trusted further from its 250 … 4000)."""
    n = max(n, 100.0)
    return fit.get("sd_a", fit["a"]) / n + fit.get("sd_b", fit["b"])


def mean_floor(fit: dict[str, Any], n: float) -> float:
    """The fitted mean of the metric over exact sets of n draws (n clipped at 100)."""
    n = max(n, 100.0)
    return fit.get("mean_a", 0.0) / n + fit.get("mean_b", 0.0)


def options(records: list[dict[str, Any]], fit: dict[str, Any]) -> pd.DataFrame:
    """One row per (method, budget) of ok, untiered cells: seed means of the decomposed
    cost and the excess error with its standard error."""
    metric = fit["metric"]
    rows = []
    for r in records:
        if r.get("status") != "ok" or r.get("tier", "ok") != "ok" or r.get("stale"):
            continue
        value = r.get("metrics", {}).get(metric)
        if value is None:
            continue
        costs = r.get("costs") or decompose(r)
        bias = r.get("bias") or {}
        if bias.get("value") is not None and bias.get("metric") == metric:
            excess, block_se = float(bias["value"]), float(bias.get("se") or 0.0)
        else:
            n_eff = costs["n_effective"]
            if not (n_eff and math.isfinite(n_eff)):
                continue
            floor = r.get("floors", {}).get(metric)
            # the stored floor (a mean at n draws) moved to n_eff by the fitted mean
            at_n = mean_floor(fit, n_eff) - mean_floor(fit, r["n_samples"])
            excess = float(value) - (float(floor) + at_n if floor is not None else 0.0)
            block_se = spread(fit, n_eff)  # one value at n_eff draws is this noisy
        rows.append(
            {"method": r["method"], "budget": r.get("budget"), "excess": excess}
            | {"block_se": block_se, "kind": costs["kind"]}
            | {k: costs[k] for k in ("fixed_evals", "per_draw_evals")}
            | {k: costs[k] for k in ("fixed_method_seconds", "per_draw_method_seconds")}
            | {"target_seconds_per_eval": costs["target_seconds_per_eval"]}
        )
    if not rows:
        return pd.DataFrame()
    df = pd.DataFrame(rows)
    keys = ["method", "budget", "kind"]
    df["block_var"] = df["block_se"] ** 2
    grouped = df.groupby(keys, dropna=False)
    out = grouped.mean(numeric_only=True).reset_index()
    out["seeds"] = grouped.size().values
    # an amortized sampler whose draws cost no evaluations (one-step, or a network flow)
    out["free_draws"] = (out["kind"] == "learned") & (out["per_draw_evals"] == 0)
    out["bias_se"] = np.sqrt(out["block_var"] / out["seeds"])
    return out.drop(columns=["block_se", "block_var"])


def winners(
    target: str, opts: pd.DataFrame, fit: dict[str, Any], measured_price: float
) -> pd.DataFrame:
    """The winner table of one target (see the module docstring), over N_GRID × prices ×
    requirements."""
    rows = []
    prices = [("measured", measured_price)] + [(f"{p:g} s", p) for p in PRICES]
    for requirement in ("floor", "tolerance"):
        for n in N_GRID:
            threshold = level(fit, n if requirement == "floor" else TOLERANCE_N)
            ok = opts[opts["excess"] - 2 * opts["bias_se"] <= threshold]
            for label, price in prices:
                evals = ok["fixed_evals"] + n * ok["per_draw_evals"]
                own = ok["fixed_method_seconds"] + n * ok["per_draw_method_seconds"]
                ranked = ok.assign(evals=evals, seconds=evals * price + own)
                best = ranked.sort_values("seconds").drop_duplicates("method")
                learned = best[best["free_draws"]]
                row = {
                    "target": target,
                    "metric": fit["metric"],
                    "n_samples": n,
                    "seconds_per_eval": price,
                    "price": label,
                    "requirement": requirement,
                    "threshold": threshold,
                    "best_learned": learned["method"].iloc[0] if len(learned) else "none",
                    "best_learned_cost_seconds": (
                        float(learned["seconds"].iloc[0]) if len(learned) else math.nan
                    ),
                }
                for rank, prefix in enumerate(("winner", "runner_up")):
                    has = len(best) > rank
                    pick = best.iloc[rank] if has else None
                    row[prefix] = pick["method"] if has else "none"
                    row[f"{prefix}_budget"] = pick["budget"] if has else math.nan
                    row[f"{prefix}_cost_seconds"] = float(pick["seconds"]) if has else math.nan
                    if prefix == "winner":
                        row["winner_kind"] = pick["kind"] if has else "none"
                        row["winner_free_draws"] = bool(pick["free_draws"]) if has else False
                        row["winner_cost_evals"] = float(pick["evals"]) if has else math.nan
                        row["winner_excess"] = float(pick["excess"]) if has else math.nan
                        row["winner_resolution"] = 2 * float(pick["bias_se"]) if has else math.nan
                row["margin"] = row["runner_up_cost_seconds"] / row["winner_cost_seconds"]
                rows.append(row)
    return pd.DataFrame(rows, columns=COLUMNS)


def winner_table(out_dir: Any, targets: Iterable[str] | None = None) -> pd.DataFrame:
    """The winner table of every target of the results folder ``out_dir`` (records scored
    against another definition of their target are left out)."""
    from pathlib import Path

    from boltzbench.fingerprint import identity, is_stale
    from boltzbench.records import iter_records
    from boltzbench.registry import TARGETS

    by_target: dict[str, list[dict[str, Any]]] = {}
    for _, record, _ in iter_records(Path(out_dir)):
        if record is not None and (targets is None or record.get("target") in targets):
            by_target.setdefault(record["target"], []).append(record)
    tables = []
    for name, records in sorted(by_target.items()):
        target = TARGETS.get(name)()
        current = identity(target)
        fresh = [r for r in records if not is_stale(r, current)]
        fit = exact_levels(target)
        if fit["a"] is None:
            continue
        opts = options(fresh, fit)
        if opts.empty:
            continue
        price = float(np.nanmedian(opts["target_seconds_per_eval"]))
        tables.append(winners(name, opts, fit, price))
    return pd.concat(tables, ignore_index=True) if tables else pd.DataFrame(columns=COLUMNS)
