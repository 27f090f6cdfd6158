"""Seeds to one number, an interval, and a shared rank.

**The centre and the interval.** Each (target, method, budget, metric) row shows the
*median* over seeds and a distribution-free confidence interval for it: the order
statistics [x₍ₖ₎, x₍ₙ₊₁₋ₖ₎] of the n seed values, with k the largest whose exact coverage
1 − 2·P(Binomial(n, ½) ≤ k − 1) is at least :data:`LEVEL_MIN`. Its coverage holds for any
continuous distribution of the seeds' values, skewed or heavy-tailed: with five seeds it
is [min, max] at 93.75 %; with ten, [x₍₂₎, x₍₉₎] at 97.9 %. With fewer than five seeds no
order-statistic interval reaches :data:`LEVEL_MIN`; the widest ([min, max]) is given and
its (lower) level is in the ``level`` column. ``tests/test_ranks.py`` checks the
coverage by simulation.

Why not the mean: with five seeds neither Student-t nor a percentile bootstrap covers the
mean of a skewed distribution at 95 % (measured: Student-t 82–92 % on log-normal, gamma and
exponential seed values; the bootstrap about 85 %), and a shared rank built on an interval
that is too narrow rewards methods whose seeds disagree.

**Shared ranks.** A method's rank is 1 + the number of methods better than it beyond the
intervals (the other's whole interval on the better side of this one's); overlapping
intervals share a rank. A row with a failed cell or a cell in a failure tier
(:mod:`boltzbench.score.tiers`) ranks after every row without one.
"""

from __future__ import annotations

import math

import numpy as np
from scipy import stats

#: the least coverage an interval is chosen for (the closest order-statistic level to 95 %
#: with five seeds is 93.75 %)
LEVEL_MIN = 0.93


def order_level(n: int, k: int) -> float:
    """Exact coverage of [x₍ₖ₎, x₍ₙ₊₁₋ₖ₎] for the median of a continuous distribution."""
    return float(1.0 - 2.0 * stats.binom.cdf(k - 1, n, 0.5))


def order_k(n: int) -> int:
    """The largest k with :func:`order_level` (n, k) ≥ :data:`LEVEL_MIN` (1 if none)."""
    k = 1
    while k + 1 <= (n + 1) // 2 and order_level(n, k + 1) >= LEVEL_MIN:
        k += 1
    return k


def interval(values: np.ndarray) -> tuple[float, float, float, float]:
    """(median, low, high, level) of the finite ``values`` (one per seed); NaN bounds and
    level with fewer than 2 finite values."""
    values = np.sort(np.asarray(values, dtype=float))
    values = values[np.isfinite(values)]
    n = len(values)
    if n == 0:
        return math.nan, math.nan, math.nan, math.nan
    median = float(np.median(values))
    if n < 2:
        return median, math.nan, math.nan, math.nan
    k = order_k(n)
    return median, float(values[k - 1]), float(values[n - k]), order_level(n, k)


def shared_ranks(means, lows, highs, failed, lower: bool = True) -> np.ndarray:
    """Ranks with ties where intervals overlap (see the module docstring). ``means`` are
    the rows' centres; a failed row (or one without a value) ranks after every row that
    did not fail. Without intervals (one seed) the centres decide."""
    means, lows, highs = (np.asarray(a, dtype=float) for a in (means, lows, highs))
    failed = np.asarray(failed, dtype=bool) | ~np.isfinite(means)
    sign = 1.0 if lower else -1.0
    lo = np.where(np.isfinite(lows), lows, means)
    hi = np.where(np.isfinite(highs), highs, means)
    best = np.where(sign > 0, lo, -hi)  # the most favourable end, in "lower is better"
    worst = np.where(sign > 0, hi, -lo)
    ranks = np.empty(len(means), dtype=int)
    for i in range(len(means)):
        if failed[i]:
            ranks[i] = int((~failed).sum()) + 1
            continue
        beaten_by = (~failed) & (worst < best[i])
        ranks[i] = 1 + int(beaten_by.sum())
    return ranks
