"""Every built-in method runs on every built-in target with tiny settings: finite samples
of the right shape, and every evaluation charged (a compatibility check of the code paths
that differ with the dimension, e.g. exact Jacobians up to d = 10, Hutchinson above)."""

import pytest
from boltzbench.targets.aldp import openmm_available
from boltzbench.targets.ethanol import tblite_available

from boltzbench.counter import Counter
from boltzbench.driver import run_method
from boltzbench.protocols import build_method
from boltzbench.registry import METHODS, TARGETS
from boltzbench.run.suites import POSTERIORDB_TARGETS

_DATA = {"steps": 5, "batch_size": 32, "data_chains": 4, "data_warmup": 10, "data_thin": 2}
_DATA.update(data_size=40, data_batch=16)
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
    "md": {"warmup": 20},
    "drifting_force_data": {**_DATA},
    "drifting_data": {**_DATA},
}
#: targets whose evaluations take milliseconds (quantum chemistry): fewer chains and
#: particles on top of TINY, so that each run stays at a few hundred evaluations
COSTLY = {"ethanol"}
FEWER = {
    "ula": {"n_chains": 5, "warmup": 5, "thin": 1},
    "mala": {"n_chains": 5, "warmup": 5, "thin": 1},
    "hmc": {"n_chains": 5, "n_leapfrog": 2},
    "pt": {"n_chains": 2, "n_temps": 3, "warmup": 5, "thin": 1},
    "nuts": {"n_chains": 2, "max_depth": 2},
    "md": {"n_chains": 5, "warmup": 5, "thin": 1},
    "smc": {"min_particles": 10, "n_moves": 1},
    "pita": {
        "data_chains": 4,
        "data_warmup": 5,
        "data_size": 8,
        "buffer_size": 8,
        "n_temps": 2,
        "anneal_steps": 2,
        "corrector_steps": 1,
        "relax_steps": 1,
        "bridge_max": 1,
        "symmetry_checks": 1,
    },
    "osds": {"batch_size": 2, "weight_particles": 4},
    "drifting": {"batch_size": 2, "n_proposals": 2, "steps": 2},
    "drifting_force": {"batch_size": 8, "n_proposals": 2},
    "drifting_force_data": {},
    "drifting_data": {},
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
    "ethanol",
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
    if target_name == "ethanol" and not tblite_available():
        pytest.skip("ethanol needs tblite: pip install 'boltzbench[molecules]'")
    target = TARGETS.get(target_name)()
    counter = Counter(target)
    fewer = FEWER[method_name] if target_name in COSTLY else {}
    method, _ = build_method(METHODS.get(method_name), {**TINY[method_name], **fewer, **extra})
    x = run_method(method, counter, seed=0, n=50).samples  # validates shape and finiteness
    assert tuple(x.shape) == (50, target.dim)
    assert counter.used > 0
