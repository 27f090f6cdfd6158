"""Metric noise floors: what an exact sampler scores against the same reference.

The floor of a metric at sample size n is the mean, over up to ``floor_repeats`` sets of
size n independent of the reference, of ``metric(set, reference, target)``. The sets come
from, in order of preference: the target's exact sampler (seeds distinct from the
reference's); its ``floor_draws()`` (draws independent of the reference shipped with it,
e.g. the half of posteriordb's draws the reference does not use), cut into disjoint sets of
n; or, for a generated reference, a second independent reference run from another seed,
cut likewise. Without any of these a floor is None. A method whose value is within
the floor is indistinguishable from exact sampling at that n. Floors are cached as JSON
under ``$BOLTZBENCH_CACHE/floors``, keyed by everything that determines them (the target's
definition fingerprint among them).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from typing import Any

import torch

from boltzbench.files import atomic_write_json, cache_dir
from boltzbench.fingerprint import fingerprint
from boltzbench.registry import METRICS

FLOOR_SEED_OFFSET = 1_000_003


def noise_floors(target: Any, metric_names: list[str], n: int) -> dict[str, float | None]:
    """Floors for each metric at sample size ``n`` (None without an exact sampler)."""
    spec = target.metric_spec
    metrics = {name: METRICS.get(name) for name in metric_names}
    key_data = {
        "target": target.name,
        "reference_version": getattr(target, "reference_version", 1),
        "fingerprint": fingerprint(target),
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
    sets = floor_sets(target, n)
    if not sets:
        return dict.fromkeys(metric_names)
    reference = target.reference().samples
    values: dict[str, list[float]] = {name: [] for name in metric_names}
    for exact in sets:
        for name, fn in metrics.items():
            value = fn(exact, reference, target)
            values[name].append(None if value is None else float(value))
    floors = {name: None if None in v else sum(v) / len(v) for name, v in values.items()}
    atomic_write_json(path, {"key": key_data, "floors": floors})
    return floors


def prepare_references(target: Any) -> None:
    """Load or generate, in this process, the target's reference set and the independent
    set its floors come from. A run calls it for each target before its cells start:
    a generated reference may run parallel worker processes (``aldp``'s replica exchange),
    which a cell's own process, a daemon, cannot start."""
    target.reference()
    floor_sets(target, 1)


def floor_sets(target: Any, n: int) -> list[torch.Tensor]:
    """Sets of ``n`` draws independent of the target's reference (see the module
    docstring); an empty list when there are none."""
    spec = target.metric_spec
    probe = target.sample(1, torch.Generator().manual_seed(0))
    if probe is not None:
        seeds = [spec.reference_seed + FLOOR_SEED_OFFSET + r for r in range(spec.floor_repeats)]
        return [target.sample(n, torch.Generator().manual_seed(s)) for s in seeds]
    draws = None
    if hasattr(target, "floor_draws"):
        draws = target.floor_draws()
    elif hasattr(target, "generate_reference"):
        from boltzbench.targets.reference import get_reference

        draws = get_reference(target, seed=spec.reference_seed + FLOOR_SEED_OFFSET).samples
    if draws is None or draws.shape[0] < n:
        return []
    k = min(spec.floor_repeats, draws.shape[0] // n)
    return [draws[r * n : (r + 1) * n] for r in range(k)]
