"""A method that does almost nothing (standard normal draws, no evaluations): what a cell
costs beyond its method is then the runner's own overhead. Imported as a plugin by
:mod:`benchmarks.bench_runner`."""

from __future__ import annotations

import torch

import boltzbench
from boltzbench.rng import generator


@boltzbench.register_method("bench_trivial")
class Trivial:
    """N(0, I) draws; fit does nothing."""

    def fit(self, target, *, seed: int) -> None:
        self.dim, self.gen = target.dim, generator(seed)

    def sample(self, n: int) -> torch.Tensor:
        return torch.randn(n, self.dim, generator=self.gen)
