"""Wasserstein distances: exact W2 (POT network simplex) and sliced W2."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np
import torch
from boltzbench.metrics.particles import raw_coordinates_apply

from boltzbench.registry import register_metric

W2_ITER_MAX = 10_000_000


class W2NotConverged(RuntimeError):
    """POT's network simplex stopped before optimality."""


def w2_exact(x: torch.Tensor, y: torch.Tensor) -> float:
    """Exact 2-Wasserstein distance between the uniform empirical measures on x [n, d]
    and y [m, d]: sqrt of the optimal transport cost under squared Euclidean cost.

    Cost O(n³)-ish in time and O(nm) memory; the metric below caps n. Raises
    :class:`W2NotConverged` if POT does not reach an optimal plan.
    """
    import ot  # on first use (see boltzbench.metrics)

    a = x.detach().to(torch.float64).cpu().numpy()
    b = y.detach().to(torch.float64).cpu().numpy()
    cost = ot.dist(a, b, metric="sqeuclidean")
    wa = np.full(a.shape[0], 1.0 / a.shape[0])
    wb = np.full(b.shape[0], 1.0 / b.shape[0])
    value, log = ot.emd2(wa, wb, cost, numItermax=W2_ITER_MAX, log=True)
    if log.get("result_code") != 1:
        raise W2NotConverged(
            f"ot.emd2 did not converge (result_code={log.get('result_code')}, "
            f"warning={log.get('warning')!r})"
        )
    return float(np.sqrt(max(float(value), 0.0)))


def random_directions(n_projections: int, dim: int, seed: int) -> torch.Tensor:
    """``n_projections`` unit vectors in R^dim, [n_projections, dim], float64, from ``seed``."""
    g = torch.Generator().manual_seed(seed)
    v = torch.randn(n_projections, dim, generator=g, dtype=torch.float64)
    return v / torch.linalg.vector_norm(v, dim=1, keepdim=True)


def _projections(x: torch.Tensor, directions: torch.Tensor) -> torch.Tensor:
    """θ·x for every direction θ: [P, n] float64, on x's device."""
    return directions.to(x.device, torch.float64) @ x.to(torch.float64).T


def _w2sq_1d(px: np.ndarray, py: np.ndarray) -> np.ndarray:
    """Exact W2² between uniform empirical measures, per row of sorted px [k, n], py [k, m].

    When n = m the quantile functions jump together, so W2² = mean (px − py)². Otherwise
    both are constant between neighbours of the merged grid of jump points {i/n} ∪ {j/m}:
    W2² = Σ over pieces of width · (F_x⁻¹ − F_y⁻¹)².
    """
    n, m = px.shape[1], py.shape[1]
    if n == m:
        diff = px - py
        return np.einsum("pi,pi->p", diff, diff) / n
    grid = np.unique(np.concatenate([np.arange(1, n + 1) / n, np.arange(1, m + 1) / m]))
    widths = np.diff(grid, prepend=0.0)
    mid = grid - widths / 2  # a level strictly inside each piece
    ix = np.clip(np.ceil(mid * n).astype(np.int64) - 1, 0, n - 1)
    iy = np.clip(np.ceil(mid * m).astype(np.int64) - 1, 0, m - 1)
    diff = (px[:, ix] - py[:, iy]) * np.sqrt(widths)
    return np.einsum("pi,pi->p", diff, diff)


#: directions handled together by one thread (bounds the memory of unequal sizes)
_ROWS_PER_TASK = 8


def sliced_w2_value(x: torch.Tensor, y: torch.Tensor, directions: torch.Tensor) -> float:
    """Sliced 2-Wasserstein: sqrt of the mean over directions θ of W2²(θ·x, θ·y).

    Args:
        x: [n, d] samples; y: [m, d] samples; directions: [P, d] unit vectors.

    Each 1-D W2² is exact (see :func:`_w2sq_1d`). Cost O(P (n + m) log(n + m)). On a GPU
    the projections are sorted by torch; on the CPU by numpy (faster than torch's sort
    here), groups of directions spread over ``torch.get_num_threads()`` threads (numpy
    releases the GIL), so memory beyond the projections stays a few groups' worth.
    """
    px, py = _projections(x, directions), _projections(y.to(x.device), directions)
    if px.device.type != "cpu":
        sx = torch.sort(px, dim=1).values.cpu().numpy()
        sy = torch.sort(py, dim=1).values.cpu().numpy()
        return float(np.sqrt(_w2sq_1d(sx, sy).mean()))
    px_np, py_np = px.numpy(), py.numpy()
    groups = [slice(i, i + _ROWS_PER_TASK) for i in range(0, px_np.shape[0], _ROWS_PER_TASK)]

    def group_w2sq(rows: slice) -> np.ndarray:
        return _w2sq_1d(np.sort(px_np[rows], axis=1), np.sort(py_np[rows], axis=1))

    with ThreadPoolExecutor(max(1, torch.get_num_threads())) as pool:
        w2sq = np.concatenate(list(pool.map(group_w2sq, groups)))
    return float(np.sqrt(w2sq.mean()))


def w2_estimator(n: int, m: int, target: Any) -> str:
    """What the ``w2`` metric computes for n samples against m reference points: ``exact``
    when both fit under the target's ``w2_max_n``; otherwise the fallback, the exact W2
    between fixed subsets (the first ``w2_max_n`` points of each set)."""
    cap = target.metric_spec.w2_max_n
    if n <= cap and m <= cap:
        return "exact"
    return f"subsample: first {min(n, cap)} of {n} samples, first {min(m, cap)} of {m} reference"


@register_metric("w2", version="2", estimator=w2_estimator)
def w2(samples: torch.Tensor, reference: torch.Tensor, target: Any) -> float | None:
    """Exact W2 between the first ``w2_max_n`` samples and reference points.

    Exact W2 costs O(n² d) memory-bound set-up and a network simplex of roughly cubic
    cost: measured on 2 cores, n = 2000 per side takes 0.6 s (d = 2) to 0.9 s (d = 39)
    with a 32 MB cost matrix (``benchmarks/bench_metrics.py``). Above ``w2_max_n``
    (default 2000) the metric falls back to the first ``w2_max_n`` points of each set, and
    the row's ``w2_estimator`` says so. None on particle systems and molecules (raw
    coordinates, :func:`~boltzbench.metrics.particles.raw_coordinates_apply`).
    """
    if not raw_coordinates_apply(target):
        return None
    cap = target.metric_spec.w2_max_n
    return w2_exact(samples[:cap], reference[:cap])


@register_metric("sliced_w2", version="2", accelerated=True)
def sliced_w2(samples: torch.Tensor, reference: torch.Tensor, target: Any) -> float | None:
    """Sliced W2 against the reference with the target's fixed random directions; None on
    particle systems and molecules."""
    if not raw_coordinates_apply(target):
        return None
    spec = target.metric_spec
    directions = random_directions(spec.sliced_projections, samples.shape[1], spec.projection_seed)
    return sliced_w2_value(samples, reference, directions)
