"""The tables as a reader sees them: formatted frames that both ``LEADERBOARD.md`` and
``report.html`` render, so the two never disagree."""

from __future__ import annotations

import numpy as np
import pandas as pd

from boltzbench.report.tables import metric_columns


def fmt_value(mean: float, low: float, high: float) -> str:
    """``median [low, high]``, or the median alone without an interval, or ``failed``."""
    if not np.isfinite(mean):
        return "failed"
    if not (np.isfinite(low) and np.isfinite(high)):
        return f"{mean:.4g}"
    return f"{mean:.4g} [{low:.3g}, {high:.3g}]"


def tier_label(tier: str, count: int, seeds: int, emph: str = "*{}*") -> str:
    """``*collapsed* (3/5)``: a failure tier shown instead of a value (the tier's name
    wrapped in ``emph``)."""
    return f"{emph.format(tier.replace('_', ' '))} ({count}/{seeds})"


def rank_label(rank: int, ranks: pd.Series) -> str:
    """``3`` or ``=3`` when another method shares the rank (intervals overlap)."""
    return f"={rank}" if int((ranks == rank).sum()) > 1 else str(rank)


def target_view(
    board: pd.DataFrame,
    runs: pd.DataFrame,
    target: str,
    bold: str = "**{}**",
    emph: str = "*{}*",
) -> tuple[pd.DataFrame, str | None]:
    """One target's table at its budget: rank (by the primary metric, shared where the
    intervals overlap; rows in a failure tier after every working row, their tier shown
    instead of values), method, ok/seeds (ok and in tier ok), the primary metric first,
    then the others, the cost per cell in both currencies (total cost in budget units,
    budget used; wall seconds of fit and sample, with the seconds inside the target's
    energy in brackets) and samples/s; sorted
    by rank. Values within the exact sampler's floor are wrapped in ``bold``, tier names in
    ``emph``. Also returns
    the primary metric's name."""
    sub = board[board["target"] == target]
    cells_all = runs[runs["target"] == target]
    primary_rows = sub[sub["primary"].astype(bool)]
    primary = str(primary_rows["metric"].iloc[0]) if len(primary_rows) else None
    metrics = [m for m in metric_columns(runs) if m in set(sub["metric"])]
    if primary in metrics:
        metrics = [primary] + [m for m in metrics if m != primary]
    key = sub[sub["metric"] == (primary or (metrics[0] if metrics else ""))]
    ranks = key.set_index("method")["rank"]
    methods = sorted(sub["method"].unique(), key=lambda m: (ranks.get(m, 10**6), m))
    rows = []
    for method in methods:
        cells = cells_all[cells_all["method"] == method]
        m = sub[sub["method"] == method].set_index("metric")
        first = m.iloc[0]
        failing = str(first.get("tier", "ok")) != "ok"
        n_ok = int(first["n_ok"]) if "n_ok" in first else int((cells["status"] == "ok").sum())
        row = {
            "rank": rank_label(int(ranks[method]), ranks) if method in ranks else "–",
            "method": method,
            "ok/seeds": f"{n_ok}/{len(cells)}",
        }
        for k in metrics:
            if k not in m.index:
                row[k] = "n/a"
                continue
            if failing:  # no value of a failing row is shown as a plain number
                row[k] = tier_label(first["tier"], int(first["tier_seeds"]), len(cells), emph)
                continue
            text = fmt_value(m.loc[k, "median"], m.loc[k, "low"], m.loc[k, "high"])
            row[k] = bold.format(text) if m.loc[k, "within_floor"] else text
        cost = pd.to_numeric(cells["total_cost"], errors="coerce").mean()
        used = pd.to_numeric(cells["budget_used"], errors="coerce").mean()
        row["total cost"] = f"{cost:.3g}" if np.isfinite(cost) else "–"
        row["budget used"] = f"{used:.2f}" if np.isfinite(used) else "–"
        wall = pd.to_numeric(cells["train_seconds"], errors="coerce") + pd.to_numeric(
            cells["sample_seconds"], errors="coerce"
        )
        energy = pd.to_numeric(cells["target_seconds"], errors="coerce").mean()
        row["seconds (in energy)"] = f"{wall.mean():.3g} ({energy:.2g})"
        sps = pd.to_numeric(cells["samples_per_second"], errors="coerce").mean()
        row["samples/s"] = f"{sps:.3g}" if np.isfinite(sps) else "–"
        rows.append(row)
    floors = {"rank": "", "method": "floor (exact sampler)", "ok/seeds": ""}
    for k in metrics:
        value = sub[sub["metric"] == k]["floor"].mean()
        floors[k] = "–" if pd.isna(value) else f"{value:.4g}"
    blank = {"total cost": "", "budget used": "", "seconds (in energy)": "", "samples/s": ""}
    rows.append(floors | blank)
    return pd.DataFrame(rows), primary


def overall_view(summary: pd.DataFrame) -> pd.DataFrame:
    """The overall table, formatted (see :func:`boltzbench.report.tables.overall`)."""
    if summary.empty:
        return summary
    return pd.DataFrame(
        {
            "method": summary["method"],
            "mean rank (primary metric)": summary["mean_rank"].map(lambda v: f"{v:.2f}"),
            "targets": summary["targets"],
            "ok/cells": [f"{o}/{c}" for o, c in zip(summary["ok"], summary["cells"], strict=True)],
            "mean cost per cell": summary["mean_cost"].map(lambda v: f"{v:.3g}"),
            "mean seconds per cell (in energy)": [
                f"{s:.3g} ({t:.2g})"
                for s, t in zip(
                    summary["mean_seconds"], summary["mean_target_seconds"], strict=True
                )
            ],
            "failures": summary["failures"],
        }
    )


def markdown_table(df: pd.DataFrame) -> list[str]:
    """A pipe table's lines."""
    cols = [str(c) for c in df.columns]
    lines = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    for _, row in df.iterrows():
        lines.append("| " + " | ".join(str(v) for v in row.tolist()) + " |")
    return lines
