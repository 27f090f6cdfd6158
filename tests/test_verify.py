"""``boltzbench verify``: a rerun of stored cells is classified identical / close /
different / stale / failed, nothing is written into the verified folder, and mistakes
exit 2 with one line."""

import json
import shutil

import numpy as np
import pytest
from cli_helpers import cli, cli_inproc

from boltzbench.run.verify import Verdict, cell_of, compare


@pytest.fixture(scope="module")
def stored(tmp_path_factory):
    """A results folder of two tiny cells (ula and mala on gmm4), made once."""
    out = tmp_path_factory.mktemp("verify") / "r"
    done = cli(
        "run", "--methods", "ula,mala", "--targets", "gmm4", "--seeds", "0",
        "--budget", "4000", "--n-samples", "200", "--metrics", "mean_error,mmd",
        "--out", str(out), "--no-progress", "--no-plots",
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-1500:]
    return out


def test_a_rerun_at_the_same_code_is_identical_and_writes_nothing(stored, tmp_path):
    out = stored
    before = sorted(p.name for p in out.rglob("*"))
    done = cli("verify", str(out), "--cells", "5", "--out", str(tmp_path / "v"))
    assert done.returncode == 0, done.stderr[-1500:]
    assert done.stdout.count("identical") == 3  # two cells and the summary line
    assert sorted(p.name for p in out.rglob("*")) == before
    assert (tmp_path / "v" / "verify.csv").read_text().count("identical") == 2


def test_a_record_rebuilds_its_own_cell(stored):
    out = stored
    for path in (out / "cells").glob("*.json"):
        record = json.loads(path.read_text())
        cell = cell_of(record)
        assert cell.cell_id == record["cell_id"] and cell.config_hash == record["config_hash"]


def test_compare_classifies_changed_samples_by_their_metrics():
    record = {"cell_id": "c", "samples_sha256": "x", "metrics": {"mmd": 0.5, "w2": 1.0}}
    samples = np.zeros((3, 2), np.float32)
    close = compare(record, {"status": "ok", "metrics": {"mmd": 0.5 + 1e-9, "w2": 1.0}}, samples)
    assert close.verdict == "close"
    moved = compare(record, {"status": "ok", "metrics": {"mmd": 0.6, "w2": 1.0}}, samples)
    assert (moved.verdict, moved.metric, moved.rerun) == ("different", "mmd", 0.6)
    assert compare(record, {"status": "failed"}, None).verdict == "failed"
    assert "mmd: 0.5 -> 0.6" in moved.line()


def test_an_edited_config_is_stale_not_rerun(stored, tmp_path):
    out = shutil.copytree(stored, tmp_path / "copy")
    path = sorted((out / "cells").glob("*mala*.json"))[0]
    record = json.loads(path.read_text())
    record["config_hash"] = "000000000000"
    from boltzbench.records import reseal

    reseal(path, record)
    from boltzbench.run.verify import verify

    (verdict,) = verify(out, ids=[record["cell_id"]], progress=lambda line: None)
    assert verdict == Verdict(record["cell_id"], "stale", "config_hash")


def test_usage_mistakes_exit_2_with_one_line(tmp_path):
    (tmp_path / "file").write_text("x")
    for args in (
        [tmp_path / "missing"],
        [tmp_path / "file"],
    ):
        done = cli_inproc("verify", *args)
        assert done.returncode == 2 and len(done.stderr.strip().splitlines()) == 1, done
    folder = tmp_path / "r"
    (folder / "cells").mkdir(parents=True)
    done = cli_inproc("verify", folder, "--cell", "nope")
    assert done.returncode == 2 and "no record 'nope'" in done.stderr
    done = cli_inproc("verify", folder, "--out", folder / "inside")
    assert done.returncode == 2 and "--out" in done.stderr
