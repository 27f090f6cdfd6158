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

import io
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from boltzbench.files import atomic_write_bytes
from boltzbench.registry import TARGETS, UnknownNameError
from boltzbench.report.ranks import interval
from boltzbench.report.tables import primary_metrics

MAX_COLS = 4
#: a value more than this many times the median of a panel's methods is "diverged"
DIVERGED = 100.0


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
    import matplotlib.pyplot as plt

    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110, bbox_inches="tight")
    plt.close(fig)
    atomic_write_bytes(path, buf.getvalue())
    return path


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


def _legend(fig: Any, axes: list[Any]) -> None:
    handles, labels = {}, []
    for ax in axes:
        for h, label in zip(*ax.get_legend_handles_labels(), strict=True):
            if label not in handles:
                handles[label] = h
                labels.append(label)
    if handles:
        fig.legend(
            [handles[k] for k in labels],
            labels,
            loc="center left",
            bbox_to_anchor=(1.0, 0.5),
            fontsize=8,
            frameon=False,
        )


def plot_heatmap(board: pd.DataFrame, path: Path) -> Path | None:
    """Methods × targets on each target's primary metric (and the metrics shown in the
    tables), coloured by rank with a colour bar; n/a cells grey, failed cells hatched."""
    import matplotlib.pyplot as plt

    if board.empty:
        return None
    primary = board[board["primary"].astype(bool)]
    if primary.empty:
        return None
    rank = primary.pivot_table(index="method", columns="target", values="rank", aggfunc="first")
    value = primary.pivot_table(index="method", columns="target", values="median", aggfunc="first")
    value = value.reindex(index=rank.index, columns=rank.columns)  # failed cells: NaN
    n_m, n_t = rank.shape
    fig, ax = plt.subplots(figsize=(1.5 * n_t + 3, 0.42 * n_m + 1.8))
    cmap = plt.get_cmap("RdYlGn_r").with_extremes(bad="0.85")
    image = ax.imshow(
        rank.to_numpy(dtype=float), cmap=cmap, vmin=1, vmax=max(2, n_m), aspect="auto"
    )
    for i, method in enumerate(rank.index):
        for j, target in enumerate(rank.columns):
            r, v = rank.loc[method, target], value.loc[method, target]
            if not np.isfinite(r):
                text = "n/a"
            elif not np.isfinite(v):
                text = "failed"
                ax.add_patch(plt.Rectangle((j - 0.5, i - 0.5), 1, 1, fill=False, hatch="//"))
            else:
                text = f"{v:.3g}"
            ax.text(j, i, text, ha="center", va="center", fontsize=7)
    metrics = primary.groupby("target")["metric"].first()
    ax.set_xticks(range(n_t), [f"{t}\n({metrics[t]})" for t in rank.columns], fontsize=8)
    ax.set_yticks(range(n_m), rank.index, fontsize=8)
    ax.set_title("Primary metric per target (value: median over seeds; colour: rank)")
    fig.colorbar(image, ax=ax, label="rank (1 = best; shared where intervals overlap)")
    return save_png(fig, path)


def plot_curves(curves: pd.DataFrame, runs: pd.DataFrame, path: Path, colours: dict) -> Path | None:
    """Quality against cost: each target's primary metric against the budget units spent
    (log x), one line per method (median over seeds of its k-th snapshot, band:
    order-statistic interval), the exact floor at the snapshot's sample size dashed in the method's
    colour. Methods without snapshots appear as one point with its interval."""
    ok = runs[runs["status"] == "ok"]
    if ok.empty:
        return None
    primary = primary_metrics(ok)
    targets = sorted(ok["target"].unique())
    fig, axes = grid(len(targets), 4.6, 3.6)
    for ax, target in zip(axes, targets, strict=True):
        metric = primary[target]
        sub = curves[curves["target"] == target] if not curves.empty else curves
        drawn: set[str] = set()
        values: list[float] = []
        if metric in sub:
            for method, group in sub.groupby("method", sort=True):
                group = group.assign(k=group.groupby("seed").cumcount())
                stats = []
                for _, snap in group.groupby("k"):
                    mean, lo, hi, _ = interval(pd.to_numeric(snap[metric], errors="coerce"))
                    floor = pd.to_numeric(snap.get(f"{metric}_floor"), errors="coerce").mean()
                    stats.append((snap["cost"].mean(), mean, lo, hi, floor))
                st = np.array(stats, dtype=float)
                st = st[st[:, 0] > 0]
                if not len(st):
                    continue
                ax.plot(st[:, 0], st[:, 1], color=colours[method], label=method, lw=1.3)
                ax.fill_between(st[:, 0], st[:, 2], st[:, 3], color=colours[method], alpha=0.2)
                ax.plot(st[:, 0], st[:, 4], color=colours[method], ls=":", lw=0.8)
                values += list(st[:, 1])
                drawn.add(method)
        for method, group in ok[(ok["target"] == target) & ~ok["method"].isin(drawn)].groupby(
            "method", sort=True
        ):
            if metric not in group:
                continue
            mean, lo, hi, _ = interval(pd.to_numeric(group[metric], errors="coerce"))
            x = pd.to_numeric(group["total_cost"], errors="coerce").mean()
            err = [[mean - lo], [hi - mean]] if np.isfinite(lo) else None
            ax.errorbar(x, mean, yerr=err, fmt="o", color=colours[method], label=method)
            values.append(mean)
        _scale(ax, np.array(values, dtype=float))
        ax.set_xscale("log")
        ax.set_xlabel("cost (budget units spent)")
        ax.set_ylabel(metric)
        ax.set_title(f"{target}: {metric} (dotted: exact floor at that n)", fontsize=9)
    _legend(fig, axes)
    fig.tight_layout()
    return save_png(fig, path)


def plot_bars(board: pd.DataFrame, path: Path, colours: dict[str, Any]) -> Path | None:
    """Per target, its primary metric: each method's median over seeds as a point with its
    95% interval, methods sorted by rank, the exact floor dashed, one scale per panel
    (log or symmetric log, never bars on a log axis); failed methods marked ×, diverged
    ones ▲ at the top."""
    main = board[board["primary"].astype(bool)]
    if main.empty:
        return None
    targets = sorted(main["target"].unique())
    fig, axes = grid(len(targets), max(3.4, 0.3 * main["method"].nunique() + 1.6), 3.2)
    for ax, target in zip(axes, targets, strict=True):
        sub = main[main["target"] == target].sort_values(["rank", "method"])
        means = dict(zip(sub["method"], sub["median"].astype(float), strict=True))
        diverged = _diverged(means)
        shown = np.array([v for m, v in means.items() if m not in diverged], dtype=float)
        top = np.nanmax(shown) if np.isfinite(shown).any() else 1.0
        for x, row in enumerate(sub.itertuples()):
            if not np.isfinite(row.median):
                ax.plot(x, 0, marker="x", color="red", ms=8)
            elif row.method in diverged:
                ax.plot(x, top, marker="^", color=colours[row.method], ms=8)
                ax.annotate(f"{row.median:.2g}", (x, top), fontsize=6, ha="center", va="bottom")
            else:
                err = (
                    [[row.median - row.low], [row.high - row.median]]
                    if np.isfinite(row.low)
                    else None
                )
                ax.errorbar(x, row.median, yerr=err, fmt="o", color=colours[row.method])
        floor = sub["floor"].dropna()
        if len(floor):
            ax.axhline(float(floor.mean()), color="0.3", ls="--", lw=0.8, label="exact floor")
        _scale(ax, np.append(shown, floor.to_numpy(dtype=float)))
        ax.set_xticks(range(len(sub)), sub["method"], rotation=60, ha="right", fontsize=7)
        ax.set_title(f"{target}: {sub['metric'].iloc[0]}", fontsize=9)
    fig.tight_layout()
    return save_png(fig, path)


#: where a panel of energy.png says what share of each method's samples is off scale
OFF_SCALE_TEXT = dict(ha="right", va="top", fontsize=6)


def plot_energy_histograms(
    runs: pd.DataFrame, out_dir: Path, path: Path, colours: dict[str, Any]
) -> Path | None:
    """One panel per target: the density of E(x) (kT) over the reference (grey, filled)
    and over each method's samples (lowest seed; step lines), on the reference's central
    99% range widened by 10%. Each method's curve is normalised over all its samples, so
    samples outside the range are missing from it (their share is printed in the panel,
    "off scale"; ``energy_w1`` sees them) rather than rescaling the rest."""
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
        w = 1.0 / (bins[1] - bins[0])  # per sample: normalised over all of them (see above)
        off = [(m, np.mean((e < bins[0]) | (e > bins[-1]) | ~np.isfinite(e))) for m, e in lines]
        for method, e in lines:
            kw = dict(histtype="step", color=colours[method], label=method, lw=1.2)
            ax.hist(np.nan_to_num(e, nan=np.inf), bins, weights=np.full(len(e), w / len(e)), **kw)
        note = ", ".join(f"{m} {f:.0%}" for m, f in off if f >= 0.005)
        if note:
            ax.text(0.99, 0.98, f"off scale: {note}", transform=ax.transAxes, **OFF_SCALE_TEXT)
        ax.set_title(name, fontsize=9)
        ax.set_xlabel("energy E(x) (kT)")
        ax.set_ylabel("density")
    _legend(fig, axes)
    fig.tight_layout()
    return save_png(fig, path)


def plot_samples(
    runs: pd.DataFrame, out_dir: Path, path: Path, target_name: str, colours: dict[str, Any]
) -> Path | None:
    """A grid of samples over energy contours of a 2-D target (rows: the reference, then
    each method; columns: seeds; shared axes, 1.7 in per panel, 1000 points each); for a
    target with backbone dihedrals (``aldp``) the Ramachandran plane (φ, ψ) instead."""
    import matplotlib.pyplot as plt
    import torch

    try:
        target = TARGETS.get(target_name)()
    except (UnknownNameError, ImportError):
        return None
    rama = getattr(target, "ramachandran", None)
    if target.dim != 2 and rama is None:
        return None
    sub = runs[(runs["target"] == target_name) & (runs["status"] == "ok")]
    seeds = sorted(sub["seed"].unique())[:5] or [0]
    rows: list[tuple[str, list[np.ndarray | None]]] = [
        ("reference", [target.reference().samples.numpy()] + [None] * (len(seeds) - 1))
    ]
    for method, group in sub.groupby("method", sort=True):
        cells = []
        for seed in seeds:
            match = group[group["seed"] == seed]
            file = match.iloc[0]["samples_file"] if len(match) else None
            ok = isinstance(file, str) and (out_dir / file).is_file()
            cells.append(np.load(out_dir / file, allow_pickle=False) if ok else None)
        rows.append((method, cells))
    to_plane = (lambda xs: rama(torch.as_tensor(xs[:1000])).numpy()) if rama else (lambda xs: xs)
    if target.box is not None:
        (x0, x1), (y0, y1) = target.box
    else:
        lo, hi = np.percentile(to_plane(rows[0][1][0]), [0.5, 99.5], axis=0)
        (x0, x1), (y0, y1) = (lo[0], hi[0]), (lo[1], hi[1])
    gx, gy = np.meshgrid(np.linspace(x0, x1, 150), np.linspace(y0, y1, 150))
    energy = None
    if rama is None:
        grid_pts = torch.tensor(np.stack([gx.ravel(), gy.ravel()], 1), dtype=torch.float32)
        with torch.no_grad():
            energy = target.energy(grid_pts).numpy().reshape(gx.shape)
        levels = np.unique(np.quantile(energy, np.linspace(0.0, 0.6, 10)))
    fig, axes = plt.subplots(
        len(rows),
        len(seeds),
        figsize=(1.7 * len(seeds) + 0.8, 1.7 * len(rows)),
        squeeze=False,
        sharex=True,
        sharey=True,
    )
    for i, (name, cells) in enumerate(rows):
        for j, xs in enumerate(cells):
            ax = axes[i][j]
            ax.set_xticks([])
            ax.set_yticks([])
            if energy is not None:
                ax.contour(gx, gy, energy, levels=levels, colors="0.7", linewidths=0.4)
            if xs is not None:
                pts = to_plane(xs)[:1000]
                colour = "0.2" if name == "reference" else colours[name]
                ax.scatter(pts[:, 0], pts[:, 1], s=0.8, alpha=0.5, color=colour)
            ax.set_xlim(x0, x1)
            ax.set_ylim(y0, y1)
            if j == 0:
                ax.set_ylabel(name, fontsize=7, rotation=0, ha="right", va="center")
            if i == 0:
                ax.set_title("reference" if j == 0 else "", fontsize=7)
            if i == 1:
                ax.set_title(f"seed {seeds[j]}", fontsize=7)
    what = "Ramachandran plane (φ, ψ)" if rama is not None else "samples over energy contours"
    fig.suptitle(f"{target_name}: {what}", fontsize=9)
    return save_png(fig, path)
