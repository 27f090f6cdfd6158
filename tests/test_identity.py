"""What a result is keyed on: the target's definition (an edited target gets a new
reference and its old records are stale), the method's configuration (never pooled), and
scoring apart from running (a rescore runs no method)."""

import os

import pandas as pd
from cli_helpers import PLUGINS, cli

PLUGIN = str(PLUGINS / "counted_runs.py")


def _run(out, log, rho, *extra):
    os.environ["BOLTZBENCH_RUN_LOG"] = str(log)
    os.environ["BOLTZBENCH_TEST_RHO"] = str(rho)
    try:
        return cli(
            "run",
            "--plugin",
            PLUGIN,
            "--suite",
            "paper",
            "--methods",
            "test_logged_ula",
            "--targets",
            "test_corr_gauss",
            "--seeds",
            "0",
            "--n-samples",
            "1000",
            "--metrics",
            "mmd,cov_error",
            "--out",
            str(out),
            "--no-progress",
            "--no-plots",
            *extra,
        )
    finally:
        del os.environ["BOLTZBENCH_TEST_RHO"]


def test_an_edited_target_is_scored_against_its_new_reference(tmp_path):
    log, out = tmp_path / "log.txt", tmp_path / "out"
    first = _run(out, log, 0.9)
    assert first.returncode == 0, first.stderr
    before = pd.read_csv(out / "runs.csv").iloc[0]
    second = _run(out, log, -0.9)
    assert second.returncode == 0, second.stderr
    assert "stale" in second.stderr  # the old record is reported and recomputed
    after = pd.read_csv(out / "runs.csv")
    assert len(after) == 1 and len(log.read_text().splitlines()) == 2
    row = after.iloc[0]
    assert row["target_fingerprint"] != before["target_fingerprint"]
    # the samples follow ρ = −0.9 and so does the reference: MMD² small, as before
    assert row["mmd"] < 0.02 and before["mmd"] < 0.02, (before["mmd"], row["mmd"])
    assert row["cov_error"] < 0.2


def test_two_configurations_are_two_rows_and_a_rescore_runs_nothing(tmp_path):
    log, out = tmp_path / "log.txt", tmp_path / "out"
    res = _run(out, log, 0.5, "--method", "short=test_logged_ula:n_steps=20")
    assert res.returncode == 0, res.stderr
    res = _run(out, log, 0.5, "--param", "test_logged_ula.step_size=0.02")
    assert res.returncode == 0, res.stderr
    board = pd.read_csv(out / "leaderboard.csv")
    methods = set(board[board["metric"] == "mmd"]["method"])
    assert len(methods) == 3 and "short" in methods, methods  # never pooled as seeds
    assert all(board["n_seeds"] == 1)
    fits = len(log.read_text().splitlines())
    os.environ["BOLTZBENCH_TEST_RHO"] = "0.5"
    try:
        metrics = "mmd,mmd_multi,w2"
        score = cli("score", str(out), "--metrics", metrics, "--plugin", PLUGIN, "--no-plots")
    finally:
        del os.environ["BOLTZBENCH_TEST_RHO"]
    assert score.returncode == 0, score.stderr
    assert len(log.read_text().splitlines()) == fits  # no method ran
    runs = pd.read_csv(out / "runs.csv")
    assert runs["mmd_multi"].notna().all() and runs["w2"].notna().all()
    assert runs["cov_error"].notna().all()  # a metric not named is kept, not dropped


def test_version_and_a_method_description():
    assert cli("--version").returncode == 0
    out = cli("list", "mala")
    assert out.returncode == 0 and "step_size" in out.stdout and "n_chains" in out.stdout


def test_a_fingerprint_does_not_change_with_use():
    import torch

    from boltzbench.fingerprint import fingerprint
    from boltzbench.registry import TARGETS

    for name in ("logreg_cancer", "gmm4", "dw4", "pdb_eight_schools"):
        target = TARGETS.get(name)()
        before = fingerprint(target)
        target.energy_and_score(torch.zeros(3, target.dim))  # fills any cached state
        assert fingerprint(target) == before, name
