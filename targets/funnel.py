"""Neal's funnel in 10 dimensions."""

from __future__ import annotations

import math

import torch
from boltzbench.targets.base import BaseTarget

from boltzbench.protocols import MetricSpec
from boltzbench.registry import register_target


@register_target("funnel")
class Funnel(BaseTarget):
    """x₀ ~ N(0, 3²), x_i | x₀ ~ N(0, e^{x₀}) for i = 1 … 9 (d = 10); normalised, log Z = 0.

    E(x) = x₀²/18 + ½ log(18π) + Σ_{i≥1} [½ log 2π + ½ x₀ + ½ x_i² e^{−x₀}].
    Mean 0; covariance diag(9, e^{4.5}, …, e^{4.5}) (E[e^{x₀}] = e^{9/2}). The neck
    (x₀ ≪ 0) makes gradients stiff and the mouth (x₀ ≫ 0) heavy-tailed. Exact sampler
    (no clipping)."""

    name = "funnel"
    dim = 10
    log_Z = 0.0
    box = ((-10.0, 10.0), (-30.0, 30.0))
    init_std = 3.0
    metric_spec = MetricSpec(mmd_bandwidth=8.2046)

    def energy(self, x: torch.Tensor) -> torch.Tensor:
        x0, rest = x[:, 0], x[:, 1:]
        k = self.dim - 1
        return (
            x0**2 / 18
            + 0.5 * math.log(18 * math.pi)
            + k * 0.5 * math.log(2 * math.pi)
            + 0.5 * k * x0
            + 0.5 * (rest**2).sum(1) * torch.exp(-x0)
        )

    def score(self, x: torch.Tensor) -> torch.Tensor:
        x0, rest = x[:, 0], x[:, 1:]
        k = self.dim - 1
        e = torch.exp(-x0)
        d0 = x0 / 9 + 0.5 * k - 0.5 * (rest**2).sum(1) * e
        return -torch.cat([d0[:, None], rest * e[:, None]], dim=1)

    def sample(self, n: int, generator: torch.Generator) -> torch.Tensor:
        x0 = 3.0 * torch.randn(n, 1, generator=generator, dtype=torch.float64)
        rest = torch.randn(n, self.dim - 1, generator=generator, dtype=torch.float64)
        return torch.cat([x0, rest * torch.exp(0.5 * x0)], dim=1).to(torch.float32)

    @property
    def mean(self) -> torch.Tensor:
        return torch.zeros(self.dim, dtype=torch.float64)

    @property
    def cov(self) -> torch.Tensor:
        diag = torch.full((self.dim,), math.exp(4.5), dtype=torch.float64)
        diag[0] = 9.0
        return torch.diag(diag)
