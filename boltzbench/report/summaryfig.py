"""``summary.png``: one figure for a paper's first page. Per target (columns) each method
is a marker at log10(median / floor) of the target's primary metric: 0 is the exact
sampler's floor, every decade above it a factor of ten worse; the best method of each
target is joined to the floor by a thin line, so the distance between any method and the
best reads off the same axis. Learned samplers are triangles, the others circles; a method
in a failure tier is a cross in the band above the axis' top, never a value.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from boltzbench.registry import is_amortized
from boltzbench.report.figures import legend_below
from boltzbench.report.heatmap import heatmap_frame
from boltzbench.report.style import DEFAULT_STYLE, FULL_WIDTH, FigureStyle, save


def plot_summary(
    board: pd.DataFrame,
    runs: pd.DataFrame,
    path: Path,
    colours: dict[str, Any],
    style: FigureStyle = DEFAULT_STYLE,
) -> Path | None:
    """Draw the summary (see the module docstring); None without a primary metric with
    a positive floor."""
    import matplotlib.pyplot as plt
    from matplotlib.lines import Line2D

    frame = heatmap_frame(board)
    if frame.empty or not np.isfinite(frame["decades"]).any():
        return None
    registry = dict(zip(runs["method"], runs.get("registry_name", runs["method"]), strict=True))
    targets = sorted(frame["target"].unique())
    methods = sorted(frame["method"].unique())
    offsets = dict(zip(methods, np.linspace(-0.3, 0.3, len(methods)), strict=True))
    finite = frame["decades"][np.isfinite(frame["decades"])]
    top = max(float(finite.max()), 1.0) * 1.08
    fig, ax = plt.subplots(figsize=(FULL_WIDTH, 2.8), layout="constrained")
    for j, target in enumerate(targets):
        sub = frame[frame["target"] == target]
        ok = sub[(sub["tier"].fillna("ok") == "ok") & np.isfinite(sub["decades"])]
        if len(ok):
            best = float(ok["decades"].min())
            ax.plot([j - 0.4, j + 0.4], [best, best], color="0.5", lw=0.6, ls=":")
        for row in sub.itertuples():
            x = j + offsets[row.method]
            marker = "^" if is_amortized(registry.get(row.method, row.method)) else "o"
            if str(row.tier) != "ok" or not np.isfinite(row.decades):
                ax.plot(x, top, marker="x", color=colours[row.method], ms=4, clip_on=False)
            else:
                ax.plot(x, row.decades, marker=marker, color=colours[row.method], ms=4, ls="")
    ax.axhline(0.0, color="k", lw=0.8, ls="--")
    ax.axhspan(top * 0.96, top * 1.04, color="0.9", lw=0)
    metrics = frame.groupby("target")["metric"].first()
    ax.set_xticks(range(len(targets)), [f"{t}\n{metrics[t]}" for t in targets], rotation=90)
    ax.set_xlim(-0.6, len(targets) - 0.4)
    ax.set_ylim(-0.15 * top, top * 1.05)
    ax.set_xlabel("target (primary metric)")
    ax.set_ylabel("log10(median / exact floor)")
    handles = [Line2D([], [], marker="o", ls="", color=colours[m], label=m) for m in methods]
    handles += [
        Line2D([], [], marker="^", ls="", color="0.3", label="learned sampler"),
        Line2D([], [], marker="x", ls="", color="0.3", label="failure tier (top band)"),
        Line2D([], [], color="k", ls="--", lw=0.8, label="exact floor"),
        Line2D([], [], color="0.5", ls=":", lw=0.6, label="best method"),
    ]
    legend_below(fig, [], handles, ncol=6)
    return save(fig, path, style)
