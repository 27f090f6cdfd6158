"""A new built-in method is its file in ``methods/`` plus a suite entry: nothing else in the
package needs editing. The test writes a throwaway sampler file into ``methods/`` (removed
afterwards), adds a suite entry in a fresh interpreter and runs one cell end to end."""

import json
import subprocess
import sys
import textwrap
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

METHOD = '''
"""A throwaway sampler written by tests/test_new_method.py (deleted after the test)."""

from dataclasses import dataclass

import torch

from boltzbench.registry import register_method


@dataclass
class Config:
    scale: float = 1.0


@register_method("{name}")
class Throwaway:
    """N(0, (scale · init_std)² I), one counted energy evaluation per sample."""

    Config = Config

    def __init__(self, config: Config) -> None:
        self.config = config

    def fit(self, target, *, seed: int) -> None:
        self.target, self.gen = target, torch.Generator().manual_seed(seed)

    def sample(self, n: int) -> torch.Tensor:
        x = self.config.scale * self.target.init_std * torch.randn(
            n, self.target.dim, generator=self.gen
        )
        self.target.energy(x)
        return x
'''

SCRIPT = """
import sys
from pathlib import Path

from boltzbench.run.scheduler import run_cells
from boltzbench.run.suites import SUITES, MethodEntry, Suite, expand

SUITES["throwaway"] = Suite(
    "throwaway", "one new method", targets=("gmm4",),
    methods=(MethodEntry("{name}"),), seeds=(0,), budget=10_000, n_samples=300,
    metrics=("mean_error", "mmd"),
)
summary = run_cells(expand(SUITES["throwaway"]), Path(sys.argv[1]), jobs=1, progress=False)
"""


def test_a_new_method_is_its_file_plus_a_suite_entry(tmp_path):
    name = f"zz_throwaway_{uuid.uuid4().hex[:8]}"
    path = ROOT / "methods" / f"{name}.py"
    path.write_text(METHOD.format(name=name))
    try:
        out = tmp_path / "run"
        done = subprocess.run(
            [sys.executable, "-c", textwrap.dedent(SCRIPT.format(name=name)), str(out)],
            capture_output=True,
            text=True,
            timeout=600,
        )
        assert done.returncode == 0, done.stderr[-2000:]
        (record_path,) = (out / "cells").glob("*.json")
        record = json.loads(record_path.read_text())
        assert record["method"] == name and record["status"] == "ok", record["error"]
        assert record["counts"]["energy_evals_sample"] == 300
        assert record["metrics"]["mmd"] > 0  # scored like any built-in
        assert record["tier"] == "ok" and record["distinct_fraction"] == 1.0  # classified
        assert len(record["target_probe"]) == 32  # the target's identity, probe included
    finally:
        path.unlink()
