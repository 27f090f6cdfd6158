"""Moment errors: distance of the sample mean and covariance from the target's."""

from __future__ import annotations

from typing import Any

import torch
from boltzbench.metrics.particles import raw_coordinates_apply

from boltzbench.registry import register_metric


def _target_moments(reference: torch.Tensor, target: Any) -> tuple[torch.Tensor, torch.Tensor]:
    """Exact (μ [d], Σ [d, d]) from the target where known, else from the reference."""
    ref = reference.to(torch.float64)
    mu = getattr(target, "mean", None)
    sigma = getattr(target, "cov", None)
    mu = ref.mean(0) if mu is None else torch.as_tensor(mu, dtype=torch.float64)
    sigma = torch.cov(ref.T).reshape(ref.shape[1], -1) if sigma is None else sigma
    return mu, torch.as_tensor(sigma, dtype=torch.float64)


def mean_error_value(samples: torch.Tensor, mu: torch.Tensor) -> float:
    """‖mean(samples) − μ‖₂ for samples [n, d] and μ [d]."""
    return float(torch.linalg.vector_norm(samples.to(torch.float64).mean(0) - mu))


def cov_error_value(samples: torch.Tensor, sigma: torch.Tensor) -> float:
    """‖Cov(samples) − Σ‖_F with the unbiased (n − 1) sample covariance."""
    x = samples.to(torch.float64)
    cov = torch.cov(x.T).reshape(x.shape[1], x.shape[1])
    return float(torch.linalg.matrix_norm(cov - sigma, ord="fro"))


@register_metric("mean_error", version="2")
def mean_error(samples: torch.Tensor, reference: torch.Tensor, target: Any) -> float | None:
    """‖mean − μ‖₂, μ the target's exact mean (the reference mean where unknown); None on
    particle systems and molecules (:func:`~boltzbench.metrics.particles.raw_coordinates_apply`)."""
    if not raw_coordinates_apply(target):
        return None
    mu, _ = _target_moments(reference, target)
    return mean_error_value(samples, mu)


@register_metric("cov_error", version="2")
def cov_error(samples: torch.Tensor, reference: torch.Tensor, target: Any) -> float | None:
    """‖Cov − Σ‖_F, Σ the target's exact covariance (the reference's where unknown); None on
    particle systems and molecules."""
    if not raw_coordinates_apply(target):
        return None
    _, sigma = _target_moments(reference, target)
    return cov_error_value(samples, sigma)
