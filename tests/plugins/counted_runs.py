"""A plugin method that appends a line to $BOLTZBENCH_RUN_LOG every time it is fitted, so a
test can tell whether a command ran a method; and a 2-D Gaussian target whose correlation
comes from $BOLTZBENCH_TEST_RHO (an "edited" target)."""

import os
from dataclasses import dataclass

import torch
from boltzbench.targets.base import BaseTarget

import boltzbench


@dataclass
class Config:
    n_steps: int = 200
    step_size: float = 0.05


@boltzbench.register_method("test_logged_ula")
class LoggedULA:
    """Unadjusted Langevin that logs each fit."""

    Config = Config

    def __init__(self, config: Config):
        self.config = config

    def fit(self, target, *, seed):
        with open(os.environ["BOLTZBENCH_RUN_LOG"], "a") as fh:
            fh.write(f"fit {target.name} {seed}\n")
        self.target, self.gen = target, torch.Generator().manual_seed(seed)

    def sample(self, n):
        h = self.config.step_size
        x = torch.randn(n, self.target.dim, generator=self.gen)
        for _ in range(self.config.n_steps):
            noise = torch.randn(x.shape, generator=self.gen)
            x = x + h * self.target.score(x) + (2 * h) ** 0.5 * noise
        return x


@boltzbench.register_target("test_corr_gauss")
class CorrelatedGaussian(BaseTarget):
    """N(0, [[1, ρ], [ρ, 1]]) with ρ from $BOLTZBENCH_TEST_RHO (default 0.9)."""

    name = "test_corr_gauss"
    dim = 2
    init_std = 1.0

    def __init__(self):
        self.rho = float(os.environ.get("BOLTZBENCH_TEST_RHO", "0.9"))
        self.cov_matrix = torch.tensor([[1.0, self.rho], [self.rho, 1.0]], dtype=torch.float64)

    def energy(self, x):
        prec = torch.linalg.inv(self.cov_matrix).to(x.dtype)
        return 0.5 * ((x @ prec) * x).sum(1)

    def sample(self, n, generator):
        chol = torch.linalg.cholesky(self.cov_matrix)
        z = torch.randn(n, 2, generator=generator, dtype=torch.float64)
        return (z @ chol.T).to(torch.float32)
