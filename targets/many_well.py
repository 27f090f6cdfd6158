"""Many-Well-32: 16 independent copies of the 2-D double well."""

from __future__ import annotations

import torch
from boltzbench.targets.base import BaseTarget
from boltzbench.targets.double_well import DoubleWell

from boltzbench.protocols import MetricSpec
from boltzbench.registry import register_target


@register_target("many_well")
class ManyWell(BaseTarget):
    """E(x) = Σ_{k<16} DW(x_{2k}, x_{2k+1}) with DW(a, b) = a⁴ − 6a² − 0.5a + b²/2 (FAB's
    Many-Well-32); d = 32, 2¹⁶ modes, log Z = 16 × 10.29348 = 164.6957.

    Exact sampler (each pair by the double well's rejection sampler), mean and covariance
    (from the double well's quadrature)."""

    name = "many_well"
    dim = 32
    n_pairs = 16
    init_std = 3.0
    box = ((-3.0, 3.0), (-3.5, 3.5))
    metric_spec = MetricSpec(mmd_bandwidth=8.8869)

    def __init__(self) -> None:
        self._pair = DoubleWell()

    def _pairs(self, x: torch.Tensor) -> torch.Tensor:
        return x.reshape(-1, 2)

    def energy(self, x: torch.Tensor) -> torch.Tensor:
        return self._pair.energy(self._pairs(x)).reshape(x.shape[0], self.n_pairs).sum(1)

    def score(self, x: torch.Tensor) -> torch.Tensor:
        return self._pair.score(self._pairs(x)).reshape(x.shape)

    def sample(self, n: int, generator: torch.Generator) -> torch.Tensor:
        return self._pair.sample(n * self.n_pairs, generator).reshape(n, self.dim)

    @property
    def log_Z(self) -> float:  # type: ignore[override]
        return self.n_pairs * self._pair.log_Z

    @property
    def mean(self) -> torch.Tensor:
        return self._pair.mean.repeat(self.n_pairs)

    @property
    def cov(self) -> torch.Tensor:
        return torch.block_diag(*[self._pair.cov] * self.n_pairs)
