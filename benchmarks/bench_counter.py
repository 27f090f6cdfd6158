"""What counting costs: a counted energy-and-score call against the raw target's, on gmm4
with a batch of 1024 (asv ``time_*`` and ``track_*``).

    python -m benchmarks.bench_counter     # prints the overhead
"""

from __future__ import annotations

import time

import torch

from boltzbench.counter import Counter, charging
from boltzbench.registry import TARGETS

BATCH = 1024
CALLS = 200


def _setup() -> tuple[object, Counter, torch.Tensor]:
    target = TARGETS.get("gmm4")()
    x = torch.randn(BATCH, target.dim, generator=torch.Generator().manual_seed(0))
    return target, Counter(target, budget=10**12), x


class CounterOverhead:
    def setup(self) -> None:
        self.target, self.counter, self.x = _setup()

    def time_raw_energy_and_score(self) -> None:
        self.target.energy_and_score(self.x)

    def time_counted_energy_and_score(self) -> None:
        with charging(self.counter, "train"):
            self.counter.energy_and_score(self.x)


def overhead_percent() -> float:
    """Extra time of a counted call over a raw one, in percent (best of 5 × 200 calls)."""
    target, counter, x = _setup()

    def best(fn) -> float:
        times = []
        for _ in range(5):
            t0 = time.perf_counter()
            for _ in range(CALLS):
                fn(x)
            times.append(time.perf_counter() - t0)
        return min(times)

    raw = best(target.energy_and_score)
    with charging(counter, "train"):
        counted = best(counter.energy_and_score)
    return 100.0 * (counted - raw) / raw


def track_counter_overhead_percent() -> float:
    return overhead_percent()


track_counter_overhead_percent.unit = "%"  # type: ignore[attr-defined]


if __name__ == "__main__":
    print(f"counter overhead on gmm4, batch {BATCH}: {overhead_percent():.1f}%")
