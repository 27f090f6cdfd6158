"""What a cell records from a method's own estimates (log Z, ELBO, ESS fraction)."""

from pathlib import Path

import pytest

from boltzbench.cells import Cell, execute_cell, resolve
from boltzbench.registry import load_plugin

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
