"""Sample quality and cost after a fixed small budget (asv ``track_*``): every method of
the quick suite on ``gmm4``, seed 0, a budget of 2e5 evaluations, 2000 samples.

A commit that makes a method worse (higher MMD²) or costlier (more evaluations, or less of
the budget used) shows up here the way a slower one shows up in ``time_*``.

    python -m benchmarks.bench_quality     # prints the table
"""

from __future__ import annotations

from typing import Any

BUDGET = 200_000
N_SAMPLES = 2000
#: osds_fine cannot afford 2000 samples on its 32-step grid within the budget
SKIP = ("osds_fine",)


def run_all() -> dict[str, dict[str, Any]]:
    """{method label: {"status", "mmd", "evals"}} for every quick-suite method on gmm4.

    ``evals`` is the cell's total cost in the default cost units (see ``CostModel``).
    """
    from boltzbench.counter import total_cost
    from boltzbench.run.cells import execute_cell
    from boltzbench.run.suites import expand, get_suite

    cells = expand(
        get_suite("quick"),
        targets=["gmm4"],
        seeds=[0],
        budget=BUDGET,
        n_samples=N_SAMPLES,
        metrics=["mmd"],
    )
    out = {}
    for cell in cells:
        if cell.label in SKIP:
            continue
        record, _ = execute_cell(cell, {})
        out[cell.label] = {
            "status": record["status"],
            "mmd": record.get("metrics", {}).get("mmd"),
            "evals": int(total_cost(record.get("counts", {}))),
        }
    return out


METHODS = (
    "ula",
    "mala",
    "hmc",
    "pt",
    "smc",
    "pita",
    "osds",
    "drifting",
    "drifting_curv",
    "drifting_force",
)


class QualityAtBudget:
    params = list(METHODS)
    param_names = ["method"]
    timeout = 600

    def setup_cache(self) -> dict[str, dict[str, Any]]:
        return run_all()

    def track_mmd_gmm4(self, results: dict, method: str) -> float:
        row = results[method]
        if row["status"] != "ok":
            raise RuntimeError(f"{method} failed: {row['status']}")
        return float(row["mmd"])

    def track_evals_gmm4(self, results: dict, method: str) -> int:
        return int(results[method]["evals"])

    track_mmd_gmm4.unit = "MMD²"  # type: ignore[attr-defined]
    track_evals_gmm4.unit = "evaluations"  # type: ignore[attr-defined]


if __name__ == "__main__":
    for name, row in run_all().items():
        print(f"{name:16s} {row['status']:10s} mmd={row['mmd']} evals={row['evals']}")
