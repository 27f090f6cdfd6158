"""References shipped in the repository, for targets whose reference takes too long to
generate on every machine (``ethanol``: about 45 CPU-minutes per set of 2000).

A shipped set lives in ``targets/data/<target>/reference-n<n>-s<seed>.npz`` (``samples``
[n, d] float32, ``probe_x`` [k, d] and ``probe_energy`` [k]) beside a ``.json`` with its
provenance (the generator's ``info``: command, settings, cost, checks). It is used only if
the target's energies at the stored probe points still equal the stored ones (relative
1e-6): an edited energy function never meets an old reference, it regenerates. Written by
``python scripts/ship_reference.py TARGET``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import torch

DATA = Path(__file__).parent / "data"
#: configurations of the reference whose energies stand for the energy function
PROBE_ROWS = 4


def shipped_path(name: str, n: int, seed: int) -> Path:
    """Where the shipped reference of target ``name`` with n samples from ``seed`` lives
    (the ``.npz``; its provenance is the same path with ``.json``)."""
    return DATA / name / f"reference-n{n}-s{seed}.npz"


def load_shipped(target: Any, n: int, seed: int) -> tuple[torch.Tensor, dict[str, Any]] | None:
    """The shipped reference (samples [n, d] float32, provenance) if there is one and the
    target's energies at its probe points are unchanged; None otherwise."""
    path = shipped_path(target.name, n, seed)
    if not (path.is_file() and path.with_suffix(".json").is_file()):
        return None
    with np.load(path) as data:
        samples, probe_x, probe_e = data["samples"], data["probe_x"], data["probe_energy"]
    now = target.energy(torch.as_tensor(probe_x, dtype=torch.float64)).double().numpy()
    if not np.allclose(now, probe_e, rtol=1e-6, atol=1e-6):
        return None
    info = json.loads(path.with_suffix(".json").read_text())
    info["shipped"] = str(path.relative_to(DATA.parent.parent))
    return torch.from_numpy(samples), info


def ship(target: Any, samples: torch.Tensor, info: dict[str, Any], n: int, seed: int) -> Path:
    """Write ``samples`` [n, d] and ``info`` as the shipped reference of ``target``."""
    path = shipped_path(target.name, n, seed)
    path.parent.mkdir(parents=True, exist_ok=True)
    x = samples[:PROBE_ROWS].double()
    energy = target.energy(x).double().numpy()
    np.savez_compressed(
        path,
        samples=samples.float().numpy(),
        probe_x=x.numpy(),
        probe_energy=energy,
    )
    path.with_suffix(".json").write_text(json.dumps(info, indent=1, sort_keys=True) + "\n")
    return path
