"""A target whose reference generator starts a worker process (as ``aldp``'s replica
exchange does): it can only run outside a cell's own, daemonic, process."""

import multiprocessing
import os
from concurrent.futures import ProcessPoolExecutor

import torch
from boltzbench.targets.base import BaseTarget

import boltzbench
from boltzbench.protocols import MetricSpec


@boltzbench.register_target("test_pool_reference")
class PoolReference(BaseTarget):
    name = "test_pool_reference"
    dim = 2
    init_std = 1.0
    metric_spec = MetricSpec(n_reference=400, floor_repeats=2)

    def energy(self, x):
        return 0.5 * (x * x).sum(1)

    def score(self, x):
        return -x

    def generate_reference(self, n, seed):
        with ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn")) as pool:
            worker = pool.submit(os.getpid).result()
        x = torch.randn(n, 2, generator=torch.Generator().manual_seed(seed))
        return x, {"checks": {"worker_ran": worker != os.getpid()}}
