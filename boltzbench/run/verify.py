"""``boltzbench verify DIR``: rerun stored cells at the current code and compare.

A results folder is reproducible from one commit when its cells, rerun, give the same
samples. :func:`verify` picks cells of a folder (at random with a fixed seed, or by id),
rebuilds each :class:`~boltzbench.run.cells.Cell` from its record, checks that the rebuilt
cell has the record's identity (cell id, config hash, target fingerprint), reruns it in a
fresh process with the thread count the suite's runs used, and classifies the result:

- ``identical``: the samples' SHA-256 equals the record's;
- ``close``: the samples differ, but every metric the record holds agrees within
  :data:`RTOL` (relative) or :data:`ATOL` (absolute), whichever is looser: last-bit noise
  that does not change a number a table shows;
- ``different``: some metric moved by more (the largest change is reported); a method
  whose result swings with floating-point noise shows up here;
- ``stale``: the record no longer describes this code (its config hash or target
  fingerprint changed), so a rerun would be a different cell;
- ``failed``: the rerun did not finish ``ok``.

Nothing is written into ``DIR``: the comparison goes to stdout and, with ``--out``, to a
CSV in a folder of its own.
"""

from __future__ import annotations

import hashlib
import math
import random
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from boltzbench.files import npy_bytes
from boltzbench.fingerprint import identity, is_stale
from boltzbench.provenance import provenance
from boltzbench.records import iter_records
from boltzbench.registry import TARGETS
from boltzbench.run.cells import Cell
from boltzbench.run.child import run_in_subprocess

#: metrics closer than this (relative, or absolute for values near 0) count as equal
RTOL = 1e-6
ATOL = 1e-9
#: a rerun longer than this is stopped (seconds)
TIMEOUT = 3600.0


@dataclass(frozen=True)
class Verdict:
    """One rerun cell: its id, the verdict, and the largest metric change (name, stored
    value, rerun value; empty where the samples were identical or nothing was compared)."""

    cell_id: str
    verdict: str
    metric: str = ""
    stored: float = math.nan
    rerun: float = math.nan
    seconds: float = math.nan

    def line(self) -> str:
        text = f"{self.verdict:<10} {self.cell_id}"
        if self.metric:
            text += f"  {self.metric}: {self.stored:.6g} -> {self.rerun:.6g}"
        return text


def cell_of(record: dict[str, Any]) -> Cell:
    """The cell a record was computed for, rebuilt from the record alone. A record stores
    the sample count it drew; the cell asked for it or for the target's default (None):
    whichever reproduces the record's cell id."""
    metrics = tuple(sorted(record.get("metrics", {})))
    fields = {
        "suite": record["suite"],
        "target": record["target"],
        "method": record.get("registry_name") or record["method"],
        "seed": int(record["seed"]),
        "params": tuple(sorted(record.get("params", {}).items())),
        "config": tuple(sorted(record.get("config", {}).items())),
        "budget": record.get("budget"),
        "label": record["method"],
        "cost": tuple(sorted(record.get("cost_model", {}).items())),
        **({"metrics": metrics} if metrics else {}),
    }
    cell = Cell(**fields, n_samples=record.get("n_samples"))
    if cell.cell_id != record["cell_id"]:
        default = Cell(**fields, n_samples=None)
        cell = default if default.cell_id == record["cell_id"] else cell
    return cell


def choose(records: list[dict[str, Any]], k: int, seed: int, ids: list[str]) -> list[dict]:
    """The records to verify: those named in ``ids`` or ``k`` ok ones drawn at random
    (``seed``), in cell-id order."""
    if ids:
        by_id = {r["cell_id"]: r for r in records}
        unknown = [i for i in ids if i not in by_id]
        if unknown:
            raise KeyError(f"no record {unknown[0]!r} in this folder")
        return [by_id[i] for i in ids]
    ok = sorted((r for r in records if r.get("status") == "ok"), key=lambda r: r["cell_id"])
    picked = random.Random(seed).sample(ok, min(k, len(ok)))
    return sorted(picked, key=lambda r: r["cell_id"])


def compare(record: dict[str, Any], rerun: dict[str, Any], samples: Any) -> Verdict:
    """Classify a rerun against the stored record (see the module docstring)."""
    cid = record["cell_id"]
    if rerun.get("status") != "ok" or samples is None:
        return Verdict(cid, "failed", "status", math.nan, math.nan)
    digest = hashlib.sha256(npy_bytes(samples)).hexdigest()
    if digest == record.get("samples_sha256"):
        return Verdict(cid, "identical")
    worst = ("", math.nan, math.nan, -1.0)
    for name, old in record.get("metrics", {}).items():
        new = rerun.get("metrics", {}).get(name)
        if old is None or new is None or not (math.isfinite(old) and math.isfinite(new)):
            continue
        excess = abs(new - old) / max(RTOL * abs(old), ATOL)
        if excess > worst[3]:
            worst = (name, old, new, excess)
    verdict = "close" if worst[3] <= 1.0 else "different"
    return Verdict(cid, verdict, worst[0], worst[1], worst[2])


def verify(
    folder: Path,
    k: int = 3,
    seed: int = 0,
    ids: list[str] | None = None,
    threads: int = 1,
    progress: Any = print,
) -> list[Verdict]:
    """Rerun ``k`` cells of ``folder`` (or those named in ``ids``) and classify each."""
    import time

    records = [r for _, r, _ in iter_records(folder) if r is not None]
    prov = provenance("cpu")
    out = []
    for record in choose(records, k, seed, ids or []):
        cell = cell_of(record)
        if cell.config_hash != record["config_hash"] or cell.cell_id != record["cell_id"]:
            verdict = Verdict(record["cell_id"], "stale", "config_hash")
        elif is_stale(record, identity(TARGETS.get(cell.target)())):
            verdict = Verdict(record["cell_id"], "stale", "target_fingerprint")
        else:
            start = time.perf_counter()
            rerun, samples = run_in_subprocess(cell, [], threads, prov, TIMEOUT)
            verdict = compare(record, rerun, samples)
            verdict = Verdict(**{**verdict.__dict__, "seconds": time.perf_counter() - start})
        progress(verdict.line())
        out.append(verdict)
    return out
