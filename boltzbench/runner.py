"""Run a grid of cells: each in its own process, with a time limit, results written
atomically, finished cells skipped on rerun.

Layout of an output folder ``DIR``::

    DIR/cells/<cell_id>.json     one record per cell (the source of truth)
    DIR/samples/<cell_id>.npy    the cell's samples [n, d] float32 (status ok only)

A record is written by the parent process after the child has finished, via a temporary
file and an atomic rename, so an interrupted run never leaves a half-written record.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import multiprocessing as mp
import os
import platform
import subprocess
import sys
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from multiprocessing.connection import wait
from pathlib import Path
from typing import Any

import torch

from boltzbench.cells import SCHEMA_VERSION, Cell, base_record, execute_cell
from boltzbench.io import atomic_write_bytes, atomic_write_json, nan_to_none, npy_bytes


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


def record_checksum(record: dict[str, Any]) -> str:
    """SHA-256 of a record's canonical JSON (sorted keys, no spaces, NaN as null), its own
    ``checksum`` field left out."""
    body = {k: v for k, v in record.items() if k != "checksum"}
    text = json.dumps(nan_to_none(body), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()


def read_record(path: Path, verify_samples: bool = False) -> tuple[dict | None, str | None]:
    """(record, None) for a sound record; (None, None) when there is none; (None, why)
    when the file is there but cannot be trusted: unreadable (truncated), of another
    schema, without the fields every record has, failing its checksum (edited by hand or
    damaged) or, with ``verify_samples``, with its samples file missing or altered."""
    path = Path(path)
    try:
        text = path.read_text()
    except FileNotFoundError:
        return None, None
    except OSError as exc:
        return None, f"unreadable ({exc.strerror})"
    try:
        record = json.loads(text)
    except ValueError:
        return None, "not valid JSON (truncated?)"
    if not isinstance(record, dict):
        return None, "not a JSON object"
    if record.get("schema") != SCHEMA_VERSION:
        return None, f"schema {record.get('schema')!r}, expected {SCHEMA_VERSION}"
    missing = [k for k in ("status", "cell_id", "checksum") if k not in record]
    if missing:
        return None, f"lacks {', '.join(missing)}"
    if record["checksum"] != record_checksum(record):
        return None, "checksum mismatch (edited by hand or damaged)"
    if verify_samples and record.get("samples_file"):
        samples = path.parent.parent / record["samples_file"]
        try:
            digest = hashlib.sha256(samples.read_bytes()).hexdigest()
        except OSError:
            return None, f"its samples file {record['samples_file']} is missing"
        if digest != record.get("samples_sha256"):
            return None, f"its samples file {record['samples_file']} was altered"
    return record, None


def load_record(path: Path) -> dict[str, Any] | None:
    """A finished cell's sound record, or None (see :func:`read_record`)."""
    return read_record(path)[0]


@contextmanager
def cell_lock(out_dir: Path, cell_id: str, wait: bool = False) -> Iterator[bool]:
    """Hold the cell's lock file (``DIR/.locks/<cell_id>.lock``, an advisory ``flock``,
    released by the OS if the holder dies) for the block; yields False, without waiting
    unless ``wait``, when another process holds it. Two runs on one folder thus never
    compute a cell at the same time."""
    folder = Path(out_dir) / ".locks"
    folder.mkdir(parents=True, exist_ok=True)
    fd = os.open(folder / f"{cell_id}.lock", os.O_CREAT | os.O_RDWR, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | (0 if wait else fcntl.LOCK_NB))
        except BlockingIOError:
            yield False
            return
        try:
            yield True
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)


def limit_memory(limit_bytes: int) -> None:
    """Let this process grow by at most ``limit_bytes`` of address space beyond what it
    has now (``RLIMIT_AS``; Linux), so a method that exhausts memory fails its own cell
    with an allocation error instead of taking the machine down."""
    import resource

    now = 0
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmSize:"):
                now = int(line.split()[1]) * 1024
    except OSError:
        pass
    soft, hard = resource.getrlimit(resource.RLIMIT_AS)
    new = now + int(limit_bytes)
    if hard != resource.RLIM_INFINITY:
        new = min(new, hard)
    resource.setrlimit(resource.RLIMIT_AS, (new, hard))


def run_in_this_process(
    cell: Cell,
    plugins: list[str],
    threads: int | None,
    prov: dict,
    memory_limit: int | None = None,
) -> tuple[dict[str, Any], Any]:
    """What a cell's own process does: set threads and the memory limit, load plugins, run
    the cell (on the device named in ``prov``). Never raises: a broken plugin becomes the
    cell's failure."""
    try:
        if threads:
            torch.set_num_threads(threads)
        if memory_limit and prov.get("device", "cpu") == "cpu":
            limit_memory(memory_limit)
        from boltzbench.registry import load_plugin

        for plugin in plugins:
            load_plugin(plugin)
        return execute_cell(cell, prov)
    except BaseException as exc:
        record = base_record(cell, prov)
        record["error"] = f"{type(exc).__name__}: {exc}"[:500]
        return record, None


def _child(
    cell: Cell, plugins: list[str], threads: int, prov: dict, memory_limit: int | None, conn
) -> None:
    """Entry point of a cell's process (local executor): send (record, samples) back."""
    conn.send(run_in_this_process(cell, plugins, threads, prov, memory_limit))
    conn.close()


def write_result(out_dir: Path, cell: Cell, record: dict[str, Any], samples: Any) -> None:
    """Store a finished cell: its samples (if any), then its record, each atomically and
    with their checksums in the record; the record is written last, so a record on disk
    always has its samples."""
    if samples is not None:
        data = npy_bytes(samples)
        atomic_write_bytes(Path(out_dir) / "samples" / f"{cell.cell_id}.npy", data)
        record["samples_file"] = f"samples/{cell.cell_id}.npy"
        record["samples_sha256"] = hashlib.sha256(data).hexdigest()
    record["checksum"] = record_checksum(record)
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
    memory_limit: int | None = None,
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

    def finished(cell: Cell, report: bool) -> bool:
        """Whether the cell has a sound record that this run keeps."""
        if force:
            return False
        record, problem = read_record(cells_dir / f"{cell.cell_id}.json", verify_samples=True)
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
    bar = tqdm(
        total=len(cells),
        initial=summary.skipped,
        disable=not progress,
        unit="cell",
        desc="cells",
        file=sys.stderr,
        dynamic_ncols=True,
    )

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

    def skipped_meanwhile() -> None:  # another run finished the cell while we waited
        summary.skipped += 1
        bar.update(1)

    if executor == "dask":
        from boltzbench.dask_executor import run_on_dask

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
    ctx = _context()
    active: dict[Any, tuple[Any, Cell, float, ExitStack]] = {}
    waiting: deque[Cell] = deque()

    def finish(cell: Cell, record: dict, samples, start: float, lock: ExitStack) -> None:
        record["runner_seconds"] = time.monotonic() - start
        write_result(out_dir, cell, record, samples)
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
                    target=_child,
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
