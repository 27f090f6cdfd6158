import json

import pytest
import torch
from boltzbench.targets.gmm import GMM4

from boltzbench.registry import METRICS
from boltzbench.score.floors import FLOOR_SEED_OFFSET, noise_floors


def test_floor_is_the_metric_of_independent_exact_sets():
    t = GMM4()
    names = ["mean_error", "mmd", "sliced_w2"]
    floors = noise_floors(t, names, 300)
    ref = t.reference().samples
    spec = t.metric_spec
    for name in names:
        values = []
        for r in range(spec.floor_repeats):
            g = torch.Generator().manual_seed(spec.reference_seed + FLOOR_SEED_OFFSET + r)
            values.append(METRICS.get(name)(t.sample(300, g), ref, t))
        assert floors[name] == pytest.approx(sum(values) / len(values), rel=1e-12)
    # mean error of n exact samples ≈ sqrt(tr Σ / n) in expectation (up to a constant)
    assert 0.2 * (2 * 1.0625 / 300) ** 0.5 < floors["mean_error"] < 3 * (2 * 1.0625 / 300) ** 0.5


def test_floors_are_cached_and_shrink_with_n(tmp_path, monkeypatch):
    monkeypatch.setenv("BOLTZBENCH_CACHE", str(tmp_path))
    t = GMM4()
    small = noise_floors(t, ["sliced_w2"], 100)
    (cached,) = (tmp_path / "floors").glob("gmm4-*.json")
    assert json.loads(cached.read_text())["floors"] == small
    assert noise_floors(t, ["sliced_w2"], 100) == small
    assert noise_floors(t, ["sliced_w2"], 2000)["sliced_w2"] < small["sliced_w2"]


def test_a_reference_that_needs_worker_processes_is_made_before_the_cells(tmp_path, monkeypatch):
    """A cell runs in a daemonic process, which cannot start the workers a generated
    reference may need (aldp's replica exchange): every aldp cell of a run once failed
    with "daemonic processes are not allowed to have children" while computing its
    floors. The run now makes the reference and floor sets first, in its own process."""
    from cli_helpers import PLUGINS, cli

    monkeypatch.setenv("BOLTZBENCH_CACHE", str(tmp_path / "cache"))
    out = tmp_path / "out"
    res = cli(
        "run",
        "--plugin",
        PLUGINS / "pool_reference.py",
        "--suite",
        "paper",
        "--targets",
        "test_pool_reference",
        "--methods",
        "mala",
        "--seeds",
        "0",
        "--n-samples",
        "200",
        "--metrics",
        "mean_error",
        "--out",
        out,
        "--no-progress",
        "--no-plots",
        "--no-report",
    )
    assert res.returncode == 0, res.stderr
    (record,) = (out / "cells").glob("*.json")
    data = json.loads(record.read_text())
    assert data["status"] == "ok", data["error"]
    assert data["floors"]["mean_error"] is not None
