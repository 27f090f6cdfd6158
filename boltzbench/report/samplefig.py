"""``samples_<target>.png``: every method's samples beside the reference, for every target.

Each panel shows the reference in grey behind a method's samples (2-D targets: contours of
the energy; otherwise the reference's density on that plane as filled grey contours), so no
panel is empty and the reference is in every comparison; seed 0 is drawn in the method's
colour over a second seed in black. A 2-D target gets one panel per method; any other
target gets pair plots of its collective variables (:func:`collective_variables`), one row
per method: the 2-D projections of the first three and the first one's marginal. Points
are rasterized in the PDF and SVG files (which stay small); axes and text stay vectors.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch

from boltzbench.registry import TARGETS, UnknownNameError
from boltzbench.report.figures import grid, legend_below
from boltzbench.report.style import DEFAULT_STYLE, FULL_WIDTH, FigureStyle, save

#: built-in targets whose leading coordinates are the ones to look at (the funnel's neck
#: x₁ against the others; many_well's first double-well pairs)
LEADING_COORDINATES = {"funnel": 3, "many_well": 3}
#: points per panel
POINTS = 1000


def collective_variables(target: Any, x: torch.Tensor) -> tuple[list[str], np.ndarray]:
    """(names, values [n, k]) of the variables a picture of ``target``'s samples uses, in
    this order: the target's own ``collective_variables(x)`` if it declares one; the
    backbone torsions (φ, ψ) of a target with ``ramachandran``; for particle systems the
    smallest, mean and largest pair distance (d_min, d_mean, d_max, in the target's length
    unit); the leading coordinates of the targets in
    :data:`LEADING_COORDINATES`; otherwise the projections on the reference's three
    leading principal components (PC1, PC2, PC3)."""
    declared = getattr(target, "collective_variables", None)
    if callable(declared):
        names, values = declared(x)
        return list(names), np.asarray(values, dtype=float)
    rama = getattr(target, "ramachandran", None)
    if callable(rama):
        return ["φ (rad)", "ψ (rad)"], rama(x).detach().numpy()
    n_part, sdim = getattr(target, "n_particles", None), getattr(target, "spatial_dim", None)
    if n_part and sdim:
        p = x.double().reshape(x.shape[0], n_part, sdim)
        i, j = torch.triu_indices(n_part, n_part, offset=1)
        d = (p[:, i] - p[:, j]).norm(dim=-1)
        stats = torch.stack([d.min(1).values, d.mean(1), d.max(1).values], 1)
        return ["d_min", "d_mean", "d_max"], stats.numpy()
    k = LEADING_COORDINATES.get(target.name)
    if k:
        return [f"x{i + 1}" for i in range(k)], x[:, :k].double().numpy()
    ref = target.reference().samples.double()
    mean = ref.mean(0)
    _, _, v = torch.linalg.svd(ref - mean, full_matrices=False)
    k = min(3, int(target.dim))
    return [f"PC{i + 1}" for i in range(k)], ((x.double() - mean) @ v[:k].T).numpy()


def _load(out_dir: Path, group: pd.DataFrame, seed: int) -> np.ndarray | None:
    match = group[group["seed"] == seed]
    file = match.iloc[0]["samples_file"] if len(match) else None
    if isinstance(file, str) and (out_dir / file).is_file():
        return np.load(out_dir / file, allow_pickle=False)[:POINTS]
    return None


def _density(ax: Any, a: np.ndarray, b: np.ndarray, lims: tuple) -> None:
    """The reference's density on one plane: filled grey contours of a 2-D histogram."""
    (x0, x1), (y0, y1) = lims
    h, xe, ye = np.histogram2d(a, b, bins=40, range=[[x0, x1], [y0, y1]])
    if h.max() > 0:
        xc, yc = (xe[:-1] + xe[1:]) / 2, (ye[:-1] + ye[1:]) / 2
        levels = h.max() * np.array([0.02, 0.1, 0.3, 0.6, 1.01])
        ax.contourf(xc, yc, h.T, levels=levels, cmap="Greys", alpha=0.6).set_rasterized(True)


def _points(ax: Any, sets: list[tuple[np.ndarray | None, Any]], a: int, b: int) -> None:
    for cv, colour in sets:
        if cv is not None:
            ax.scatter(cv[:, a], cv[:, b], s=0.6, alpha=0.5, color=colour, lw=0, rasterized=True)


def _seeds(out_dir: Path, group: pd.DataFrame, seeds: list[int], colour: Any, to_cv) -> list:
    """[(second seed's variables, black), (seed 0's, colour)]: drawn in this order."""
    first = _load(out_dir, group, seeds[0])
    second = _load(out_dir, group, seeds[1]) if len(seeds) > 1 else None
    return [(to_cv(xs), c) for xs, c in ((second, "black"), (first, colour)) if xs is not None]


def _plot_plane(target: Any, sub: pd.DataFrame, out_dir: Path, colours: dict[str, Any]):
    """A 2-D target: one panel per method over the energy's contours."""

    methods = sorted(sub["method"].unique())
    seeds = sorted(sub["seed"].unique())
    if target.box is not None:
        (x0, x1), (y0, y1) = target.box
    else:
        ref = target.reference().samples.double().numpy()
        lo, hi = np.percentile(ref, [0.5, 99.5], axis=0)
        (x0, x1), (y0, y1) = (lo[0], hi[0]), (lo[1], hi[1])
    gx, gy = np.meshgrid(np.linspace(x0, x1, 120), np.linspace(y0, y1, 120))
    pts = torch.tensor(np.stack([gx.ravel(), gy.ravel()], 1), dtype=torch.float32)
    with torch.no_grad():
        energy = target.energy(pts).numpy().reshape(gx.shape)
    levels = np.unique(np.quantile(energy, np.linspace(0.0, 0.6, 7)))
    fig, axes = grid(len(methods), aspect=0.85, cols=4)
    for ax, method in zip(axes, methods, strict=True):
        ax.contour(gx, gy, energy, levels=levels, colors="0.6", linewidths=0.4)
        group = sub[sub["method"] == method]
        _points(ax, _seeds(out_dir, group, seeds, colours[method], lambda xs: xs), 0, 1)
        ax.set_xlim(x0, x1)
        ax.set_ylim(y0, y1)
        ax.set_title(method)
        ax.set_xlabel("x1")
        ax.set_ylabel("x2")
    second = f"black: seed {seeds[1]}; " if len(seeds) > 1 else ""
    fig.suptitle(
        f"{target.name}: samples over energy contours (colour: seed {seeds[0]}; "
        f"{second}grey: contours of E)"
    )
    fig.tight_layout()
    return fig


def _plot_pairs(target: Any, sub: pd.DataFrame, out_dir: Path, colours: dict[str, Any]):
    """Any other target: pair plots of its collective variables, one row per method."""
    import matplotlib.pyplot as plt

    methods = sorted(sub["method"].unique())
    seeds = sorted(sub["seed"].unique())
    names, ref_cv = collective_variables(target, target.reference().samples[: 20 * POINTS])
    pairs = [(0, 1), (0, 2), (1, 2)] if ref_cv.shape[1] >= 3 else [(0, 1)]
    cols = len(pairs) + 1
    width = FULL_WIDTH / cols
    fig, axes = plt.subplots(
        len(methods),
        cols,
        figsize=(FULL_WIDTH, width * 0.8 * len(methods) + 0.5),
        squeeze=False,
        layout="constrained",
    )
    lo, hi = np.percentile(ref_cv, [0.5, 99.5], axis=0)
    pad = 0.08 * (hi - lo)
    lims = [(lo[k] - pad[k], hi[k] + pad[k]) for k in range(len(lo))]
    bins = np.linspace(*lims[0], 40)
    last = len(methods) - 1
    for i, method in enumerate(methods):
        group = sub[sub["method"] == method]
        sets = _seeds(
            out_dir,
            group,
            seeds,
            colours[method],
            lambda xs: collective_variables(target, torch.as_tensor(xs))[1],
        )
        for j, (a, b) in enumerate(pairs):
            ax = axes[i][j]
            _density(ax, ref_cv[:, a], ref_cv[:, b], (lims[a], lims[b]))
            _points(ax, sets, a, b)
            ax.set_xlim(*lims[a])
            ax.set_ylim(*lims[b])
            ax.tick_params(labelbottom=i == last)
            if i == last:
                ax.set_xlabel(names[a])
            ax.set_ylabel(f"{method}\n{names[b]}" if j == 0 else names[b])
            if i == 0:
                ax.set_title(f"{names[b]} against {names[a]}")
        ax = axes[i][-1]  # the first variable's marginal, normalised over all samples
        ax.hist(ref_cv[:, 0], bins=bins, density=True, color="0.8", label="reference")
        for cv, colour in sets:
            w = np.full(len(cv), 1.0 / (len(cv) * (bins[1] - bins[0])))
            ls, label = ("-", f"seed {seeds[0]}") if colour != "black" else ("--", "a second seed")
            ax.hist(
                cv[:, 0], bins=bins, weights=w, histtype="step", color=colour, ls=ls, label=label
            )
        ax.set_ylabel("density (all samples)")
        ax.tick_params(labelbottom=i == last)
        if i == last:
            ax.set_xlabel(names[0])
        if i == 0:
            ax.set_title(f"{names[0]}: marginal")
            legend_below(fig, [ax], ncol=3)
    fig.suptitle(
        f"{target.name}: pair plots (grey: reference; colour: seed {seeds[0]}; "
        "black: a second seed)"
    )
    return fig


def plot_samples(
    runs: pd.DataFrame,
    out_dir: Path,
    path: Path,
    target_name: str,
    colours: dict[str, Any],
    style: FigureStyle = DEFAULT_STYLE,
) -> Path | None:
    """The samples figure of one target (see the module docstring); None when the target
    cannot be built here or no cell has samples."""
    try:
        target = TARGETS.get(target_name)()
    except (UnknownNameError, ImportError):
        return None
    sub = runs[(runs["target"] == target_name) & (runs["status"] == "ok")]
    if sub.empty:
        return None
    plain = int(target.dim) == 2 and getattr(target, "ramachandran", None) is None
    draw = _plot_plane if plain else _plot_pairs
    return save(draw(target, sub, out_dir, colours), path, style)
