"""The report conductor: from cell records to ``runs.csv``, ``leaderboard.csv``,
``curves.csv``, ``breakeven.csv``, ``crossover.csv`` (a budget sweep only), ``speedup.csv``
(where ``md`` ran: :mod:`boltzbench.report.speedup`),
``plots/*`` (PNG, PDF, SVG), ``leaderboard.tex``, ``LEADERBOARD.md`` and ``report.html``.

Everything is derived from ``DIR/cells/*.json`` (and the samples they point to), so
``boltzbench report DIR`` rebuilds it at any time; nothing is edited by hand. The work is
done elsewhere: tables and ranks in :mod:`boltzbench.report.tables`, figures in
:mod:`boltzbench.report.figures`, the two documents in :mod:`boltzbench.report.markdown` and
:mod:`boltzbench.report.htmlpage`.
"""

from __future__ import annotations

import datetime
import platform
from pathlib import Path

import pandas as pd

from boltzbench.files import atomic_write_bytes
from boltzbench.fingerprint import TargetIdentity, current_identities
from boltzbench.registry import is_amortized
from boltzbench.report import budgetfig, curvefig, figures, heatmap, samplefig, summaryfig
from boltzbench.report.breakeven import break_even
from boltzbench.report.crossover import crossover
from boltzbench.report.htmlpage import render
from boltzbench.report.latex import leaderboard_latex
from boltzbench.report.markdown import leaderboard_markdown
from boltzbench.report.ranks import at_largest_budget, leaderboard, overall
from boltzbench.report.speedup import speedup, speedup_markdown
from boltzbench.report.style import DEFAULT_STYLE, FigureStyle, styled
from boltzbench.report.tables import load_curves, load_runs


def _csv(path: Path, df: pd.DataFrame) -> Path:
    atomic_write_bytes(path, df.to_csv(index=False).encode())
    return path


def _invocation() -> str:
    """The command line of this process (for a report built by a script, not the CLI)."""
    import shlex
    import sys

    return " ".join(shlex.quote(a) for a in [Path(sys.argv[0]).name, *sys.argv[1:]])


def report_provenance(runs: pd.DataFrame, command: str | None = None) -> dict[str, str]:
    """What the page's provenance block says: commits and versions of the cells, the
    command, when the report was built and on what machine."""
    from boltzbench import __version__

    def values(col: str) -> str:
        if runs.empty or col not in runs:
            return "–"
        return ", ".join(sorted(set(runs[col].dropna().astype(str)))) or "–"

    return {
        "cells' commits": values("git_sha"),
        "command": command or _invocation(),
        "report built": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "torch": values("torch_version"),
        "boltzbench": __version__,
        "devices": values("device"),
        "machine": f"{platform.machine()}, {platform.system()} {platform.release()}",
    }


def current_fingerprints(out_dir: Path) -> dict[str, TargetIdentity | None]:
    """The current identity of every target with records in ``out_dir`` (None where the
    target cannot be built here)."""
    from boltzbench.records import iter_records

    return current_identities(r["target"] for _, r, _ in iter_records(out_dir) if r is not None)


#: the file types the report draws figures in
FIGURE_SUFFIXES = (".png", ".pdf", ".svg")


#: the figures the report draws, by file stem or stem prefix (others, such as the winner
#: command's ``winner_map``, are not the report's to remove)
REPORT_FIGURES = ("heatmap", "bars", "budgets", "energy", "curves", "samples_", "summary")


def remove_figures(plot_dir: Path) -> None:
    """Delete the figures an earlier report drew in ``plot_dir`` (other files stay)."""
    if plot_dir.is_dir():
        for path in plot_dir.iterdir():
            ours = path.stem.startswith(REPORT_FIGURES)
            if ours and path.suffix in FIGURE_SUFFIXES and path.is_file():
                path.unlink()


def select(
    runs: pd.DataFrame, methods: list[str] | None, targets: list[str] | None
) -> pd.DataFrame:
    """The rows of ``runs`` for the named methods and targets (None: all)."""
    keep = pd.Series(True, index=runs.index)
    if methods is not None and "method" in runs:
        keep &= runs["method"].isin(methods)
    if targets is not None and "target" in runs:
        keep &= runs["target"].isin(targets)
    return runs[keep]


def draw_figures(
    out_dir: Path,
    runs: pd.DataFrame,
    board: pd.DataFrame,
    curves: pd.DataFrame,
    style: FigureStyle = DEFAULT_STYLE,
) -> list[Path]:
    """Every figure of the report into ``out_dir/plots`` in the style's formats; returns
    the PNG paths drawn (figures with nothing to show are skipped)."""
    import matplotlib

    matplotlib.use("Agg")
    plot_dir = out_dir / "plots"
    main, main_runs = at_largest_budget(board), at_largest_budget(runs)
    colours = figures.palette(sorted(runs["method"].unique()))
    targets = sorted(runs["target"].unique())
    with styled():
        candidates = [
            summaryfig.plot_summary(main, main_runs, plot_dir / "summary.png", colours, style),
            heatmap.plot_heatmap(main, plot_dir / "heatmap.png", style),
            figures.plot_bars(main, plot_dir / "bars.png", colours, style),
            budgetfig.plot_budget_sweep(board, plot_dir / "budgets.png", colours, style),
            figures.plot_energy_histograms(
                main_runs, out_dir, plot_dir / "energy.png", colours, style
            ),
        ]
        for target in targets:
            path = plot_dir / f"curves_{target}.png"
            candidates.append(
                curvefig.plot_target_curves(curves, main_runs, target, path, colours, style)
            )
        for target in targets:
            path = plot_dir / f"samples_{target}.png"
            candidates.append(
                samplefig.plot_samples(main_runs, out_dir, path, target, colours, style)
            )
    return [p for p in candidates if p]


def build_report(
    out_dir: Path,
    command: str | None = None,
    plots: bool = True,
    style: FigureStyle = DEFAULT_STYLE,
    methods: list[str] | None = None,
    targets: list[str] | None = None,
    source: Path | None = None,
) -> list[Path]:
    """Write every table, plot and document into ``out_dir``; returns their paths.

    ``plots=False`` writes the tables and the two documents without ``plots/`` (most of
    the report's time on a small folder); figures an earlier report drew there are
    removed, since they would show numbers the new tables no longer hold. ``methods`` and
    ``targets`` restrict the report to those (None: all); ``style`` says in which formats
    and at what resolution the figures are written. The cells are read from ``source``
    (default: ``out_dir`` itself)."""
    out_dir = Path(out_dir)
    source = Path(source) if source is not None else out_dir
    out_dir.mkdir(parents=True, exist_ok=True)
    runs = select(load_runs(source, current_fingerprints(source)), methods, targets)
    if source.resolve() != out_dir.resolve() and "samples_file" in runs:
        runs = runs.assign(
            samples_file=[
                str((source / f).resolve()) if isinstance(f, str) else f
                for f in runs["samples_file"]
            ]
        )
    board = leaderboard(runs)
    curves = select(load_curves(source), methods, targets)
    main, main_runs = at_largest_budget(board), at_largest_budget(runs)
    even = break_even(runs, curves)  # pairs within each budget
    summary = overall(board, runs)
    labels = runs.drop_duplicates("method") if not runs.empty else runs
    amortized = {
        m
        for m, r in zip(labels.get("method", []), labels.get("registry_name", []), strict=True)
        if is_amortized(r)
    }
    cross = crossover(board, amortized) if not board.empty else None
    written = [
        _csv(out_dir / "runs.csv", runs.drop(columns=["samples_file"], errors="ignore")),
        _csv(out_dir / "leaderboard.csv", board),
        _csv(out_dir / "curves.csv", curves),
        _csv(out_dir / "breakeven.csv", even),
    ]
    if cross is not None and not cross.empty:
        written.append(_csv(out_dir / "crossover.csv", cross))
    else:  # no sweep (any more): no crossover.csv left from an earlier report
        (out_dir / "crossover.csv").unlink(missing_ok=True)
    fast = speedup(runs)  # the force-guided drifting claim: only where md ran
    if not fast.empty:
        written.append(_csv(out_dir / "speedup.csv", fast))
    else:
        (out_dir / "speedup.csv").unlink(missing_ok=True)
    figs: list[Path] = []
    remove_figures(out_dir / "plots")  # a figure not redrawn would show old numbers
    if plots and not board.empty:
        figs = draw_figures(out_dir, runs, board, curves, style)
    tex = out_dir / "leaderboard.tex"
    atomic_write_bytes(tex, leaderboard_latex(summary, main, main_runs).encode())
    written.append(tex)
    md = out_dir / "LEADERBOARD.md"
    text = leaderboard_markdown(main_runs, main, summary, figs, out_dir, even, cross, runs)
    text += "\n".join(["", *speedup_markdown(fast)]) if not fast.empty else ""
    atomic_write_bytes(md, text.encode())
    page = out_dir / "report.html"
    note = (
        "Median over seeds [order-statistic interval: min–max with five seeds, 93.75 % "
        "coverage]; shared ranks where intervals overlap; rows in a failure tier are not "
        "ranked by their values. "
        "Generated by boltzbench report from the cell files."
    )
    title = f"boltzbench leaderboard: {out_dir.name}"
    prov = report_provenance(runs, command)
    atomic_write_bytes(
        page, render(title, main_runs, main, summary, even, figs, prov, note, cross).encode()
    )
    return written + figs + [md, page]
