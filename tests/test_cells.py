"""What a cell records from a method's own estimates (log Z, ELBO, ESS fraction)."""

from pathlib import Path

import pytest

from boltzbench.registry import load_plugin
from boltzbench.run.cells import Cell, execute_cell, resolve

PLUGINS = Path(__file__).resolve().parent / "plugins"


@pytest.fixture(scope="module", autouse=True)
def _plugins():
    load_plugin(str(PLUGINS / "faulty_methods.py"))


@pytest.mark.parametrize(
    "target, log_z",
    [("gmm4", 0.0), ("double_well", 10.29348)],
)
def test_estimates_become_metrics_against_the_targets_log_z(target, log_z):
    cell = resolve(Cell(suite="t", target=target, method="test_estimates", seed=0, n_samples=50))
    record, _ = execute_cell(cell, {})
    m = record["metrics"]
    assert m["log_z_error"] == pytest.approx(abs(1.25 - log_z), abs=1e-4)
    assert (m["elbo"], m["ess_fraction"]) == (-0.5, 0.3)
    assert record["metric_versions"]["log_z_error"] == "1"


def test_no_estimates_no_estimate_metrics():
    cell = resolve(Cell(suite="t", target="gmm4", method="test_noise", seed=0, n_samples=50))
    record, _ = execute_cell(cell, {})
    assert not {"log_z_error", "elbo", "ess_fraction"} & set(record["metrics"])


@pytest.mark.parametrize(
    "n, expected",
    [
        (50, "subsample: first 50 of 50 samples, first 2000 of 5000 reference"),
        (2500, "subsample: first 2000 of 2500 samples, first 2000 of 5000 reference"),
    ],
)
def test_w2_names_its_fallback_in_the_record(n, expected):
    # gmm4's reference has 5000 points, above w2_max_n = 2000: the exact W2 runs on fixed
    # subsets, and the record says which
    cell = resolve(Cell(suite="t", target="gmm4", method="test_noise", seed=0, n_samples=n))
    record, _ = execute_cell(cell, {})
    assert record["status"] == "ok"
    assert record["metric_estimators"] == {"w2": expected}


def test_w2_is_exact_within_the_cap():
    from types import SimpleNamespace

    from boltzbench.metrics.wasserstein import w2_estimator

    from boltzbench.protocols import MetricSpec

    target = SimpleNamespace(metric_spec=MetricSpec(w2_max_n=100))
    assert w2_estimator(100, 80, target) == "exact"
    assert w2_estimator(101, 80, target).startswith("subsample: first 100 of 101 samples")


def test_a_suite_sets_its_cells_time_limit():
    """The molecules suite's cells may run longer than the default 1800 s (an ethanol
    cell spends 1e5 GFN2-xTB evaluations before its method's own work)."""
    from boltzbench.run.suites import get_suite

    assert get_suite("quick").timeout == 1800.0
    assert get_suite("molecules").timeout > get_suite("quick").timeout
