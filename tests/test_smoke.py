"""Every built-in method runs on every built-in target with tiny settings: finite samples
of the right shape, and every evaluation charged (a compatibility check of the code paths
that differ with the dimension, e.g. exact Jacobians up to d = 10, Hutchinson above)."""

import pytest
from boltzbench.targets.aldp import openmm_available

from boltzbench.counter import Counter
from boltzbench.driver import run_method
from boltzbench.protocols import build_method
from boltzbench.registry import METHODS, TARGETS
from boltzbench.run.suites import POSTERIORDB_TARGETS

TINY = {
    "ula": {"warmup": 20},
    "mala": {"warmup": 20},
    "hmc": {"warmup": 10},
    "pt": {"warmup": 10},
    "nuts": {"warmup": 10, "n_chains": 8, "max_depth": 4},
    "smc": {"min_particles": 100},
    "pita": {
        "train_steps": 10,
        "anneal_steps": 5,
        "data_warmup": 10,
        "data_size": 200,
        "buffer_size": 200,
        "n_temps": 3,
    },
    "osds": {"iters": 3, "batch_size": 16, "n_steps": 4},
    "drifting": {"steps": 5, "batch_size": 32},
    "drifting_force": {"steps": 5, "batch_size": 32},
}
VARIANTS = [(m, {}) for m in TINY] + [("drifting", {"estimator": "curvature", "broad_init": True})]
TARGET_NAMES = [
    "gmm4",
    "double_well",
    "banana",
    "gmm40",
    "funnel",
    "many_well",
    "logreg_cancer",
    "dw4",
    "lj13",
    "aldp",
    *POSTERIORDB_TARGETS,
]


def test_the_grid_covers_every_registered_method_and_target():
    builtin = {
        n
        for n in METHODS.names()
        if METHODS.get(n).__module__.startswith(("boltzbench.methods", "boltzbench.baselines"))
    }
    assert set(TINY) == builtin
    assert set(TARGET_NAMES) == {
        n for n in TARGETS.names() if TARGETS.get(n).__module__.startswith("boltzbench.targets")
    }


@pytest.mark.parametrize("target_name", TARGET_NAMES)
@pytest.mark.parametrize("method_name, extra", VARIANTS, ids=lambda v: str(v))
def test_method_runs_on_target(method_name, extra, target_name):
    if target_name == "aldp" and not openmm_available():
        pytest.skip("aldp needs OpenMM: pip install 'boltzbench[molecules]'")
    target = TARGETS.get(target_name)()
    counter = Counter(target)
    method, _ = build_method(METHODS.get(method_name), {**TINY[method_name], **extra})
    x = run_method(method, counter, seed=0, n=50).samples  # validates shape and finiteness
    assert tuple(x.shape) == (50, target.dim)
    assert counter.used > 0
