"""Failure tiers before ranks: planted failures — a point mass far away, a diverged
sampler, a generator trained for 2 steps, a one-ancestor weighted sampler — are each put in
their tier and ranked below every working method on gmm4, banana and dw4, through the real
path from samples to a leaderboard row (score_record, tiers, write_record, load_runs,
leaderboard)."""

import pandas as pd
import pytest
import torch

from boltzbench.protocols import primary_metric
from boltzbench.records import SCHEMA_VERSION, write_record
from boltzbench.registry import TARGETS
from boltzbench.report.ranks import leaderboard
from boltzbench.report.tables import load_runs
from boltzbench.score import tiers
from boltzbench.score.scoring import score_record

N = 400


def planted(target) -> dict[str, tuple[torch.Tensor, dict]]:
    """method -> (samples [N, d], diagnostics)."""
    ref = target.reference().samples
    g = torch.Generator().manual_seed(3)
    scale = float(target.init_std)
    jitter = 1e-3 * scale * torch.randn(N, target.dim, generator=g)
    return {
        "exact": (ref[:N].clone(), {}),
        "exact_again": (ref[N : 2 * N].clone(), {}),
        "point_far": ((ref[0] + 50 * scale).expand(N, -1).clone(), {}),
        "diverged": (1e4 * scale * torch.randn(N, target.dim, generator=g), {}),
        "two_steps": (ref[2 * N : 3 * N] + 0.5 * scale, {"train_steps": 2.0}),
        "one_ancestor": (ref[0] + jitter, {"distinct_ancestors": 1.0, "ess_fraction": 1.0}),
    }


EXPECTED = {
    "exact": "ok",
    "exact_again": "ok",
    "point_far": "collapsed",
    "diverged": "diverged",
    "two_steps": "untrained",
    "one_ancestor": "collapsed",
}


@pytest.mark.parametrize("name", ["gmm4", "banana", "dw4"])
def test_planted_failures_sit_in_their_tier_below_every_working_method(name, tmp_path):
    target = TARGETS.get(name)()
    metric = primary_metric(target)
    for method, (samples, diagnostics) in planted(target).items():
        for seed in (0, 1):
            record = {
                "cell_id": f"{name}__{method}__x__seed{seed}", "suite": "t", "target": name,
                "method": method, "registry_name": method, "seed": seed, "budget": None,
                "status": "ok", "error": "", "diagnostics": diagnostics, "config_hash": "c",
                "n_samples": N, "counts": {}, "schema": SCHEMA_VERSION,
            }  # fmt: skip
            score_record(record, target, samples, [metric, "high_energy_fraction"])
            tiers.apply(record, samples, target)
            write_record(tmp_path, record, samples.numpy())
    runs = load_runs(tmp_path)
    got = runs.groupby("method")["tier"].first().to_dict()
    assert got == EXPECTED
    board = leaderboard(runs)
    rows = board[(board["metric"] == metric)].set_index("method")
    working = rows.loc[["exact", "exact_again"], "rank"]
    for method in ("point_far", "diverged", "two_steps", "one_ancestor"):
        assert rows.loc[method, "rank"] > working.max(), (method, rows)
        assert rows.loc[method, "tier"] == EXPECTED[method]
    assert (rows.loc[["exact", "exact_again"], "tier"] == "ok").all()


def test_the_no_overlap_rule():
    target = TARGETS.get("gmm4")()
    x = torch.randn(100, 2)
    tier = tiers.classify(x, target, {"high_energy_fraction": 0.7}, {})
    assert tier.name == "no_overlap" and "70%" in tier.reason
    assert tiers.classify(x, target, {"high_energy_fraction": 0.2}, {}).name == "ok"
    # a chain method that reports no training steps is never "untrained"
    assert tiers.classify(x, target, {}, {"acceptance_sample": 0.5}).name == "ok"
    assert tiers.classify(x, target, {}, {"train_iterations": 0}).name == "untrained"


def test_a_failed_cell_gets_no_tier():
    record = {"status": "budget_exceeded"}
    tiers.apply(record, torch.zeros(3, 2), TARGETS.get("gmm4")())
    assert record["tier"] is None
    assert pd.isna(pd.Series([record["tier"]])).all()


def test_unlike_cells_of_one_label_are_separate_rows_and_seeds_count_per_identity():
    """The README plugin command once pooled mala at n = 2000 with mala at n = 10,000
    (same config): 5/5 seeds where three existed, a blended floor."""
    from boltzbench.report.tables import split_identities

    rows = [
        {"target": "gmm4", "method": "mala", "seed": s, "n_samples": n, "config_hash": "c",
         "cost_model": '{"energy": 1.0}', "target_fingerprint": "f", "status": "ok",
         "suite": "x", "mmd": 0.1 * s, "tier": "ok"}
        for s, n in [(0, 2000), (1, 2000), (0, 10000), (1, 10000), (2, 10000)]
    ]  # fmt: skip
    runs = split_identities(pd.DataFrame(rows))
    assert set(runs["method"]) == {"mala (n=2000)", "mala (n=10000)"}
    board = leaderboard(runs).set_index("method")
    assert board.loc["mala (n=2000)", "n_seeds"] == 2
    assert board.loc["mala (n=10000)", "n_seeds"] == 3
    alike = split_identities(pd.DataFrame(rows[2:]))
    assert set(alike["method"]) == {"mala"}


def test_a_rescore_of_one_metric_classifies_from_every_stored_metric(tmp_path):
    """Rescoring ess_fraction alone once classified without the stored
    high_energy_fraction: samples entirely outside the target came out ok."""
    import json

    from boltzbench.score.scoring import rescore

    target = TARGETS.get("gmm4")()
    samples = torch.randn(N, 2)
    record = {
        "cell_id": "gmm4__far__x__seed0", "suite": "t", "target": "gmm4", "method": "far",
        "registry_name": "far", "seed": 0, "budget": None, "status": "ok", "error": "",
        "diagnostics": {}, "config_hash": "c", "n_samples": N, "counts": {},
        "schema": SCHEMA_VERSION, "metrics": {"high_energy_fraction": 0.9},
        "metric_versions": {"high_energy_fraction": "1"}, "tier": "ok",
    }  # fmt: skip
    write_record(tmp_path, record, samples.numpy())
    assert rescore(tmp_path, ["ess_fraction"]) == 1
    stored = json.loads((tmp_path / "cells" / "gmm4__far__x__seed0.json").read_text())
    assert stored["tier"] == "no_overlap" and stored["metrics"]["high_energy_fraction"] == 0.9
    assert target.dim == 2
