"""The asymmetric 2-D double well of the Boltzmann-generator literature."""

from __future__ import annotations

import math
from functools import cached_property

import numpy as np
import torch
from boltzbench.targets.base import BaseTarget
from scipy import integrate

from boltzbench.protocols import MetricSpec
from boltzbench.registry import register_target

_A, _B, _C = -0.5, -6.0, 1.0  # E1(x1) = C x1^4 + B x1^2 + A x1
# Rejection proposal for x1: 0.2 N(-1.7, 0.5²) + 0.8 N(1.7, 0.5²) (as gfn-diffusion).
_PROP_W, _PROP_MU, _PROP_S = (0.2, 0.8), (-1.7, 1.7), 0.5


def _e1(x1):
    return _C * x1**4 + _B * x1**2 + _A * x1


def _proposal_pdf(x1: np.ndarray) -> np.ndarray:
    return sum(
        w * np.exp(-0.5 * ((x1 - m) / _PROP_S) ** 2) / (_PROP_S * math.sqrt(2 * math.pi))
        for w, m in zip(_PROP_W, _PROP_MU, strict=True)
    )


@register_target("double_well")
class DoubleWell(BaseTarget):
    """E(x) = x1⁴ − 6 x1² − 0.5 x1 + x2²/2 (2-D).

    The right well (x1 > 0) holds mass 0.8443; log Z = 10.29348. The x1 marginal is sampled
    exactly by rejection from a two-Gaussian proposal with a bound checked on a fine grid;
    x2 ~ N(0, 1) independently. Mean and covariance come from adaptive quadrature.
    """

    name = "double_well"
    dim = 2
    box = ((-3.0, 3.0), (-3.5, 3.5))
    init_std = 3.0
    metric_spec = MetricSpec(mmd_bandwidth=1.3774)

    def energy(self, x: torch.Tensor) -> torch.Tensor:
        return _e1(x[:, 0]) + 0.5 * x[:, 1] ** 2

    def score(self, x: torch.Tensor) -> torch.Tensor:
        x1, x2 = x[:, 0], x[:, 1]
        return -torch.stack([4 * _C * x1**3 + 2 * _B * x1 + _A, x2], dim=1)

    # ------------------------------------------------------------ exact quantities
    @cached_property
    def _x1_moments(self) -> tuple[float, float, float, float]:
        """(Z_x1, E[x1], E[x1²], P(x1 > 0)) by quadrature."""
        f = lambda t, k: t**k * math.exp(-_e1(t))
        z = sum(
            integrate.quad(f, a, b, args=(0,), epsabs=0, epsrel=1e-13)[0]
            for a, b in ((-np.inf, 0), (0, np.inf))
        )
        m1 = (
            sum(
                integrate.quad(f, a, b, args=(1,), epsabs=0, epsrel=1e-13)[0]
                for a, b in ((-np.inf, 0), (0, np.inf))
            )
            / z
        )
        m2 = (
            sum(
                integrate.quad(f, a, b, args=(2,), epsabs=0, epsrel=1e-13)[0]
                for a, b in ((-np.inf, 0), (0, np.inf))
            )
            / z
        )
        right = integrate.quad(f, 0, np.inf, args=(0,), epsabs=0, epsrel=1e-13)[0] / z
        return z, m1, m2, right

    @property
    def log_Z(self) -> float:  # type: ignore[override]
        return math.log(self._x1_moments[0]) + 0.5 * math.log(2 * math.pi)

    @property
    def right_well_mass(self) -> float:
        """P(x1 > 0) under the target."""
        return self._x1_moments[3]

    @property
    def mode_masses(self) -> tuple[float, float]:  # type: ignore[override]
        """(left well x1 < 0, right well x1 > 0) masses, by quadrature."""
        return (1.0 - self.right_well_mass, self.right_well_mass)

    def mode_of(self, x: torch.Tensor) -> torch.Tensor:
        """0 for the left well (x1 < 0), 1 for the right well."""
        return (x[:, 0] > 0).long()

    @property
    def mean(self) -> torch.Tensor:
        return torch.tensor([self._x1_moments[1], 0.0], dtype=torch.float64)

    @property
    def cov(self) -> torch.Tensor:
        _, m1, m2, _ = self._x1_moments
        return torch.tensor([[m2 - m1**2, 0.0], [0.0, 1.0]], dtype=torch.float64)

    @cached_property
    def _log_bound(self) -> float:
        """log max_x1 exp(-E1(x1)) / q(x1), with a 1% margin (the ratio is smooth and
        vanishes in both tails, so a 1e-4 grid on [-6, 6] finds its maximum)."""
        grid = np.linspace(-6.0, 6.0, 120_001)
        log_ratio = -_e1(grid) - np.log(_proposal_pdf(grid))
        return float(log_ratio.max() + math.log(1.01))

    def sample(self, n: int, generator: torch.Generator) -> torch.Tensor:
        out: list[torch.Tensor] = []
        have = 0
        while have < n:
            m = 2 * (n - have) + 64
            comp = torch.rand(m, generator=generator, dtype=torch.float64) < _PROP_W[0]
            centres = torch.where(comp, _PROP_MU[0], _PROP_MU[1])
            x1 = centres + _PROP_S * torch.randn(m, generator=generator, dtype=torch.float64)
            u = torch.rand(m, generator=generator, dtype=torch.float64)
            log_q = torch.from_numpy(np.log(_proposal_pdf(x1.numpy())))
            accept = torch.log(u) < -_e1(x1) - log_q - self._log_bound
            out.append(x1[accept])
            have += int(accept.sum())
        x1 = torch.cat(out)[:n]
        x2 = torch.randn(n, generator=generator, dtype=torch.float64)
        return torch.stack([x1, x2], dim=1).to(torch.float32)
