"""Unbiased RBF maximum mean discrepancy (MMD²)."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import torch
from boltzbench.metrics.particles import raw_coordinates_apply

from boltzbench.files import atomic_write_json, cache_dir
from boltzbench.registry import register_metric

#: tile shape: ROWS × COLS float64 values (2 MiB) stay in cache while the tile is
#: formed, exponentiated and summed; memory use is bounded by one tile per thread
ROWS, COLS = 256, 1024
#: the reference's kernel self-sum, reused across calls (a cell scores many snapshots
#: against the same reference); keyed by a hash of the values and ℓ
_SELF_SUMS: dict[tuple, float] = {}
#: the last few sums over the samples (their self-sum and their sum against the
#: reference): ``mmd``, ``mmd_x0.1``, ``mmd_x0.3`` and ``mmd_multi`` ask for the same sums
#: at the same bandwidths, so each is computed once; keyed like :data:`_SELF_SUMS`
_SAMPLE_SUMS: dict[tuple, float] = {}


def _scaled_sq_norms(x: torch.Tensor, scale: float) -> torch.Tensor:
    return (x * x).sum(1) * scale


def _tile_sum(
    xb: torch.Tensor, xb_sq: torch.Tensor, yb: torch.Tensor, yb_sq: torch.Tensor, scale: float
) -> torch.Tensor:
    """Σ exp(scale · ‖x_i − y_j‖²) over one tile, given scale · ‖·‖² of the rows."""
    t = torch.addmm(yb_sq[None, :], xb, yb.T, alpha=-2.0 * scale)
    return t.add_(xb_sq[:, None]).clamp_(max=0.0).exp_().sum()


def _kernel_sum(x: torch.Tensor, y: torch.Tensor, bandwidth: float) -> float:
    """Σ_ij exp(−‖x_i − y_j‖² / (2ℓ²)) in float64, tile by tile (bounded memory)."""
    scale = -0.5 / bandwidth**2
    x_sq, y_sq = _scaled_sq_norms(x, scale), _scaled_sq_norms(y, scale)
    total = torch.zeros((), dtype=torch.float64, device=x.device)
    for i in range(0, x.shape[0], ROWS):
        xb, xb_sq = x[i : i + ROWS], x_sq[i : i + ROWS]
        for j in range(0, y.shape[0], COLS):
            total += _tile_sum(xb, xb_sq, y[j : j + COLS], y_sq[j : j + COLS], scale)
    return float(total)


def _kernel_self_sum(y: torch.Tensor, bandwidth: float) -> float:
    """Σ_ij k(y_i, y_j) over all ordered pairs (diagonal included), computing each pair
    of the symmetric kernel matrix once: the diagonal tiles, then twice the tiles right
    of them."""
    scale = -0.5 / bandwidth**2
    y_sq = _scaled_sq_norms(y, scale)
    total = torch.zeros((), dtype=torch.float64, device=y.device)
    m = y.shape[0]
    for i in range(0, m, ROWS):
        stop = i + ROWS
        yb, yb_sq = y[i:stop], y_sq[i:stop]
        total += _tile_sum(yb, yb_sq, yb, yb_sq, scale)
        for j in range(stop, m, COLS):
            total += 2.0 * _tile_sum(yb, yb_sq, y[j : j + COLS], y_sq[j : j + COLS], scale)
    return float(total)


def _key(y: torch.Tensor) -> tuple:
    data = y.detach().cpu().contiguous().numpy().tobytes()
    return (hashlib.sha1(data).hexdigest(), tuple(y.shape), str(y.dtype), str(y.device))


#: a reference at least this large has its self-sums kept on disk (in the cache folder):
#: every cell of a target scores against the same reference, each in its own process
DISK_MIN_ROWS = 2000


def _disk_path(key: tuple, bandwidth: float) -> Path:
    digest = hashlib.sha1(repr((key, float(bandwidth).hex())).encode()).hexdigest()[:20]
    return cache_dir() / "kernel_sums" / f"{digest}.json"


def _self_sum(y: torch.Tensor, bandwidth: float, y_key: tuple | None = None) -> float:
    """The reference's kernel self-sum at ``bandwidth``: from this process's memory, else
    (for a reference of :data:`DISK_MIN_ROWS` rows or more) from the cache folder, else
    computed (and kept in both). The stored value is the computed float, exactly.
    ``y_key``: :func:`_key` of ``y`` where the caller has it already."""
    key = (y_key or _key(y), bandwidth)
    if key in _SELF_SUMS:
        return _SELF_SUMS[key]
    path = _disk_path(key[0], bandwidth) if y.shape[0] >= DISK_MIN_ROWS else None
    value = None
    if path is not None and path.is_file():
        try:
            value = float.fromhex(json.loads(path.read_text())["sum"])
        except (OSError, ValueError, KeyError, TypeError):
            value = None  # a damaged entry is recomputed
    if value is None:
        value = _kernel_self_sum(y, bandwidth)
        if path is not None:
            atomic_write_json(path, {"sum": value.hex(), "rows": int(y.shape[0])})
    if len(_SELF_SUMS) > 8:
        _SELF_SUMS.clear()
    _SELF_SUMS[key] = value
    return value


def _remembered(key: tuple, compute: Any) -> float:
    """``compute()``, or its value from the last few calls with this ``key`` (the same
    numbers: the sum is computed in the same order either way)."""
    if key not in _SAMPLE_SUMS:
        if len(_SAMPLE_SUMS) > 32:
            _SAMPLE_SUMS.clear()
        _SAMPLE_SUMS[key] = compute()
    return _SAMPLE_SUMS[key]


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
    x = x.to(torch.float64)
    y = y.to(x.device, torch.float64)
    n, m = x.shape[0], y.shape[0]
    if n < 2 or m < 2:
        raise ValueError("MMD needs at least two samples on each side")
    kx, ky = _key(x), _key(y)
    self_x = _remembered(("xx", kx, bandwidth), lambda: _kernel_self_sum(x, bandwidth))
    cross = _remembered(("xy", kx, ky, bandwidth), lambda: _kernel_sum(x, y, bandwidth))
    kxx = (self_x - n) / (n * (n - 1))  # the diagonal is exactly 1
    kyy = (_self_sum(y, bandwidth, ky) - m) / (m * (m - 1))
    kxy = cross / (n * m)
    return kxx + kyy - 2.0 * kxy


def median_bandwidth(reference: torch.Tensor, n: int = 1000) -> float:
    """Median pairwise Euclidean distance among the first ``n`` reference points."""
    r = reference[:n].to(torch.float64)
    return float(torch.pdist(r).median())


@register_metric("mmd", version="2", accelerated=True)
def mmd(samples: torch.Tensor, reference: torch.Tensor, target: Any) -> float | None:
    """Unbiased RBF MMD² against the reference, with the target's frozen bandwidth; None
    on particle systems and molecules (raw coordinates, see
    :func:`~boltzbench.metrics.particles.raw_coordinates_apply`)."""
    if not raw_coordinates_apply(target):
        return None
    bandwidth = target.metric_spec.mmd_bandwidth or median_bandwidth(reference)
    return mmd2_unbiased(samples, reference, bandwidth)
