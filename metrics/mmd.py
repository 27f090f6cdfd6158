"""Unbiased RBF maximum mean discrepancy (MMD²)."""

from __future__ import annotations

from typing import Any

import torch

from boltzbench.registry import register_metric

_BLOCK = 2048


def _kernel_sum(x: torch.Tensor, y: torch.Tensor, bandwidth: float) -> float:
    """Σ_ij exp(−‖x_i − y_j‖² / (2ℓ²)) in float64, in row blocks (bounded memory)."""
    total = torch.zeros((), dtype=torch.float64)
    y_sq = (y * y).sum(1)
    scale = -0.5 / bandwidth**2
    for start in range(0, x.shape[0], _BLOCK):
        xb = x[start : start + _BLOCK]
        sq = (xb * xb).sum(1)[:, None] + y_sq[None, :] - 2.0 * xb @ y.T
        total += torch.exp(sq.clamp_min_(0.0) * scale).sum()
    return float(total)


def mmd2_unbiased(x: torch.Tensor, y: torch.Tensor, bandwidth: float) -> float:
    """Unbiased estimate of MMD²(P, Q) with k(x, y) = exp(−‖x − y‖² / (2ℓ²)).

    Args:
        x: [n, d] samples of P (n ≥ 2).
        y: [m, d] samples of Q (m ≥ 2).
        bandwidth: ℓ > 0, in the units of x.

    Returns:
        The U-statistic Σ_{i≠i'} k(x_i, x_i')/(n(n−1)) + Σ_{j≠j'} k(y_j, y_j')/(m(m−1))
        − 2 Σ_ij k(x_i, y_j)/(nm); it can be slightly negative when P = Q.
    """
    if bandwidth <= 0:
        raise ValueError(f"bandwidth must be positive, got {bandwidth}")
    x, y = x.to(torch.float64), y.to(torch.float64)
    n, m = x.shape[0], y.shape[0]
    if n < 2 or m < 2:
        raise ValueError("MMD needs at least two samples on each side")
    kxx = (_kernel_sum(x, x, bandwidth) - n) / (n * (n - 1))  # the diagonal is exactly 1
    kyy = (_kernel_sum(y, y, bandwidth) - m) / (m * (m - 1))
    kxy = _kernel_sum(x, y, bandwidth) / (n * m)
    return kxx + kyy - 2.0 * kxy


def median_bandwidth(reference: torch.Tensor, n: int = 1000) -> float:
    """Median pairwise Euclidean distance among the first ``n`` reference points."""
    r = reference[:n].to(torch.float64)
    return float(torch.pdist(r).median())


@register_metric("mmd", version="1")
def mmd(samples: torch.Tensor, reference: torch.Tensor, target: Any) -> float:
    """Unbiased RBF MMD² against the reference, with the target's frozen bandwidth."""
    bandwidth = target.metric_spec.mmd_bandwidth or median_bandwidth(reference)
    return mmd2_unbiased(samples, reference, bandwidth)
