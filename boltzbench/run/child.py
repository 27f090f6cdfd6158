"""A cell's own process: its entry points, thread count and memory limit.

Two ways in: :func:`pipe_entry` (the local executor forks a child that sends
``(record, samples)`` back through a pipe) and ``python -m boltzbench.run.child JOB RESULT``
(:func:`run_in_subprocess`, used where the caller cannot fork a child of its own: a Dask
worker is a daemon process). Both end in :func:`run_in_this_process`, which never raises.
"""

from __future__ import annotations

import os
import pickle
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import torch

from boltzbench.files import atomic_write_bytes
from boltzbench.run.cells import Cell, base_record, execute_cell, stopped_record


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
        record, samples = execute_cell(cell, prov)
        record["plugins"] = plugin_provenance(plugins)
        return record, samples
    except BaseException as exc:
        record = base_record(cell, prov)
        record["error"] = f"{type(exc).__name__}: {exc}"[:500]
        return record, None


def plugin_provenance(plugins: list[str]) -> list[dict[str, str]]:
    """For each plugin the cell loaded: its file path (or module) and the SHA-256 of its
    source file."""
    import hashlib
    import importlib.util

    out = []
    for plugin in plugins:
        path = Path(plugin)
        if not path.suffix == ".py":
            spec = importlib.util.find_spec(plugin)
            path = Path(spec.origin) if spec is not None and spec.origin else path
        try:
            digest = hashlib.sha256(path.read_bytes()).hexdigest()
        except OSError:
            digest = "unknown"
        out.append({"plugin": plugin, "path": str(path.resolve()), "sha256": digest})
    return out


def pipe_entry(
    cell: Cell, plugins: list[str], threads: int, prov: dict, memory_limit: int | None, conn
) -> None:
    """Entry point of a forked cell process (local executor): send (record, samples)."""
    conn.send(run_in_this_process(cell, plugins, threads, prov, memory_limit))
    conn.close()


def run_in_subprocess(
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
    with tempfile.TemporaryDirectory(prefix="boltzbench-cell-") as tmp:
        job, result = Path(tmp, "job.pkl"), Path(tmp, "result.pkl")
        job.write_bytes(pickle.dumps((cell, plugins, threads, prov, memory_limit)))
        try:
            done = subprocess.run(
                [sys.executable, "-m", "boltzbench.run.child", str(job), str(result)],
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
    """``python -m boltzbench.run.child JOB RESULT``: run the pickled job, pickle the result."""
    job, result = argv
    cell, plugins, threads, prov, memory_limit = pickle.loads(Path(job).read_bytes())
    atomic_write_bytes(
        Path(result), pickle.dumps(run_in_this_process(cell, plugins, threads, prov, memory_limit))
    )
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
