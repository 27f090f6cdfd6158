"""The winner map of a sweep (``plots/winner_map.png``) and the answer it gives, read from
``winner.csv`` (written by ``boltzbench winner``, :mod:`boltzbench.score.winner`).

Per target: the number of draws N on x, the price of one energy evaluation on y (both log),
colour = the cheapest method to deliver N draws at the requirement, contours of the
winner's margin (log10 of the runner-up's seconds over the winner's), the target's own
measured price dashed, 10 ms (semi-empirical quantum chemistry) and 1 s (DFT) dotted.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd

from boltzbench.report.figures import grid, legend_below, palette
from boltzbench.report.style import DEFAULT_STYLE, FigureStyle, save, styled

#: prices marked on the map: what an evaluation costs in these settings (seconds)
MARKS = {"semi-empirical QC (10 ms)": 1e-2, "DFT (1 s)": 1.0}


def _grid_table(rows: pd.DataFrame) -> pd.DataFrame:
    return rows[rows["price"] != "measured"]


def plot_winner_map(
    table: pd.DataFrame,
    path: Path,
    requirement: str = "floor",
    style: FigureStyle = DEFAULT_STYLE,
) -> Path | None:
    """Draw the map (see the module docstring); None without rows for ``requirement``."""
    with styled():
        return _draw_map(table, path, requirement, style)


def _draw_map(table: pd.DataFrame, path: Path, requirement: str, style: FigureStyle):
    import matplotlib.patches
    from matplotlib.lines import Line2D

    rows = table[table["requirement"] == requirement]
    if rows.empty:
        return None
    targets = sorted(rows["target"].unique())
    methods = sorted(set(rows["winner"]) - {"none"})
    colours = palette(methods) | {"none": (0.85, 0.85, 0.85)}
    fig, axes = grid(len(targets), aspect=0.85)
    for ax, target in zip(axes, targets, strict=True):
        sub = _grid_table(rows[rows["target"] == target])
        ns = np.sort(sub["n_samples"].unique().astype(float))
        prices = np.sort(sub["seconds_per_eval"].unique().astype(float))
        pivot = sub.pivot_table(
            index="seconds_per_eval", columns="n_samples", values="winner", aggfunc="first"
        ).reindex(index=prices, columns=ns)
        margin = sub.pivot_table(
            index="seconds_per_eval", columns="n_samples", values="margin", aggfunc="first"
        ).reindex(index=prices, columns=ns)
        cells = pivot.fillna("none").values
        rgb = np.array([[colours.get(m, colours["none"])[:3] for m in row] for row in cells])
        lx, ly = np.log10(ns), np.log10(prices)
        ax.imshow(
            rgb,
            origin="lower",
            aspect="auto",
            extent=(lx[0] - 0.25, lx[-1] + 0.25, ly[0] - 0.5, ly[-1] + 0.5),
            interpolation="nearest",
        )
        z = np.log10(margin.values.astype(float).clip(min=1.0))
        if np.isfinite(z).sum() > 4 and np.nanmax(z) > 0:
            contour = ax.contour(lx, ly, z, levels=[0.1, 0.3, 1.0], colors="k", linewidths=0.6)
            ax.clabel(contour, fmt=lambda v: f"×{10**v:.3g}", fontsize=7)
        measured = rows[(rows["target"] == target) & (rows["price"] == "measured")]
        if len(measured):
            y = math.log10(float(measured["seconds_per_eval"].iloc[0]))
            ax.axhline(y, color="k", ls="--", lw=0.8)
        for price in MARKS.values():
            ax.axhline(math.log10(price), color="k", ls=":", lw=0.8)
        ax.set_title(f"{target} ({requirement})")
        ax.set_xlabel("draws needed, log10 N")
        ax.set_ylabel("seconds per evaluation, log10")
    handles = [matplotlib.patches.Patch(color=colours[m], label=m) for m in [*methods, "none"]]
    handles += [
        Line2D([], [], color="k", ls="--", lw=0.8, label="this target's measured price"),
        Line2D([], [], color="k", ls=":", lw=0.8, label="10 ms (semi-empirical QC), 1 s (DFT)"),
        Line2D([], [], color="k", lw=0.6, label="winner's margin (×: runner-up / winner)"),
    ]
    fig.tight_layout()
    legend_below(fig, [], handles, ncol=3)
    return save(fig, path, style)


def _from_n(sub: pd.DataFrame, price: float) -> str:
    """The smallest N from which an evaluation-free sampler wins at every larger N on the grid, at
    the grid price nearest ``price``; '' when it never does."""
    prices = sub["seconds_per_eval"].unique()
    nearest = prices[np.argmin(np.abs(np.log10(prices) - math.log10(price)))]
    at = sub[sub["seconds_per_eval"] == nearest].sort_values("n_samples")
    learned = at["winner_free_draws"].astype(bool).to_numpy()
    if not learned[-1]:
        return ""
    first = len(learned) - int(np.argmin(learned[::-1])) if not learned.all() else 0
    pick = at.iloc[first]
    budget = f"{pick['winner_budget']:.3g}"
    return f"from N = {int(pick['n_samples']):,} (`{pick['winner']}`, budget {budget})"


def answer_lines(table: pd.DataFrame, requirement: str = "floor") -> list[str]:
    """One sentence per target: from which N an amortized sampler whose draws cost no
    evaluations (``winner_free_draws``) is the cheapest way to N draws at the requirement,
    at the target's measured price, 10 ms and 1 s an evaluation — or that it never is
    within the sweep's N ≤ 1e7."""
    lines = []
    for target, sub in table[table["requirement"] == requirement].groupby("target", sort=True):
        measured = sub[sub["price"] == "measured"]["seconds_per_eval"]
        grid_rows = _grid_table(sub)
        parts = []
        for label, price in (
            (f"its measured {float(measured.iloc[0]):.2g} s", float(measured.iloc[0])),
            ("10 ms", 1e-2),
            ("1 s", 1.0),
        ):
            rows = sub[sub["price"] == "measured"] if label.startswith("its") else grid_rows
            found = _from_n(rows, price)
            parts.append(f"at {label} an evaluation {found or 'never'}")
        lines.append(f"`{target}`: an amortized sampler is the cheapest " + "; ".join(parts) + ".")
    return lines
