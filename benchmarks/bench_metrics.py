"""Metric speed and memory (asv ``time_*`` / ``peakmem_*``; goals in the README).

Goals on 2 CPU cores: unbiased RBF MMD² of 10k × 10k in ≤ 0.5 s at d = 2 and d = 39
(cold: the reference self-sum cache is cleared each call, so all three kernel sums are
computed); sliced W2 of 100k × 100k with 200 directions in ≤ 1 s; exact W2 at its cap of
2000 points per side in about 1 s.

    python -m benchmarks.bench_metrics     # prints each timing once
"""

from __future__ import annotations

import torch
from boltzbench.metrics import mmd as mmd_module
from boltzbench.metrics import random_directions, sliced_w2_value, w2_exact


def _pair(n: int, dim: int, shift: float = 0.1) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(0)
    x = torch.randn(n, dim, generator=g)
    return x, torch.randn(n, dim, generator=g) + shift


class MMD:
    """RBF MMD² of 10,000 against 10,000 points."""

    params = [2, 39]
    param_names = ["dim"]

    def setup(self, dim: int) -> None:
        self.x, self.y = _pair(10_000, dim)
        self.bandwidth = float(dim) ** 0.5

    def _cold(self) -> float:
        mmd_module._SELF_SUMS.clear()
        return mmd_module.mmd2_unbiased(self.x, self.y, self.bandwidth)

    def time_mmd_10k(self, dim: int) -> None:
        self._cold()

    def peakmem_mmd_10k(self, dim: int) -> None:
        self._cold()


class SlicedW2:
    """Sliced W2 of 100,000 against 100,000 points, 200 directions."""

    params = [2, 39]
    param_names = ["dim"]

    def setup(self, dim: int) -> None:
        self.x, self.y = _pair(100_000, dim)
        self.directions = random_directions(200, dim, 0)

    def time_sliced_w2_100k(self, dim: int) -> None:
        sliced_w2_value(self.x, self.y, self.directions)

    def peakmem_sliced_w2_100k(self, dim: int) -> None:
        sliced_w2_value(self.x, self.y, self.directions)


class ExactW2:
    """Exact W2 at the metric's default cap (2000 points per side)."""

    params = [2, 39]
    param_names = ["dim"]
    timeout = 120

    def setup(self, dim: int) -> None:
        self.x, self.y = _pair(2000, dim)

    def time_w2_exact_2000(self, dim: int) -> None:
        w2_exact(self.x, self.y)

    def peakmem_w2_exact_2000(self, dim: int) -> None:
        w2_exact(self.x, self.y)


if __name__ == "__main__":
    import time

    for cls, name in ((MMD, "time_mmd_10k"), (SlicedW2, "time_sliced_w2_100k")):
        for dim in cls.params:
            bench = cls()
            bench.setup(dim)
            getattr(bench, name)(dim)  # warm-up (thread pools, allocator)
            t0 = time.perf_counter()
            getattr(bench, name)(dim)
            print(f"{name} dim={dim}: {time.perf_counter() - t0:.3f} s")
    bench = ExactW2()
    bench.setup(2)
    t0 = time.perf_counter()
    bench.time_w2_exact_2000(2)
    print(f"time_w2_exact_2000 dim=2: {time.perf_counter() - t0:.3f} s")
