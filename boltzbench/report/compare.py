"""``boltzbench report DIR --compare OTHER``: how the leaderboard changed between two result
folders (e.g. a method before and after a commit)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from boltzbench.report.tables import lower_is_better

KEYS = ["target", "method", "budget", "metric"]


def compare(board: pd.DataFrame, other: pd.DataFrame) -> pd.DataFrame:
    """Rows present in either leaderboard, with both means and intervals, ``delta`` = this
    − other, and ``change``: ``better`` / ``worse`` when the two 95% intervals do not
    overlap (in the metric's direction), ``same`` when they do, ``new`` / ``gone`` when a
    row exists on one side only."""
    cols = KEYS + ["median", "low", "high"]
    a = board[cols].copy()
    b = other[cols].copy()
    for df in (a, b):
        df["budget"] = pd.to_numeric(df["budget"], errors="coerce")
    merged = a.merge(b, on=KEYS, how="outer", suffixes=("", "_other"), indicator=True)
    merged["delta"] = merged["median"] - merged["median_other"]
    changes = []
    for _, row in merged.iterrows():
        if row["_merge"] == "left_only":
            changes.append("new")
            continue
        if row["_merge"] == "right_only":
            changes.append("gone")
            continue
        lo, hi, lo2, hi2 = row["low"], row["high"], row["low_other"], row["high_other"]
        if not all(np.isfinite([lo, hi, lo2, hi2])):
            changes.append("same" if row["delta"] == 0 else "unknown")
            continue
        if hi < lo2 or lo > hi2:
            lower = hi < lo2
            good = lower if lower_is_better(row["metric"]) else not lower
            changes.append("better" if good else "worse")
        else:
            changes.append("same")
    merged["change"] = changes
    merged["budget"] = merged["budget"].astype("Int64")
    return merged.drop(columns="_merge").sort_values(KEYS).reset_index(drop=True)
