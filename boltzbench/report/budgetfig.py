"""The budget sweep's figure, ``budgets.png``: quality against budget, one line per method.
(Apart from :mod:`boltzbench.report.figures` to keep each module small; it shares its helpers.)"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from boltzbench.report.figures import _scale, grid, legend_below
from boltzbench.report.style import DEFAULT_STYLE, FigureStyle, save


def plot_budget_sweep(
    board: pd.DataFrame, path: Path, colours: dict[str, Any], style: FigureStyle = DEFAULT_STYLE
) -> Path | None:
    """Quality against budget (a sweep): each target's primary metric (mean and 95%
    interval over seeds) against the budget, one line per method, the exact floor as a
    grey band (from the axis' bottom to the largest floor over budgets), log axes
    (symmetric log where values are not all positive), crosses near the axis' floor (one
    row per method) where a method has no ok seed at a budget; None without a target run
    at two budgets or more."""
    import matplotlib.transforms

    sub = board[board["primary"].astype(bool) & board["budget"].notna()]
    swept = sub.groupby("target")["budget"].nunique()
    targets = sorted(swept[swept >= 2].index)
    if not targets:
        return None
    fig, axes = grid(len(targets), aspect=0.8)
    for ax, target in zip(axes, targets, strict=True):
        rows = sub[sub["target"] == target]
        for method, group in rows.groupby("method", sort=True):
            g = group.sort_values("budget")
            b = g["budget"].astype(float)
            ax.plot(b, g["median"], marker="o", ms=3, color=colours[method], label=method, lw=1.2)
            ax.fill_between(b, g["low"], g["high"], color=colours[method], alpha=0.15)
        floor = rows["floor"].dropna()
        _scale(ax, np.concatenate([rows["median"].to_numpy(dtype=float), floor.to_numpy()]))
        ax.set_xscale("log")
        if len(floor):
            # the band: everything at or below the floor is indistinguishable from exact
            # sampling at the cells' sample size (its top: the largest floor over budgets)
            bottom, top = ax.get_ylim()
            lowest = float(floor.min())
            if lowest <= bottom:  # keep the band in view
                bottom = lowest / 3 if ax.get_yscale() == "log" and lowest > 0 else lowest
            ax.axhspan(
                bottom,
                float(floor.max()),
                color="0.6",
                alpha=0.3,
                label="exact floor (at or below)",
            )
            ax.set_ylim(bottom, top)
        # budgets at which a method has no ok seed (e.g. it cannot pay for the samples):
        # crosses near the axis' floor in its colour, never a value
        along = matplotlib.transforms.blended_transform_factory(ax.transData, ax.transAxes)
        failed = rows[rows["median"].isna()]
        for k, (method, group) in enumerate(failed.groupby("method", sort=True)):
            b = group["budget"].astype(float).to_numpy()
            ax.plot(
                b,
                np.full(len(b), 0.03 + 0.05 * k),  # stacked: one row of crosses per method
                "x",
                ms=5,
                mew=1.2,
                transform=along,
                color=colours[method],
                clip_on=False,
            )
        if len(failed):
            ax.plot([], [], "x", color="0.2", label="no ok seed at that budget")
        ax.set_xlabel("budget (cost units per cell)")
        ax.set_ylabel(rows["metric"].iloc[0])
        ax.set_title(target)
    fig.tight_layout()
    legend_below(fig, axes)
    return save(fig, path, style)
