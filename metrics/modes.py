"""Mode coverage: how far the sample's mass per mode is from the target's."""

from __future__ import annotations

from typing import Any

import torch

from boltzbench.registry import register_metric


def mode_fractions(samples: torch.Tensor, target: Any) -> torch.Tensor:
    """Fraction of samples in each of the target's modes, [K] float64."""
    labels = target.mode_of(samples)
    k = len(target.mode_masses)
    return torch.bincount(labels, minlength=k)[:k].to(torch.float64) / samples.shape[0]


@register_metric("mode_mass_error", version="1")
def mode_mass_error(samples: torch.Tensor, reference: torch.Tensor, target: Any) -> float | None:
    """max_k |fraction of samples in mode k − exact mass of mode k|; None (not applicable)
    for targets that define no modes (``mode_of`` and ``mode_masses``)."""
    if getattr(target, "mode_masses", None) is None or not hasattr(target, "mode_of"):
        return None
    exact = torch.as_tensor(target.mode_masses, dtype=torch.float64)
    return float((mode_fractions(samples, target) - exact).abs().max())
