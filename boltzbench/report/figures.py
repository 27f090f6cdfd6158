"""Every figure of the report. Each function takes the report's ``colours`` (one colour per
method, the same in every figure, from :func:`palette`) and returns the PNG path, or None
when there is nothing to draw.

Conventions: values are never clipped (metrics that can be negative, such as the unbiased
MMD², are drawn on a symmetric-log axis); bands and error bars are the order-statistic
intervals over seeds (min–max with five seeds, 93.75 % coverage); floors are the exact
sampler's at the same sample size; legends sit outside the axes; a method whose values
exceed the others' by far is marked as diverged at the top of the axis instead of
stretching it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from boltzbench.registry import TARGETS, UnknownNameError
from boltzbench.report.style import DEFAULT_STYLE, FigureStyle, panel_size, save

MAX_COLS = 3
#: a value more than this many times the median of a panel's methods is "diverged"
DIVERGED = 100.0


def grid(n: int, aspect: float = 0.8, cols: int | None = None) -> tuple[Any, list[Any]]:
    """A figure the paper's full width (:data:`~boltzbench.report.style.FULL_WIDTH`) with n
    panels in rows of at most ``cols`` (default :data:`MAX_COLS`), each ``aspect`` times
    as high as it is wide; unused panels hidden."""
    import matplotlib.pyplot as plt

    cols = min(cols or MAX_COLS, max(1, n))
    rows = -(-n // cols)
    w, h = panel_size(cols, aspect)
    fig, axes = plt.subplots(rows, cols, figsize=(w * cols, h * rows), squeeze=False)
    flat = list(axes.ravel())
    for ax in flat[n:]:
        ax.set_visible(False)
    return fig, flat[:n]


def palette(methods: list[str]) -> dict[str, Any]:
    """One distinct hue per method, by sorted name (tab10, then tab20's dark shades, then
    its light ones, so neighbours in the list never share a hue)."""
    import seaborn as sns

    tab20 = sns.color_palette("tab20", 20)
    colours = list(sns.color_palette("tab10", 10)) + tab20[1::2]
    return {m: colours[i % len(colours)] for i, m in enumerate(sorted(methods))}


def _scale(ax: Any, values: np.ndarray, axis: str = "y") -> None:
    """Log scale when every value is positive and they span two decades; symmetric log
    when some are not positive (never clipped); linear otherwise."""
    v = values[np.isfinite(values)]
    if len(v) == 0:
        return
    setter = ax.set_yscale if axis == "y" else ax.set_xscale
    if (v > 0).all():
        if v.max() / v.min() > 100:
            setter("log")
        return
    positive = np.abs(v[v != 0])
    setter("symlog", linthresh=float(np.percentile(positive, 10)) if len(positive) else 1e-6)


def _diverged(values: dict[str, float]) -> set[str]:
    finite = [v for v in values.values() if np.isfinite(v)]
    if len(finite) < 3:
        return set()
    med = float(np.median(np.abs(finite))) or 1e-12
    return {m for m, v in values.items() if np.isfinite(v) and abs(v) > DIVERGED * med}


def legend_below(fig: Any, axes: list[Any], extra: list[Any] = (), ncol: int | None = None) -> None:
    """One legend for the figure, below its panels: every labelled artist of ``axes`` once
    (line styles such as floors included: give them a label), then the labelled handles
    ``extra``; ``ncol`` columns (default: up to four)."""
    handles, labels = {}, []
    for ax in axes:
        for h, label in zip(*ax.get_legend_handles_labels(), strict=True):
            if label not in handles and not label.startswith("_"):
                handles[label] = h
                labels.append(label)
    for h in extra:
        label = h.get_label()
        if label not in handles:
            handles[label] = h
            labels.append(label)
    if handles:
        fig.legend(
            [handles[k] for k in labels],
            labels,
            loc="upper center",
            bbox_to_anchor=(0.5, 0.0),
            ncol=ncol or min(4, len(labels)),
            frameon=False,
        )


def plot_bars(
    board: pd.DataFrame, path: Path, colours: dict[str, Any], style: FigureStyle = DEFAULT_STYLE
) -> Path | None:
    """Per target, its primary metric: each method's median over seeds as a point with its
    order-statistic interval, methods sorted by rank, the exact floor dashed, one scale
    per panel (log or symmetric log, never bars on a log axis); methods in a failure tier
    or failed marked × at the axis' bottom, diverged ones ▲ at the top with their value."""
    import matplotlib.transforms
    from matplotlib.lines import Line2D

    main = board[board["primary"].astype(bool)]
    if main.empty:
        return None
    targets = sorted(main["target"].unique())
    fig, axes = grid(len(targets), aspect=0.9)
    for ax, target in zip(axes, targets, strict=True):
        sub = main[main["target"] == target].sort_values(["rank", "method"])
        failing = sub["tier"].fillna("ok").ne("ok") | ~np.isfinite(sub["median"].astype(float))
        means = dict(zip(sub["method"], sub["median"].astype(float), strict=True))
        diverged = _diverged(means)
        shown = np.array(
            [
                v
                for (m, v), f in zip(means.items(), failing, strict=True)
                if m not in diverged and not f
            ],
            dtype=float,
        )
        top = np.nanmax(shown) if np.isfinite(shown).any() else 1.0
        along = matplotlib.transforms.blended_transform_factory(ax.transData, ax.transAxes)
        for x, (row, fail) in enumerate(zip(sub.itertuples(), failing, strict=True)):
            if fail:
                ax.plot(x, 0.03, marker="x", color="red", ms=5, transform=along, clip_on=False)
            elif row.method in diverged:
                ax.plot(x, top, marker="^", color=colours[row.method], ms=5)
                ax.annotate(
                    f"{row.median:.1e}",
                    (x, top),
                    ha="center",
                    va="bottom",
                    xytext=(0, 3),
                    textcoords="offset points",
                )
            else:
                err = (
                    [[row.median - row.low], [row.high - row.median]]
                    if np.isfinite(row.low)
                    else None
                )
                ax.errorbar(x, row.median, yerr=err, fmt="o", ms=3, color=colours[row.method])
        floor = sub["floor"].dropna()
        if len(floor):
            ax.axhline(float(floor.mean()), color="0.3", ls="--", lw=0.8, label="exact floor")
        _scale(ax, np.append(shown, floor.to_numpy(dtype=float)))
        ax.set_xticks(range(len(sub)), sub["method"], rotation=90)
        ax.set_xlabel("method (by rank)")
        ax.set_ylabel(f"{sub['metric'].iloc[0]} (median over seeds)")
        ax.set_title(target)
    extra = [
        Line2D([], [], ls="", marker="x", color="red", label="failed or in a failure tier"),
        Line2D([], [], ls="", marker="^", color="0.3", label="diverged (value printed)"),
    ]
    fig.tight_layout()
    legend_below(fig, axes, extra)
    return save(fig, path, style)


#: characters per line of a panel's "off scale" note (under its x label)
OFF_SCALE_WIDTH = 34


def plot_energy_histograms(
    runs: pd.DataFrame,
    out_dir: Path,
    path: Path,
    colours: dict[str, Any],
    style: FigureStyle = DEFAULT_STYLE,
) -> Path | None:
    """One panel per target: the density of E(x) (kT) over the reference (grey, filled)
    and over each method's samples (lowest seed; step lines), on the reference's central
    99% range widened by 10%. Each method's curve is normalised over all its samples, so
    samples outside the range are missing from it (their share is printed under the
    panel's x label, "off scale"; ``energy_w1`` sees them) rather than rescaling the rest."""
    import textwrap

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
    fig, axes = grid(len(panels), aspect=0.8)
    for ax, (name, ref_e, lines) in zip(axes, panels, strict=True):
        lo, hi = np.percentile(ref_e, [0.5, 99.5])
        pad = 0.1 * (hi - lo)
        bins = np.linspace(lo - pad, hi + pad, 60)
        ax.hist(ref_e, bins=bins, density=True, color="0.8", label="reference")
        w = 1.0 / (bins[1] - bins[0])  # per sample: normalised over all of them (see above)
        off = [(m, np.mean((e < bins[0]) | (e > bins[-1]) | ~np.isfinite(e))) for m, e in lines]
        for method, e in lines:
            kw = dict(histtype="step", color=colours[method], label=method, lw=1.2)
            ax.hist(np.nan_to_num(e, nan=np.inf), bins, weights=np.full(len(e), w / len(e)), **kw)
        note = ", ".join(f"{m} {f:.0%}" for m, f in off if f >= 0.005)
        label = "energy E(x) (kT)"
        if note:
            label += "\n" + textwrap.fill(f"off scale: {note}", OFF_SCALE_WIDTH)
        ax.set_title(name)
        ax.set_xlabel(label)
        ax.set_ylabel("density (1/kT)")
    fig.tight_layout()
    legend_below(fig, axes)
    return save(fig, path, style)
