"""Shared fixtures. The cache of references and floors goes to a per-session folder so
tests never touch the user's cache (cell processes inherit it through the environment)."""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

import pytest
import torch

_CACHE = tempfile.mkdtemp(prefix="boltzbench-test-cache-")
os.environ["BOLTZBENCH_CACHE"] = _CACHE

REPO = Path(__file__).resolve().parents[1]
PLUGINS = Path(__file__).resolve().parent / "plugins"


def pytest_sessionfinish(session, exitstatus):
    """Remove the session's cache folder (it once left hundreds behind in /tmp)."""
    shutil.rmtree(_CACHE, ignore_errors=True)


@pytest.fixture
def gen() -> torch.Generator:
    return torch.Generator().manual_seed(1234)


class Gaussian2D:
    """A correlated 2-D Gaussian target N(μ, Σ) used by several tests."""

    name = "gauss2d"
    dim = 2
    init_std = 3.0
    mu = torch.tensor([1.0, -2.0], dtype=torch.float64)
    sigma = torch.tensor([[2.0, 0.6], [0.6, 0.5]], dtype=torch.float64)

    def energy(self, x):
        d = x.to(torch.float64) - self.mu
        return (0.5 * (d @ torch.linalg.inv(self.sigma) * d).sum(1)).to(x.dtype)

    def score(self, x):
        d = x.to(torch.float64) - self.mu
        return (-(d @ torch.linalg.inv(self.sigma))).to(x.dtype)

    def energy_and_score(self, x):
        return self.energy(x), self.score(x)


@pytest.fixture
def gaussian2d() -> Gaussian2D:
    return Gaussian2D()


@pytest.fixture(scope="session")
def sweep(tmp_path_factory):
    """A real budget sweep through the command line (gmm4; mala and drifting; two seeds;
    budgets 2e4 and 4e4; 300 samples), shared by the report and figure tests."""
    from cli_helpers import cli

    out = tmp_path_factory.mktemp("sweep") / "r"
    res = cli(
        "run",
        "--methods",
        "mala,drifting",
        "--targets",
        "gmm4",
        "--seeds",
        "0,1",
        "--budgets",
        "2e4,4e4",
        "--n-samples",
        "300",
        "--param",
        "drifting.batch_size=64",
        "--out",
        str(out),
        "--jobs",
        "2",
        "--no-progress",
    )
    assert res.returncode == 0, res.stderr
    return out
