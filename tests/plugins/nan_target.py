"""A target whose energy is NaN on half of the plane (x₁ > 0)."""

import torch

import boltzbench


@boltzbench.register_target("test_nan_target")
class HalfNaN:
    name = "test_nan_target"
    dim = 2
    init_std = 1.0

    def energy(self, x):
        e = 0.5 * (x * x).sum(1)
        return torch.where(x[:, 0] > 0, torch.full_like(e, float("nan")), e)

    def score(self, x):
        return -x

    def energy_and_score(self, x):
        return self.energy(x), self.score(x)
