"""The Dask executor against a real LocalCluster: two worker processes on loopback."""

import json
from pathlib import Path

import pandas as pd
import pytest

from boltzbench.report.tables import load_runs
from boltzbench.run.cells import Cell, resolve
from boltzbench.run.scheduler import run_cells

FAULTY = str(Path(__file__).resolve().parent / "plugins" / "faulty_methods.py")

distributed = pytest.importorskip("distributed")

#: columns that must match between executors (timings and provenance aside)
SAME = [
    "target",
    "method",
    "seed",
    "status",
    "error",
    "energy_evals_train",
    "grad_evals_train",
    "energy_evals_sample",
    "grad_evals_sample",
    "n_samples",
    "mean_error",
    "cov_error",
    "mmd",
    "w2",
    "sliced_w2",
]


@pytest.fixture(scope="module")
def cluster():
    with distributed.LocalCluster(
        n_workers=2,
        threads_per_worker=1,
        processes=True,
        host="127.0.0.1",
        dashboard_address=None,
    ) as cluster:
        yield cluster


@pytest.fixture(scope="module", autouse=True)
def _plugins():
    from boltzbench.registry import load_plugin

    load_plugin(FAULTY)


def grid():
    methods = [("test_noise", 0), ("test_noise", 1), ("mala", 0), ("mala", 1)]
    methods += [("test_raises", 0), ("test_raises", 1), ("test_slow", 0)]
    small = {"mala": (("n_chains", 50), ("warmup", 100))}
    return [
        resolve(
            Cell(
                suite="test",
                target="gmm4",
                method=m,
                seed=s,
                n_samples=200,
                params=small.get(m, ()),
            )
        )
        for m, s in methods
    ]


def test_dask_gives_the_local_rows_and_resumes(cluster, tmp_path):
    local, remote = tmp_path / "local", tmp_path / "dask"
    quick = [c for c in grid() if c.method != "test_slow"]  # its timeout is tested below
    run_cells(quick, local, jobs=2, timeout=60, plugins=[FAULTY], progress=False)
    dask = dict(plugins=[FAULTY], progress=False, executor="dask")
    dask["scheduler"] = cluster.scheduler_address
    # the cells need a few seconds each (20+ on a loaded machine); test_slow sleeps 60 s
    # and gets its own, short limit so that the test does not wait for a long one
    summary = run_cells(quick, remote, timeout=60, **dask)
    assert summary.ran == 6 and summary.ok == 4 and len(summary.failed) == 2
    slow = [c for c in grid() if c.method == "test_slow"]
    assert len(run_cells(slow, remote, timeout=5, **dask).failed) == 1
    a, b = load_runs(local), load_runs(remote)
    b_quick = b[b["method"] != "test_slow"].reset_index(drop=True)
    pd.testing.assert_frame_equal(a[SAME], b_quick[SAME], check_dtype=False)
    statuses = dict(zip(b["method"], b["status"], strict=False))
    assert statuses["test_slow"] == "timeout" and statuses["test_raises"] == "failed"
    # one atomic record per cell, written by the workers, and no temporary files left
    files = sorted(p.name for p in (remote / "cells").iterdir())
    assert len(files) == 7 and all(f.endswith(".json") for f in files)
    workers = {json.loads(p.read_text()).get("worker") for p in (remote / "cells").iterdir()}
    assert None not in workers
    # resume: nothing recomputed
    again = run_cells(grid(), remote, **dask)
    assert again.skipped == 7 and again.ran == 0


def test_dask_from_the_command_line(cluster, tmp_path):
    from boltzbench.cli.commands import main

    out = tmp_path / "cli"
    code = main(
        [
            "run",
            "--methods",
            "test_noise",
            "--targets",
            "gmm4",
            "--seeds",
            "0",
            "--n-samples",
            "100",
            "--metrics",
            "mean_error",
            "--plugin",
            FAULTY,
            "--executor",
            "dask",
            "--scheduler",
            cluster.scheduler_address,
            "--out",
            str(out),
            "--no-progress",
            "--no-report",
        ]
    )
    assert code == 0
    assert len(list(Path(out, "cells").glob("*.json"))) == 1


def test_dask_needs_a_scheduler(tmp_path, capsys):
    from boltzbench.cli.commands import main

    code = main(["run", "--executor", "dask", "--out", str(tmp_path / "x")])
    assert code == 2
    assert "--scheduler" in capsys.readouterr().err
    assert not (tmp_path / "x").exists()
