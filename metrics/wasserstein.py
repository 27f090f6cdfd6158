"""Wasserstein distances: exact W2 (POT network simplex) and sliced W2."""

from __future__ import annotations

from typing import Any

import numpy as np
import ot
import torch

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


def _quantiles(sorted_values: torch.Tensor, levels: torch.Tensor) -> torch.Tensor:
    """Empirical quantile function (left-continuous inverse CDF) of sorted columns."""
    n = sorted_values.shape[0]
    idx = torch.clamp(torch.ceil(levels * n).long() - 1, 0, n - 1)
    return sorted_values[idx]


def sliced_w2_value(x: torch.Tensor, y: torch.Tensor, directions: torch.Tensor) -> float:
    """Sliced 2-Wasserstein: sqrt of the mean over directions θ of W2²(θ·x, θ·y).

    The 1-D W2² between uniform empirical measures is computed exactly from the two
    quantile functions (sorted projections when n = m; the merged grid of both CDFs'
    jump points otherwise).
    """
    px = torch.sort(x.to(torch.float64) @ directions.T, dim=0).values  # [n, P]
    py = torch.sort(y.to(torch.float64) @ directions.T, dim=0).values  # [m, P]
    n, m = px.shape[0], py.shape[0]
    if n == m:
        w2sq = ((px - py) ** 2).mean(0)
    else:
        grid = torch.unique(torch.cat([torch.arange(1, n + 1) / n, torch.arange(1, m + 1) / m]))
        grid = grid.to(torch.float64)
        widths = torch.diff(grid, prepend=torch.zeros(1, dtype=torch.float64))
        mid = grid - widths / 2
        w2sq = (widths[:, None] * (_quantiles(px, mid) - _quantiles(py, mid)) ** 2).sum(0)
    return float(torch.sqrt(w2sq.mean()))


@register_metric("w2", version="1")
def w2(samples: torch.Tensor, reference: torch.Tensor, target: Any) -> float:
    """Exact W2 between the first ``w2_max_n`` samples and reference points."""
    cap = target.metric_spec.w2_max_n
    return w2_exact(samples[:cap], reference[:cap])


@register_metric("sliced_w2", version="1")
def sliced_w2(samples: torch.Tensor, reference: torch.Tensor, target: Any) -> float:
    """Sliced W2 against the reference with the target's fixed random directions."""
    spec = target.metric_spec
    directions = random_directions(spec.sliced_projections, samples.shape[1], spec.projection_seed)
    return sliced_w2_value(samples, reference, directions)
