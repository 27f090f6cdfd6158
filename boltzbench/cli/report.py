"""``boltzbench report DIR [--out OUT] [--methods M,...] [--targets T,...] [--format
png,pdf,svg] [--dpi N] [--no-plots] [--compare OTHER]``: rebuild the tables, figures and
documents of a results folder from its cell files (:mod:`boltzbench.report.build`).

A report restricted to some methods or targets goes to its own folder (``--out``), so that
it never replaces the folder's full report.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from boltzbench.options import UsageError, names
from boltzbench.registry import load_plugin


def figure_style(formats: str | None, dpi: int | None):
    """The :class:`~boltzbench.report.style.FigureStyle` the options ask for; a bad
    format or resolution is a usage error."""
    from boltzbench.report.style import DEFAULT_STYLE, FigureStyle

    try:
        return FigureStyle(
            formats=tuple(names(formats, "--format")) if formats else DEFAULT_STYLE.formats,
            dpi=dpi if dpi is not None else DEFAULT_STYLE.dpi,
        )
    except ValueError as exc:
        raise UsageError(str(exc)) from None


def cmd_report(args: argparse.Namespace) -> int:
    from boltzbench.report.build import build_report

    for plugin in args.plugin:
        load_plugin(plugin)
    source = Path(args.dir)
    if not (source / "cells").is_dir():
        raise UsageError(f"{source} has no cells/ folder: not a boltzbench results folder")
    methods = names(args.methods, "--methods") if args.methods else None
    targets = names(args.targets, "--targets") if args.targets else None
    out = Path(args.out) if args.out else source
    if (methods or targets) and out.resolve() == source.resolve():
        raise UsageError(
            "--methods/--targets make a partial report: name its folder with --out "
            "(it would replace the full report in " + str(source) + ")"
        )
    style = figure_style(args.format, args.dpi)
    paths = build_report(
        out,
        plots=not args.no_plots,
        style=style,
        methods=methods,
        targets=targets,
        source=source,
    )
    print(f"boltzbench: report written: {len(paths)} files in {out}", file=sys.stderr)
    if args.compare:
        compare_with(out, Path(args.compare))
    return 0


def compare_with(out: Path, other: Path) -> None:
    """Write ``out/compare_<other>.csv`` (every leaderboard row: better, worse, same) and
    print the changes."""
    import pandas as pd

    from boltzbench.files import atomic_write_bytes
    from boltzbench.report.build import build_report
    from boltzbench.report.compare import compare

    if not (other / "cells").is_dir():
        raise UsageError(f"{other} has no cells/ folder: not a boltzbench results folder")
    if not (other / "leaderboard.csv").is_file():
        build_report(other)
    diff = compare(pd.read_csv(out / "leaderboard.csv"), pd.read_csv(other / "leaderboard.csv"))
    path = out / f"compare_{other.name}.csv"
    atomic_write_bytes(path, diff.to_csv(index=False).encode())
    counts = diff["change"].value_counts().to_dict()
    print(f"compared with {other}: " + ", ".join(f"{k} {v}" for k, v in sorted(counts.items())))
    changed = diff[diff["change"].isin(["better", "worse"])]
    for _, row in changed.iterrows():
        print(
            f"  {row['change']:<6} {row['target']} {row['method']} {row['metric']}: "
            f"{row['median_other']:.4g} -> {row['median']:.4g}"
        )
    print(f"boltzbench: comparison written: {path}", file=sys.stderr)


def add_report_parser(sub: argparse._SubParsersAction, no_plots_help: str, plugin_help: str):
    """Register the ``report`` subcommand on the CLI's subparsers."""
    p = sub.add_parser("report", help="rebuild CSVs, plots and LEADERBOARD.md from cell files")
    p.add_argument("dir", help="a results folder written by 'boltzbench run'")
    p.add_argument("--out", help="write the report here (default: DIR itself)")
    p.add_argument("--methods", help="only these methods (comma-separated; needs --out)")
    p.add_argument("--targets", help="only these targets (comma-separated; needs --out)")
    p.add_argument(
        "--format",
        help="figure formats, comma-separated from png,pdf,svg (default: all three; "
        "PNG is always written)",
    )
    p.add_argument("--dpi", type=int, help="resolution of the PNG figures (default: 150)")
    p.add_argument(
        "--compare",
        metavar="OTHER_DIR",
        help="also compare with another results folder: writes DIR/compare_<OTHER>.csv",
    )
    p.add_argument("--no-plots", action="store_true", help=no_plots_help)
    p.add_argument("--plugin", action="append", default=[], help=plugin_help)
    p.set_defaults(func=cmd_report)
