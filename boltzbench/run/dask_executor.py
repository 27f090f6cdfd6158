"""Send cells to a Dask distributed cluster (``boltzbench run --executor dask
--scheduler ADDRESS``).

Each cell is one Dask task. On the worker the task runs the cell in a fresh Python process
(:mod:`boltzbench.run.child`, under the cell's time limit) and writes its record and
samples atomically into the results folder, which must be shared by the workers and the
machine that submits (a network file system on a cluster). The submitting process only
watches: a task that fails (its worker died, say) gets a ``crashed`` record written here,
so every cell ends with exactly one record, and a rerun skips finished cells as with the
local executor.

Needs the ``distributed`` package (``pip install 'boltzbench[dask]'``); Slurm, PBS and
friends reach a cluster through dask-jobqueue, whose scheduler address goes here.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from boltzbench.records import cell_lock, read_record, record_path, write_record
from boltzbench.run.cells import Cell, stopped_record
from boltzbench.run.child import run_in_subprocess


class MissingDask(ImportError):
    """``distributed`` is not installed."""


def _client(scheduler: str | None):
    try:
        from distributed import Client
    except ImportError as exc:
        raise MissingDask(
            "--executor dask needs the 'distributed' package: pip install 'boltzbench[dask]'"
        ) from exc
    if not scheduler:
        raise ValueError("--executor dask needs --scheduler ADDRESS (e.g. tcp://host:8786)")
    return Client(scheduler, timeout="30s")


def run_cell_task(
    cell: Cell,
    out_dir: str,
    plugins: list[str],
    prov: dict,
    timeout: float,
    memory_limit: int | None = None,
    force: bool = False,
) -> tuple[str, dict[str, Any] | None]:
    """The Dask task: under the cell's lock, run it in a subprocess and store its result.
    Returns (cell_id, status and error), or (cell_id, None) when another run finished the
    cell while this task waited for the lock."""

    try:
        from distributed import get_worker

        slots = max(1, int(get_worker().state.nthreads))
    except (ImportError, ValueError, AttributeError):
        slots = 1
    threads = max(1, (os.cpu_count() or 1) // slots)
    with cell_lock(Path(out_dir), cell.cell_id, wait=True):
        if not force:
            if read_record(record_path(out_dir, cell.cell_id), verify_samples=True)[0]:
                return cell.cell_id, None
        start = time.monotonic()
        record, samples = run_in_subprocess(cell, plugins, threads, prov, timeout, memory_limit)
        record["runner_seconds"] = time.monotonic() - start
        record["worker"] = os.uname().nodename
        write_record(Path(out_dir), record, samples)
    return cell.cell_id, {k: record[k] for k in ("status", "error")}


def run_on_dask(
    cells: list[Cell],
    out_dir: Path,
    scheduler: str | None,
    timeout: float,
    plugins: list[str],
    prov: dict,
    memory_limit: int | None,
    done: Callable[[Cell, dict], None],
    force: bool = False,
    skip: Callable[[], None] | None = None,
) -> None:
    """Submit every cell, call ``done(cell, record)`` as each finishes (in any order), or
    ``skip()`` for a cell another run finished first."""
    from distributed import as_completed

    plugins = [str(Path(p).resolve()) if p.endswith(".py") else p for p in plugins]
    client = _client(scheduler)
    try:
        futures = {}
        for cell in cells:
            future = client.submit(
                run_cell_task,
                cell,
                str(Path(out_dir).resolve()),
                plugins,
                prov,
                timeout,
                memory_limit,
                force,
                key=f"boltzbench-{cell.cell_id}-{time.time_ns()}",
                pure=False,
                retries=0,
            )
            futures[future] = cell
        for future in as_completed(futures):
            cell = futures[future]
            try:
                _, record = future.result()
            except Exception as exc:  # the task itself failed: its worker died, say
                record = stopped_record(
                    cell, prov, "crashed", f"dask task failed: {type(exc).__name__}: {exc}"[:500]
                )
                write_record(out_dir, record)
            if record is None:
                if skip is not None:
                    skip()
                continue
            done(cell, record)
    finally:
        client.close()
