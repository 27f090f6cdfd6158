"""The speed-up table against MD: arithmetic on the records' cost decomposition."""

import pandas as pd
import pytest

from boltzbench.report.speedup import speedup, speedup_markdown


def _cell(method, seed, fixed, per_draw, quality, tier="ok"):
    return {
        "target": "ethanol",
        "budget": 1e5,
        "method": method,
        "seed": seed,
        "status": "ok",
        "tier": tier,
        "primary_metric": "rama_kl",
        "rama_kl": quality,
        "energy_w1": 1.0,
        "fixed_seconds": fixed,
        "per_draw_seconds": per_draw,
        "fixed_evals": 10.0 * fixed,
        "per_draw_evals": 10.0 * per_draw,
    }


def test_seconds_for_n_and_speedups_are_medians_of_fixed_plus_n_per_draw():
    runs = pd.DataFrame(
        [_cell("md", s, 10.0, 0.1 + 0.1 * s, 2.0) for s in range(3)]
        + [_cell("drifting_force_data", s, 500.0 + s, 1e-5, 1.0) for s in range(3)]
        + [_cell("broken", 0, 1.0, 1e-6, 9.0, tier="collapsed")]
    )
    frame = speedup(runs, n=10_000).set_index("method")
    assert set(frame.index) == {"md", "drifting_force_data"}  # failure tiers left out
    md = frame.loc["md"]
    assert md.seconds_for_n == pytest.approx(10.0 + 10_000 * 0.2)
    assert md.speedup == pytest.approx(1.0) and md.quality == 2.0
    d = frame.loc["drifting_force_data"]
    assert d.seconds_for_n == pytest.approx(501.0 + 10_000 * 1e-5)
    assert d.speedup == pytest.approx(2010.0 / 501.1)
    assert d.per_draw_speedup == pytest.approx(0.2 / 1e-5)
    assert d.evals_for_n == pytest.approx(5010.0 + 10_000 * 1e-4)
    assert any("speed-up" in line for line in speedup_markdown(frame.reset_index()))


def test_no_md_no_table():
    runs = pd.DataFrame([_cell("mala", 0, 1.0, 0.1, 1.0)])
    assert speedup(runs).empty and speedup_markdown(speedup(runs)) == []
