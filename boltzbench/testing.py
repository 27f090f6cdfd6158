"""Helpers for testing samplers and targets: small targets with known answers, and checks.

:class:`CorrelatedGaussian` is N(μ, Σ) with a fixed, non-diagonal covariance; it follows
the target protocol (``energy``, ``score``, ``energy_and_score``, ``dim``, ``init_std``),
so it can be wrapped in a :class:`boltzbench.counter.Counter` and handed to any method.
"""

from __future__ import annotations

import math

import torch


class CorrelatedGaussian:
    """N(μ, Σ) in ``dim`` dimensions: Σ = Q diag(linspace(lo, hi)) Qᵀ with Q a random
    rotation from ``seed``, μ = linspace(−1, 1) (or zero with ``centred``).

    E(x) = ½ (x − μ)ᵀ Σ⁻¹ (x − μ), so log Z = (d/2) log 2π + ½ log det Σ.
    """

    name = "correlated_gaussian"

    def __init__(
        self,
        dim: int = 10,
        eigenvalues: tuple[float, float] = (0.5, 3.0),
        seed: int = 7,
        centred: bool = False,
        init_std: float = 3.0,
    ) -> None:
        self.dim = dim
        self.init_std = init_std
        g = torch.Generator().manual_seed(seed)
        q, _ = torch.linalg.qr(torch.randn(dim, dim, generator=g, dtype=torch.float64))
        lo, hi = eigenvalues
        self.cov = q @ torch.diag(torch.linspace(lo, hi, dim, dtype=torch.float64)) @ q.T
        self.prec = torch.linalg.inv(self.cov)
        self.mu = (
            torch.zeros(dim, dtype=torch.float64)
            if centred
            else torch.linspace(-1.0, 1.0, dim, dtype=torch.float64)
        )
        self.log_Z = 0.5 * dim * math.log(2 * math.pi) + 0.5 * float(torch.logdet(self.cov))

    def energy(self, x: torch.Tensor) -> torch.Tensor:
        d = x.double() - self.mu
        return (0.5 * (d @ self.prec * d).sum(1)).to(x.dtype)

    def score(self, x: torch.Tensor) -> torch.Tensor:
        return (-(x.double() - self.mu) @ self.prec).to(x.dtype)

    def energy_and_score(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return self.energy(x), self.score(x)


def check_score_is_minus_energy_gradient(target, x: torch.Tensor) -> None:
    """Assert ``target.score(x)`` equals −∇E(x) by autograd (float64, rtol 1e-6)."""
    x = x.detach().to(torch.float64).requires_grad_(True)
    (grad,) = torch.autograd.grad(target.energy(x).sum(), x)
    score = target.score(x.detach())
    if not torch.allclose(score, -grad, rtol=1e-6, atol=1e-8):
        worst = float((score + grad).abs().max())
        raise AssertionError(f"score differs from −∇E by up to {worst:.3g}")
