"""From cell files to ``runs.csv``, ``leaderboard.csv``, plots and ``LEADERBOARD.md``.

Everything here is derived from ``DIR/cells/*.json`` (and the samples they point to), so
``boltzbench report DIR`` rebuilds it at any time; nothing is edited by hand.
"""

from __future__ import annotations

import json
import math
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from boltzbench.cells import ESTIMATE_METRICS
from boltzbench.figures import save_png
from boltzbench.io import atomic_write_bytes
from boltzbench.registry import METRICS, TARGETS, UnknownNameError
from boltzbench.runner import load_record, read_record

COUNT_COLUMNS = [
    "energy_evals_train",
    "grad_evals_train",
    "energy_evals_sample",
    "grad_evals_sample",
    "hvp_evals_train",
    "hvp_evals_sample",
]
BASE_COLUMNS = [
    "suite",
    "target",
    "method",
    "seed",
    "status",
    "error",
    *COUNT_COLUMNS,
    "train_seconds",
    "sample_seconds",
    "n_samples",
    "samples_per_second",
]
PROVENANCE_COLUMNS = [
    "budget",
    "registry_name",
    "params",
    "config_hash",
    "config",
    "metric_version",
    "git_sha",
    "torch_version",
    "device",
    "cell_id",
]


def load_runs(out_dir: Path) -> pd.DataFrame:
    """One wide row per cell record in ``out_dir/cells``. A file that cannot be trusted
    (see :func:`boltzbench.runner.read_record`) is left out, with a line on stderr."""
    rows = []
    for path in sorted(Path(out_dir, "cells").glob("*.json")):
        record, problem = read_record(path)
        if record is None:
            if problem:
                print(f"boltzbench: leaving out {path.name}: {problem}", file=sys.stderr)
            continue
        row: dict[str, Any] = {k: record.get(k) for k in BASE_COLUMNS if k not in COUNT_COLUMNS}
        row.update(record.get("counts", {}))
        for name, value in record.get("metrics", {}).items():
            row[name] = value
        for name, value in record.get("floors", {}).items():
            row[f"{name}_floor"] = value
        for name, value in record.get("metric_estimators", {}).items():
            row[f"{name}_estimator"] = value
        for name, value in record.get("diagnostics", {}).items():
            row[f"diag_{name}"] = value
        row["budget"] = record.get("budget")
        seconds, n = record.get("sample_seconds"), record.get("n_samples")
        row["samples_per_second"] = n / seconds if seconds and n else None
        row["params"] = json.dumps(record.get("params", {}), sort_keys=True)
        row["config_hash"] = record.get("config_hash")
        row["config"] = json.dumps(record.get("config", {}), sort_keys=True)
        versions = record.get("metric_versions", {})
        row["metric_version"] = ";".join(f"{k}={v}" for k, v in sorted(versions.items()))
        row["registry_name"] = record.get("method_registry_name", record.get("method"))
        for key in ("git_sha", "torch_version", "device", "cell_id", "samples_file"):
            row[key] = record.get(key)
        rows.append(row)
    if not rows:
        return pd.DataFrame(columns=BASE_COLUMNS + PROVENANCE_COLUMNS)
    df = pd.DataFrame(rows)
    metric_cols = metric_columns(df)
    floor_cols = [f"{m}_floor" for m in metric_cols if f"{m}_floor" in df]
    estimator_cols = [f"{m}_estimator" for m in metric_cols if f"{m}_estimator" in df]
    diag_cols = sorted(c for c in df.columns if c.startswith("diag_"))
    order = BASE_COLUMNS + metric_cols + floor_cols + estimator_cols + diag_cols
    order += PROVENANCE_COLUMNS
    order += [c for c in df.columns if c not in order]
    df = df.reindex(columns=order)
    return df.sort_values(["target", "method", "seed"], kind="stable").reset_index(drop=True)


CURVE_COLUMNS = [
    "target",
    "method",
    "seed",
    "budget",
    "phase",
    "energy_evals",
    "grad_evals",
    "evals",
    "n",
]


def load_curves(out_dir: Path) -> pd.DataFrame:
    """Tidy quality-against-cost points: one row per snapshot of every ok cell
    (target, method, seed, phase, energy_evals, grad_evals, evals, n, mmd)."""
    rows = []
    for path in sorted(Path(out_dir, "cells").glob("*.json")):
        record = load_record(path)
        if record is None or record.get("status") != "ok":
            continue
        for point in record.get("curve") or []:
            keys = ("target", "method", "seed", "budget")
            rows.append({k: record.get(k) for k in keys} | point)
    if not rows:
        return pd.DataFrame(columns=CURVE_COLUMNS + ["mmd"])
    df = pd.DataFrame(rows)
    return df.sort_values(["target", "method", "seed", "evals"], kind="stable").reset_index(
        drop=True
    )


def metric_columns(df: pd.DataFrame) -> list[str]:
    """Metric columns present in a runs table, built-ins first."""
    skip = set(BASE_COLUMNS) | set(PROVENANCE_COLUMNS) | {"samples_file"}
    cols = [
        c
        for c in df.columns
        if c not in skip and not c.endswith(("_floor", "_estimator")) and not c.startswith("diag_")
    ]
    order = ("mean_error", "cov_error", "mmd", "w2", "sliced_w2", "mode_mass_error")
    first = [m for m in order if m in cols]
    return first + sorted(c for c in cols if c not in first)


def _lower_is_better(metric: str) -> bool:
    if metric in ESTIMATE_METRICS:
        return ESTIMATE_METRICS[metric][1]
    try:
        return bool(getattr(METRICS.get(metric), "lower_is_better", True))
    except UnknownNameError:
        return True


BOOTSTRAP_RESAMPLES = 2000
BOOTSTRAP_SEED = 0


def _interval(values: np.ndarray) -> tuple[float, float, float]:
    """Mean over seeds and its 95% percentile-bootstrap interval (2000 resamples of the
    seeds, fixed RNG seed, so the report is deterministic); NaN bounds with fewer than 2
    values. With few seeds the interval is narrow-biased: it cannot be wider than the
    range of the values."""
    values = values[np.isfinite(values)]
    if len(values) == 0:
        return math.nan, math.nan, math.nan
    mean = float(values.mean())
    if len(values) < 2:
        return mean, math.nan, math.nan
    rng = np.random.default_rng(BOOTSTRAP_SEED)
    idx = rng.integers(0, len(values), size=(BOOTSTRAP_RESAMPLES, len(values)))
    means = values[idx].mean(1)
    low, high = np.percentile(means, [2.5, 97.5])
    return mean, float(low), float(high)


def leaderboard(runs: pd.DataFrame) -> pd.DataFrame:
    """Tidy table: one row per (target, method, budget, metric) with the mean, its 95%
    bootstrap interval over seeds, the noise floor, ``within_floor`` (the interval reaches
    the floor: indistinguishable from exact sampling at this sample size), the rank within
    (target, budget, metric) (1 = best; a method with any failed cell ranks last) and the
    mean rank over targets at that budget. ``budget`` is empty for unbudgeted cells. A
    metric that none of a method's (all ok) cells produced, such as ``elbo`` for a method
    without importance weights, gets no row."""
    columns = [
        "suite",
        "target",
        "method",
        "budget",
        "metric",
        "n_seeds",
        "n_ok",
        "mean",
        "low",
        "high",
        "floor",
        "within_floor",
        "rank",
        "mean_rank",
    ]
    if runs.empty:
        return pd.DataFrame(columns=columns)
    budget = runs["budget"] if "budget" in runs else pd.Series(np.nan, index=runs.index)
    runs = runs.assign(budget=pd.to_numeric(budget, errors="coerce"))
    rows = []
    for metric in metric_columns(runs):
        applicable = runs.groupby("target")[metric].apply(
            lambda col: bool(np.isfinite(col.to_numpy(dtype=float)).any())
        )
        groups = runs.groupby(["target", "method", "budget"], sort=True, dropna=False)
        for (target, method, budget), group in groups:
            if not applicable.get(target, False):
                continue  # the metric does not apply to this target (or nothing ran ok)
            ok = group[group["status"] == "ok"]
            values = ok[metric].to_numpy(dtype=float)
            if len(ok) == len(group) and not np.isfinite(values).any():
                continue  # every cell ran and the metric does not apply to this method
            mean, low, high = _interval(values)
            floor_col = f"{metric}_floor"
            floor = float(ok[floor_col].mean()) if floor_col in ok and len(ok) else math.nan
            rows.append(
                {
                    "suite": ",".join(sorted(set(group["suite"].astype(str)))),
                    "target": target,
                    "method": method,
                    "budget": budget,
                    "metric": metric,
                    "n_seeds": len(group),
                    "n_ok": len(ok),
                    "mean": mean,
                    "low": low,
                    "high": high,
                    "floor": floor,
                    "within_floor": bool(
                        np.isfinite(floor)
                        and np.isfinite(mean)
                        and (low if np.isfinite(low) else mean) <= floor
                    ),
                }
            )
    table = pd.DataFrame(rows, columns=columns[:-2])
    if table.empty:
        return pd.DataFrame(columns=columns)
    ranks = []
    for (_, _, metric), group in table.groupby(
        ["target", "budget", "metric"], sort=False, dropna=False
    ):
        sign = 1.0 if _lower_is_better(metric) else -1.0
        failed = (group["n_ok"] < group["n_seeds"]) | ~np.isfinite(group["mean"])
        key = np.where(failed, np.inf, sign * group["mean"].to_numpy(dtype=float))
        ranks.append(pd.Series(pd.Series(key, index=group.index).rank(method="min")))
    table["rank"] = pd.concat(ranks).astype(int)
    table["mean_rank"] = table.groupby(["method", "budget", "metric"], dropna=False)[
        "rank"
    ].transform("mean")
    table["budget"] = table["budget"].astype("Int64")
    order = ["metric", "target", "budget", "rank", "method"]
    return table[columns].sort_values(order).reset_index(drop=True)


# --------------------------------------------------------------------------- plots
def _palette(methods: list[str]) -> dict[str, Any]:
    import seaborn as sns

    name = "tab10" if len(methods) <= 10 else "tab20"  # distinct colours for up to 20
    colours = sns.color_palette(name, max(10, len(methods)))
    return {m: colours[i] for i, m in enumerate(sorted(methods))}


def plot_heatmap(board: pd.DataFrame, path: Path) -> Path | None:
    """One panel per metric: methods × targets, coloured by rank, annotated with the mean."""
    import matplotlib.pyplot as plt
    import seaborn as sns

    if board.empty:
        return None
    present = set(board["metric"])
    order = ("mean_error", "cov_error", "mmd", "w2", "sliced_w2", "mode_mass_error")
    metrics = [m for m in order if m in present]
    metrics += sorted(present - set(metrics))
    n_methods = board["method"].nunique()
    n_targets = board["target"].nunique()
    n_cols = min(3, len(metrics))
    n_rows = math.ceil(len(metrics) / n_cols)
    fig, axes = plt.subplots(
        n_rows,
        n_cols,
        squeeze=False,
        figsize=(max(3.5, 1.3 * n_targets + 1.8) * n_cols, (0.45 * n_methods + 1.6) * n_rows),
    )
    for ax in axes.ravel()[len(metrics) :]:
        ax.set_visible(False)
    for ax, metric in zip(axes.ravel(), metrics, strict=False):
        sub = board[board["metric"] == metric]
        rank = sub.pivot(index="method", columns="target", values="rank")
        value = sub.pivot(index="method", columns="target", values="mean")
        annot = value.copy().astype(object)
        for idx in value.index:
            for col in value.columns:
                v, r = value.loc[idx, col], rank.loc[idx, col]
                annot.loc[idx, col] = (
                    "n/a" if not np.isfinite(r) else "failed" if not np.isfinite(v) else f"{v:.3g}"
                )
        sns.heatmap(
            rank,
            annot=annot,
            fmt="",
            cmap="RdYlGn_r",
            cbar=False,
            ax=ax,
            vmin=1,
            vmax=max(2, n_methods),
            linewidths=0.5,
        )
        ax.set_title(f"{metric} (colour: rank)")
        ax.set_xlabel("")
        ax.set_ylabel("")
    fig.tight_layout()
    return save_png(fig, path)


def plot_samples(
    runs: pd.DataFrame, out_dir: Path, path: Path, target_name: str, colours: dict[str, Any]
) -> Path | None:
    """Samples (seed with the lowest number) of each method over energy contours of a 2-D
    target, next to the reference set; for a target with backbone dihedrals (``aldp``) the
    Ramachandran plane (φ, ψ) instead."""
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
    panels: list[tuple[str, np.ndarray]] = [("reference", target.reference().samples.numpy())]
    for method, group in sub.sort_values("seed").groupby("method", sort=True):
        file = group.iloc[0]["samples_file"]
        if isinstance(file, str) and (out_dir / file).is_file():
            panels.append(
                (
                    f"{method} (seed {group.iloc[0]['seed']})",
                    np.load(out_dir / file, allow_pickle=False),
                )
            )
    if rama is not None:
        panels = [(name, rama(torch.as_tensor(xs[:2000])).numpy()) for name, xs in panels]
    if target.box is not None:
        (x0, x1), (y0, y1) = target.box
    else:
        lo, hi = np.percentile(panels[0][1], [0.5, 99.5], axis=0)
        (x0, x1), (y0, y1) = (lo[0], hi[0]), (lo[1], hi[1])
    gx, gy = np.meshgrid(np.linspace(x0, x1, 200), np.linspace(y0, y1, 200))
    if rama is None:
        grid = torch.tensor(np.stack([gx.ravel(), gy.ravel()], 1), dtype=torch.float32)
        with torch.no_grad():
            energy = target.energy(grid).numpy().reshape(gx.shape)
        levels = np.quantile(energy, np.linspace(0.0, 0.6, 12))
    fig, axes = plt.subplots(1, len(panels), figsize=(3.2 * len(panels), 3.3), squeeze=False)
    for ax, (name, xs) in zip(axes[0], panels, strict=True):
        if rama is None:
            ax.contour(gx, gy, energy, levels=np.unique(levels), colors="0.6", linewidths=0.6)
        else:
            ax.set_xlabel("φ (rad)", fontsize=8)
            ax.set_ylabel("ψ (rad)", fontsize=8)
        shown = xs[:2000]
        colour = "0.2" if name == "reference" else colours[name.split(" ")[0]]
        ax.scatter(shown[:, 0], shown[:, 1], s=1.5, alpha=0.5, color=colour)
        ax.set_xlim(x0, x1)
        ax.set_ylim(y0, y1)
        ax.set_title(name, fontsize=9)
    what = "Ramachandran plane (φ, ψ)" if rama is not None else "samples over energy contours"
    fig.suptitle(f"{target_name}: {what}", fontsize=10)
    fig.tight_layout()
    return save_png(fig, path)


CURVE_CLIP = 1e-5


def plot_curves(
    curves: pd.DataFrame, runs: pd.DataFrame, path: Path, colours: dict[str, Any]
) -> Path | None:
    """Quality against cost: MMD² and sliced W2 against energy + gradient evaluations (log
    axes), two panels per target (rows of at most four), one line per method (mean over
    seeds, band from the lowest to the highest seed), the exact sampler's noise floor
    dashed. Methods without snapshots appear as one marker at their total cost. Values
    below CURVE_CLIP (the unbiased MMD² can be negative) are drawn at CURVE_CLIP."""
    from boltzbench import figures

    ok = runs[runs["status"] == "ok"].copy()
    if ok.empty or "mmd" not in ok:
        return None
    ok["evals"] = ok[[c for c in COUNT_COLUMNS if c in ok]].sum(axis=1)
    targets = sorted(ok["target"].unique())
    metrics = [m for m in ("mmd", "sliced_w2") if m in ok]
    pairs = [(t, m) for t in targets for m in metrics]
    fig, axes = figures.grid(len(pairs), 4.6, 3.6)
    for ax, (target, metric) in zip(axes, pairs, strict=True):
        sub = curves[curves["target"] == target] if not curves.empty else curves
        if metric not in sub:
            sub = sub.iloc[0:0]
        with_curve = set(sub["method"]) if not sub.empty else set()
        for method, group in sub.groupby("method", sort=True) if not sub.empty else []:
            st = group.groupby("evals")[metric].agg(["mean", "min", "max"]).reset_index()
            st = st[st["evals"] > 0]
            st[["mean", "min", "max"]] = st[["mean", "min", "max"]].clip(lower=CURVE_CLIP)
            ax.plot(st["evals"], st["mean"], color=colours[method], label=method, lw=1.4)
            ax.fill_between(st["evals"], st["min"], st["max"], color=colours[method], alpha=0.2)
        rows = ok[(ok["target"] == target) & ~ok["method"].isin(with_curve)]
        for method, group in rows.groupby("method", sort=True):
            mean = max(group[metric].mean(), CURVE_CLIP)
            lo, hi = max(group[metric].min(), CURVE_CLIP), max(group[metric].max(), CURVE_CLIP)
            ax.errorbar(
                group["evals"].mean(),
                mean,
                yerr=[[mean - lo], [hi - mean]],
                fmt="o",
                color=colours[method],
                label=f"{method} (final)",
            )
        col = f"{metric}_floor"
        floor = ok.loc[ok["target"] == target, col].dropna() if col in ok else []
        if len(floor):
            level = max(float(np.mean(floor)), CURVE_CLIP)
            ax.axhline(level, color="0.3", ls="--", lw=0.8, label="exact floor")
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel("energy + gradient evaluations")
        ax.set_ylabel("MMD² (RBF)" if metric == "mmd" else "sliced W2")
        ax.set_title(f"{target}: {'MMD²' if metric == 'mmd' else 'sliced W2'}")
        if metric == metrics[0]:
            ax.legend(fontsize=6)
    fig.tight_layout()
    return save_png(fig, path)


# --------------------------------------------------------------------------- markdown
def _fmt(mean: float, low: float, high: float) -> str:
    if not np.isfinite(mean):
        return "failed"
    if not (np.isfinite(low) and np.isfinite(high)):
        return f"{mean:.4g}"
    return f"{mean:.4g} [{low:.3g}, {high:.3g}]"


def leaderboard_markdown(
    runs: pd.DataFrame,
    board: pd.DataFrame,
    plots: list[Path],
    out_dir: Path,
    breakeven: pd.DataFrame | None = None,
) -> str:
    """The LEADERBOARD.md text: one table per target (at its headline budget), the
    break-even table, then the plots."""
    from boltzbench.breakeven import describe

    lines = [
        "# Leaderboard",
        "",
        "Generated by `boltzbench report` from the cell files; do not edit by hand.",
        "Each value: mean over seeds [95% bootstrap interval]; **bold**: within the noise "
        "floor (indistinguishable from exact sampling at this sample size). `floor`: the "
        "same metric for an exact sampler at the same sample size (mean of independent "
        "exact sets; targets with a generated reference have none). "
        "Evaluations: mean per cell, train + sample; energy values, and gradients plus "
        "Hessian-vector products.",
        "",
    ]
    if runs.empty:
        return "\n".join(lines + ["No finished cells yet.", ""])
    for target in sorted(board["target"].unique()):
        sub = board[board["target"] == target]
        metrics = [k for k in metric_columns(runs) if k in set(sub["metric"])]
        budgets = pd.to_numeric(sub["budget"], errors="coerce").dropna().unique()
        heading = f"## {target} (budget {int(budgets[0]):.3g})" if len(budgets) else f"## {target}"
        lines += [
            heading,
            "",
            "| method | ok/seeds | "
            + " | ".join(metrics)
            + " | energy evals | grad+HVP evals | train s | samples/s |",
            "|---" * (len(metrics) + 6) + "|",
        ]
        order = (
            sub[sub["metric"] == metrics[0]].sort_values(["rank", "method"])["method"]
            if metrics
            else sorted(sub["method"].unique())
        )
        for method in order:
            cells = runs[(runs["target"] == target) & (runs["method"] == method)]
            m = sub[sub["method"] == method].set_index("metric")
            values = [
                (
                    ("**{}**" if m.loc[k, "within_floor"] else "{}").format(
                        _fmt(m.loc[k, "mean"], m.loc[k, "low"], m.loc[k, "high"])
                    )
                    if k in m.index
                    else "n/a"
                )
                for k in metrics
            ]
            energy = cells["energy_evals_train"].mean() + cells["energy_evals_sample"].mean()
            grads = sum(
                cells[c].fillna(0).mean() for c in COUNT_COLUMNS if c.startswith(("grad", "hvp"))
            )
            n_ok = int((cells["status"] == "ok").sum())
            lines.append(
                f"| {method} | {n_ok}/{len(cells)} | "
                + " | ".join(values)
                + f" | {energy:.3g} | {grads:.3g} | {cells['train_seconds'].mean():.3g}"
                + f" | {cells['samples_per_second'].mean():.3g} |"
            )
        floor_values = [sub[sub["metric"] == k]["floor"].mean() for k in metrics]
        floors = ["–" if pd.isna(v) else f"{v:.4g}" for v in floor_values]
        lines += ["| *floor (exact sampler)* | | " + " | ".join(floors) + " | 0 | 0 | | |", ""]
        overrides = runs[(runs["target"] == target) & (runs["params"] != "{}")]
        for method, params in sorted(
            set(zip(overrides["method"], overrides["params"], strict=True))
        ):
            lines.append(f"- config overrides: {method}: `{params}`")
        if len(overrides):
            lines.append("")
        failures = runs[(runs["target"] == target) & (runs["status"] != "ok")]
        for _, row in failures.iterrows():
            lines.append(
                f"- failed: {row['method']} seed {row['seed']}: {row['status']}: {row['error']}"
            )
        if len(failures):
            lines.append("")
    if breakeven is not None and not breakeven.empty:
        lines += [
            "## Break-even sample counts and throughput",
            "",
            "Samples after which an amortized sampler's training is repaid against MCMC "
            "at its own quality (MMD²), and samples per second of each at that quality "
            "(wall clock, on the machine that ran the cells); see `breakeven.csv`.",
            "",
        ]
        for _, row in breakeven.iterrows():
            lines.append(f"- {row['target']}: {row['method']}: {describe(row)}")
        lines.append("")
    lines += ["## Plots", ""]
    for plot in plots:
        lines += [f"![{plot.stem}]({plot.relative_to(out_dir).as_posix()})", ""]
    return "\n".join(lines)


def headline(table: pd.DataFrame) -> pd.DataFrame:
    """The rows (of the leaderboard or of the runs) at each target's largest budget
    (unbudgeted rows where a target has no budget): what the heatmap, the bars, the curves
    and the markdown tables show."""
    if table.empty:
        return table
    budget = pd.to_numeric(table["budget"], errors="coerce")
    top = budget.groupby(table["target"]).transform("max")
    return table[(budget == top) | (top.isna() & budget.isna())]


def build_report(out_dir: Path) -> list[Path]:
    """Write runs.csv, leaderboard.csv, curves.csv, breakeven.csv, plots/*.png,
    LEADERBOARD.md and report.html into ``out_dir``."""
    import matplotlib

    from boltzbench import figures, html
    from boltzbench.breakeven import break_even

    matplotlib.use("Agg")
    out_dir = Path(out_dir)
    runs = load_runs(out_dir)
    board = leaderboard(runs)
    written = []
    runs_csv, board_csv = out_dir / "runs.csv", out_dir / "leaderboard.csv"
    atomic_write_bytes(
        runs_csv, runs.drop(columns=["samples_file"], errors="ignore").to_csv(index=False).encode()
    )
    atomic_write_bytes(board_csv, board.to_csv(index=False).encode())
    curves = load_curves(out_dir)
    curves_csv = out_dir / "curves.csv"
    atomic_write_bytes(curves_csv, curves.to_csv(index=False).encode())
    main, main_runs = headline(board), headline(runs)
    even = break_even(main_runs, curves)
    even_csv = out_dir / "breakeven.csv"
    atomic_write_bytes(even_csv, even.to_csv(index=False).encode())
    written += [runs_csv, board_csv, curves_csv, even_csv]
    plots: list[Path] = []
    plot_dir = out_dir / "plots"
    colours = _palette(sorted(runs["method"].unique())) if not runs.empty else {}
    if not board.empty:
        candidates = [
            plot_heatmap(main, plot_dir / "heatmap.png"),
            plot_curves(curves, main_runs, plot_dir / "curves.png", colours),
            figures.plot_bars(main, plot_dir / "bars.png", colours),
            figures.plot_budget_sweep(board, plot_dir / "budgets.png", colours),
            figures.plot_energy_histograms(main_runs, out_dir, plot_dir / "energy.png", colours),
        ]
        for target in sorted(runs["target"].unique()):
            candidates.append(
                plot_samples(
                    main_runs, out_dir, plot_dir / f"samples_{target}.png", target, colours
                )
            )
        plots = [p for p in candidates if p]
    md = out_dir / "LEADERBOARD.md"
    atomic_write_bytes(md, leaderboard_markdown(main_runs, main, plots, out_dir, even).encode())
    page = out_dir / "report.html"
    note = (
        "Mean over seeds [95% bootstrap interval]; rank within target, budget and metric. "
        "Generated by boltzbench report from the cell files."
    )
    text = html.render(f"boltzbench leaderboard: {out_dir.name}", board, even, plots, note)
    atomic_write_bytes(page, text.encode())
    return written + plots + [md, page]
