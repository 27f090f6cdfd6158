"""The runner's own cost per cell: process start, moving results back, writing files.

``track_runner_overhead_seconds``: for 8 cells of a method that does nothing, run with
two jobs, the mean of (seconds the runner spent on a cell) − (seconds the cell's own work
took), from the records' ``runner_seconds`` and ``wall_seconds``.

For a finished results folder (the quick suite, say), the same split and the report's
time, as a share of the whole run:

    python -m benchmarks.bench_runner results/quick [--jobs 2]
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
import time
from pathlib import Path

from boltzbench.records import load_record

PLUGIN = str(Path(__file__).resolve().with_name("trivial_method.py"))


def trivial_overhead(n_cells: int = 8, jobs: int = 2) -> float:
    """Mean runner overhead per cell (seconds) on a grid of do-nothing cells."""
    from boltzbench.registry import load_plugin
    from boltzbench.run.cells import Cell, resolve
    from boltzbench.run.scheduler import run_cells

    load_plugin(PLUGIN)
    cells = [
        resolve(
            Cell(
                suite="bench",
                target="gmm4",
                method="bench_trivial",
                seed=s,
                n_samples=1000,
                metrics=("mean_error",),
            )
        )
        for s in range(n_cells)
    ]
    with tempfile.TemporaryDirectory() as tmp:
        run_cells(cells, Path(tmp), jobs=jobs, plugins=[PLUGIN], progress=False)
        split = overhead_of(Path(tmp))
    return split["overhead_seconds"] / split["cells"]


def overhead_of(out_dir: Path) -> dict[str, float]:
    """Σ runner_seconds and Σ (runner_seconds − wall_seconds) over a folder's records, and
    the median per-cell overhead outside the method's own work (runner_seconds −
    train_seconds − sample_seconds: scoring, process, files)."""
    import statistics

    total = overhead = 0.0
    cells = 0
    outside: list[float] = []
    for path in Path(out_dir, "cells").glob("*.json"):
        record = load_record(path) or {}
        runner, wall = record.get("runner_seconds"), record.get("wall_seconds")
        if runner is None or wall is None:
            continue
        cells += 1
        total += runner
        overhead += max(0.0, runner - wall)
        own = (record.get("train_seconds") or 0.0) + (record.get("sample_seconds") or 0.0)
        outside.append(runner - own)
    return {
        "cells": cells,
        "runner_seconds": total,
        "overhead_seconds": overhead,
        "median_outside_method": statistics.median(outside) if outside else float("nan"),
    }


class RunnerOverhead:
    timeout = 300

    def track_runner_overhead_seconds(self) -> float:
        return trivial_overhead()

    track_runner_overhead_seconds.unit = "seconds per cell"  # type: ignore[attr-defined]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("dir", nargs="?", help="a finished results folder")
    parser.add_argument("--jobs", type=int, default=2, help="jobs the run used (default 2)")
    args = parser.parse_args()
    print(f"do-nothing cells: {trivial_overhead():.3f} s of runner overhead per cell")
    if not args.dir:
        return
    from boltzbench.report.build import build_report

    split = overhead_of(Path(args.dir))
    if not split["cells"]:
        raise SystemExit(f"{args.dir}: no records with runner_seconds (rerun the suite)")
    with tempfile.TemporaryDirectory() as tmp:  # time the report on a copy
        copy = Path(tmp, "copy")
        shutil.copytree(args.dir, copy)
        t0 = time.perf_counter()
        build_report(copy)
        report = time.perf_counter() - t0
    cells_wall = split["runner_seconds"] / args.jobs
    runner = split["overhead_seconds"] / args.jobs + report
    print(
        f"{args.dir}: {split['cells']} cells, {split['runner_seconds']:.1f} cell-seconds "
        f"(≈ {cells_wall:.1f} s on {args.jobs} jobs); runner overhead "
        f"{split['overhead_seconds']:.1f} cell-seconds "
        f"({split['overhead_seconds'] / split['cells']:.2f} s per cell); report {report:.1f} s; "
        f"overhead share of the run ≈ {100 * runner / (cells_wall + report):.1f}%; "
        f"{split['runner_seconds'] / 3600:.2f} CPU-hours; median per-cell time outside the "
        f"method's fit and sample {split['median_outside_method']:.2f} s"
    )


if __name__ == "__main__":
    main()
