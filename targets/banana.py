"""Haario's twisted Gaussian ("banana")."""

from __future__ import annotations

import math

import torch
from boltzbench.targets.base import BaseTarget

from boltzbench.protocols import MetricSpec
from boltzbench.registry import register_target


@register_target("banana")
class Banana(BaseTarget):
    """2-D banana with curvature b = 0.03: x1 ~ N(0, 10²), x2 | x1 ~ N(b (x1² − 100), 1).

    E(x) = x1² / 200 + (x2 − b (x1² − 100))² / 2, normalised by log Z = log(2π · 10).
    Exact moments: mean 0, covariance diag(100, 1 + 2 b² 10⁴) = diag(100, 19).
    Exact sampler: ancestral.
    """

    name = "banana"
    dim = 2
    curvature = 0.03
    scale = 10.0
    log_Z = math.log(2 * math.pi * 10.0)
    box = ((-30.0, 30.0), (-8.0, 28.0))
    init_std = 10.0
    metric_spec = MetricSpec(mmd_bandwidth=9.9013)

    def _twist(self, x1: torch.Tensor) -> torch.Tensor:
        return self.curvature * (x1**2 - self.scale**2)

    def energy(self, x: torch.Tensor) -> torch.Tensor:
        x1, x2 = x[:, 0], x[:, 1]
        return 0.5 * (x1 / self.scale) ** 2 + 0.5 * (x2 - self._twist(x1)) ** 2

    def score(self, x: torch.Tensor) -> torch.Tensor:
        x1, x2 = x[:, 0], x[:, 1]
        r = x2 - self._twist(x1)
        return torch.stack([-x1 / self.scale**2 + r * 2 * self.curvature * x1, -r], dim=1)

    def sample(self, n: int, generator: torch.Generator) -> torch.Tensor:
        z = torch.randn(n, 2, generator=generator, dtype=torch.float64)
        x1 = self.scale * z[:, 0]
        x2 = self._twist(x1) + z[:, 1]
        return torch.stack([x1, x2], dim=1).to(torch.float32)

    @property
    def mean(self) -> torch.Tensor:
        return torch.zeros(2, dtype=torch.float64)

    @property
    def cov(self) -> torch.Tensor:
        var2 = 1.0 + 2 * self.curvature**2 * self.scale**4
        return torch.diag(torch.tensor([self.scale**2, var2], dtype=torch.float64))
