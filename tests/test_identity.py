"""What a result is keyed on: the target's definition (an edited target gets a new
reference and its old records are stale), the method's configuration (never pooled), and
scoring apart from running (a rescore runs no method)."""

import os

import pandas as pd
import torch
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


MODULE_CONSTANT_TARGET = """
import torch
from boltzbench.targets.base import BaseTarget

RHO = {rho}  # a module-level constant the energy reads: not in the class source or state


def precision():
    return torch.linalg.inv(torch.tensor([[1.0, RHO], [RHO, 1.0]], dtype=torch.float64))


class ModuleConstantGauss(BaseTarget):
    name = "test_module_constant"
    dim = 2

    def energy(self, x):
        return 0.5 * ((x.double() @ precision()) * x.double()).sum(1).to(x.dtype)

    def sample(self, n, generator):
        cov = torch.tensor([[1.0, RHO], [RHO, 1.0]])
        return torch.randn(n, 2, generator=generator) @ torch.linalg.cholesky(cov).T
"""


def _module_target(tmp_path, rho):
    """The plugin file written with RHO = ``rho`` and imported as the same module."""
    import importlib.util
    import linecache
    import sys

    path = tmp_path / "module_constant.py"
    path.write_text(MODULE_CONSTANT_TARGET.format(rho=rho))
    linecache.checkcache(str(path))
    spec = importlib.util.spec_from_file_location("test_module_constant_plugin", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module.ModuleConstantGauss()


def test_editing_a_module_constant_gives_a_new_reference_and_stale_records(tmp_path):
    """RHO = 0.9 edited to −0.9 in the plugin file: the class source and state are the
    same, the distribution is not. The fingerprint, the cached reference and the
    staleness of records scored before all follow the distribution."""
    from boltzbench.fingerprint import definition_digest, identity, is_stale

    before = _module_target(tmp_path, 0.9)
    old = identity(before)
    ref_before = before.reference()
    after = _module_target(tmp_path, -0.9)
    assert definition_digest(before) == definition_digest(after)  # the old blind spot
    new = identity(after)
    assert old.fingerprint != new.fingerprint
    ref_after = after.reference()
    corr = [float(torch.corrcoef(r.samples.T)[0, 1]) for r in (ref_before, ref_after)]
    assert corr[0] > 0.8 and corr[1] < -0.8  # a new reference, not the cached one
    record = old.record_fields()
    assert is_stale(record, new) and not is_stale(record, old)


def test_last_bit_differences_between_machines_do_not_make_records_stale():
    """Energies computed in single precision differ between machines in their last bits;
    the probe is compared within a tolerance, so committed records stay current."""
    from boltzbench.fingerprint import TargetIdentity, identity, is_stale
    from boltzbench.registry import TARGETS

    here = identity(TARGETS.get("gmm4")())
    there = [None if v is None else v * (1 + 3e-7) for v in here.probe]
    record = TargetIdentity("0" * 16, here.definition, tuple(there)).record_fields()
    assert not is_stale(record, here)
    legacy = {"target_fingerprint": here.definition}  # a record from before the probe
    assert not is_stale(legacy, here)
    assert is_stale({"target_fingerprint": "f" * 16}, here)
