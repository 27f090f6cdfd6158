"""Failure tiers: every scored cell is classified before anything ranks it.

A number can only be compared with another when both samplers overlap the target. A cell
whose samples sit far outside it gets a metric at the metric's ceiling or clip (the
multi-scale MMD of a point mass far away is 1 + 1/K̄, whatever the distance; an energy W2
is clipped to the reference's range), and ranking those values would put a broken sampler
ahead of a working one. So each ok cell gets one tier, checked in this order (the first
that applies names it):

- ``diverged``: the samples' RMS distance from the origin exceeds :data:`DIVERGED_RADII`
  times the target's broad initial scale (``init_std``·√d): the sampler ran away.
- ``collapsed``: fewer than :data:`MIN_DISTINCT_FRACTION` of the samples are distinct
  configurations, or the method reports fewer than :data:`MIN_ANCESTORS` distinct ancestors
  (``distinct_ancestors`` in its diagnostics): the samples are copies of a few points.
- ``untrained``: a learned method reports fewer than :data:`MIN_TRAIN_STEPS` training steps
  (``train_steps`` or ``train_iterations`` in its diagnostics): an untrained generator.
- ``no_overlap``: at least :data:`NO_OVERLAP_SHARE` of the samples have energies above the
  reference's range (the ``high_energy_fraction`` metric: the reference's q₀.₉₉₉ + IQR):
  the samples are outside the target's support, and distances to it saturate.
- ``ok``: none of these.

Cells whose status is not ``ok`` (failed, timeout, budget exceeded, …) keep their status and
get no tier. Only ``ok``-tier cells are ranked (:mod:`boltzbench.report.tables`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import torch

#: the tiers, in the order they are checked (``ok`` when none applies)
TIERS = ("diverged", "collapsed", "untrained", "no_overlap", "ok")
DIVERGED_RADII = 100.0
MIN_DISTINCT_FRACTION = 0.1
MIN_ANCESTORS = 10
MIN_TRAIN_STEPS = 100
NO_OVERLAP_SHARE = 0.5
TRAIN_STEP_KEYS = ("train_steps", "train_iterations")


@dataclass(frozen=True)
class Tier:
    """A cell's tier, the one-line reason, and the share of distinct configurations among
    its samples (reported for every cell, weighted or not)."""

    name: str
    reason: str
    distinct_fraction: float


def distinct_fraction(samples: torch.Tensor) -> float:
    """Distinct rows of ``samples`` [n, d] (exact float equality) over n."""
    n = samples.shape[0]
    return float(torch.unique(samples, dim=0).shape[0] / n) if n else math.nan


def classify(
    samples: torch.Tensor,
    target: Any,
    metrics: dict[str, Any],
    diagnostics: dict[str, Any],
) -> Tier:
    """The tier of an ok cell from its samples [n, d], its target (``dim``, ``init_std``),
    its metrics (``high_energy_fraction``) and its method's diagnostics."""
    n = samples.shape[0]
    distinct = distinct_fraction(samples)
    x = samples.double()
    scale = float(getattr(target, "init_std", 1.0) or 1.0) * math.sqrt(samples.shape[1])
    radius = float(x.pow(2).sum(1).mean().sqrt()) / scale
    if not math.isfinite(radius) or radius > DIVERGED_RADII:
        reason = f"samples {radius:.3g}× the initial scale from the origin (> {DIVERGED_RADII:g}×)"
        return Tier("diverged", reason, distinct)
    if distinct < MIN_DISTINCT_FRACTION:
        count = round(distinct * n)
        reason = f"{count} distinct configurations of {n} (< {MIN_DISTINCT_FRACTION:.0%})"
        return Tier("collapsed", reason, distinct)
    ancestors = _number(diagnostics.get("distinct_ancestors"))
    if ancestors is not None and ancestors < MIN_ANCESTORS:
        reason = f"{ancestors:g} distinct ancestors (< {MIN_ANCESTORS})"
        return Tier("collapsed", reason, distinct)
    reported = [_number(diagnostics.get(k)) for k in TRAIN_STEP_KEYS]
    steps = next((s for s in reported if s is not None), None)
    if steps is not None and steps < MIN_TRAIN_STEPS:
        return Tier("untrained", f"{steps:g} training steps (< {MIN_TRAIN_STEPS})", distinct)
    outside = _number(metrics.get("high_energy_fraction"))
    if outside is not None and outside >= NO_OVERLAP_SHARE:
        reason = (
            f"{outside:.0%} of samples above the reference's energy range "
            f"(≥ {NO_OVERLAP_SHARE:.0%})"
        )
        return Tier("no_overlap", reason, distinct)
    return Tier("ok", "", distinct)


def _number(value: Any) -> float | None:
    return float(value) if isinstance(value, int | float) and math.isfinite(value) else None


def apply(record: dict[str, Any], samples: torch.Tensor, target: Any) -> None:
    """Write the tier of an ok record into it (``tier``, ``tier_reason``,
    ``distinct_fraction``); a record that is not ok gets ``tier`` None."""
    if record.get("status") != "ok":
        record["tier"], record["tier_reason"] = None, ""
        return
    tier = classify(samples, target, record.get("metrics", {}), record.get("diagnostics", {}))
    record["tier"], record["tier_reason"] = tier.name, tier.reason
    record["distinct_fraction"] = tier.distinct_fraction
