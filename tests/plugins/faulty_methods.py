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


@boltzbench.register_method("test_wrong_dtype")
class WrongDtype(_Base):
    def sample(self, n):
        return torch.zeros(n, self.target.dim, dtype=torch.int64)


@boltzbench.register_method("test_inf")
class Infs(_Base):
    def sample(self, n):
        x = super().sample(n)
        x[0, 1] = float("inf")
        return x


@boltzbench.register_method("test_oom")
class Hog(_Base):
    """Allocates 64 MiB blocks (touching them) until memory runs out."""

    def fit(self, target, *, seed):
        blocks = []
        while True:
            blocks.append(torch.ones(8 * 2**20, dtype=torch.float64))


@boltzbench.register_method("test_peeks_registry")
class PeeksRegistry(_Base):
    """Builds its own copy of the target from the registry (uncounted)."""

    def fit(self, target, *, seed):
        from boltzbench.registry import TARGETS

        self.raw = TARGETS.get(target.name)()


@boltzbench.register_method("test_builds_target")
class BuildsTarget(_Base):
    """Imports the target class and builds it (uncounted)."""

    def fit(self, target, *, seed):
        from boltzbench.targets.gmm import GMM4

        self.raw = GMM4()


@boltzbench.register_method("test_digs_raw_target")
class DigsRawTarget(_Base):
    """Evaluates through the counter's private handle to its target (the tally)."""

    def fit(self, target, *, seed):
        super().fit(target, seed=seed)
        target._tally().energy(torch.zeros(10, target.dim))


@boltzbench.register_method("test_unwraps_once")
class UnwrapsOnce(_Base):
    """Mixes counted calls with uncounted ones one level inside the counter's handle."""

    def fit(self, target, *, seed):
        super().fit(target, seed=seed)
        target._tally()._target.score(torch.zeros(10, target.dim))


@boltzbench.register_method("test_unwraps_everything")
class UnwrapsEverything(_Base):
    """The deliberate case docs/guarantees.md says is not caught: open the closure and
    unwrap both tallies down to the bare target."""

    def fit(self, target, *, seed):
        super().fit(target, seed=seed)
        target.energy(torch.zeros(1, target.dim))  # one counted call
        target._tally()._target._target.energy(torch.zeros(10, target.dim))


@boltzbench.register_method("test_hooks")
class Hooks(_Base):
    """Watches every torch operation while it calls the counted energy: what it sees of
    the target's internals goes into its diagnostics (1 if it saw logsumexp)."""

    def fit(self, target, *, seed):
        from torch.overrides import TorchFunctionMode
        from torch.utils._python_dispatch import TorchDispatchMode

        seen = self.seen = set()

        class Functions(TorchFunctionMode):
            def __torch_function__(self, func, types, args=(), kwargs=None):
                seen.add(getattr(func, "__name__", str(func)))
                return func(*args, **(kwargs or {}))

        class Dispatch(TorchDispatchMode):
            def __torch_dispatch__(self, func, types, args=(), kwargs=None):
                seen.add(str(func))
                return func(*args, **(kwargs or {}))

        super().fit(target, seed=seed)
        x = torch.randn(50, target.dim, generator=self.gen)
        with Functions(), Dispatch():
            target.energy(x)
            target.score(x)

    def diagnostics(self):
        return {"saw_internals": float(any("logsumexp" in s for s in self.seen))}


@dataclass
class SleepyConfig:
    seconds: float = 0.5


@boltzbench.register_method("test_sleepy")
class Sleepy(_Base):
    """Valid samples after a pause in fit; appends a line per fit to $BOLTZBENCH_TEST_LOG
    (to count how often each cell was computed)."""

    Config = SleepyConfig

    def __init__(self, config):
        self.config = config

    def fit(self, target, *, seed):
        import os

        super().fit(target, seed=seed)
        target.energy(torch.zeros(4, target.dim))
        time.sleep(self.config.seconds)
        log = os.environ.get("BOLTZBENCH_TEST_LOG")
        if log:
            with open(log, "a") as fh:
                fh.write(f"{target.name} {seed} {os.getpid()}\n")


@boltzbench.register_method("test_global_rng")
class GlobalRNG(_Base):
    """Draws from an unseeded stream: different samples every run."""

    def fit(self, target, *, seed):
        import random

        super().fit(target, seed=seed)
        target.energy(torch.zeros(4, target.dim))
        self.gen = torch.Generator().manual_seed(random.SystemRandom().randrange(2**31))


@boltzbench.register_method("test_ignores_seed")
class IgnoresSeed(_Base):
    """The same samples whatever the seed."""

    def fit(self, target, *, seed):
        super().fit(target, seed=0)
        target.energy(torch.zeros(4, target.dim))


@boltzbench.register_method("test_reads_reference")
class ReadsReference(_Base):
    """Asks for the target's frozen reference set."""

    def fit(self, target, *, seed):
        from boltzbench.targets.reference import get_reference

        self.reference = get_reference(target)
