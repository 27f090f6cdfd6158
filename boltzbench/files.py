"""Small file helpers: atomic writes, `.npy` bytes and the cache folder."""

from __future__ import annotations

import io
import json
import os
import tempfile
from pathlib import Path
from typing import Any

import numpy as np


def cache_dir() -> Path:
    """Where references and noise floors are cached: ``$BOLTZBENCH_CACHE`` or
    ``~/.cache/boltzbench``."""
    root = os.environ.get("BOLTZBENCH_CACHE") or Path.home() / ".cache" / "boltzbench"
    path = Path(root)
    path.mkdir(parents=True, exist_ok=True)
    return path


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` via a temporary file in the same folder and a rename, so
    a reader sees either the old file or the complete new one, never a partial file."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def atomic_write_json(path: Path, obj: Any) -> None:
    """Atomically write ``obj`` as indented JSON (NaN written as null)."""
    text = json.dumps(nan_to_none(obj), indent=1, sort_keys=True)
    atomic_write_bytes(path, text.encode())


def npy_bytes(array: np.ndarray) -> bytes:
    """``array`` in ``.npy`` format."""
    buf = io.BytesIO()
    np.save(buf, array, allow_pickle=False)
    return buf.getvalue()


def atomic_write_npy(path: Path, array: np.ndarray) -> None:
    """Atomically write a numpy array in ``.npy`` format."""
    atomic_write_bytes(path, npy_bytes(array))


def nan_to_none(obj: Any) -> Any:
    """``obj`` with float NaNs as None and tuples as lists: what its JSON reads back as."""
    if isinstance(obj, float) and obj != obj:
        return None
    if isinstance(obj, dict):
        return {k: nan_to_none(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [nan_to_none(v) for v in obj]
    return obj
