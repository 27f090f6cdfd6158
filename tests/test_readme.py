"""Numbers quoted in the README come from the committed default leaderboard."""

import math
import re
from pathlib import Path

import pandas as pd

REPO = Path(__file__).resolve().parents[1]


def test_reproduction_table_matches_committed_results():
    text = (REPO / "README.md").read_text()
    block = re.search(r"<!-- repro-table -->\n(.*?)\n\n", text, re.S)
    assert block, "README.md lost its reproduction table"
    board = pd.read_csv(REPO / "results" / "quick" / "leaderboard.csv")
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
