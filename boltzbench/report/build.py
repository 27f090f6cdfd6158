"""The report conductor: from cell records to ``runs.csv``, ``leaderboard.csv``,
``curves.csv``, ``breakeven.csv``, ``crossover.csv`` (a budget sweep only),
``plots/*.png``, ``LEADERBOARD.md`` and ``report.html``.

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
from boltzbench.report import budgetfig, figures
from boltzbench.report.breakeven import break_even
from boltzbench.report.crossover import crossover
from boltzbench.report.htmlpage import render
from boltzbench.report.markdown import leaderboard_markdown
from boltzbench.report.ranks import at_largest_budget, leaderboard, overall
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


def remove_figures(plot_dir: Path) -> None:
    """Delete the figures an earlier report drew in ``plot_dir`` (other files stay)."""
    if plot_dir.is_dir():
        for path in plot_dir.iterdir():
            if path.suffix in FIGURE_SUFFIXES and path.is_file():
                path.unlink()


def build_report(out_dir: Path, command: str | None = None, plots: bool = True) -> list[Path]:
    """Write every table, plot and document into ``out_dir``; returns their paths.

    ``plots=False`` writes the tables and the two documents without ``plots/`` (most of
    the report's time on a small folder); figures an earlier report drew there are
    removed, since they would show numbers the new tables no longer hold."""
    out_dir = Path(out_dir)
    runs = load_runs(out_dir, current_fingerprints(out_dir))
    board = leaderboard(runs)
    curves = load_curves(out_dir)
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
    figs: list[Path] = []
    plot_dir = out_dir / "plots"
    if not plots:
        remove_figures(plot_dir)
    if plots and not board.empty:
        import matplotlib

        matplotlib.use("Agg")
        colours = figures.palette(sorted(runs["method"].unique()))
        candidates = [
            figures.plot_heatmap(main, plot_dir / "heatmap.png"),
            figures.plot_curves(curves, main_runs, plot_dir / "curves.png", colours),
            figures.plot_bars(main, plot_dir / "bars.png", colours),
            budgetfig.plot_budget_sweep(board, plot_dir / "budgets.png", colours),
            figures.plot_energy_histograms(main_runs, out_dir, plot_dir / "energy.png", colours),
        ]
        for target in sorted(runs["target"].unique()):
            path = plot_dir / f"samples_{target}.png"
            candidates.append(figures.plot_samples(main_runs, out_dir, path, target, colours))
        figs = [p for p in candidates if p]
    md = out_dir / "LEADERBOARD.md"
    text = leaderboard_markdown(main_runs, main, summary, figs, out_dir, even, cross, runs)
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
