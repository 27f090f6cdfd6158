"""A target whose energy does not depend on x (an improper, constant density)."""

import torch
from boltzbench.targets.base import BaseTarget

import boltzbench


@boltzbench.register_target("test_constant_target")
class Constant(BaseTarget):
    name = "test_constant_target"
    dim = 2

    def energy(self, x):
        return torch.zeros(x.shape[0])
