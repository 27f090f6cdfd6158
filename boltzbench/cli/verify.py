"""``boltzbench verify DIR [--cells K | --cell ID ...] [--out FOLDER]``: rerun stored cells
at the current code and say, per cell, identical / close / different / stale / failed
(:mod:`boltzbench.run.verify`). Exit 0 when every cell is identical or close, 1 otherwise,
2 for a usage mistake."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import pandas as pd

from boltzbench.files import atomic_write_bytes
from boltzbench.options import UsageError


def cmd_verify(args: argparse.Namespace) -> int:
    from boltzbench.run.verify import verify

    folder = Path(args.dir)
    if not (folder / "cells").is_dir():
        raise UsageError(f"{folder} is not a results folder (it has no cells/)")
    if args.cells < 1:
        raise UsageError(f"--cells must be at least 1, got {args.cells}")
    out = Path(args.out) if args.out else None
    if out is not None:
        if out.exists() and not out.is_dir():
            raise UsageError(f"--out {out} exists and is not a folder")
        if out.resolve() == folder.resolve() or folder.resolve() in out.resolve().parents:
            raise UsageError("--out must not be inside the folder being verified")
    try:
        verdicts = verify(folder, args.cells, args.seed, args.cell, args.threads)
    except KeyError as exc:
        raise UsageError(str(exc.args[0])) from None
    counts = pd.Series([v.verdict for v in verdicts]).value_counts().to_dict()
    print("verify: " + ", ".join(f"{n} {k}" for k, n in sorted(counts.items())))
    if out is not None:
        out.mkdir(parents=True, exist_ok=True)
        table = pd.DataFrame([v.__dict__ for v in verdicts])
        atomic_write_bytes(out / "verify.csv", table.to_csv(index=False).encode())
        print(f"verify: wrote {out / 'verify.csv'}", file=sys.stderr)
    return 0 if all(v.verdict in ("identical", "close") for v in verdicts) else 1


def add_verify_parser(sub: argparse._SubParsersAction) -> None:
    """Register the ``verify`` subcommand on the CLI's subparsers."""
    p = sub.add_parser(
        "verify", help="rerun stored cells at the current code and compare their samples"
    )
    p.add_argument("dir", help="a results folder (with cells/ and samples/)")
    p.add_argument("--cells", type=int, default=3, help="cells drawn at random (default 3)")
    p.add_argument("--seed", type=int, default=0, help="seed of the draw (default 0)")
    p.add_argument("--cell", action="append", default=[], help="verify this cell id (repeatable)")
    p.add_argument("--threads", type=int, default=1, help="torch threads per rerun (default 1)")
    p.add_argument("--out", help="write verify.csv to this folder (never the verified one)")
    p.set_defaults(func=cmd_verify)
