"""A real budget sweep through the command line: report.html opens in headless Chromium
with its tables and every image, the sweep plot exists, and --compare works."""

import os
import shutil
import subprocess
import tempfile

import pandas as pd
import pytest
from cli_helpers import cli

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


def test_budget_sweep_rows_and_plots(sweep):
    board = pd.read_csv(sweep / "leaderboard.csv")
    assert set(board["budget"]) == {20000, 40000}
    assert {"median", "low", "high", "floor", "rank", "within_floor", "tier"} <= set(board.columns)
    runs = pd.read_csv(sweep / "runs.csv")
    assert (runs["total_cost"] <= runs["budget"]).all()
    assert (runs["budget_used"] == runs["total_cost"] / runs["budget"]).all()
    for name in ("summary", "heatmap", "curves_gmm4", "bars", "budgets", "energy", "samples_gmm4"):
        assert (sweep / "plots" / f"{name}.png").stat().st_size > 1000
    assert (sweep / "breakeven.csv").is_file()


def test_budget_sweep_crossover_agrees_with_the_leaderboard(sweep):
    """drifting (amortized) against mala at each budget: crossover.csv's first budget
    where drifting is ahead is the first where its mean is the lower in leaderboard.csv."""
    board = pd.read_csv(sweep / "leaderboard.csv")
    board = board[board["primary"]].pivot_table(index="budget", columns="method", values="median")
    ahead = board.index[board["drifting"] < board["mala"]]
    cross = pd.read_csv(sweep / "crossover.csv")
    assert list(zip(cross["method"], cross["mcmc"], strict=True)) == [("drifting", "mala")]
    first = cross["first_ahead"].iloc[0]
    assert (pd.isna(first) and len(ahead) == 0) or first == ahead[0]
    text = (sweep / "LEADERBOARD.md").read_text()
    assert "## Budget sweep: where the amortized samplers overtake MCMC" in text
    assert "| `drifting` |" in text.split("## Budget sweep")[1]


@pytest.mark.skipif(
    CHROMIUM is None and not os.environ.get("CI"),
    reason="no chromium here (the test command installs it; CI requires it)",
)
def _chromium(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [
            CHROMIUM,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            f"--user-data-dir={tempfile.mkdtemp()}",
            "--virtual-time-budget=10000",
            *args,
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_report_html_renders_offline_in_headless_chromium(sweep, tmp_path):
    assert CHROMIUM, "CI must have chromium (scripts/test.sh installs it)"
    page = sweep / "report.html"
    text = page.read_text()
    assert "http://" not in text and "https://" not in text  # nothing fetched
    n_images = text.count("<img ")
    assert n_images >= 6
    dom = _chromium("--dump-dom", page.as_uri()).stdout
    assert f'data-images-loaded="{n_images}/{n_images}"' in dom
    assert "<table" in dom and "gmm4" in dom and "mala" in dom and "drifting" in dom
    # it leads with the answer: the overall table first, then the contents, the targets,
    # the figures with captions, the provenance block, the break-even detail last
    order = [
        'id="overall"',
        'id="contents"',
        'id="t-gmm4"',
        'id="sweep"',
        'id="figures"',
        'id="provenance"',
        'id="breakeven"',
    ]
    at = [dom.index(marker) for marker in order]
    assert at == sorted(at), at
    assert dom.index("<table") > dom.index('id="overall"')
    assert dom.index("<table") < dom.index('id="contents"')  # the first table is the summary
    for key in ("commit", "command", "report built", "torch", "boltzbench", "machine"):
        assert key in dom[dom.index('id="provenance"') :]
    assert dom.count("<figcaption>") == n_images
    # a screenshot: not blank, and the summary table is visible at the top
    shot = tmp_path / "page.png"
    _chromium(f"--screenshot={shot}", "--window-size=1200,900", page.as_uri())
    from PIL import Image

    pixels = Image.open(shot).convert("L")
    values = list(pixels.getdata())
    dark = sum(v < 128 for v in values) / len(values)
    assert 0.005 < dark < 0.5, dark  # text and table lines, not a blank or black page
    top = pixels.crop((0, 0, 1200, 450))
    rows = [sum(top.getpixel((x, y)) < 215 for x in range(1200)) for y in range(450)]
    assert sum(r > 300 for r in rows) >= 2, "no table rules visible at the top of the page"


def test_compare_with_itself_reports_no_change(sweep):
    res = cli("report", str(sweep), "--compare", str(sweep))
    assert res.returncode == 0, res.stderr
    diff = pd.read_csv(sweep / f"compare_{sweep.name}.csv")
    assert set(diff["change"]) <= {"same", "unknown"} and (diff["delta"].fillna(0) == 0).all()
    bad = cli("report", str(sweep), "--compare", str(sweep.parent / "nowhere"))
    assert bad.returncode == 2 and "not a boltzbench results folder" in bad.stderr
