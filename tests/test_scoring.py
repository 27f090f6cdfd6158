"""Scoring apart from running: rescoring a committed record's stored samples reproduces its
numbers (metric by metric, where the metric's version is unchanged), and a rescore of a
folder runs no method."""

import json
import math
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

from boltzbench.records import read_record
from boltzbench.registry import METRICS, TARGETS
from boltzbench.score.scoring import rescore, score_record

REPO = Path(__file__).resolve().parents[1]
QUICK = REPO / "results" / "quick"


def _committed(target: str) -> list[Path]:
    return sorted((QUICK / "cells").glob(f"{target}__*.json"))[:3]


@pytest.mark.parametrize("target", ["gmm4", "double_well"])
def test_committed_records_rescore_to_identical_numbers(target):
    paths = _committed(target)
    assert paths, "results/quick has no records"
    for path in paths:
        record, problem = read_record(path, verify_samples=True)
        assert record is not None, problem
        if record["status"] != "ok":
            continue
        same = [
            m
            for m, v in record["metric_versions"].items()
            if m in METRICS.names() and METRICS.get(m).version == v
        ]
        samples = torch.from_numpy(np.load(QUICK / record["samples_file"]))
        again = json.loads(json.dumps(record))
        score_record(again, TARGETS.get(target)(), samples, same)
        for m in same:
            a, b = record["metrics"].get(m), again["metrics"].get(m)
            assert (a is None and b is None) or math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-12), m


def test_rescoring_a_folder_adds_a_metric_and_keeps_records_sound(tmp_path):
    paths = _committed("gmm4")[:2]
    for sub in ("cells", "samples"):
        (tmp_path / sub).mkdir()
    for path in paths:
        record = json.loads(path.read_text())
        shutil.copy(path, tmp_path / "cells" / path.name)
        if record.get("samples_file"):
            shutil.copy(QUICK / record["samples_file"], tmp_path / record["samples_file"])
    before = {p.name: json.loads(p.read_text()) for p in (tmp_path / "cells").glob("*.json")}
    assert rescore(tmp_path, ["mmd", "energy_w1"]) >= 1
    for path in (tmp_path / "cells").glob("*.json"):
        record, problem = read_record(path, verify_samples=True)
        assert record is not None, problem  # resealed with a fresh checksum
        if record["status"] == "ok":
            old = before[path.name]
            # the named metrics are (re)computed, every other one kept as it was
            assert set(record["metrics"]) == set(old["metrics"]) | {"mmd", "energy_w1"}
            assert record["metrics"]["mmd"] == pytest.approx(old["metrics"]["mmd"])
            kept = set(old["metrics"]) - {"mmd", "energy_w1"}
            assert {m: record["metrics"][m] for m in kept} == {m: old["metrics"][m] for m in kept}
            assert {m: record["floors"].get(m) for m in kept} == {
                m: old["floors"].get(m) for m in kept
            }
