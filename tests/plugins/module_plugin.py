"""A plugin imported by module name (tests put this folder on the path)."""

import torch

import boltzbench


@boltzbench.register_method("test_module_method")
class ModuleMethod:
    def fit(self, target, *, seed):
        self.dim, self.gen = target.dim, torch.Generator().manual_seed(seed)

    def sample(self, n):
        return torch.randn(n, self.dim, generator=self.gen)
