import json

import pytest
import torch
from boltzbench.targets.gmm import GMM4

from boltzbench.floors import FLOOR_SEED_OFFSET, noise_floors
from boltzbench.registry import METRICS


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
