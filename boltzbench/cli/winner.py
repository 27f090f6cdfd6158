"""``boltzbench winner DIR [--targets T,...]``: which sampler delivers N draws at the
required quality most cheaply, at each price per evaluation (:mod:`boltzbench.score.winner`).
Writes ``DIR/winner.csv``, ``DIR/plots/winner_map.png`` and ``DIR/ANSWER.md`` (one sentence
per target, :func:`boltzbench.report.winnermap.answer_lines`); with ``--validate K`` also
``DIR/validation.csv`` (:mod:`boltzbench.run.validate`: the winner and the runner-up run at
K points per target, measured against predicted)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from boltzbench.files import atomic_write_bytes
from boltzbench.options import UsageError, names


def cmd_winner(args: argparse.Namespace) -> int:
    from boltzbench.report.winnermap import answer_lines, plot_winner_map
    from boltzbench.score.winner import winner_table

    folder = Path(args.dir)
    if not (folder / "cells").is_dir():
        raise UsageError(f"{folder} is not a results folder (it has no cells/)")
    targets = names(args.targets, "--targets") if args.targets else None
    if args.validate < 0:
        raise UsageError(f"--validate must be 0 or more points per target, got {args.validate}")
    table = winner_table(folder, targets)
    if table.empty:
        raise UsageError(f"{folder} has no ok cells with decomposed costs to compare")
    atomic_write_bytes(folder / "winner.csv", table.to_csv(index=False).encode())
    (folder / "plots").mkdir(exist_ok=True)
    plot_winner_map(table, folder / "plots" / "winner_map.png")
    lines = ["# When does a one-step sampler pay off?", ""]
    for requirement, what in (
        ("floor", "at the exact sampler's floor for N draws"),
        ("tolerance", "within the noise of 100 exact draws"),
    ):
        lines += [f"**{what.capitalize()}** (`{requirement}`):", ""]
        lines += [f"- {line}" for line in answer_lines(table, requirement)] + [""]
    lines.append(f"From `{folder / 'winner.csv'}`; the model: `boltzbench.score.winner`.")
    atomic_write_bytes(folder / "ANSWER.md", ("\n".join(lines) + "\n").encode())
    print("\n".join(lines))
    if args.validate:
        from boltzbench.run.validate import validate

        checked = validate(folder, table, args.validate)
        atomic_write_bytes(folder / "validation.csv", checked.to_csv(index=False).encode())
        agree = int(checked[checked["role"] == "winner"]["agrees"].sum())
        print(
            f"validation: the map's winner measured cheapest at {agree} of "
            f"{len(checked) // 2} points; wrote {folder / 'validation.csv'}"
        )
    print(f"boltzbench: wrote {folder / 'winner.csv'}, {folder / 'ANSWER.md'}", file=sys.stderr)
    return 0


def add_winner_parser(sub: argparse._SubParsersAction) -> None:
    """Register the ``winner`` subcommand on the CLI's subparsers."""
    p = sub.add_parser(
        "winner", help="the cheapest sampler for N draws at each price per evaluation"
    )
    p.add_argument("dir", help="a results folder (a sweep: several budgets per method)")
    p.add_argument("--targets", help="comma-separated targets (default: all in the folder)")
    p.add_argument(
        "--validate",
        type=int,
        default=0,
        metavar="K",
        help="run the winner and the runner-up at K points per target and write "
        "validation.csv (measured against predicted; default 0: none)",
    )
    p.set_defaults(func=cmd_winner)
