"""Comparison figures beyond the heatmap and the curves: per-target bars with intervals,
energy histograms against the reference, and quality against budget for sweeps. Every
function takes the report's ``colours`` (one colour per method, the same in every plot)
and returns the PNG path, or None when there is nothing to draw."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from boltzbench.registry import TARGETS, UnknownNameError

#: metrics shown as bars, when present
BAR_METRICS = ("mmd", "energy_w2", "mean_error", "distance_tv", "rama_tv")


MAX_COLS = 4


def grid(n: int, width: float, height: float) -> tuple[Any, list[Any]]:
    """A figure with n panels in rows of at most MAX_COLS; unused panels hidden."""
    import matplotlib.pyplot as plt

    cols = min(MAX_COLS, max(1, n))
    rows = -(-n // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(width * cols, height * rows), squeeze=False)
    flat = list(axes.ravel())
    for ax in flat[n:]:
        ax.set_visible(False)
    return fig, flat[:n]


def save_png(fig: Any, path: Path) -> Path:
    """Write the figure as a PNG atomically and close it."""
    import io

    import matplotlib.pyplot as plt

    from boltzbench.io import atomic_write_bytes

    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110)
    plt.close(fig)
    atomic_write_bytes(path, buf.getvalue())
    return path


def plot_bars(board: pd.DataFrame, path: Path, colours: dict[str, Any]) -> Path | None:
    """One panel per (target, metric of BAR_METRICS present), in rows of at most MAX_COLS:
    the mean over seeds of each method as a bar with its 95% bootstrap interval, the noise
    floor dashed; failed methods are marked with an ×."""
    metrics = [m for m in BAR_METRICS if m in set(board["metric"])]
    if board.empty or not metrics:
        return None
    pairs = [
        (t, m)
        for t in sorted(board["target"].unique())
        for m in metrics
        if not board[(board["metric"] == m) & (board["target"] == t)].empty
    ]
    fig, axes = grid(len(pairs), max(3.2, 0.35 * board["method"].nunique() + 1.2), 2.9)
    for ax, (target, metric) in zip(axes, pairs, strict=True):
        sub = board[(board["metric"] == metric) & (board["target"] == target)]
        sub = sub.sort_values("method")
        if sub.empty:
            ax.set_visible(False)
            continue
        xs = np.arange(len(sub))
        means = sub["mean"].to_numpy(dtype=float)
        lows = sub["low"].to_numpy(dtype=float)
        highs = sub["high"].to_numpy(dtype=float)
        for x, (method, mean, lo, hi) in enumerate(
            zip(sub["method"], means, lows, highs, strict=True)
        ):
            if not np.isfinite(mean):
                ax.plot(x, 0, marker="x", color="red")
                continue
            ax.bar(x, mean, color=colours[method])
            if np.isfinite(lo) and np.isfinite(hi):
                ax.errorbar(x, mean, yerr=[[mean - lo], [hi - mean]], color="0.2", lw=1)
        floor = sub["floor"].dropna()
        if len(floor):
            ax.axhline(float(floor.mean()), color="0.3", ls="--", lw=0.8)
        ax.set_xticks(xs, sub["method"], rotation=60, ha="right", fontsize=7)
        ax.set_title(f"{target}: {metric}", fontsize=9)
        if np.all(means[np.isfinite(means)] > 0) and np.isfinite(means).sum() > 1:
            spread = np.nanmax(means) / max(np.nanmin(means[means > 0]), 1e-300)
            if spread > 100:
                ax.set_yscale("log")
    fig.tight_layout()
    return save_png(fig, path)


def plot_energy_histograms(
    runs: pd.DataFrame, out_dir: Path, path: Path, colours: dict[str, Any]
) -> Path | None:
    """One panel per target: the histogram of E(x) over the reference (grey, filled)
    and over each method's samples (lowest seed; step lines), on the reference's central
    99% range (samples outside it are not drawn; ``energy_w2`` sees them)."""
    import torch

    ok = runs[runs["status"] == "ok"]
    panels = []
    for target_name in sorted(ok["target"].unique()):
        try:
            target = TARGETS.get(target_name)()
            reference = target.reference().samples
        except (UnknownNameError, ImportError):
            continue
        with torch.no_grad():
            ref_e = target.energy(reference.double()).numpy()
        lines = []
        for method, group in (
            ok[ok["target"] == target_name].sort_values("seed").groupby("method", sort=True)
        ):
            file = group.iloc[0].get("samples_file")
            if isinstance(file, str) and (out_dir / file).is_file():
                xs = torch.as_tensor(np.load(out_dir / file, allow_pickle=False))
                with torch.no_grad():
                    lines.append((method, target.energy(xs.double()).numpy()))
        panels.append((target_name, ref_e, lines))
    if not panels:
        return None
    fig, axes = grid(len(panels), 4.4, 3.4)
    for ax, (name, ref_e, lines) in zip(axes, panels, strict=True):
        lo, hi = np.percentile(ref_e, [0.5, 99.5])
        pad = 0.1 * (hi - lo)
        bins = np.linspace(lo - pad, hi + pad, 60)
        ax.hist(ref_e, bins=bins, density=True, color="0.8", label="reference")
        for method, e in lines:
            ax.hist(
                e,
                bins=bins,
                density=True,
                histtype="step",
                color=colours[method],
                label=method,
                lw=1.2,
            )
        ax.set_title(f"{name}: energy E(x) (kT)", fontsize=9)
        ax.legend(fontsize=6)
    fig.tight_layout()
    return save_png(fig, path)


def plot_budget_sweep(
    board: pd.DataFrame, path: Path, colours: dict[str, Any], metric: str = "mmd"
) -> Path | None:
    """Quality against budget for a ``--budgets`` sweep: ``metric`` (mean and 95%
    interval over seeds) against the budget, one panel per target run at two budgets or
    more; None when there is none."""

    sub = board[(board["metric"] == metric) & board["budget"].notna()]
    swept = sub.groupby("target")["budget"].nunique()
    targets = sorted(swept[swept >= 2].index)
    if not targets:
        return None
    sub = sub[sub["target"].isin(targets)]
    fig, axes = grid(len(targets), 4.6, 3.6)
    for ax, target in zip(axes, targets, strict=True):
        for method, group in sub[sub["target"] == target].groupby("method", sort=True):
            g = group.sort_values("budget")
            b = g["budget"].astype(float)
            ax.plot(b, g["mean"], marker="o", color=colours[method], label=method, lw=1.2)
            ax.fill_between(b, g["low"], g["high"], color=colours[method], alpha=0.15)
        ax.set_xscale("log")
        ax.set_xlabel("budget (energy + gradient evaluations)")
        ax.set_ylabel(metric)
        ax.set_title(target)
        ax.legend(fontsize=7)
    fig.tight_layout()
    return save_png(fig, path)
