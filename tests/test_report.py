"""The tidy leaderboard: ranking direction and metrics that do not apply to a method."""

import math

import pandas as pd

from boltzbench.report import leaderboard


def _runs():
    rows = []
    for method, elbo, status in [
        ("a", 1.0, "ok"),
        ("b", math.nan, "ok"),  # reports no ELBO at all
        ("c", 2.0, "ok"),
        ("d", 0.5, "failed"),
    ]:
        for seed in (0, 1):
            rows.append(
                {
                    "suite": "s",
                    "target": "t",
                    "method": method,
                    "seed": seed,
                    "status": status,
                    "mmd": 0.1 * (1 + seed) if method != "d" else math.nan,
                    "elbo": elbo + 0.01 * seed if status == "ok" else math.nan,
                }
            )
    return pd.DataFrame(rows)


def test_not_applicable_metrics_get_no_row_and_higher_elbo_ranks_first():
    board = leaderboard(_runs())
    elbo = board[board["metric"] == "elbo"].set_index("method")
    assert "b" not in elbo.index  # not applicable, not "failed"
    assert elbo.loc["c", "rank"] == 1 and elbo.loc["a", "rank"] == 2  # higher is better
    assert elbo.loc["d", "rank"] == 3  # a failed method ranks last
    mmd = board[board["metric"] == "mmd"].set_index("method")
    assert set(mmd.index) == {"a", "b", "c", "d"} and mmd.loc["d", "rank"] == 4
