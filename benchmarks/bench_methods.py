"""Per-step cost of the methods on gmm4 (asv ``time_*`` / ``peakmem_*``).

- ``TrainStep``: one training step of each amortized method with its default batch
  (drifting and its variants, OSDS: ``fit`` with one step, which includes building the
  network; PITA: one optimiser step on its temperature-0 buffer after a tiny ``fit``).
- ``ChainStep``: one transition of 200 chains of each chain method after a short warm-up.

    python -m benchmarks.bench_methods     # prints each timing once
"""

from __future__ import annotations

from typing import Any

from boltzbench.counter import Counter, charging
from boltzbench.protocols import build_method
from boltzbench.registry import METHODS, TARGETS

#: one training step (registry name, overrides)
ONE_STEP: dict[str, tuple[str, dict[str, Any]]] = {
    "drifting": ("drifting", {"steps": 1}),
    "drifting_curv": ("drifting", {"steps": 1, "estimator": "curvature", "broad_init": True}),
    "drifting_force": ("drifting_force", {"steps": 1}),
    "osds": ("osds", {"iters": 1}),
}
PITA_TINY = {
    "n_temps": 2,
    "data_chains": 20,
    "data_warmup": 5,
    "data_size": 200,
    "train_steps": 1,
}


def counter_for(target: str = "gmm4", budget: int | None = None) -> Counter:
    """A fresh counter on a built-in target."""
    return Counter(TARGETS.get(target)(), budget=budget)


def build(name: str, overrides: dict[str, Any]) -> Any:
    method, _ = build_method(METHODS.get(name), overrides)
    return method


class TrainStep:
    params = [*ONE_STEP, "pita"]
    param_names = ["method"]

    def setup(self, method: str) -> None:
        self.counter = counter_for()
        if method == "pita":
            self.method = build("pita", PITA_TINY)
            with charging(self.counter, "train"):
                self.method.fit(self.counter, seed=0)
        self.time_train_step(method)  # warm-up: torch's first-call costs are not a step

    def time_train_step(self, method: str) -> None:
        with charging(self.counter, "train"):
            if method == "pita":
                self.method._train(0)
            else:
                name, overrides = ONE_STEP[method]
                build(name, overrides).fit(self.counter, seed=0)

    def peakmem_train_step(self, method: str) -> None:
        self.time_train_step(method)


class ChainStep:
    params = ["ula", "mala", "hmc", "pt"]
    param_names = ["method"]

    def setup(self, method: str) -> None:
        self.counter = counter_for()
        self.method = build(method, {"n_chains": 200, "warmup": 10, "snapshots": False})
        with charging(self.counter, "train"):
            self.method.fit(self.counter, seed=0)

    def time_chain_step(self, method: str) -> None:
        with charging(self.counter, "sample"):
            self.method._transition(False)


if __name__ == "__main__":
    import time

    for cls, fn in ((TrainStep, "time_train_step"), (ChainStep, "time_chain_step")):
        for name in cls.params:
            bench = cls()
            bench.setup(name)
            t0 = time.perf_counter()
            getattr(bench, fn)(name)
            print(f"{fn} {name}: {1e3 * (time.perf_counter() - t0):.1f} ms")
