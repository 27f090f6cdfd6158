"""A planted failure: a sampler that returns n copies of one low-energy configuration,
found by a short gradient-descent run through the counter."""

from dataclasses import dataclass

import torch

import boltzbench


@dataclass
class Config:
    n_starts: int = 64
    steps: int = 200


@boltzbench.register_method("test_collapse")
class Collapse:
    """Mode collapse to a single point: the lowest-energy end point of short descents."""

    Config = Config

    def __init__(self, config: Config):
        self.config = config

    def fit(self, target, *, seed):
        gen = torch.Generator().manual_seed(seed)
        x = target.init_std * torch.randn(self.config.n_starts, target.dim, generator=gen)
        h = 1e-3 * target.init_std**2
        for _ in range(self.config.steps):
            energy, score = target.energy_and_score(x)
            step = h * score
            norm = step.norm(dim=1, keepdim=True).clamp(min=1e-12)
            x = x + step * torch.clamp(0.1 * target.init_std / norm, max=1.0)
        energy = target.energy(x)
        energy = torch.where(torch.isfinite(energy), energy, torch.inf)
        self.point = x[int(torch.argmin(energy))].clone()

    def sample(self, n):
        return self.point.expand(n, -1).clone()
