"""Upgrade cell records of schema 1 (before checksums) to schema 2 in place: add the
SHA-256 of each record's samples file and the record's own checksum.

    .venv/bin/python scripts/seal_records.py results/quick results/paper results/full

It trusts the files as they are, once: run it only on folders you have not edited by hand.
Records of schema 2 are left alone; anything else unreadable is reported and left as it is
(a run recomputes it).
"""

from __future__ import annotations

import hashlib
import json
import sys
from pathlib import Path

from boltzbench.cells import SCHEMA_VERSION
from boltzbench.io import atomic_write_json
from boltzbench.runner import record_checksum


def seal(folder: Path) -> tuple[int, int]:
    """(records upgraded, records left alone) in ``folder/cells``."""
    upgraded = left = 0
    for path in sorted(Path(folder, "cells").glob("*.json")):
        try:
            record = json.loads(path.read_text())
        except ValueError:
            print(f"{path}: not valid JSON; left as it is", file=sys.stderr)
            left += 1
            continue
        if record.get("schema") != 1:
            left += 1
            continue
        if record.get("samples_file"):
            data = Path(folder, record["samples_file"]).read_bytes()
            record["samples_sha256"] = hashlib.sha256(data).hexdigest()
        record["schema"] = SCHEMA_VERSION
        record["checksum"] = record_checksum(record)
        atomic_write_json(path, record)
        upgraded += 1
    return upgraded, left


if __name__ == "__main__":
    for arg in sys.argv[1:]:
        n, m = seal(Path(arg))
        print(f"{arg}: {n} records upgraded to schema {SCHEMA_VERSION}, {m} left alone")
