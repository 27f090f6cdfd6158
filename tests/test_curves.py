"""Quality-against-cost curves: each snapshot is scored against the exact floor at its own
sample size, and the curves figure draws every value as it is (no clipping)."""

from __future__ import annotations

import pandas as pd
import pytest
import torch
from boltzbench.targets.gmm import GMM4

from boltzbench.protocols import Snapshot, primary_metric
from boltzbench.report import curvefig
from boltzbench.score import scoring
from boltzbench.score.scoring import score_curve


def test_each_snapshot_is_scored_against_the_floor_at_its_own_size(monkeypatch):
    """score_curve asks for the exact sampler's floor at each snapshot's scored size (after
    thinning to CURVE_MAX_POINTS) and records the draws it held before thinning as ``n``;
    noise_floors itself is checked in test_floors.py."""
    monkeypatch.setattr(scoring, "CURVE_MAX_POINTS", 150)
    asked = []

    def fake_floors(target, names, n):
        asked.append(n)
        return {name: 1.0 / n for name in names}

    monkeypatch.setattr(scoring, "noise_floors", fake_floors)
    target = GMM4()
    metric = primary_metric(target)
    g = torch.Generator().manual_seed(3)
    snaps = [
        Snapshot(10 * i, 20 * i, target.sample(n, g) + 0.3, "train", cost=30.0 * i, clock=5.0 + i)
        for i, n in enumerate([40, 100, 300], 1)
    ]
    record: dict = {}
    score_curve(target, snaps, record, started=5.0)
    assert "curve_error" not in record
    curve = record["curve"]
    # the draws a snapshot holds are counted before thinning; the last is scored on 150
    assert [p["n"] for p in curve] == [40, 100, 300]
    assert [p["n_scored"] for p in curve] == [40, 100, 150]
    assert asked == [40, 100, 150]
    for point in curve:
        assert point[f"{metric}_floor"] == 1.0 / point["n_scored"]
        assert point[metric] > 0.01  # shifted samples: clearly away from the target
    assert [p["cost"] for p in curve] == [30.0, 60.0, 90.0]
    assert [p["seconds"] for p in curve] == [1.0, 2.0, 3.0]  # wall seconds since fit began


def test_a_cell_records_wall_seconds_on_its_curve():
    """Through the real path: a chain's snapshots carry their clock, and the curve's
    seconds grow from near 0 to at most the cell's fit and sample time."""
    from boltzbench.run.cells import Cell, execute_cell, resolve

    cell = resolve(
        Cell(
            "t",
            "gmm4",
            "mala",
            0,
            params=(("n_chains", 20),),
            budget=4000,
            n_samples=100,
            metrics=("mmd",),
        )
    )
    record, _ = execute_cell(cell, {})
    seconds = [p["seconds"] for p in record["curve"]]
    assert len(seconds) >= 3 and seconds == sorted(seconds) and seconds[0] >= 0
    assert seconds[-1] <= record["train_seconds"] + record["sample_seconds"] + 1e-6


def test_curves_figure_draws_negative_and_tiny_values_unclipped(tmp_path, monkeypatch):
    """Unbiased MMD² is negative at times and near 1e-7 at the floor: the figure's line
    holds exactly the seed medians, on a symmetric-log axis linear up to the floor, with
    the floor drawn as a band."""
    drawn = {}

    def keep(fig, path, style=None):
        drawn["fig"] = fig
        return path

    monkeypatch.setattr(curvefig, "save", keep)
    values = {0: [-3e-4, 2e-7, 0.5], 1: [-1e-4, 4e-7, 0.7]}  # per seed, three snapshots
    curves = pd.DataFrame(
        [
            {
                "target": "gmm4",
                "method": "m",
                "seed": seed,
                "cost": 100.0 * (k + 1),
                "phase": "train",
                "n": 200,
                "mmd_multi": v,
                "mmd_multi_floor": 1e-4,
            }
            for seed, vs in values.items()
            for k, v in enumerate(vs)
        ]
    )
    runs = pd.DataFrame(
        [
            {
                "target": "gmm4",
                "method": "m",
                "seed": s,
                "status": "ok",
                "mmd_multi": 0.6,
                "total_cost": 300,
            }
            for s in (0, 1)
        ]
        + [
            {
                "target": "gmm4",
                "method": "x",
                "seed": 0,
                "status": "ok",
                "mmd_multi": 0.1,
                "total_cost": 50,
            }
        ]
    )
    runs["primary_metric"] = "mmd_multi"
    curvefig.plot_target_curves(curves, runs, "gmm4", tmp_path / "c.png", {"m": "C0", "x": "C1"})
    ax = drawn["fig"].axes[0]
    line = next(li for li in ax.get_lines() if li.get_label() == "m")
    assert list(line.get_ydata()) == pytest.approx([-2e-4, 3e-7, 0.6])
    assert ax.get_yscale() == "symlog"
    assert ax.yaxis.get_transform().linthresh == pytest.approx(1e-4)
    assert "exact floor" in [p.get_label() for p in ax.patches]
