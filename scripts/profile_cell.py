"""Where one cell's time goes: the real ``execute_cell`` under cProfile, its wall time split
into phases (the method's fit and sample, scoring, curve scoring, chain ESS, tiers, the
reference and floors) plus the process's start-up (interpreter and imports, measured in a
fresh interpreter) and the record's writing.

    python scripts/profile_cell.py gmm4 pita --budget 5e5
    python scripts/profile_cell.py gmm4 nuts --suite quick --top 15

Prints one line per phase (seconds, share of the cell) and, with ``--top K``, the K
functions with the most own time. Nothing is written to a results folder.
"""

from __future__ import annotations

import argparse
import cProfile
import pstats
import subprocess
import sys
import tempfile
import time
from pathlib import Path

#: phase -> the function whose cumulative time it is (module path suffix, function name)
PHASES = {
    "method fit + sample": ("boltzbench/driver.py", "run_method"),
    "score the samples": ("boltzbench/score/scoring.py", "score_record"),
    "score the curve snapshots": ("boltzbench/score/scoring.py", "score_curve"),
    "chain ESS": ("boltzbench/score/ess.py", "chain_ess"),
    "failure tiers": ("boltzbench/score/tiers.py", "apply"),
    "draw probe": ("boltzbench/run/cells.py", "measure_draws"),
    "reference (load or build)": ("targets/reference.py", "get_reference"),
    "noise floors": ("boltzbench/score/floors.py", "noise_floors"),
}


def startup_seconds() -> float:
    """Seconds for a fresh interpreter to import what a cell process imports."""
    t0 = time.perf_counter()
    subprocess.run([sys.executable, "-c", "import boltzbench.run.child, ot, torch"], check=True)
    return time.perf_counter() - t0


def cumulative(stats: pstats.Stats, suffix: str, name: str) -> float:
    """Cumulative seconds of the functions named ``name`` in files ending with ``suffix``
    (outermost calls only: recursion is not counted twice)."""
    total = 0.0
    for (file, _, func), (_, _, _, ct, _) in stats.stats.items():  # type: ignore[attr-defined]
        if func == name and file.replace("\\", "/").endswith(suffix):
            total += ct
    return total


def main() -> int:
    from boltzbench.records import write_record
    from boltzbench.run.cells import execute_cell
    from boltzbench.run.suites import expand, get_suite

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("target")
    parser.add_argument("method")
    parser.add_argument("--suite", default="quick")
    parser.add_argument("--budget", type=float, help="budget (default: the suite's)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--top", type=int, default=0, help="also list the K costliest functions")
    args = parser.parse_args()
    suite = get_suite(args.suite)
    cells = expand(
        suite,
        methods=[args.method],
        targets=[args.target],
        seeds=[args.seed],
        budget=int(args.budget) if args.budget else None,
    )
    cell = cells[0]
    start = startup_seconds()
    profile = cProfile.Profile()
    t0 = time.perf_counter()
    profile.enable()
    record, samples = execute_cell(cell, {"device": "cpu"})
    profile.disable()
    wall = time.perf_counter() - t0
    t1 = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        write_record(Path(tmp), record, samples)
    writing = time.perf_counter() - t1
    stats = pstats.Stats(profile)
    print(
        f"{cell.cell_id}: status {record['status']}, cell {wall:.2f} s "
        f"(process start-up {start:.2f} s, record writing {writing:.3f} s)"
    )
    for phase, (suffix, name) in PHASES.items():
        seconds = cumulative(stats, suffix, name)
        print(f"  {phase:<28} {seconds:8.2f} s  {100 * seconds / wall:5.1f} %")
    if args.top:
        stats.sort_stats("tottime").print_stats(args.top)
    return 0 if record["status"] == "ok" else 1


if __name__ == "__main__":
    raise SystemExit(main())
