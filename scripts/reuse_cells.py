"""Copy finished cells that a suite shares with another results folder instead of rerunning
them.

Two suites can contain the same cell: ``full``'s ``gmm4``, ``double_well`` and ``banana``
cells have the same method configs, budgets, sample counts and seeds as ``quick``'s, so
their cell ids (a hash of exactly those) are equal and a rerun recomputes the same numbers
(runs are seeded; the samples are bit-identical). This script copies such cells, record
and samples, from SRC into DST when DST lacks them. A copied record is left as written, so
its provenance (suite, git commit, timings) still says where and when it was computed.
Only sound records are copied (checksum and samples digest verified), and only cells the
DST suite plans; ``boltzbench run`` then skips them as done.

    python scripts/reuse_cells.py results/quick results/full --suite full --targets gmm4,banana
"""

from __future__ import annotations

import argparse
import shutil
from pathlib import Path

from boltzbench.records import read_record, record_path
from boltzbench.run.cells import resolve
from boltzbench.run.suites import expand, get_suite


def reuse(src: Path, dst: Path, suite: str, targets: list[str] | None) -> int:
    """Copy the cells of ``suite`` (restricted to ``targets``) that ``src`` holds and
    ``dst`` lacks; returns how many were copied."""
    copied = 0
    for cell in (resolve(c) for c in expand(get_suite(suite), targets=targets)):
        if read_record(record_path(dst, cell.cell_id))[0] is not None:
            continue
        record, problem = read_record(record_path(src, cell.cell_id), verify_samples=True)
        if record is None or record.get("status") != "ok":
            continue
        if record.get("samples_file"):
            (dst / "samples").mkdir(parents=True, exist_ok=True)
            shutil.copy2(src / record["samples_file"], dst / record["samples_file"])
        record_path(dst, cell.cell_id).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(record_path(src, cell.cell_id), record_path(dst, cell.cell_id))
        copied += 1
    return copied


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("src", type=Path)
    parser.add_argument("dst", type=Path)
    parser.add_argument("--suite", required=True, help="the suite DST holds")
    parser.add_argument("--targets", default=None, help="comma-separated (default: all)")
    args = parser.parse_args()
    targets = args.targets.split(",") if args.targets else None
    n = reuse(args.src, args.dst, args.suite, targets)
    print(f"copied {n} cells from {args.src} to {args.dst}")


if __name__ == "__main__":
    main()
