"""Where a budget sweep's amortized samplers overtake MCMC: per target, amortized method A
and chain method M, the budgets at which A's primary metric is better than M's.

From a leaderboard with each target run at several budgets (``boltzbench run --suite
sweep``). The two are *compared* at the budgets where both have an ok seed (a budget where
either has none, e.g. ``budget_exceeded``, is skipped and listed in ``not_compared``). At a
compared budget A is *ahead* of M when A's median over seeds is better than M's and M's
interval does not reach the exact floor (``within_floor``: nothing beats exact sampling at
that sample size, a lower mean there is noise), and *clearly ahead* when moreover A's
interval lies wholly on the better side of M's. Per (target, A, M):

- ``first_ahead``: the smallest compared budget at which A is ahead;
- ``ahead_from``: the smallest compared budget from which A is ahead at every compared
  budget up to the sweep's largest (NaN when A is not ahead there: "not within the sweep");
- ``first_clearly_ahead``, ``clearly_at_largest``;
- ``at_largest``: at the sweep's largest budget, ``ahead``; ``tied`` (M's interval reaches
  the floor, and A's does too or A's mean is better); ``behind`` (otherwise); ``n/a``
  (either has no ok seed there).

Budgets are the cells' budget units (``budget`` column). "MCMC" is every method that does
not declare ``amortized = True`` (chains, parallel tempering, SMC).
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
import pandas as pd

from boltzbench.report.tables import lower_is_better

COLUMNS = [
    "target",
    "metric",
    "method",
    "mcmc",
    "n_budgets",
    "largest_budget",
    "not_compared",
    "first_ahead",
    "ahead_from",
    "first_clearly_ahead",
    "clearly_at_largest",
    "at_largest",
]


def crossover(board: pd.DataFrame, amortized: Iterable[str]) -> pd.DataFrame:
    """One row per (target, amortized method, MCMC method) for each target of ``board`` run
    at two budgets or more; ``board`` is a leaderboard (columns target, method, budget,
    metric, primary, mean, low, high and optionally within_floor); ``amortized`` the
    method labels that count as amortized. Each pair is compared up to the largest budget
    both were run at (``largest_budget``; a method run there whose cells all failed still
    counts), so a budget only one of them was run at (e.g. the sweep's long budgets) does
    not hide the comparison. Empty (with ``COLUMNS``) when no target was swept."""
    amortized = set(amortized)
    sub = board[board["primary"].astype(bool)].copy()
    sub["budget"] = pd.to_numeric(sub["budget"], errors="coerce")
    sub = sub[sub["budget"].notna()]
    if "within_floor" not in sub:
        sub["within_floor"] = False
    sub["within_floor"] = sub["within_floor"].fillna(False).astype(bool)
    rows = []
    for target, rows_t in sub.groupby("target", sort=True):
        budgets = np.sort(rows_t["budget"].unique())
        if len(budgets) < 2:
            continue
        metric = str(rows_t["metric"].iloc[0])
        sign = 1.0 if lower_is_better(metric) else -1.0
        methods = sorted(rows_t["method"].unique())

        mean, low, high = (
            _wide(rows_t, c, budgets, methods) * sign for c in ("median", "low", "high")
        )
        if sign < 0:  # on the negated scale the interval's ends swap
            low, high = high, low
        exact = _wide(rows_t, "within_floor", budgets, methods).fillna(0).astype(bool)
        ran_m = {m: set(rows_t.loc[rows_t["method"] == m, "budget"]) for m in methods}
        for a in (m for m in methods if m in amortized):
            ran_a = set(rows_t.loc[rows_t["method"] == a, "budget"])
            for m in (m for m in methods if m not in amortized):
                # the largest budget both were run at (a failure there still counts)
                ran = [i for i, b in enumerate(budgets) if b in ran_a and b in ran_m[m]]
                k = ran[-1] if ran else len(budgets) - 1
                both = (mean[a].notna() & mean[m].notna()).to_numpy()
                beatable = both & ~exact[m].to_numpy()
                ahead = beatable & (mean[a] < mean[m]).to_numpy()
                clearly = beatable & (high[a] < low[m]).to_numpy()
                upto = slice(0, k + 1)
                rows.append(
                    {
                        "target": target,
                        "metric": metric,
                        "method": a,
                        "mcmc": m,
                        "n_budgets": len(budgets),
                        "largest_budget": float(budgets[k]),
                        "not_compared": " ".join(f"{b:.2g}" for b in budgets[upto][~both[upto]]),
                        "first_ahead": _first(budgets, ahead),
                        "ahead_from": (
                            _from(budgets[upto][both[upto]], ahead[upto][both[upto]])
                            if both[k]
                            else np.nan
                        ),
                        "first_clearly_ahead": _first(budgets, clearly),
                        "clearly_at_largest": bool(clearly[k]),
                        "at_largest": _standing(
                            both[k],
                            ahead[k],
                            exact[m].iloc[k],
                            exact[a].iloc[k],
                            bool(mean[a].iloc[k] < mean[m].iloc[k]),
                        ),
                    }
                )
    return pd.DataFrame(rows, columns=COLUMNS)


def _wide(rows: pd.DataFrame, column: str, budgets: np.ndarray, methods: list) -> pd.DataFrame:
    """``column`` as a [budget, method] table (NaN where a method has no row)."""
    wide = rows.pivot_table(index="budget", columns="method", values=column)
    return wide.reindex(index=budgets, columns=methods)


def _standing(both: bool, ahead: bool, m_exact: bool, a_exact: bool, a_better: bool) -> str:
    if not both:
        return "n/a"
    if ahead:
        return "ahead"
    return "tied" if m_exact and (a_exact or a_better) else "behind"


def _first(budgets: np.ndarray, flags: np.ndarray) -> float:
    hits = np.flatnonzero(flags)
    return float(budgets[hits[0]]) if len(hits) else float("nan")


def _from(budgets: np.ndarray, flags: np.ndarray) -> float:
    """The smallest budget from which every flag (to the largest budget) is set."""
    if not len(flags) or not flags[-1]:
        return float("nan")
    misses = np.flatnonzero(~flags)
    return float(budgets[misses[-1] + 1]) if len(misses) else float(budgets[0])


def budget_label(value: float) -> str:
    """A budget as a short label: 1e+04, 3.2e+04, ...; "never" for NaN."""
    return "never" if pd.isna(value) else f"{value:.2g}"


def summary_frame(cross: pd.DataFrame) -> pd.DataFrame:
    """One row per amortized method, one column per target; each cell sorts the MCMC
    methods by the standing at the largest budget: "ahead:" with the budget from which it
    stays ahead (``ahead_from``; ``*``: clearly ahead at the largest budget), "tied:" (at
    the floor), "behind:", "n/a:" (no result at the largest budget)."""
    if cross.empty:
        return pd.DataFrame()
    targets = sorted(cross["target"].unique())
    head = {t: f"{t} ({cross[cross['target'] == t]['metric'].iloc[0]})" for t in targets}
    rows = []
    for method in sorted(cross["method"].unique()):
        row = {"amortized method": method}
        for t in targets:
            sub = cross[(cross["target"] == t) & (cross["method"] == method)]
            groups = []
            for standing in ("ahead", "tied", "behind", "n/a"):
                part = sub[sub["at_largest"] == standing].sort_values(["ahead_from", "mcmc"])
                if part.empty:
                    continue
                if standing == "ahead":
                    names = [
                        f"{r['mcmc']} {budget_label(r['ahead_from'])}"
                        + ("*" * r["clearly_at_largest"])
                        for _, r in part.iterrows()
                    ]
                else:
                    names = list(part["mcmc"])
                groups.append(f"{standing}: {', '.join(names)}")
            row[head[t]] = "; ".join(groups) or "n/a"
        rows.append(row)
    return pd.DataFrame(rows)


def summary_table(cross: pd.DataFrame) -> list[str]:
    """:func:`summary_frame` as markdown lines (method and target names as code)."""
    frame = summary_frame(cross)
    if frame.empty:
        return []
    head = [f"`{c.split(' (')[0]}` ({c.split(' (')[1]}" for c in frame.columns[1:]]
    lines = [f"| amortized method | {' | '.join(head)} |", "|---" * len(frame.columns) + "|"]
    for _, row in frame.iterrows():
        cells = [str(v) for v in row.iloc[1:]]
        lines.append(f"| `{row.iloc[0]}` | " + " | ".join(cells) + " |")
    return lines
