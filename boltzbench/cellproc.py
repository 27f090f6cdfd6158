"""Run one cell in a fresh Python process: ``python -m boltzbench.cellproc JOB RESULT``.

``JOB`` is a pickle of (cell, plugins, threads, provenance, memory limit); the process
writes a pickle of (record, samples) to ``RESULT``. Used where the caller cannot fork a
child of its own (a Dask worker is a daemon process); the caller enforces the time limit
by killing the process.
"""

from __future__ import annotations

import os
import pickle
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from boltzbench.cells import Cell


def run_cell_subprocess(
    cell: Cell,
    plugins: list[str],
    threads: int | None,
    prov: dict,
    timeout: float,
    memory_limit: int | None = None,
) -> tuple[dict[str, Any], Any]:
    """Run ``cell`` in a new interpreter with a time limit; (record, samples or None).

    A process that outlives ``timeout`` is killed (status ``timeout``); one that dies
    without a result gives status ``crashed`` with its exit code and last stderr line.
    """
    from boltzbench.runner import stopped_record

    with tempfile.TemporaryDirectory(prefix="boltzbench-cell-") as tmp:
        job, result = Path(tmp, "job.pkl"), Path(tmp, "result.pkl")
        job.write_bytes(pickle.dumps((cell, plugins, threads, prov, memory_limit)))
        try:
            done = subprocess.run(
                [sys.executable, "-m", "boltzbench.cellproc", str(job), str(result)],
                capture_output=True,
                text=True,
                timeout=timeout,
                env={**os.environ, "PYTHONUNBUFFERED": "1"},
            )
        except subprocess.TimeoutExpired:
            error = f"cell exceeded its time limit of {timeout:g} s"
            return stopped_record(cell, prov, "timeout", error), None
        if done.returncode != 0 or not result.is_file():
            tail = (done.stderr or "").strip().splitlines()[-1:] or [""]
            error = f"cell process died (exit code {done.returncode}) {tail[0]}".strip()
            return stopped_record(cell, prov, "crashed", error[:500]), None
        return pickle.loads(result.read_bytes())


def main(argv: list[str]) -> int:
    from boltzbench.io import atomic_write_bytes
    from boltzbench.runner import run_in_this_process

    job, result = argv
    cell, plugins, threads, prov, memory_limit = pickle.loads(Path(job).read_bytes())
    atomic_write_bytes(
        Path(result), pickle.dumps(run_in_this_process(cell, plugins, threads, prov, memory_limit))
    )
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
