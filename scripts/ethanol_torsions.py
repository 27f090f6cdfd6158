"""Where ethanol's samples sit: the share in the trans hydroxyl state (|C–C–O–H| > 2π/3)
and the median energy (kT), per method over a results folder's ethanol cells, beside the
reference's. Nothing is written.

    python scripts/ethanol_torsions.py results/molecules
"""

from __future__ import annotations

import json
import math
import sys
from collections import defaultdict
from pathlib import Path

import numpy as np
import torch
from boltzbench.targets.reference import get_reference

from boltzbench.registry import TARGETS


def summary(target, x: torch.Tensor) -> tuple[float, float]:
    """(trans share, median energy in kT) of configurations x [n, 27]."""
    x = x.double()
    trans = (target.torsions(x)[:, 0].abs() > 2 * math.pi / 3).double().mean()
    return float(trans), float(target.energy(x).median())


def main(folder: Path) -> None:
    target = TARGETS.get("ethanol")()
    ref = torch.as_tensor(get_reference(target).samples)
    print(f"{'reference':24s} trans {summary(target, ref)[0]:.3f}  E {summary(target, ref)[1]:.2f}")
    per_method: dict[str, list[tuple[float, float]]] = defaultdict(list)
    for path in sorted((folder / "cells").glob("ethanol__*.json")):
        record = json.loads(path.read_text())
        if record.get("status") != "ok":
            continue
        x = torch.as_tensor(np.load(folder / record["samples_file"]))
        per_method[record["method"]].append(summary(target, x))
    for method, rows in sorted(per_method.items()):
        trans = ", ".join(f"{t:.2f}" for t, _ in rows)
        energy = np.median([e for _, e in rows])
        print(f"{method:24s} trans {trans}  median E {energy:.2f} ({len(rows)} seeds)")


if __name__ == "__main__":
    main(Path(sys.argv[1] if len(sys.argv) > 1 else "results/molecules"))
