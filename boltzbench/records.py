"""The record store: one checksummed JSON record (and one ``.npy`` samples file) per cell.

Layout of an output folder ``DIR``::

    DIR/cells/<cell_id>.json     one record per cell (the source of truth)
    DIR/samples/<cell_id>.npy    the cell's samples [n, d] float32 (status ok only)
    DIR/.locks/<cell_id>.lock    advisory locks: a cell is computed by one process at a time

Records are written via a temporary file and an atomic rename, samples first, so a record
on disk always has its samples; each carries a SHA-256 of itself and of its samples, and a
record that fails either check is not trusted. Both executors and the report use this
module; it knows nothing of how cells are scheduled.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from boltzbench.files import atomic_write_bytes, atomic_write_json, nan_to_none, npy_bytes

SCHEMA_VERSION = 2  # 2: records carry a checksum (and their samples' SHA-256)
#: a curve snapshot larger than this is thinned evenly before it is scored; a curve point
#: written before ``n_scored`` existed holds the thinned count in ``n``
CURVE_MAX_POINTS = 1000


def record_checksum(record: dict[str, Any]) -> str:
    """SHA-256 of a record's canonical JSON (sorted keys, no spaces, NaN as null), its own
    ``checksum`` field left out."""
    body = {k: v for k, v in record.items() if k != "checksum"}
    text = json.dumps(nan_to_none(body), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()


def record_path(out_dir: Path, cell_id: str) -> Path:
    """Where the record of ``cell_id`` lives."""
    return Path(out_dir) / "cells" / f"{cell_id}.json"


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


def iter_records(out_dir: Path) -> Iterator[tuple[Path, dict | None, str | None]]:
    """(path, record or None, problem or None) for every record file of ``out_dir``, in
    file-name order."""
    for path in sorted(Path(out_dir, "cells").glob("*.json")):
        record, problem = read_record(path)
        yield path, record, problem


def write_record(out_dir: Path, record: dict[str, Any], samples: Any = None) -> dict[str, Any]:
    """Store a finished cell: its samples ([n, d] array, if any), then its record, each
    atomically, the record sealed with its checksum (and its samples' SHA-256). Returns
    the record as written."""
    cell_id = record["cell_id"]
    if samples is not None:
        data = npy_bytes(samples)
        atomic_write_bytes(Path(out_dir) / "samples" / f"{cell_id}.npy", data)
        record["samples_file"] = f"samples/{cell_id}.npy"
        record["samples_sha256"] = hashlib.sha256(data).hexdigest()
    record["checksum"] = record_checksum(record)
    atomic_write_json(record_path(out_dir, cell_id), record)
    return record


def reseal(path: Path, record: dict[str, Any]) -> None:
    """Rewrite an existing record (its samples untouched) with a fresh checksum: what
    rescoring does after it replaced the metrics."""
    record["checksum"] = record_checksum(record)
    atomic_write_json(path, record)


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
