import json
from pathlib import Path

import pytest

from boltzbench.registry import load_plugin
from boltzbench.run.cells import Cell, resolve
from boltzbench.run.scheduler import run_cells
from boltzbench.run.suites import SUITES, expand

PLUGINS = Path(__file__).resolve().parent / "plugins"

FAULTY = str(PLUGINS / "faulty_methods.py")


@pytest.fixture(scope="module", autouse=True)
def _plugins():
    load_plugin(FAULTY)


def cells_for(methods, targets=("gmm4",), seeds=(0,), n=200, **kw):
    return [
        resolve(Cell(suite="test", target=t, method=m, seed=s, n_samples=n, **kw))
        for t in targets
        for m in methods
        for s in seeds
    ]


def records(out):
    return {p.stem: json.loads(p.read_text()) for p in (out / "cells").glob("*.json")}


def test_failures_are_isolated_to_their_cells(tmp_path):
    methods = ["test_noise", "test_raises", "test_nan", "test_wrong_shape", "test_too_few"]
    summary = run_cells(cells_for(methods), tmp_path, jobs=2, plugins=[FAULTY], progress=False)
    assert summary.ok == 1 and len(summary.failed) == 4
    by_method = {r["method"]: r for r in records(tmp_path).values()}
    assert by_method["test_noise"]["status"] == "ok"
    assert by_method["test_noise"]["metrics"]["mmd"] > 0
    assert by_method["test_raises"]["status"] == "failed"
    assert (
        by_method["test_raises"]["error"] == "RuntimeError: deliberate failure with a second line"
    )
    assert by_method["test_nan"]["status"] == "invalid_samples"
    assert "NaN" in by_method["test_nan"]["error"]
    assert by_method["test_wrong_shape"]["status"] == "invalid_samples"
    assert "shape (200, 3)" in by_method["test_wrong_shape"]["error"]
    assert by_method["test_too_few"]["status"] == "invalid_samples"
    for r in by_method.values():
        if r["status"] != "ok":
            assert r["metrics"] == {} and "samples_file" not in r


def test_timeout_and_budget(tmp_path):
    cells = cells_for(["test_slow"]) + cells_for(["test_greedy"], budget=1000)
    summary = run_cells(cells, tmp_path, timeout=3, plugins=[FAULTY], progress=False)
    assert summary.ok == 0
    by_method = {r["method"]: r for r in records(tmp_path).values()}
    assert by_method["test_slow"]["status"] == "timeout"
    greedy = by_method["test_greedy"]
    assert greedy["status"] == "budget_exceeded"
    assert greedy["counts"]["energy_evals_train"] == 1000  # stopped exactly at the budget


def test_resume_computes_nothing_and_force_recomputes(tmp_path):
    cells = expand(
        SUITES["quick"],
        methods=["mala"],
        targets=["gmm4"],
        seeds=[0, 1],
        n_samples=200,
        budget=20_000,
        params={"mala": {"warmup": 50, "n_chains": 50}},
    )
    first = run_cells(cells, tmp_path, progress=False)
    assert first.ran == 2 and first.ok == 2
    before = {k: v["wall_seconds"] for k, v in records(tmp_path).items()}
    second = run_cells(cells, tmp_path, progress=False)
    assert second.ran == 0 and second.skipped == 2
    assert {k: v["wall_seconds"] for k, v in records(tmp_path).items()} == before
    third = run_cells(cells, tmp_path, force=True, progress=False)
    assert third.ran == 2


def test_same_seed_same_numbers(tmp_path):
    cells = expand(
        SUITES["quick"],
        methods=["mala"],
        targets=["banana"],
        seeds=[0],
        n_samples=200,
        budget=20_000,
        params={"mala": {"warmup": 30, "n_chains": 40}},
    )
    run_cells(cells, tmp_path / "a", progress=False)
    run_cells(cells, tmp_path / "b", progress=False)
    (a,), (b,) = records(tmp_path / "a").values(), records(tmp_path / "b").values()
    # wall-clock time inside the target differs between runs
    counts_a = {k: v for k, v in a["counts"].items() if not k.startswith("target_seconds")}
    counts_b = {k: v for k, v in b["counts"].items() if not k.startswith("target_seconds")}
    assert a["metrics"] == b["metrics"] and counts_a == counts_b


def test_retry_failed_reruns_only_failures(tmp_path):
    cells = cells_for(["test_noise", "test_raises"])
    run_cells(cells, tmp_path, plugins=[FAULTY], progress=False)
    again = run_cells(cells, tmp_path, plugins=[FAULTY], retry_failed=True, progress=False)
    assert again.ran == 1 and again.skipped == 1


def test_truncated_record_is_recomputed(tmp_path):
    cells = cells_for(["test_noise"])
    run_cells(cells, tmp_path, plugins=[FAULTY], progress=False)
    path = next((tmp_path / "cells").glob("*.json"))
    path.write_text(path.read_text()[:50])
    again = run_cells(cells, tmp_path, plugins=[FAULTY], progress=False)
    assert again.ran == 1
    assert json.loads(path.read_text())["status"] == "ok"
