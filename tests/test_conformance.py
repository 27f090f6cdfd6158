"""Every built-in method passes the plugin conformance kit (boltzbench.testing), and the
kit catches the faults it is meant to catch."""

from pathlib import Path

import pytest
from cli_helpers import PLUGINS

from boltzbench.registry import METHODS, load_plugin
from boltzbench.testing import check_method

#: small configurations, so that each check runs in seconds
SMALL = {
    "drifting": {"batch_size": 256},
    "drifting_force": {"batch_size": 256},
    "drifting_force_data": {"batch_size": 256, "steps": 200},
    "drifting_data": {"batch_size": 256, "steps": 200},
    "osds": {"n_steps": 8, "budget_iters": 60, "iters": 60},
    "pita": {
        "n_temps": 3,
        "data_chains": 20,
        "data_warmup": 20,
        "data_size": 100,
        "buffer_size": 100,
        "train_steps": 5,
        "batch_size": 64,
        "anneal_steps": 20,
    },
}


def builtin_methods() -> list[str]:
    """Every method registered by the boltzbench packages (not by test plugins)."""
    return [
        name
        for name in METHODS.names()
        if METHODS.get(name).__module__.startswith(("boltzbench.methods", "boltzbench.baselines"))
    ]


def test_the_builtins_are_discovered_from_the_packages():
    assert {"drifting", "drifting_force", "hmc", "mala", "osds", "pita", "pt", "smc", "ula"} <= set(
        builtin_methods()
    )


@pytest.mark.parametrize("method", builtin_methods())
def test_builtin_methods_conform(method):
    check_method(method, params=SMALL.get(method), budget=50_000)


@pytest.mark.parametrize(
    "method, check",
    [
        ("test_wrong_shape", "shapes_and_dtype"),
        ("test_nan", "shapes_and_dtype"),
        ("test_greedy", "budget"),
        ("test_noise", "counting"),  # never evaluates the energy
        ("test_digs_raw_target", "counting"),
        ("test_unwraps_once", "counting"),
        ("test_peeks_registry", "counting"),
        ("test_builds_target", "counting"),
        ("test_reads_reference", "counting"),
        ("test_global_rng", "determinism"),
        ("test_ignores_seed", "seeding"),
    ],
)
def test_the_kit_names_what_a_faulty_method_breaks(method, check):
    load_plugin(str(PLUGINS / "faulty_methods.py"))
    with pytest.raises(AssertionError, match=rf"^{check}: "):
        check_method(method, budget=1000)


def test_the_kit_and_the_guarantees_agree_on_what_is_not_caught():
    """docs/guarantees.md: a plugin that opens the counter's closure and unwraps every
    tally reaches the bare target uncounted; neither a cell nor the kit can see it. This
    test keeps that sentence true (if it starts failing, the guarantee grew: update the
    docs)."""
    load_plugin(str(PLUGINS / "faulty_methods.py"))
    check_method("test_unwraps_everything", budget=1000, checks=("counting",))
    text = (Path(__file__).resolve().parents[1] / "docs" / "guarantees.md").read_text()
    assert "unwraps both tallies" in text
