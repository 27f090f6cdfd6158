import json

import pandas as pd
import pytest
from cli_helpers import PLUGINS, cli, cli_inproc


def test_list_shows_everything():
    out = cli("list")
    assert out.returncode == 0, out.stderr
    for name in [
        "mala",
        "gmm4",
        "double_well",
        "banana",
        "mean_error",
        "cov_error",
        "mmd",
        "w2",
        "sliced_w2",
        "quick",
    ]:
        assert name in out.stdout
    names = json.loads(cli("list", "--json").stdout)
    assert set(names["targets"]) >= {"gmm4", "double_well", "banana"}
    lines = {line.split()[0]: line.split() for line in out.stdout.splitlines() if line.strip()}
    assert lines["gmm4"][1:4] == ["dim=2", "particles=-", "ref=exact"]
    assert lines["many_well"][1:4] == ["dim=32", "particles=-", "ref=exact"]
    assert lines["logreg_cancer"][1:4] == ["dim=31", "particles=-", "ref=generated"]
    assert lines["dw4"][1:4] == ["dim=8", "particles=4x2", "ref=generated"]
    assert lines["lj13"][1:4] == ["dim=39", "particles=13x3", "ref=generated"]
    assert lines["aldp"][1:4] == ["dim=66", "particles=22x3", "ref=generated"]
    assert lines["ethanol"][1:4] == ["dim=27", "particles=9x3", "ref=generated"]


@pytest.mark.parametrize(
    "args, message",
    [
        (
            ["--methods", "nope"],
            "unknown method 'nope'; known: drifting, drifting_data, drifting_force, "
            "drifting_force_data, hmc, mala, md, nuts, osds, pita, pt, smc, ula",
        ),
        (
            ["--targets", "gmm4,nope"],
            "unknown target 'nope'; known: aldp, banana, double_well, dw4, ethanol, funnel, "
            "gmm4, gmm40, lj13, logreg_cancer, many_well",
        ),
        (["--metrics", "mmd,bogus"], "unknown metric 'bogus'; known:"),
        (
            ["--suite", "huge"],
            "unknown suite 'huge'; known: full, molecules, paper, posteriordb, quick, sweep",
        ),
        (
            ["--methods", "mala", "--targets", "gmm4", "--param", "mala.step_size=abc"],
            "parameter step_size='abc' of MALA: expected float, got str",
        ),
        (["--method", "fast=mala:step_size=x"], "parameter step_size='x' of MALA"),
        (["--method", "fast"], "--method: expected LABEL=METHOD[:KEY=VALUE...]"),
        (["--cost", "grad=two"], "--cost: bad cost value 'two' for grad"),
        (["--seeds", "0,x"], "--seeds: 'x' is not"),
        (["--seeds", "0,0"], "--seeds: repeated seed"),
        (["--budget", "-5"], "--budget: expected a positive integer"),
        (["--budget", "1e3.5"], "--budget: expected a positive integer"),
        (["--n-samples", "0"], "--n-samples: expected a positive integer"),
        (["--param", "mala.bogus=1"], "unknown parameter(s) bogus for MALA; known: n_chains"),
        (["--param", "mala"], "--param: expected METHOD.KEY=VALUE"),
        (
            ["--methods", "mala", "--param", "hmc.step_size=1"],
            "--param names method 'hmc', which is not in this run",
        ),
        (["--plugin", "does_not_exist.py"], "plugin file 'does_not_exist.py' does not exist"),
        (["--plugin", "{syntax_error_plugin}"], "has a syntax error at line 3"),
        (
            ["--plugin", str(PLUGINS / "duplicate_plugin.py")],
            "method 'mala' is already registered by boltzbench.baselines.mala.MALA",
        ),
        (["--plugin", "no.such.module"], "neither a .py file nor an importable module"),
    ],
)
def test_usage_errors_are_one_line_exit_2_and_write_nothing(tmp_path, args, message):
    broken = tmp_path / "broken_plugin.py"
    broken.write_text("import boltzbench\n\ndef broken(:\n    pass\n")
    args = [a.replace("{syntax_error_plugin}", str(broken)) for a in args]
    # in this process the registries may hold the test plugins, which would join the
    # lists of known names
    run = cli if "--plugin" in args or "known:" in message else cli_inproc
    out = run("run", "--out", str(tmp_path / "out"), *args)
    assert out.returncode == 2, out.stderr
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("boltzbench: error: ")
    assert message in lines[0]
    assert "Traceback" not in out.stderr
    assert not (tmp_path / "out").exists()


def test_report_on_a_folder_without_cells_is_a_usage_error(tmp_path):
    out = cli("report", str(tmp_path))
    assert out.returncode == 2 and "not a boltzbench results folder" in out.stderr


def test_run_grid_then_report(tmp_path):
    out_dir = tmp_path / "grid"
    out = cli(
        "run",
        "--suite",
        "paper",  # no budget: the config alone sets the counts asserted below
        "--methods",
        "mala",
        "--targets",
        "gmm4,banana",
        "--seeds",
        "0,1",
        "--out",
        str(out_dir),
        "--n-samples",
        "300",
        "--param",
        "mala.warmup=40",
        "--param",
        "mala.n_chains=60",
        "--jobs",
        "2",
    )
    assert out.returncode == 0, out.stderr
    assert "cells: " in out.stderr  # progress bar
    runs = pd.read_csv(out_dir / "runs.csv")
    assert len(runs) == 4 and set(runs["status"]) == {"ok"}
    for col in [
        "suite",
        "target",
        "method",
        "seed",
        "status",
        "error",
        "energy_evals_train",
        "grad_evals_train",
        "energy_evals_sample",
        "grad_evals_sample",
        "train_seconds",
        "sample_seconds",
        "n_samples",
        "mean_error",
        "cov_error",
        "mmd",
        "w2",
        "sliced_w2",
        "mmd_floor",
        "config_hash",
        "metric_version",
        "git_sha",
        "torch_version",
        "device",
    ]:
        assert col in runs.columns, col
    assert (runs["energy_evals_train"] == 60 * 41).all()
    assert (runs["energy_evals_sample"] == 60 * 10 * 5).all()  # 5 rounds of 10 thinning steps
    board = pd.read_csv(out_dir / "leaderboard.csv")
    # the suite's metrics that apply to gmm4 and banana (particle, torsion and estimate
    # metrics do not: mala gives no log Z)
    from boltzbench.run.suites import SUITES

    applicable = {
        "mmd_multi", "mmd_x0.1", "mmd_x0.3", "mean_error", "cov_error", "mmd", "w2",
        "sliced_w2", "mode_mass_error", "energy_w1", "energy_w2", "high_energy_fraction",
    }  # fmt: skip
    assert applicable <= set(SUITES["paper"].metrics)
    assert set(board["metric"]) == applicable
    assert (board["n_seeds"] == 2).all() and (board["rank"] == 1).all()
    md = (out_dir / "LEADERBOARD.md").read_text()
    assert "## gmm4" in md and "plots/heatmap.png" in md
    for plot in ["heatmap", "samples_gmm4", "samples_banana"]:
        assert (out_dir / "plots" / f"{plot}.png").stat().st_size > 5000
    # rebuilding the report from the cell files gives the same tables; without plots,
    # the documents do not link the figures
    before = runs.copy()
    (out_dir / "runs.csv").unlink()
    rep = cli("report", str(out_dir), "--no-plots")
    assert rep.returncode == 0, rep.stderr
    pd.testing.assert_frame_equal(pd.read_csv(out_dir / "runs.csv"), before)
    assert "plots/heatmap.png" not in (out_dir / "LEADERBOARD.md").read_text()


def test_failed_cells_set_the_exit_code(tmp_path):
    out = cli(
        "run",
        "--plugin",
        str(PLUGINS / "faulty_methods.py"),
        "--methods",
        "test_noise,test_raises,test_nan",
        "--targets",
        "gmm4",
        "--seeds",
        "0",
        "--n-samples",
        "100",
        "--out",
        str(tmp_path),
        "--no-plots",
    )
    assert out.returncode == 100 + 2, out.stderr
    runs = pd.read_csv(tmp_path / "runs.csv")
    assert sorted(runs["status"]) == ["failed", "invalid_samples", "ok"]
    board = pd.read_csv(tmp_path / "leaderboard.csv")
    mmd = board[board["metric"] == "mmd"].set_index("method")
    assert mmd.loc["test_noise", "rank"] == 1
    assert mmd.loc["test_raises", "rank"] == 2 and mmd.loc["test_nan", "rank"] == 2
    assert "failed: test_raises seed 0" in (tmp_path / "LEADERBOARD.md").read_text()


def test_reference_command_shows_checks_and_writes_provenance(tmp_path):
    out = cli("reference", "gmm4,banana", "--out", str(tmp_path))
    assert out.returncode == 0, out.stderr
    assert "gmm4" in out.stdout and "exact sampler" in out.stdout
    prov = json.loads((tmp_path / "gmm4.json").read_text())
    assert prov["target"] == "gmm4" and prov["n"] == 5000 and len(prov["sha256"]) == 64
    bad = cli("reference", "gmm4,nope")
    assert bad.returncode == 2 and "unknown target 'nope'" in bad.stderr


def test_a_target_without_its_extra_is_skipped_or_refused(tmp_path, monkeypatch, capsys):
    """Without OpenMM: a suite's aldp is skipped with the install command; naming it on the
    command line is a usage error; nothing is written."""
    from boltzbench.targets import aldp

    from boltzbench import cli as cli_module
    from boltzbench.run.suites import unavailable_targets

    def missing():
        raise aldp.MissingExtra("target 'aldp' needs OpenMM: pip install 'boltzbench[molecules]'")

    monkeypatch.setattr(aldp, "_openmm", missing)
    assert list(unavailable_targets(["gmm4", "aldp"])) == ["aldp"]
    code = cli_module.main(["run", "--targets", "gmm4,aldp", "--out", str(tmp_path / "r")])
    assert code == 2
    err = capsys.readouterr().err
    assert "pip install 'boltzbench[molecules]'" in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "r").exists()


def test_out_naming_a_file_is_a_usage_error(tmp_path):
    (tmp_path / "file").write_text("keep me")
    for out in (tmp_path / "file", tmp_path / "file" / "below"):
        res = cli_inproc("run", "--methods", "mala", "--targets", "gmm4", "--out", out)
        assert res.returncode == 2 and len(res.stderr.strip().splitlines()) == 1, res.stderr
        assert "is a file, not a folder" in res.stderr
    assert (tmp_path / "file").read_text() == "keep me"


def test_a_constant_energy_is_a_usage_error(tmp_path):
    res = cli(
        "run", "--plugin", str(PLUGINS / "constant_target.py"), "--methods", "mala",
        "--targets", "test_constant_target", "--out", str(tmp_path / "r"),
    )  # fmt: skip
    assert res.returncode == 2, res.stderr[-1500:]
    assert len(res.stderr.strip().splitlines()) == 1 and "does not depend on x" in res.stderr
    assert not (tmp_path / "r").exists()


def test_a_grid_without_a_suite_is_labelled_custom(tmp_path):
    from boltzbench.cli.commands import make_parser

    args = make_parser().parse_args(["run", "--methods", "mala"])
    assert args.suite is None  # the label is decided in cmd_run: 'custom', not 'quick'
    res = cli(
        "run", "--methods", "ula", "--targets", "gmm4", "--seeds", "0", "--budget", "4000",
        "--n-samples", "200", "--metrics", "mean_error", "--out", str(tmp_path / "r"),
        "--no-plots", "--no-progress",
    )  # fmt: skip
    assert res.returncode == 0, res.stderr[-1500:]
    # piped and --no-progress: no bar, one line per finished cell (docs/usage.md)
    assert "ok gmm4__ula__" in res.stderr and "%|" not in res.stderr
    board = pd.read_csv(tmp_path / "r" / "leaderboard.csv")
    assert set(pd.read_csv(tmp_path / "r" / "runs.csv")["suite"]) == {"custom"}
    assert "suite" not in board or set(board["suite"]) == {"custom"}
