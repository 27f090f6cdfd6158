"""Numbers quoted in the README come from the committed results."""

import math
import re
from pathlib import Path

import pandas as pd

REPO = Path(__file__).resolve().parents[1]


def test_reproduction_table_matches_committed_results():
    text = (REPO / "README.md").read_text()
    block = re.search(r"<!-- repro-table -->\n(.*?)\n\n", text, re.S)
    assert block, "README.md lost its reproduction table"
    board = pd.read_csv(REPO / "results" / "paper" / "leaderboard.csv")
    rows = [r for r in block.group(1).splitlines() if r.startswith("| `")]
    assert rows
    header = [h.strip() for h in block.group(1).splitlines()[0].strip("|").split("|")]
    checked = 0
    for row in rows:
        cells = [c.strip() for c in row.strip("|").split("|")]
        target, method = cells[0].strip("`"), cells[1].strip("`")
        for name, cell in zip(header[2:], cells[2:], strict=True):
            metric = name.split(" ")[0]
            match = board[
                (board["target"] == target)
                & (board["method"] == method)
                & (board["metric"] == metric)
            ]
            if match.empty or not re.match(r"^-?[0-9.]+(e-?[0-9]+)?", cell):
                continue
            quoted = float(re.match(r"^-?[0-9.]+(e-?[0-9]+)?", cell).group(0))
            actual = float(match["mean"].iloc[0])
            assert math.isclose(quoted, actual, rel_tol=5e-3, abs_tol=5e-5), (row, metric)
            checked += 1
    assert checked >= 8


def test_reference_table_matches_committed_provenance():
    """The README's table of generated references quotes results/references/*.json."""
    import json

    text = (REPO / "README.md").read_text()
    block = re.search(r"<!-- reference-table -->\n(.*?)\n\n", text, re.S)
    assert block, "README.md lost its reference table"
    rows = [r for r in block.group(1).splitlines() if r.startswith("| `")]
    assert {r.split("|")[1].strip().strip("`") for r in rows} >= {"dw4", "lj13", "logreg_cancer"}
    for row in rows:
        cells = [c.strip() for c in row.strip("|").split("|")]
        prov = json.loads(
            (REPO / "results" / "references" / f"{cells[0].strip('`')}.json").read_text()
        )
        assert all(prov["checks"].values())
        assert int(cells[1]) == prov["n"]
        assert math.isclose(float(cells[2]), prov["seconds"], rel_tol=0.01, abs_tol=1)
        assert math.isclose(float(cells[3]), prov["r_hat_energy"], abs_tol=1e-3)
        assert math.isclose(float(cells[4]), prov["ess_energy"], rel_tol=0.01)
        if "published_comparison" in prov:
            ours = prov["published_comparison"]["ours"]
            quoted = [float(v) for v in re.findall(r"-?[0-9]+\.[0-9]+", cells[5])]
            assert math.isclose(quoted[0], ours["energy_mean"], abs_tol=0.01)
            assert math.isclose(quoted[1], ours["energy_sd"], abs_tol=0.01)
            assert math.isclose(quoted[2], ours["mean_distance"], abs_tol=0.001)
