"""Gaussian-mixture targets."""

from __future__ import annotations

import math

import torch
from boltzbench.targets.base import BaseTarget

from boltzbench.protocols import MetricSpec
from boltzbench.registry import register_target


class IsotropicGMM(BaseTarget):
    """Equal-weight mixture of isotropic Gaussians N(μ_k, s² I); normalised, so log Z = 0.

    E(x) = -log Σ_k (1/K) N(x; μ_k, s² I).

    Args:
        means: [K, d] component means.
        std: the common per-dimension standard deviation s.
    """

    log_Z = 0.0

    def __init__(self, means: torch.Tensor, std: float) -> None:
        self.means = torch.as_tensor(means, dtype=torch.float64)
        self.std = float(std)
        self.dim = int(self.means.shape[1])

    def _log_components(self, x: torch.Tensor) -> torch.Tensor:
        means = self.means.to(x.dtype)
        sq = ((x[:, None, :] - means[None]) ** 2).sum(-1)  # [n, K]
        k, d, s = means.shape[0], self.dim, self.std
        return -0.5 * sq / s**2 - d * math.log(s) - 0.5 * d * math.log(2 * math.pi) - math.log(k)

    def energy(self, x: torch.Tensor) -> torch.Tensor:
        return -torch.logsumexp(self._log_components(x), dim=1)

    def score(self, x: torch.Tensor) -> torch.Tensor:
        resp = torch.softmax(self._log_components(x), dim=1)  # [n, K]
        return (resp @ self.means.to(x.dtype) - x) / self.std**2

    def sample(self, n: int, generator: torch.Generator) -> torch.Tensor:
        k = self.means.shape[0]
        idx = torch.randint(0, k, (n,), generator=generator)
        noise = torch.randn(n, self.dim, generator=generator, dtype=torch.float64)
        return (self.means[idx] + self.std * noise).to(torch.float32)

    @property
    def mean(self) -> torch.Tensor:
        return self.means.mean(0)

    @property
    def cov(self) -> torch.Tensor:
        centred = self.means - self.means.mean(0)
        between = centred.T @ centred / self.means.shape[0]
        return between + self.std**2 * torch.eye(self.dim, dtype=torch.float64)


@register_target("gmm4")
class GMM4(IsotropicGMM):
    """2-D, four equal modes at (±1, ±1), isotropic std 0.25 (the suite's version of the
    drifting paper's four-mode target, whose exact parameters are not published).

    Mean 0, covariance (1 + 0.25²) I = 1.0625 I, log Z = 0. Modes: the four quadrants.
    """

    name = "gmm4"
    box = ((-2.0, 2.0), (-2.0, 2.0))
    init_std = 2.0
    metric_spec = MetricSpec(n_eval=10_000, mmd_bandwidth=2.0279)

    mode_masses = (0.25, 0.25, 0.25, 0.25)

    def __init__(self) -> None:
        means = torch.tensor([[1.0, 1.0], [1.0, -1.0], [-1.0, 1.0], [-1.0, -1.0]])
        super().__init__(means, 0.25)

    def mode_of(self, x: torch.Tensor) -> torch.Tensor:
        """Mode index = quadrant, 2·[x1 > 0] + [x2 > 0]; each quadrant holds mass exactly
        1/4 by symmetry."""
        return 2 * (x[:, 0] > 0).long() + (x[:, 1] > 0).long()
