"""Methods that misbehave in known ways, for the runner's failure-isolation tests."""

import time
from dataclasses import dataclass

import torch

import boltzbench


class _Base:
    def fit(self, target, *, seed):
        self.target = target
        self.gen = torch.Generator().manual_seed(seed)

    def sample(self, n):
        return torch.randn(n, self.target.dim, generator=self.gen)


@boltzbench.register_method("test_noise")
class Noise(_Base):
    """Returns standard normal noise (valid samples, poor quality)."""


@boltzbench.register_method("test_raises")
class Raises(_Base):
    def fit(self, target, *, seed):
        raise RuntimeError("deliberate failure\nwith a second line")


@boltzbench.register_method("test_nan")
class NaNs(_Base):
    def sample(self, n):
        x = super().sample(n)
        x[3, 0] = float("nan")
        return x


@boltzbench.register_method("test_wrong_shape")
class WrongShape(_Base):
    def sample(self, n):
        return torch.zeros(n, self.target.dim + 1)


@boltzbench.register_method("test_too_few")
class TooFew(_Base):
    def sample(self, n):
        return super().sample(n - 1)


@boltzbench.register_method("test_slow")
class Slow(_Base):
    def fit(self, target, *, seed):
        time.sleep(60)


@dataclass
class GreedyConfig:
    calls: int = 1000


@boltzbench.register_method("test_greedy")
class Greedy(_Base):
    """Evaluates the energy until the budget stops it."""

    Config = GreedyConfig

    def __init__(self, config):
        self.config = config

    def fit(self, target, *, seed):
        super().fit(target, seed=seed)
        for _ in range(self.config.calls):
            target.energy(torch.zeros(100, target.dim))


@boltzbench.register_method("test_estimates")
class Estimates(_Base):
    """Valid samples plus fixed importance-weight estimates in its diagnostics."""

    def diagnostics(self):
        return {"log_z": 1.25, "elbo": -0.5, "ess_fraction": 0.3}
