"""--device: the CUDA path (skipped without a GPU) and its usage errors."""

import json
from pathlib import Path

import pytest
import torch

from boltzbench.cli.commands import main

cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")


def test_cuda_without_a_gpu_is_a_usage_error(tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    code = main(["run", "--device", "cuda", "--out", str(tmp_path / "x")])
    assert code == 2
    assert "CUDA is not available" in capsys.readouterr().err
    assert not (tmp_path / "x").exists()


def test_unknown_device_is_a_usage_error(tmp_path, capsys):
    assert main(["run", "--device", "tpu", "--out", str(tmp_path / "x")]) == 2
    assert "--device" in capsys.readouterr().err


@cuda
def test_cells_run_on_the_gpu(tmp_path):
    out = tmp_path / "gpu"
    args = ["--targets", "gmm4", "--seeds", "0", "--budget", "2e4", "--n-samples", "500"]
    args += ["--methods", "drifting,osds,pita,mala,hmc,smc", "--out", str(out)]
    args += ["--param", "pita.data_chains=20", "--param", "pita.train_steps=5"]
    assert main(["run", *args, "--device", "cuda", "--no-progress", "--no-report"]) == 0
    records = [json.loads(p.read_text()) for p in Path(out, "cells").glob("*.json")]
    assert len(records) == 6
    for r in records:
        assert r["status"] == "ok", (r["method"], r["error"])
        assert r["device"] == "cuda"
        assert r["metrics"]["mmd"] is not None
