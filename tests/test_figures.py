"""Every figure the report makes, rendered from real cells on a 2-D target (gmm4, a budget
sweep) and a particle system (dw4): labelled axes, no overlapping tick labels, a legend
entry for every line style, no font under 7 pt; written as PNG, PDF and SVG; a partial
report goes to its own folder."""

from __future__ import annotations

import pytest
from figure_checks import figure_problems

from boltzbench.run.cells import Cell, resolve
from boltzbench.run.scheduler import run_cells


@pytest.fixture(scope="module")
def folder(sweep, tmp_path_factory):
    """The shared gmm4 sweep (conftest) and four dw4 cells, copied into one folder."""
    import shutil

    out = tmp_path_factory.mktemp("figures")
    shutil.copytree(sweep / "cells", out / "cells")
    shutil.copytree(sweep / "samples", out / "samples")
    params = {"mala": (("n_chains", 50),), "drifting": (("batch_size", 64),)}
    cells = [
        resolve(Cell("custom", "dw4", m, s, params=params[m], budget=20_000, n_samples=300))
        for m in ("mala", "drifting")
        for s in (0, 1)
    ]
    run_cells(cells, out, progress=False)
    return out


def test_every_figure_passes_the_checks_in_every_format(folder, monkeypatch):
    import matplotlib.figure

    from boltzbench.report.build import build_report

    problems: dict[int, list[str]] = {}
    real = matplotlib.figure.Figure.savefig

    def checked(fig, fname, *args, **kwargs):
        if id(fig) not in problems:
            problems[id(fig)] = figure_problems(fig)
        return real(fig, fname, *args, **kwargs)

    monkeypatch.setattr(matplotlib.figure.Figure, "savefig", checked)
    paths = build_report(folder / "report", source=folder)
    figs = [p for p in paths if p.suffix == ".png"]
    stems = {p.stem for p in figs}
    expected = {"heatmap", "bars", "budgets", "energy", "curves_gmm4", "curves_dw4"}
    assert expected | {"samples_gmm4", "samples_dw4"} <= stems, stems
    assert len(problems) == len(figs)
    bad = {k: v for k, v in problems.items() if v}
    assert not bad, bad
    for png in figs:
        for suffix in (".pdf", ".svg"):
            assert png.with_suffix(suffix).stat().st_size > 1000


def test_the_checks_catch_what_they_look_for():
    """A figure with an unlabelled axis, colliding tick labels, an unlabelled dashed line
    and 5 pt text fails each check."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(1.0, 1.0))
    ax.plot([0, 1], [0, 1], ls="--")
    ax.set_xticks([0, 0.01], ["a long label", "another long one"])
    ax.set_ylabel("y")
    ax.set_title("tiny", fontsize=5)
    found = " | ".join(figure_problems(fig))
    plt.close(fig)
    for what in ("no x label", "tick labels overlap", "without a legend entry", "5"):
        assert what in found, found
    fig, ax = plt.subplots(figsize=(3.0, 2.0))
    ax.plot([0, 1, 2], [0, 1, 2])
    ax.set_xticks([0, 1, 2], ["mala", "nuts", "pita"])
    ax.set_xlabel("method")
    ax.set_ylabel("value")
    fig.canvas.draw()
    ax.get_xticklabels()[1].set_visible(False)  # as thinning would
    found = " | ".join(figure_problems(fig))
    plt.close(fig)
    assert "tick names hidden: ['nuts']" in found, found


def test_a_partial_report_needs_its_own_folder(folder, tmp_path):
    from cli_helpers import cli_inproc

    done = cli_inproc("report", folder, "--targets", "dw4")
    assert done.returncode == 2 and "--out" in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1
    done = cli_inproc("report", folder, "--targets", "dw4", "--format", "png", "--dpi", "20")
    assert done.returncode == 2
    done = cli_inproc(
        "report",
        folder,
        "--targets",
        "dw4",
        "--out",
        tmp_path / "part",
        "--format",
        "png",
        "--dpi",
        "80",
        "--no-plots",
    )
    assert done.returncode == 0, done.stderr
    import pandas as pd

    runs = pd.read_csv(tmp_path / "part" / "runs.csv")
    assert set(runs["target"]) == {"dw4"} and not (folder / "part").exists()


def test_leaderboard_tex_holds_the_leaderboard_numbers_and_compiles(folder, tmp_path):
    """Every target table's primary-metric cell is the median of leaderboard.csv (as the
    Markdown prints it); bold exactly where within_floor; compiled when a LaTeX engine is
    installed."""
    import re
    import shutil
    import subprocess

    import pandas as pd

    from boltzbench.report.build import build_report

    out = tmp_path / "tex"
    build_report(out, plots=False, source=folder)
    text = (out / "leaderboard.tex").read_text()
    board = pd.read_csv(out / "leaderboard.csv")
    main = board[
        board["primary"] & (board["budget"] == board.groupby("target")["budget"].transform("max"))
    ]
    assert text.count(r"\begin{table}") == 1 + main["target"].nunique()
    for row in main.itertuples():
        table = text.split(rf"\label{{tab:{row.target}}}")[1].split(r"\end{table}")[0]
        line = next(ln for ln in table.splitlines() if f" & {row.method} & " in ln)
        value = f"{row.median:.4g}"
        assert (rf"\textbf{{{value} [" in line) == bool(row.within_floor), line
        cell = line.split(" & ")[3]  # rank, method, ok/seeds, then the primary metric
        assert re.fullmatch(rf"(\\textbf{{)?{re.escape(value)} \[.*\]}}?", cell), (value, cell)
    engine = shutil.which("pdflatex")
    if engine is None:
        pytest.skip("no pdflatex here: the numbers were checked, compiling was not")
    doc = tmp_path / "doc.tex"
    doc.write_text(
        "\\documentclass{article}\\usepackage{booktabs,graphicx}\\begin{document}"
        f"\\input{{{out / 'leaderboard.tex'}}}\\end{{document}}"
    )
    done = subprocess.run(
        [engine, "-interaction=nonstopmode", "-halt-on-error", doc.name],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stdout[-2000:]


def test_collective_variables_of_each_kind():
    """Pair distances of a particle system by hand, leading coordinates of the funnel,
    principal components of an anisotropic reference (the long axis first)."""
    import types

    import numpy as np
    import torch

    from boltzbench.report.samplefig import collective_variables

    square = types.SimpleNamespace(name="p", n_particles=4, spatial_dim=2, dim=8)
    x = torch.tensor([[0.0, 0, 1, 0, 1, 1, 0, 1]])  # a unit square
    names, cv = collective_variables(square, x)
    assert names == ["d_min", "d_mean", "d_max"]
    assert np.allclose(cv, [[1.0, (4 + 2 * 2**0.5) / 6, 2**0.5]])
    funnel = types.SimpleNamespace(name="funnel", dim=10)
    names, cv = collective_variables(funnel, torch.arange(20.0).reshape(2, 10))
    assert names == ["x1", "x2", "x3"] and np.allclose(cv, [[0, 1, 2], [10, 11, 12]])
    g = torch.Generator().manual_seed(0)
    ref = torch.randn(4000, 4, generator=g) * torch.tensor([0.1, 5.0, 1.0, 0.2])
    wide = types.SimpleNamespace(
        name="w", dim=4, reference=lambda: types.SimpleNamespace(samples=ref)
    )
    names, cv = collective_variables(wide, torch.tensor([[0.0, 3.0, 0.0, 0.0]]))
    assert (
        names == ["PC1", "PC2", "PC3"] and abs(abs(cv[0, 0]) - 3.0) < 0.2
    )  # up to the sample mean
