"""``curves_<target>.png``: quality against cost for every method that records snapshots,
one figure per target, faceted by family so that at most :data:`PER_PANEL` methods share
a panel (learned samplers, then the others), against budget units and, where the
snapshots carry their wall clock, against seconds.

Near zero: an unbiased estimate (MMD²) can be negative. The y axis is linear from 0 up to
the largest exact floor and logarithmic above it (a symmetric log with its linear part
ending at the smallest floor), so estimates within the floor's noise sit near 0, a negative one
below it, with no zig-zag through decades of tiny values; the floor itself is a grey band
from the axis' bottom.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from boltzbench.registry import is_amortized
from boltzbench.report.figures import grid, legend_below
from boltzbench.report.ranks import interval
from boltzbench.report.style import DEFAULT_STYLE, FigureStyle, save
from boltzbench.report.tables import primary_metrics

#: most methods drawn in one panel
PER_PANEL = 6


def families(methods: list[str], registry: dict[str, str]) -> list[tuple[str, list[str]]]:
    """(title, methods) panels: learned samplers, then the others, each cut into chunks of
    at most :data:`PER_PANEL` (sorted names)."""
    learned = sorted(m for m in methods if is_amortized(registry.get(m, m)))
    others = sorted(m for m in methods if m not in learned)
    panels = []
    for title, group in (("learned samplers", learned), ("chains and other samplers", others)):
        chunks = [group[i : i + PER_PANEL] for i in range(0, len(group), PER_PANEL)]
        for k, chunk in enumerate(chunks):
            suffix = f" ({k + 1}/{len(chunks)})" if len(chunks) > 1 else ""
            panels.append((title + suffix, chunk))
    return panels


def seed_curve(group: pd.DataFrame, metric: str, x: str) -> np.ndarray:
    """Per snapshot index k (the k-th snapshot of every seed): [x mean, median, low, high,
    floor] over seeds; rows with x ≤ 0 dropped."""
    group = group.assign(k=group.groupby("seed").cumcount())
    stats = []
    for _, snap in group.groupby("k"):
        mid, lo, hi, _ = interval(pd.to_numeric(snap[metric], errors="coerce"))
        floor = pd.to_numeric(snap.get(f"{metric}_floor"), errors="coerce").mean()
        stats.append((pd.to_numeric(snap[x], errors="coerce").mean(), mid, lo, hi, floor))
    st = np.array(stats, dtype=float).reshape(-1, 5)
    return st[np.isfinite(st[:, 0]) & (st[:, 0] > 0)]


def _near_zero_scale(ax: Any, values: np.ndarray, floor: float) -> None:
    """Linear up to the floor, log above (see the module docstring); plain log when every
    value is positive and far above the floor, linear when nothing spans a decade."""
    v = values[np.isfinite(values)]
    if not len(v):
        return
    if (v <= 0).any() or (np.isfinite(floor) and floor > 0 and v.min() < 10 * floor):
        thresh = floor if np.isfinite(floor) and floor > 0 else float(np.abs(v[v != 0]).min())
        ax.set_yscale("symlog", linthresh=thresh, linscale=1.0)
    elif v.max() / v.min() > 30:
        ax.set_yscale("log")


def _end_point(
    ax: Any, cells: pd.DataFrame, metric: str, x: str, colours: dict[str, Any]
) -> list[float]:
    """A method without snapshots: one marker at its cells' mean cost (or seconds of fit
    and sample) and median, with the interval over seeds; returns the values drawn."""
    if metric not in cells or cells.empty:
        return []
    mid, lo, hi, _ = interval(pd.to_numeric(cells[metric], errors="coerce"))
    if x == "cost":
        at = pd.to_numeric(cells["total_cost"], errors="coerce").mean()
    else:
        at = (
            pd.to_numeric(cells["train_seconds"], errors="coerce")
            + pd.to_numeric(cells["sample_seconds"], errors="coerce")
        ).mean()
    if not (np.isfinite(at) and at > 0 and np.isfinite(mid)):
        return []
    method = str(cells["method"].iloc[0])
    err = [[mid - lo], [hi - mid]] if np.isfinite(lo) else None
    ax.errorbar(at, mid, yerr=err, fmt="o", ms=3, color=colours[method], label=method)
    return [mid, lo, hi]


def plot_target_curves(
    curves: pd.DataFrame,
    runs: pd.DataFrame,
    target: str,
    path: Path,
    colours: dict[str, Any],
    style: FigureStyle = DEFAULT_STYLE,
) -> Path | None:
    """One target's curves (see the module docstring): columns = families, rows = x axes
    (budget units; seconds where recorded). Lines: median over seeds of the k-th snapshot;
    bands: the order-statistic interval over seeds; grey band: the exact floor. None
    without snapshots."""
    sub = curves[curves["target"] == target] if not curves.empty else curves
    ok = runs[(runs["target"] == target) & (runs["status"] == "ok")]
    if sub.empty or ok.empty:
        return None
    budgets = pd.to_numeric(ok.get("budget"), errors="coerce")
    if "budget" in sub and budgets.notna().any():  # the cells' budget (a sweep: its largest)
        sub = sub[pd.to_numeric(sub["budget"], errors="coerce") == budgets.max()]
    metric = primary_metrics(ok)[target]
    if metric not in sub or sub[metric].isna().all():
        return None
    registry = dict(zip(ok["method"], ok.get("registry_name", ok["method"]), strict=True))
    panels = families(sorted(ok["method"].unique()), registry)
    axes_x = [("cost", "budget units spent")]
    if "seconds" in sub and sub["seconds"].notna().any():
        axes_x.append(("seconds", "wall seconds since fit began"))
    fig, axes = grid(len(panels) * len(axes_x), aspect=0.75, cols=len(panels))
    # the smallest floor (the largest snapshots): the band and the linear part end there
    floors = pd.to_numeric(sub.get(f"{metric}_floor"), errors="coerce")
    floor = float(floors[floors > 0].min()) if (floors > 0).any() else float("nan")
    for r, (x, xlabel) in enumerate(axes_x):
        for c, (title, methods) in enumerate(panels):
            ax = axes[r * len(panels) + c]
            values: list[float] = []
            for method in methods:
                st = seed_curve(sub[sub["method"] == method], metric, x)
                if len(st):
                    ax.plot(st[:, 0], st[:, 1], color=colours[method], label=method)
                    ax.fill_between(st[:, 0], st[:, 2], st[:, 3], color=colours[method], alpha=0.2)
                    values += list(st[:, 1:4].ravel())
                else:  # no snapshots: the cell's end point with its interval
                    values += _end_point(ax, ok[ok["method"] == method], metric, x, colours)
            _near_zero_scale(ax, np.array(values, dtype=float), floor)
            if np.isfinite(floor):
                bottom = min(ax.get_ylim()[0], 0.0)
                ax.axhspan(bottom, floor, color="0.6", alpha=0.3, lw=0, label="exact floor")
            ax.set_xscale("log")
            ax.set_xlabel(xlabel)
            ax.set_ylabel(metric)
            ax.set_title(title)
    fig.suptitle(f"{target}: {metric} against cost")
    legend_below(fig, axes)
    fig.tight_layout()
    return save(fig, path, style)
