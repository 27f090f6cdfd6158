"""Where a budget sweep's amortized samplers overtake MCMC: per target, amortized method A
and chain method M, the budgets at which A's primary metric is better than M's.

From a leaderboard with each target run at several budgets (``boltzbench run --suite
sweep``), at every budget b both methods ran: A is *ahead* of M at b when A's mean over
seeds is better than M's, and *clearly ahead* when A's 95 % interval over seeds lies wholly
on the better side of M's. Per (target, A, M):

- ``first_ahead``: the smallest budget at which A is ahead;
- ``ahead_from``: the smallest budget from which A is ahead at that budget and at every
  larger one in the sweep (NaN when A is not ahead at the largest budget: "never within
  the sweep");
- ``first_clearly_ahead``: the smallest budget at which A is clearly ahead;
- ``clearly_at_largest``: whether A is clearly ahead at the sweep's largest budget.

At a budget where A has no ok seed, A is not ahead; where A has one and M has none (M
cannot deliver the cell's samples within that budget, e.g. ``budget_exceeded``), A is
(clearly) ahead: it is the only one of the two with samples. Where M's interval reaches the
exact floor (``within_floor``), A is not ahead: nothing beats exact sampling at that sample
size, and a lower mean there is noise. Budgets are the
cells' budget units (``budget`` column). "MCMC" is every method that does not declare
``amortized = True`` (chains, parallel tempering, SMC).
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
import pandas as pd

from boltzbench.tables import lower_is_better

COLUMNS = [
    "target",
    "metric",
    "method",
    "mcmc",
    "n_budgets",
    "largest_budget",
    "first_ahead",
    "ahead_from",
    "first_clearly_ahead",
    "clearly_at_largest",
]


def crossover(board: pd.DataFrame, amortized: Iterable[str]) -> pd.DataFrame:
    """One row per (target, amortized method, MCMC method) for each target of ``board`` run
    at two budgets or more; ``board`` is a leaderboard (columns target, method, budget,
    metric, primary, mean, low, high); ``amortized`` the method labels that count as
    amortized; an optional boolean ``within_floor`` column marks MCMC rows at the exact
    floor. Empty (with ``COLUMNS``) when no target was swept."""
    amortized = set(amortized)
    sub = board[board["primary"].astype(bool)].copy()
    sub["budget"] = pd.to_numeric(sub["budget"], errors="coerce")
    sub = sub[sub["budget"].notna()]
    rows = []
    for target, rows_t in sub.groupby("target", sort=True):
        budgets = np.sort(rows_t["budget"].unique())
        if len(budgets) < 2:
            continue
        metric = str(rows_t["metric"].iloc[0])
        sign = 1.0 if lower_is_better(metric) else -1.0
        methods = sorted(rows_t["method"].unique())
        table = {
            column: rows_t.pivot_table(index="budget", columns="method", values=column)
            .reindex(index=budgets, columns=methods)
            .mul(sign)
            for column in ("mean", "low", "high")
        }
        exact = (
            rows_t.pivot_table(
                index="budget", columns="method", values="within_floor", aggfunc="max"
            )
            .reindex(index=budgets, columns=methods)
            .fillna(False)
            .astype(bool)
            if "within_floor" in rows_t
            else pd.DataFrame(False, index=budgets, columns=methods)
        )
        if sign < 0:  # on the negated scale the interval's ends swap
            table["low"], table["high"] = table["high"], table["low"]
        for a in (m for m in methods if m in amortized):
            a_ok = table["mean"][a].notna().to_numpy()
            for m in (m for m in methods if m not in amortized):
                m_none = table["mean"][m].isna().to_numpy()
                beatable = ~exact[m].to_numpy()
                better = (table["mean"][a] < table["mean"][m]).to_numpy() & beatable
                separate = (table["high"][a] < table["low"][m]).to_numpy() & beatable
                ahead = a_ok & (m_none | better)
                clearly = a_ok & (m_none | separate)
                rows.append(
                    {
                        "target": target,
                        "metric": metric,
                        "method": a,
                        "mcmc": m,
                        "n_budgets": len(budgets),
                        "largest_budget": float(budgets[-1]),
                        "first_ahead": _first(budgets, ahead),
                        "ahead_from": _from(budgets, ahead),
                        "first_clearly_ahead": _first(budgets, clearly),
                        "clearly_at_largest": bool(clearly[-1]),
                    }
                )
    return pd.DataFrame(rows, columns=COLUMNS)


def _first(budgets: np.ndarray, flags: np.ndarray) -> float:
    hits = np.flatnonzero(flags)
    return float(budgets[hits[0]]) if len(hits) else float("nan")


def _from(budgets: np.ndarray, flags: np.ndarray) -> float:
    """The smallest budget from which every flag (to the largest budget) is set."""
    if not flags[-1]:
        return float("nan")
    misses = np.flatnonzero(~flags)
    return float(budgets[misses[-1] + 1]) if len(misses) else float(budgets[0])


def budget_label(value: float) -> str:
    """A budget as a short label: 1e+04, 3.2e+04, ...; "never" for NaN."""
    return "never" if pd.isna(value) else f"{value:.2g}"


def summary_table(cross: pd.DataFrame) -> list[str]:
    """Markdown lines: one row per amortized method, one column per target; each cell lists
    the MCMC methods it stays ahead of and from which budget (``ahead_from``; ``*``: clearly
    ahead at the largest budget), then those it is not ahead of at the largest budget ("not
    at 1e+06: ..."); "none" when it is ahead of none."""
    if cross.empty:
        return []
    targets = sorted(cross["target"].unique())
    head = [f"`{t}` ({cross[cross['target'] == t]['metric'].iloc[0]})" for t in targets]
    lines = [f"| amortized method | {' | '.join(head)} |", "|---" * (len(targets) + 1) + "|"]
    for method in sorted(cross["method"].unique()):
        cells = []
        for t in targets:
            rows = cross[(cross["target"] == t) & (cross["method"] == method)]
            beaten = rows[rows["ahead_from"].notna()].sort_values(["ahead_from", "mcmc"])
            parts = []
            for _, r in beaten.iterrows():
                star = "*" if r["clearly_at_largest"] else ""
                parts.append(f"{r['mcmc']} {budget_label(r['ahead_from'])}{star}")
            never = sorted(set(rows["mcmc"]) - set(beaten["mcmc"]))
            text = ", ".join(parts) or "none"
            if parts and never:
                text += f"; not at {budget_label(rows['largest_budget'].max())}: "
                text += ", ".join(never)
            cells.append(text)
        lines.append(f"| `{method}` | " + " | ".join(cells) + " |")
    return lines
