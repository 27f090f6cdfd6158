"""Distinct well patterns in the ``many_well`` samples of a results folder.

``many_well`` is 16 independent double wells (the even coordinates x[:, 2k]); a sample's
pattern is the sign of each of them. An exact sampler's 2000 draws show 860–920 distinct
patterns (the exact sampler's count, seed 0, is printed first), a sampler collapsed onto a few
particles a handful. Reads each ok cell's samples file; no method runs.

    python scripts/well_patterns.py results/full [--method pita]
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import torch

from boltzbench.records import read_record
from boltzbench.registry import TARGETS


def distinct_patterns(x: np.ndarray) -> int:
    """Distinct sign patterns of the double-well coordinates x[:, 0::2]; x: [n, 32]."""
    return len(np.unique(x[:, 0::2] > 0, axis=0))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("results", type=Path, help="a results folder, e.g. results/full")
    parser.add_argument("--method", default=None, help="only this method label")
    args = parser.parse_args()
    rows = []
    for path in sorted((args.results / "cells").glob("many_well__*.json")):
        record, problem = read_record(path, verify_samples=True)
        if record is None:
            print(f"skipped {path.name}: {problem}")
            continue
        if record.get("status") != "ok" or not record.get("samples_file"):
            continue
        label = "__".join(path.name.split("__")[1:3])  # label and config hash
        if args.method is not None and label.split("__")[0] != args.method:
            continue
        x = np.load(args.results / record["samples_file"])
        rows.append((label, record.get("seed"), len(x), distinct_patterns(x)))
    if not rows:
        raise SystemExit(f"no ok many_well cell with samples in {args.results}")
    n = rows[0][2]
    exact = TARGETS.get("many_well")().sample(n, torch.Generator().manual_seed(0))
    print(f"exact sampler, {n} draws: {distinct_patterns(exact.numpy())} patterns")
    print("method__hash seed n patterns")
    for label, seed, size, count in rows:
        print(label, seed, size, count)


if __name__ == "__main__":
    main()
