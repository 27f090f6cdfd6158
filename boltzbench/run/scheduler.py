"""The scheduler: run a grid of cells, each in its own process, with a time limit;
finished cells are skipped on rerun.

Records and samples go to the record store (:mod:`boltzbench.records`) through the parent
process after the child has finished, atomically, so an interrupted run never leaves a
half-written record. Cells run on this machine (:func:`_run_local`) or on a Dask cluster
(:mod:`boltzbench.run.dask_executor`); both run a cell through :mod:`boltzbench.run.child`.
"""

from __future__ import annotations

import multiprocessing as mp
import os
import sys
import time
from collections import deque
from collections.abc import Callable, Iterable
from contextlib import ExitStack
from dataclasses import dataclass, field
from multiprocessing.connection import wait
from pathlib import Path
from typing import Any

from boltzbench.fingerprint import current_identities, is_stale
from boltzbench.provenance import provenance
from boltzbench.records import cell_lock, read_record, record_path, write_record
from boltzbench.registry import is_amortized
from boltzbench.run.cells import Cell, stopped_record
from boltzbench.run.child import pipe_entry


@dataclass
class RunSummary:
    """What a call to :func:`run_cells` did."""

    total: int = 0
    skipped: int = 0
    ran: int = 0
    ok: int = 0
    failed: list[tuple[str, str, str]] = field(default_factory=list)  # (cell_id, status, error)


#: what the local executor's forkserver imports once per run, so that each cell it forks
#: has it: :mod:`boltzbench.run.warm` imports the cell machinery, POT and ArviZ and runs the
#: one-off set-ups (registries, the first ESS, the targets' class sources), about 3–4 s
#: paid by every cell otherwise ...
FORKSERVER_PRELOAD = ["boltzbench.run.warm"]
#: ... and, when the grid has a trained (``amortized``) method, ``torch._dynamo``, what
#: ``torch.optim`` imports on a method's first optimiser (about 3 s here, paid by every cell
#: of a learned method otherwise; a grid of chain methods does not need it)
LEARNED_PRELOAD = ["torch._dynamo"]


def _context(cells: Iterable[Cell] = ()) -> mp.context.BaseContext:
    """The local executor's process context: a forkserver (Linux) preloading
    ``FORKSERVER_PRELOAD``, plus ``LEARNED_PRELOAD`` if any of ``cells`` is a trained
    method's; spawn elsewhere. The forkserver is started once per process, with the
    preload of the first run that needs it."""
    if sys.platform.startswith("linux"):
        ctx = mp.get_context("forkserver")
        learned = any(is_amortized(c.method) for c in cells)
        ctx.set_forkserver_preload(FORKSERVER_PRELOAD + (LEARNED_PRELOAD if learned else []))
        return ctx
    return mp.get_context("spawn")


def run_cells(
    cells: Iterable[Cell],
    out_dir: Path,
    *,
    jobs: int = 1,
    timeout: float = 1800.0,
    force: bool = False,
    retry_failed: bool = False,
    plugins: Iterable[str] = (),
    progress: bool = True,
    device: str = "cpu",
    executor: str = "local",
    scheduler: str | None = None,
    memory_limit: int | None = None,
) -> RunSummary:
    """Run ``cells`` (already resolved) into ``out_dir``.

    Args:
        jobs: cells run in parallel, each in its own process.
        timeout: seconds a cell may run before its process is killed (status ``timeout``).
        force: recompute cells that already have a record.
        retry_failed: recompute cells whose record is not ``ok``.
        plugins: plugin files or modules each cell's process imports first.
        progress: show a progress bar on stderr when it is a terminal; without one (piped,
            in CI, or progress=False) one line per finished cell instead.
        device: torch device the cells' methods and metrics run on (``cpu``, ``cuda``).
        executor: ``local`` (processes on this machine) or ``dask`` (a Dask distributed
            cluster at ``scheduler``; see :mod:`boltzbench.run.dask_executor`).
        memory_limit: bytes of address space a cell's process may add (CPU runs, Linux);
            past it allocations fail and the cell's status is ``out_of_memory``.

    A record that cannot be trusted (truncated, edited, of another schema, its samples
    missing or altered) is reported and its cell recomputed. Another run working in the
    same folder is waited for, cell by cell: each cell is computed once.
    """
    from tqdm import tqdm

    out_dir = Path(out_dir)
    cells_dir, samples_dir = out_dir / "cells", out_dir / "samples"
    cells_dir.mkdir(parents=True, exist_ok=True)
    samples_dir.mkdir(parents=True, exist_ok=True)
    cells = list(cells)
    summary = RunSummary(total=len(cells))
    todo: deque[Cell] = deque()

    current = current_identities(c.target for c in cells)

    def finished(cell: Cell, report: bool) -> bool:
        """Whether the cell has a sound, current record that this run keeps."""
        if force:
            return False
        record, problem = read_record(record_path(out_dir, cell.cell_id), verify_samples=True)
        if record is not None:
            if is_stale(record, current.get(cell.target)):
                record, problem = None, "is stale (its target's definition changed)"
        if problem and report:
            print(
                f"boltzbench: cell {cell.cell_id}: record {problem}; recomputing it",
                file=sys.stderr,
            )
        return record is not None and not (retry_failed and record["status"] != "ok")

    for cell in cells:
        if finished(cell, report=True):
            summary.skipped += 1
        else:
            todo.append(cell)
    jobs = max(1, int(jobs))
    threads = max(1, (os.cpu_count() or 1) // jobs)
    prov = provenance(device)
    plugins = list(plugins)
    # a bar on a terminal; otherwise (piped, CI, --no-progress) one line per finished cell
    interactive = progress and sys.stderr.isatty()
    bar = tqdm(
        total=len(cells),
        initial=summary.skipped,
        disable=not interactive,
        unit="cell",
        desc="cells",
        file=sys.stderr,
        dynamic_ncols=True,
    )

    def done(cell: Cell, record: dict) -> None:
        summary.ran += 1
        if record["status"] == "ok":
            summary.ok += 1
            if not interactive:
                seconds = record.get("wall_seconds") or 0.0
                bar.write(f"ok {cell.cell_id} ({seconds:.1f} s)", file=sys.stderr)
        else:
            summary.failed.append((cell.cell_id, record["status"], record["error"]))
            bar.write(
                f"FAILED {cell.cell_id}: {record['status']}: {record['error']}", file=sys.stderr
            )
        bar.update(1)
        bar.set_postfix(failed=len(summary.failed))

    def skipped_meanwhile() -> None:  # another run finished the cell while we waited
        summary.skipped += 1
        bar.update(1)

    if executor == "dask":
        from boltzbench.run.dask_executor import run_on_dask

        try:
            run_on_dask(
                list(todo),
                out_dir,
                scheduler,
                timeout,
                plugins,
                prov,
                memory_limit,
                done,
                force,
                skipped_meanwhile,
            )
        finally:
            bar.close()
        return summary
    if executor != "local":
        raise ValueError(f"unknown executor {executor!r}; known: dask, local")
    try:
        _run_local(
            todo,
            out_dir,
            jobs,
            timeout,
            threads,
            plugins,
            prov,
            memory_limit,
            done,
            lambda cell: finished(cell, report=False),
            skipped_meanwhile,
        )
    finally:
        bar.close()
    return summary


def _run_local(
    todo: deque[Cell],
    out_dir: Path,
    jobs: int,
    timeout: float,
    threads: int,
    plugins: list[str],
    prov: dict[str, Any],
    memory_limit: int | None,
    done: Callable[[Cell, dict], None],
    finished: Callable[[Cell], bool],
    skip: Callable[[], None],
) -> None:
    """The local executor: up to ``jobs`` cell processes at a time, each holding its
    cell's lock; a cell locked by another run waits at the back of the queue."""
    ctx = _context(todo)
    active: dict[Any, tuple[Any, Cell, float, ExitStack]] = {}
    waiting: deque[Cell] = deque()

    def finish(cell: Cell, record: dict, samples, start: float, lock: ExitStack) -> None:
        record["runner_seconds"] = time.monotonic() - start
        write_record(out_dir, record, samples)
        lock.close()
        done(cell, record)

    try:
        while todo or active or waiting:
            while todo and len(active) < jobs:
                cell = todo.popleft()
                lock = ExitStack()
                if not lock.enter_context(cell_lock(out_dir, cell.cell_id)):
                    lock.close()
                    waiting.append(cell)
                    continue
                if finished(cell):  # another run computed it before we got the lock
                    lock.close()
                    skip()
                    continue
                parent_conn, child_conn = ctx.Pipe(duplex=False)
                proc = ctx.Process(
                    target=pipe_entry,
                    args=(cell, plugins, threads, prov, memory_limit, child_conn),
                    daemon=True,
                )
                proc.start()
                child_conn.close()
                active[parent_conn] = (proc, cell, time.monotonic(), lock)
            if not active:
                if waiting:  # only cells another run is computing: wait for it
                    time.sleep(0.5)
                    todo.extend(waiting)
                    waiting.clear()
                continue
            now = time.monotonic()
            next_deadline = min(start + timeout for (_, _, start, _) in active.values())
            ready = wait(list(active), timeout=max(0.0, min(next_deadline - now, 1.0)))
            for conn in ready:
                proc, cell, start, lock = active.pop(conn)
                try:
                    record, samples = conn.recv()
                except (EOFError, OSError):
                    proc.join(5)
                    record = stopped_record(
                        cell, prov, "crashed", f"cell process died (exit code {proc.exitcode})"
                    )
                    samples = None
                conn.close()
                proc.join(30)
                if proc.is_alive():
                    proc.kill()
                finish(cell, record, samples, start, lock)
            now = time.monotonic()
            for conn, (proc, cell, start, lock) in list(active.items()):
                if now - start >= timeout:
                    proc.kill()
                    proc.join()
                    conn.close()
                    del active[conn]
                    record = stopped_record(
                        cell, prov, "timeout", f"cell exceeded its time limit of {timeout:g} s"
                    )
                    record["wall_seconds"] = now - start
                    finish(cell, record, None, start, lock)
            if waiting and len(active) < jobs:
                todo.extend(waiting)
                waiting.clear()
    finally:
        for proc, _, _, lock in active.values():
            proc.kill()
            lock.close()
        for conn in active:
            conn.close()
