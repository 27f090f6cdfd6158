"""The force-guided drifting paper's speed-up claim, measured: seconds to produce N
decorrelated conformations by molecular dynamics (``md``) against every other method,
each at the quality its cells reach.

For each (target, method), over the method's ok-tier cells (median over seeds, at each
budget the records hold): the cost of N draws is ``fixed + N · per_draw`` in seconds and in
evaluations (:mod:`boltzbench.costs`: for MD and the other chains, fixed = warm-up and per
draw = production over the effective number of draws of the target's declared statistics,
the torsions on ``ethanol``; for a one-step sampler, fixed = its training, the dataset's MD
included, and per draw = one forward pass). ``speedup`` is MD's seconds for N over the
method's; ``per_draw_speedup`` compares the per-draw parts only (training already paid:
the paper's "million-fold" reading). Quality sits beside it (the target's primary metric
and ``energy_w1``), because a sampler that is fast at a worse quality has not caught up.
Seconds are this machine's, as measured in the cells.
"""

from __future__ import annotations

import math

import pandas as pd

from boltzbench.report.tables import primary_metrics

#: the draws the claim is priced at (issue 35: 1e4 decorrelated conformations)
N_DRAWS = 10_000
BASELINE = "md"
COLUMNS = [
    "target",
    "budget",
    "method",
    "seeds",
    "metric",
    "quality",
    "energy_w1",
    "fixed_seconds",
    "per_draw_seconds",
    "seconds_for_n",
    "evals_for_n",
    "speedup",
    "per_draw_speedup",
]


def speedup(runs: pd.DataFrame, n: int = N_DRAWS) -> pd.DataFrame:
    """One row per (target, budget, method) with ok-tier cells, on targets where
    ``md`` has some (empty otherwise); quality is each target's primary metric as its
    records declare it (:func:`boltzbench.report.tables.primary_metrics`)."""
    if runs.empty or BASELINE not in set(runs.get("method", [])):
        return pd.DataFrame(columns=COLUMNS)
    ok = runs[(runs["status"] == "ok") & (runs.get("tier", "ok") == "ok")]
    primary = primary_metrics(ok)
    rows = []
    for (target, budget), cells in ok.groupby(["target", "budget"], dropna=False):
        metric = primary[target]
        by_method = {m: _row(c, n, metric) for m, c in cells.groupby("method")}
        if BASELINE not in by_method:
            continue
        md = by_method[BASELINE]
        for method, row in sorted(by_method.items()):
            row.update(target=target, budget=budget, method=method, metric=metric)
            row["speedup"] = _ratio(md["seconds_for_n"], row["seconds_for_n"])
            row["per_draw_speedup"] = _ratio(md["per_draw_seconds"], row["per_draw_seconds"])
            rows.append(row)
    return pd.DataFrame(rows, columns=COLUMNS)


def _row(cells: pd.DataFrame, n: int, metric: str) -> dict:
    def med(col: str) -> float:
        return float(cells[col].median()) if col in cells else math.nan

    fixed, per_draw = med("fixed_seconds"), med("per_draw_seconds")
    return {
        "seeds": int(len(cells)),
        "quality": med(metric),
        "energy_w1": med("energy_w1"),
        "fixed_seconds": fixed,
        "per_draw_seconds": per_draw,
        "seconds_for_n": fixed + n * per_draw,
        "evals_for_n": med("fixed_evals") + n * med("per_draw_evals"),
    }


def _ratio(a: float, b: float) -> float:
    return a / b if b > 0 and math.isfinite(a) and math.isfinite(b) else math.nan


def speedup_markdown(frame: pd.DataFrame, n: int = N_DRAWS) -> list[str]:
    """A section for LEADERBOARD.md (no lines when the frame is empty)."""
    if frame.empty:
        return []
    lines = [
        f"## Seconds to {n:,} decorrelated conformations against MD",
        "",
        "Fixed cost plus N × cost per effective draw, median over ok-tier seeds, on this "
        "machine (boltzbench.report.speedup); speed-up = MD's seconds / the method's.",
        "",
        "| target | method | quality | energy W1 | s fixed | s per draw | s for N "
        "| speed-up | per-draw speed-up |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in frame.itertuples():
        lines.append(
            f"| `{r.target}` | `{r.method}` | {r.metric} {r.quality:.3g} | {r.energy_w1:.3g} "
            f"| {r.fixed_seconds:.3g} | {r.per_draw_seconds:.3g} | {r.seconds_for_n:.3g} "
            f"| {r.speedup:.3g}× | {r.per_draw_speedup:.3g}× |"
        )
    return lines + [""]
