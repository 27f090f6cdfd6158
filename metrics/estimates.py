"""Metrics from what a method reports about its own importance weights (its diagnostics),
not from its samples: ``log_z_error``, ``elbo`` and ``ess_fraction``."""

from __future__ import annotations

import math
from typing import Any

from boltzbench.registry import register_metric


def _finite(diagnostics: dict[str, Any], key: str) -> float | None:
    value = diagnostics.get(key)
    if isinstance(value, int | float) and math.isfinite(value):
        return float(value)
    return None


@register_metric("log_z_error", version="1", source="diagnostics")
def log_z_error(diagnostics: dict[str, Any], target: Any) -> float | None:
    """|log Ẑ − log Z| for a method that reports ``log_z`` on a target that knows log Z."""
    estimate, true = _finite(diagnostics, "log_z"), getattr(target, "log_Z", None)
    if estimate is None or true is None:
        return None
    return abs(estimate - float(true))


@register_metric("elbo", version="1", lower_is_better=False, source="diagnostics")
def elbo(diagnostics: dict[str, Any], target: Any) -> float | None:
    """The mean log importance weight a method reports (a lower bound on log Z for exact
    weights)."""
    return _finite(diagnostics, "elbo")


@register_metric("ess_fraction", version="2", lower_is_better=False, source="diagnostics")
def ess_fraction(diagnostics: dict[str, Any], target: Any) -> float | None:
    """Effective sample size over the number of importance weights, measured before any
    resampling, bridge or rejuvenation: a method that resamples reports it as
    ``ess_fraction_oneshot`` (taken over ``ess_fraction``, which may be measured after a
    bridge has rescued the weights from a few ancestors: PITA reported 1.0 on ``funnel``
    where every sample was one configuration, one-shot 0.0003)."""
    oneshot = _finite(diagnostics, "ess_fraction_oneshot")
    return oneshot if oneshot is not None else _finite(diagnostics, "ess_fraction")
