"""Unbiased RBF maximum mean discrepancy (MMD²)."""

from __future__ import annotations

import hashlib
from typing import Any

import torch

from boltzbench.registry import register_metric

_BLOCK = 2048
#: the reference's kernel self-sum, reused across calls (a cell scores many snapshots
#: against the same reference); keyed by a hash of the values and ℓ
_SELF_SUMS: dict[tuple, float] = {}


def _kernel_sum(x: torch.Tensor, y: torch.Tensor, bandwidth: float) -> float:
    """Σ_ij exp(−‖x_i − y_j‖² / (2ℓ²)) in float64, in row blocks (bounded memory: one
    block × len(y) matrix at a time, updated in place)."""
    total = torch.zeros((), dtype=torch.float64)
    y_sq = (y * y).sum(1)
    scale = -0.5 / bandwidth**2
    for start in range(0, x.shape[0], _BLOCK):
        xb = x[start : start + _BLOCK]
        total += _block_sum(xb, (xb * xb).sum(1), y, y_sq, scale)
    return float(total)


def _block_sum(
    xb: torch.Tensor, xb_sq: torch.Tensor, y: torch.Tensor, y_sq: torch.Tensor, scale: float
) -> torch.Tensor:
    sq = torch.addmm(y_sq[None, :], xb, y.T, alpha=-2.0)
    sq.add_(xb_sq[:, None]).clamp_(min=0.0).mul_(scale).exp_()
    return sq.sum()


def _kernel_self_sum(y: torch.Tensor, bandwidth: float) -> float:
    """Σ_ij k(y_i, y_j) over all ordered pairs (diagonal included), computing each
    off-diagonal block once (the kernel matrix is symmetric)."""
    total = torch.zeros((), dtype=torch.float64)
    y_sq = (y * y).sum(1)
    scale = -0.5 / bandwidth**2
    for start in range(0, y.shape[0], _BLOCK):
        stop = start + _BLOCK
        yb, yb_sq = y[start:stop], y_sq[start:stop]
        total += _block_sum(yb, yb_sq, yb, yb_sq, scale)
        if stop < y.shape[0]:
            total += 2.0 * _block_sum(yb, yb_sq, y[stop:], y_sq[stop:], scale)
    return float(total)


def _self_sum(y: torch.Tensor, bandwidth: float) -> float:
    data = y.detach().contiguous().numpy().tobytes()
    key = (hashlib.sha1(data).hexdigest(), tuple(y.shape), bandwidth)
    if key not in _SELF_SUMS:
        if len(_SELF_SUMS) > 8:
            _SELF_SUMS.clear()
        _SELF_SUMS[key] = _kernel_self_sum(y, bandwidth)
    return _SELF_SUMS[key]


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
    kxx = (_kernel_self_sum(x, bandwidth) - n) / (n * (n - 1))  # the diagonal is exactly 1
    kyy = (_self_sum(y, bandwidth) - m) / (m * (m - 1))
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
