"""``samples_<target>.png``: every method's samples beside the reference, for every target.

Each panel shows the reference in grey behind a method's samples (2-D targets: contours of
the energy; otherwise the reference's density on that plane as filled grey contours), so no
panel is empty and the reference is in every comparison. Rows are methods. A 2-D target
gets one column per seed (up to five); any other target gets pair plots of its collective
variables (:func:`collective_variables`): the 2-D projections of the first three (seed 0
in the method's colour, a second seed in black over it) and the first one's marginal.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch

from boltzbench.registry import TARGETS, UnknownNameError
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
        ax.contourf(xc, yc, h.T, levels=levels, cmap="Greys", alpha=0.6)


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
    import matplotlib.pyplot as plt

    try:
        target = TARGETS.get(target_name)()
    except (UnknownNameError, ImportError):
        return None
    sub = runs[(runs["target"] == target_name) & (runs["status"] == "ok")]
    if sub.empty:
        return None
    seeds = sorted(sub["seed"].unique())
    ref = target.reference().samples[: 20 * POINTS]
    plain = int(target.dim) == 2 and getattr(target, "ramachandran", None) is None
    if plain:
        names, ref_cv = ["x1", "x2"], ref.double().numpy()
        planes = [(0, 1, s) for s in seeds[:5]]
    else:
        names, ref_cv = collective_variables(target, ref)
        pairs = [(0, 1), (0, 2), (1, 2)] if ref_cv.shape[1] >= 3 else [(0, 1)]
        planes = [(a, b, None) for a, b in pairs]
    methods = sorted(sub["method"].unique())
    cols = len(planes) + (0 if plain else 1)
    width = FULL_WIDTH / cols
    fig, axes = plt.subplots(
        len(methods),
        cols,
        figsize=(FULL_WIDTH, width * 0.8 * len(methods) + 0.5),
        squeeze=False,
        layout="constrained",
    )
    if plain and target.box is not None:
        box = target.box
        lims = {(0, 1): box}
    else:
        lo, hi = np.percentile(ref_cv, [0.5, 99.5], axis=0)
        pad = 0.08 * (hi - lo)
        lims = {
            (a, b): ((lo[a] - pad[a], hi[a] + pad[a]), (lo[b] - pad[b], hi[b] + pad[b]))
            for a in range(len(lo))
            for b in range(len(lo))
        }
    energy = None
    if plain:
        (x0, x1), (y0, y1) = lims[(0, 1)]
        gx, gy = np.meshgrid(np.linspace(x0, x1, 120), np.linspace(y0, y1, 120))
        pts = torch.tensor(np.stack([gx.ravel(), gy.ravel()], 1), dtype=torch.float32)
        with torch.no_grad():
            energy = target.energy(pts).numpy().reshape(gx.shape)
        levels = np.unique(np.quantile(energy, np.linspace(0.0, 0.6, 10)))
    second = seeds[1] if len(seeds) > 1 else None
    for i, method in enumerate(methods):
        group = sub[sub["method"] == method]
        first = _load(out_dir, group, seeds[0])
        for j, (a, b, seed) in enumerate(planes):
            ax = axes[i][j]
            (x0, x1), (y0, y1) = lims[(a, b)]
            if energy is not None:
                ax.contour(gx, gy, energy, levels=levels, colors="0.6", linewidths=0.4)
            else:
                _density(ax, ref_cv[:, a], ref_cv[:, b], lims[(a, b)])
            if plain:
                shown = [(_load(out_dir, group, seed), colours[method])]
            else:  # the second seed first, in black, the first over it in colour
                shown = [(first, colours[method])]
                if second is not None:
                    shown.insert(0, (_load(out_dir, group, second), "black"))
            for xs, colour in shown:
                if xs is None:
                    continue
                cv = xs if plain else collective_variables(target, torch.as_tensor(xs))[1]
                ax.scatter(cv[:, a], cv[:, b], s=0.6, alpha=0.5, color=colour, lw=0)
            ax.set_xlim(x0, x1)
            ax.set_ylim(y0, y1)
            ax.tick_params(labelleft=j == 0 or not plain, labelbottom=i == len(methods) - 1)
            if i == len(methods) - 1:
                ax.set_xlabel(names[a])
            ax.set_ylabel(f"{method}\n{names[b]}" if j == 0 else names[b] if not plain else "")
            if i == 0:
                ax.set_title(f"seed {seed}" if plain else f"{names[b]} against {names[a]}")
        if not plain:  # the first variable's marginal: reference, seed 0, second seed
            ax = axes[i][-1]
            bins = np.linspace(*lims[(0, 0)][0], 40)
            ax.hist(ref_cv[:, 0], bins=bins, density=True, color="0.8", label="reference")
            for xs, colour, ls, label in (
                (first, colours[method], "-", f"seed {seeds[0]}"),
                (
                    _load(out_dir, group, second) if second is not None else None,
                    "black",
                    "--",
                    f"seed {second}",
                ),
            ):
                if xs is not None:
                    cv = collective_variables(target, torch.as_tensor(xs))[1]
                    # normalised over all samples: those off the range are missing from it
                    w = np.full(len(cv), 1.0 / (len(cv) * (bins[1] - bins[0])))
                    ax.hist(
                        cv[:, 0],
                        bins=bins,
                        weights=w,
                        histtype="step",
                        color=colour,
                        ls=ls,
                        label=label,
                    )
            ax.set_ylabel("density (all samples)")
            ax.tick_params(labelbottom=i == len(methods) - 1)
            if i == len(methods) - 1:
                ax.set_xlabel(names[0])
            if i == 0:
                ax.set_title(f"{names[0]}: marginal")
                handles, labels = ax.get_legend_handles_labels()
                fig.legend(
                    handles,
                    labels,
                    loc="upper center",
                    bbox_to_anchor=(0.5, 0.0),
                    ncol=3,
                    frameon=False,
                )
    what = (
        "samples over energy contours"
        if plain
        else ("pair plots (grey: reference; colour: seed 0; black: a second seed)")
    )
    fig.suptitle(f"{target_name}: {what}")
    return save(fig, path, style)
