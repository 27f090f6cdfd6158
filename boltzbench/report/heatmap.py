"""``heatmap.png``: methods × targets on each target's primary metric, coloured by how far
the value is from the exact sampler's floor (orders of magnitude), cells at the floor
marked, failure tiers shown as tiers, never as colours of a value."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from boltzbench.report.figures import legend_below
from boltzbench.report.style import DEFAULT_STYLE, FULL_WIDTH, MIN_FONT, FigureStyle, save

#: the colour scale's top: this many orders of magnitude above the floor (or more)
DECADES = 3.0
#: the values' font in the cells (the paper's minimum: ten targets fit the full width)
CELL_FONT = MIN_FONT


def floor_distance(median: float, floor: float) -> float:
    """log10(median / floor) for a positive floor, 0 at or below it; NaN without a
    positive floor or value."""
    if not (np.isfinite(median) and np.isfinite(floor)) or floor <= 0:
        return float("nan")
    return float(np.log10(max(median, floor) / floor))


def heatmap_frame(board: pd.DataFrame) -> pd.DataFrame:
    """One row per (method, target) of the primary metric: median, floor, within_floor,
    tier and ``decades`` (:func:`floor_distance`)."""
    primary = board[board["primary"].astype(bool)].copy()
    if primary.empty:
        return primary
    primary["decades"] = [
        floor_distance(float(m), float(f))
        for m, f in zip(primary["median"], primary["floor"], strict=True)
    ]
    return primary


def _label(row: pd.Series) -> str:
    tier = str(row.get("tier", "ok"))
    if tier not in ("ok", "nan"):
        return tier.replace("_", "\n")
    if not np.isfinite(row["median"]):
        return "failed"
    return f"{row['median']:.2g}"


def plot_heatmap(
    board: pd.DataFrame, path: Path, style: FigureStyle = DEFAULT_STYLE
) -> Path | None:
    """Methods (rows, by mean rank) × targets (columns): colour = orders of magnitude of
    the median above the target's floor (0 to :data:`DECADES`, clipped above), text = the
    median; a cell at the floor (its interval reaches it) is outlined in black and its
    text bold; a cell in a failure tier is hatched grey with the tier's name; no run:
    white with "n/a". None when the board has no primary metric."""
    import matplotlib.pyplot as plt
    from matplotlib.patches import Patch, Rectangle

    frame = heatmap_frame(board)
    if frame.empty:
        return None
    order = frame.groupby("method")["rank"].mean().sort_values(kind="stable").index
    targets = sorted(frame["target"].unique())
    cells = frame.set_index(["method", "target"])
    n_m, n_t = len(order), len(targets)
    values = np.full((n_m, n_t), np.nan)
    for i, method in enumerate(order):
        for j, target in enumerate(targets):
            if (method, target) in cells.index:
                row = cells.loc[(method, target)]
                if str(row.get("tier", "ok")) == "ok":
                    values[i, j] = row["decades"]
    height = 0.22 * n_m + 1.3
    fig, ax = plt.subplots(figsize=(FULL_WIDTH, height), layout="constrained")
    cmap = plt.get_cmap("viridis_r").with_extremes(bad="white")
    image = ax.imshow(values, cmap=cmap, vmin=0, vmax=DECADES, aspect="auto")
    for i, method in enumerate(order):
        for j, target in enumerate(targets):
            if (method, target) not in cells.index:
                ax.text(j, i, "n/a", ha="center", va="center", color="0.4", fontsize=CELL_FONT)
                continue
            row = cells.loc[(method, target)]
            label = _label(row)
            failing = str(row.get("tier", "ok")) != "ok" or not np.isfinite(row["median"])
            if failing:
                ax.add_patch(
                    Rectangle(
                        (j - 0.5, i - 0.5),
                        1,
                        1,
                        facecolor="0.85",
                        hatch="///",
                        edgecolor="0.6",
                        lw=0,
                    )
                )
                ax.text(j, i, label, ha="center", va="center", color="0.1", fontsize=CELL_FONT)
                continue
            at_floor = bool(row["within_floor"])
            shade = values[i, j]
            dark = np.isfinite(shade) and shade > 0.45 * DECADES  # dark cells: white text
            ax.text(
                j,
                i,
                label,
                ha="center",
                va="center",
                color="white" if dark else "black",
                fontweight="bold" if at_floor else "normal",
                fontsize=CELL_FONT,
            )
            if at_floor:
                ax.add_patch(
                    Rectangle(
                        (j - 0.46, i - 0.42), 0.92, 0.84, fill=False, lw=1.2, edgecolor="black"
                    )
                )
    metrics = frame.groupby("target")["metric"].first()
    ax.set_xticks(range(n_t), [f"{t}\n{metrics[t]}" for t in targets], rotation=90)
    ax.set_yticks(range(n_m), list(order))
    ax.set_xlabel("target (primary metric)")
    ax.set_ylabel("method (by mean rank)")
    bar = fig.colorbar(image, ax=ax, fraction=0.04, pad=0.02, extend="max")
    bar.set_label("log10(median / floor)")
    handles = [
        Patch(facecolor="white", edgecolor="black", lw=1.2, label="at the floor (bold)"),
        Patch(facecolor="0.85", edgecolor="0.6", hatch="///", label="failure tier"),
    ]
    legend_below(fig, [], handles, ncol=2)
    return save(fig, path, style)
