"""Run a grid of cells: each in its own process, with a time limit, results written
atomically, finished cells skipped on rerun.

Layout of an output folder ``DIR``::

    DIR/cells/<cell_id>.json     one record per cell (the source of truth)
    DIR/samples/<cell_id>.npy    the cell's samples [n, d] float32 (status ok only)

A record is written by the parent process after the child has finished, via a temporary
file and an atomic rename, so an interrupted run never leaves a half-written record.
"""

from __future__ import annotations

import json
import multiprocessing as mp
import os
import platform
import subprocess
import sys
import time
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass, field
from multiprocessing.connection import wait
from pathlib import Path
from typing import Any

import torch

from boltzbench.cells import SCHEMA_VERSION, Cell, base_record, execute_cell
from boltzbench.io import atomic_write_json, atomic_write_npy


@dataclass
class RunSummary:
    """What a call to :func:`run_cells` did."""

    total: int = 0
    skipped: int = 0
    ran: int = 0
    ok: int = 0
    failed: list[tuple[str, str, str]] = field(default_factory=list)  # (cell_id, status, error)


def git_sha() -> str:
    """The commit of the boltzbench checkout, or 'unknown' outside a git checkout."""
    here = Path(__file__).resolve().parent
    try:
        out = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=here, capture_output=True, text=True, timeout=10
        )
        if out.returncode == 0:
            sha = out.stdout.strip()
            dirty = subprocess.run(
                ["git", "status", "--porcelain", "--untracked-files=no"],
                cwd=here,
                capture_output=True,
                text=True,
                timeout=10,
            ).stdout.strip()
            return sha + ("-dirty" if dirty else "")
    except (OSError, subprocess.SubprocessError):
        pass
    return "unknown"


def provenance(device: str = "cpu") -> dict[str, Any]:
    """Columns that say what produced a record."""
    from boltzbench import __version__

    return {
        "git_sha": git_sha(),
        "boltzbench_version": __version__,
        "torch_version": torch.__version__,
        "python_version": platform.python_version(),
        "device": device,
    }


def load_record(path: Path) -> dict[str, Any] | None:
    """A finished cell's record, or None if missing, unreadable or of another schema."""
    try:
        record = json.loads(Path(path).read_text())
    except (OSError, ValueError):
        return None
    if not isinstance(record, dict) or record.get("schema") != SCHEMA_VERSION:
        return None
    if "status" not in record or "cell_id" not in record:
        return None
    return record


def run_in_this_process(
    cell: Cell, plugins: list[str], threads: int | None, prov: dict
) -> tuple[dict[str, Any], Any]:
    """What a cell's own process does: set threads, load plugins, run the cell (on the
    device named in ``prov``). Never raises: a broken plugin becomes the cell's failure."""
    try:
        if threads:
            torch.set_num_threads(threads)
        from boltzbench.registry import load_plugin

        for plugin in plugins:
            load_plugin(plugin)
        return execute_cell(cell, prov)
    except BaseException as exc:
        record = base_record(cell, prov)
        record["error"] = f"{type(exc).__name__}: {exc}"[:500]
        return record, None


def _child(cell: Cell, plugins: list[str], threads: int, prov: dict, conn) -> None:
    """Entry point of a cell's process (local executor): send (record, samples) back."""
    conn.send(run_in_this_process(cell, plugins, threads, prov))
    conn.close()


def write_result(out_dir: Path, cell: Cell, record: dict[str, Any], samples: Any) -> None:
    """Store a finished cell: its samples (if any), then its record, each atomically; the
    record is written last, so a record on disk always has its samples."""
    if samples is not None:
        atomic_write_npy(Path(out_dir) / "samples" / f"{cell.cell_id}.npy", samples)
        record["samples_file"] = f"samples/{cell.cell_id}.npy"
    atomic_write_json(Path(out_dir) / "cells" / f"{cell.cell_id}.json", record)


def stopped_record(cell: Cell, prov: dict, status: str, error: str) -> dict[str, Any]:
    """The record of a cell whose process was killed or died before reporting."""
    record = base_record(cell, prov)
    record["status"], record["error"] = status, error
    return record


def _context() -> mp.context.BaseContext:
    if sys.platform.startswith("linux"):
        ctx = mp.get_context("forkserver")
        ctx.set_forkserver_preload(["boltzbench.cells"])
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
) -> RunSummary:
    """Run ``cells`` (already resolved) into ``out_dir``.

    Args:
        jobs: cells run in parallel, each in its own process.
        timeout: seconds a cell may run before its process is killed (status ``timeout``).
        force: recompute cells that already have a record.
        retry_failed: recompute cells whose record is not ``ok``.
        plugins: plugin files or modules each cell's process imports first.
        progress: show a progress bar on stderr.
        device: torch device the cells' methods and metrics run on (``cpu``, ``cuda``).
        executor: ``local`` (processes on this machine) or ``dask`` (a Dask distributed
            cluster at ``scheduler``; see :mod:`boltzbench.dask_executor`).
    """
    from tqdm import tqdm

    out_dir = Path(out_dir)
    cells_dir, samples_dir = out_dir / "cells", out_dir / "samples"
    cells_dir.mkdir(parents=True, exist_ok=True)
    samples_dir.mkdir(parents=True, exist_ok=True)
    cells = list(cells)
    summary = RunSummary(total=len(cells))
    todo: deque[Cell] = deque()
    for cell in cells:
        record = None if force else load_record(cells_dir / f"{cell.cell_id}.json")
        if record is not None and not (retry_failed and record["status"] != "ok"):
            summary.skipped += 1
        else:
            todo.append(cell)
    jobs = max(1, int(jobs))
    threads = max(1, (os.cpu_count() or 1) // jobs)
    prov = provenance(device)
    plugins = list(plugins)
    ctx = _context()
    bar = tqdm(
        total=len(cells),
        initial=summary.skipped,
        disable=not progress,
        unit="cell",
        desc="cells",
        file=sys.stderr,
        dynamic_ncols=True,
    )
    active: dict[Any, tuple[Any, Any, Cell, float]] = {}

    def done(cell: Cell, record: dict) -> None:
        summary.ran += 1
        if record["status"] == "ok":
            summary.ok += 1
        else:
            summary.failed.append((cell.cell_id, record["status"], record["error"]))
            bar.write(
                f"FAILED {cell.cell_id}: {record['status']}: {record['error']}", file=sys.stderr
            )
        bar.update(1)
        bar.set_postfix(failed=len(summary.failed))

    def finish(cell: Cell, record: dict, samples, start: float) -> None:
        record["runner_seconds"] = time.monotonic() - start
        write_result(out_dir, cell, record, samples)
        done(cell, record)

    if executor == "dask":
        from boltzbench.dask_executor import run_on_dask

        try:
            run_on_dask(list(todo), out_dir, scheduler, timeout, plugins, prov, done)
        finally:
            bar.close()
        return summary
    if executor != "local":
        raise ValueError(f"unknown executor {executor!r}; known: dask, local")
    try:
        while todo or active:
            while todo and len(active) < jobs:
                cell = todo.popleft()
                parent_conn, child_conn = ctx.Pipe(duplex=False)
                proc = ctx.Process(
                    target=_child, args=(cell, plugins, threads, prov, child_conn), daemon=True
                )
                proc.start()
                child_conn.close()
                active[parent_conn] = (proc, parent_conn, cell, time.monotonic())
            now = time.monotonic()
            next_deadline = min(start + timeout for (_, _, _, start) in active.values())
            ready = wait(list(active), timeout=max(0.0, next_deadline - now))
            for conn in ready:
                proc, _, cell, start = active.pop(conn)
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
                finish(cell, record, samples, start)
            now = time.monotonic()
            for conn, (proc, _, cell, start) in list(active.items()):
                if now - start >= timeout:
                    proc.kill()
                    proc.join()
                    conn.close()
                    del active[conn]
                    record = stopped_record(
                        cell, prov, "timeout", f"cell exceeded its time limit of {timeout:g} s"
                    )
                    record["wall_seconds"] = now - start
                    finish(cell, record, None, start)
    finally:
        for proc, conn, _, _ in active.values():
            proc.kill()
            conn.close()
        bar.close()
    return summary
