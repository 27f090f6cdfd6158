"""Metric noise floors: what an exact sampler scores against the same reference.

For a target with an exact sampler, the floor of a metric at sample size n is the mean,
over ``floor_repeats`` independent exact sets of size n (seeds distinct from the
reference's), of ``metric(exact_set, reference, target)``. A method whose value is within
the floor is indistinguishable from exact sampling at that n. Floors are cached as JSON
under ``$BOLTZBENCH_CACHE/floors``, keyed by everything that determines them.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from typing import Any

import torch

from boltzbench.io import atomic_write_json, cache_dir
from boltzbench.registry import METRICS

FLOOR_SEED_OFFSET = 1_000_003


def noise_floors(target: Any, metric_names: list[str], n: int) -> dict[str, float | None]:
    """Floors for each metric at sample size ``n`` (None without an exact sampler)."""
    spec = target.metric_spec
    metrics = {name: METRICS.get(name) for name in metric_names}
    key_data = {
        "target": target.name,
        "reference_version": getattr(target, "reference_version", 1),
        "spec": dataclasses.asdict(spec),
        "n": n,
        "metrics": {name: fn.version for name, fn in metrics.items()},
    }
    key = hashlib.sha256(json.dumps(key_data, sort_keys=True).encode()).hexdigest()[:16]
    path = cache_dir() / "floors" / f"{target.name}-{key}.json"
    if path.is_file():
        try:
            cached = json.loads(path.read_text())
            if cached.get("key") == key_data:
                return cached["floors"]
        except (OSError, ValueError):
            pass
    probe = target.sample(1, torch.Generator().manual_seed(0))
    if probe is None:
        return dict.fromkeys(metric_names)
    reference = target.reference().samples
    values: dict[str, list[float]] = {name: [] for name in metric_names}
    for r in range(spec.floor_repeats):
        g = torch.Generator().manual_seed(spec.reference_seed + FLOOR_SEED_OFFSET + r)
        exact = target.sample(n, g)
        for name, fn in metrics.items():
            value = fn(exact, reference, target)
            values[name].append(None if value is None else float(value))
    floors = {name: None if None in v else sum(v) / len(v) for name, v in values.items()}
    atomic_write_json(path, {"key": key_data, "floors": floors})
    return floors
