"""A learned sampler's bias: the error that more draws cannot remove.

Measured on a large set of its draws (e.g. 1e5, :func:`boltzbench.run.cells.measure_draws`)
cut into B disjoint blocks of ``block`` draws: each block is scored with the primary metric
against the reference, and the bias is the mean over blocks minus the exact sampler's
noise floor at the same block size,

    bias = mean_b metric(block_b, reference) − floor(block),

so that a sampler that draws exactly has bias ≈ 0 ± its standard error (the blocks' and the
floor's exact sets' standard errors combined; the floor's few sets often dominate). The
cost is linear in the number of draws (B metric evaluations of one block each), where the
metric on all draws at once would be quadratic. What no number of
draws resolves is the reference's own noise: a bias below the floor at the reference's size
is indistinguishable from 0.
"""

from __future__ import annotations

import math
from typing import Any

import torch

from boltzbench.protocols import primary_metric
from boltzbench.registry import METRICS
from boltzbench.score.floors import floor_sets


def _mean_se(values: list[float]) -> tuple[float, float]:
    mean = sum(values) / len(values)
    if len(values) < 2:
        return mean, math.nan
    sd = math.sqrt(sum((v - mean) ** 2 for v in values) / (len(values) - 1))
    return mean, sd / math.sqrt(len(values))


def block_bias(target: Any, draws: torch.Tensor, block: int) -> dict[str, Any]:
    """The bias of ``draws`` [N, d] on the target's primary metric (see the module
    docstring): {metric, value, se, mean, floor, floor_sets, block, blocks, draws}. The floor
    is the mean over the exact sets of :func:`boltzbench.score.floors.floor_sets` at the
    block size, and ``se`` combines the blocks' and those sets' standard errors; value is
    None when the metric or an exact set is unavailable. Lower-is-better metrics only."""
    name = primary_metric(target)
    fn = METRICS.get(name)
    blocks = draws.shape[0] // block
    if blocks < 2:
        raise ValueError(f"{draws.shape[0]} draws make fewer than 2 blocks of {block}")
    reference = target.reference().samples
    values = []
    for b in range(blocks):
        value = fn(draws[b * block : (b + 1) * block], reference, target)
        if value is None:
            return {"metric": name, "value": None, "block": block, "blocks": blocks}
        values.append(float(value))
    mean, se = _mean_se(values)
    exact = [fn(x, reference, target) for x in floor_sets(target, block)]
    if not exact or None in exact:
        return {"metric": name, "value": None, "block": block, "blocks": blocks, "mean": mean}
    floor, floor_se = _mean_se([float(v) for v in exact])
    return {
        "metric": name,
        "value": mean - floor,
        "se": math.sqrt(se**2 + floor_se**2),
        "mean": mean,
        "floor": floor,
        "floor_sets": len(exact),
        "block": block,
        "blocks": blocks,
        "draws": blocks * block,
    }
