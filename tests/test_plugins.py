"""The three plugin routes, and the README's plugin example run exactly as printed."""

import re
import textwrap
from pathlib import Path

import pandas as pd
from cli_helpers import PLUGINS, cli

REPO = Path(__file__).resolve().parents[1]


def run_one(method, out, *extra, cwd=None, pythonpath=None):
    res = cli(
        "run",
        *extra,
        "--methods",
        method,
        "--targets",
        "gmm4",
        "--seeds",
        "0",
        "--n-samples",
        "200",
        "--out",
        str(out),
        "--no-plots",
        cwd=cwd,
        pythonpath=pythonpath,
    )
    assert res.returncode == 0, res.stderr
    runs = pd.read_csv(out / "runs.csv")
    assert list(runs["status"]) == ["ok"] and list(runs["method"]) == [method]
    return runs


def test_plugin_from_file(tmp_path):
    run_one("test_noise", tmp_path, "--plugin", str(PLUGINS / "faulty_methods.py"))


def test_plugin_from_module(tmp_path):
    run_one("test_module_method", tmp_path, "--plugin", "module_plugin", pythonpath=PLUGINS)


def test_plugin_from_entry_points(tmp_path):
    site = tmp_path / "site"
    pkg = site / "bb_ep_plugin"
    pkg.mkdir(parents=True)
    (pkg / "__init__.py").write_text(
        textwrap.dedent('''
        import torch
        import boltzbench

        class EPMethod:
            """A method registered through an entry point object."""
            def fit(self, target, *, seed):
                self.dim, self.gen = target.dim, torch.Generator().manual_seed(seed)
            def sample(self, n):
                return torch.randn(n, self.dim, generator=self.gen)

        class EPTarget:
            name, dim, init_std = "ep_gauss", 2, 1.0
            def energy(self, x):
                return 0.5 * (x * x).sum(1)
            def score(self, x):
                return -x
            def energy_and_score(self, x):
                return self.energy(x), self.score(x)

        def ep_metric(samples, reference, target):
            return float(samples.mean())
        ep_metric.version = "1"
    ''')
    )
    info = site / "bb_ep_plugin-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: bb-ep-plugin\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text(
        "[boltzbench.methods]\nep_method = bb_ep_plugin:EPMethod\n\n"
        "[boltzbench.targets]\nep_gauss = bb_ep_plugin:EPTarget\n\n"
        "[boltzbench.metrics]\nep_mean = bb_ep_plugin:ep_metric\n"
    )
    listed = cli("list", pythonpath=site)
    assert listed.returncode == 0, listed.stderr
    for name in ["ep_method", "ep_gauss", "ep_mean"]:
        assert name in listed.stdout
    run_one("ep_method", tmp_path / "out", "--metrics", "mean_error,ep_mean", pythonpath=site)
    runs = pd.read_csv(tmp_path / "out" / "runs.csv")
    assert "ep_mean" in runs.columns


def readme_plugin_example() -> str:
    text = (REPO / "README.md").read_text()
    match = re.search(r"<!-- plugin-example -->\s*```python\n(.*?)```", text, re.S)
    assert match, "README.md lost its plugin example"
    return match.group(1)


def test_readme_plugin_example_runs_as_printed(tmp_path):
    code = readme_plugin_example()
    assert 12 <= sum(1 for line in code.splitlines() if line.strip()) <= 30  # "about 20 lines"
    (tmp_path / "my_sampler.py").write_text(code)
    command = (
        re.search(
            r"<!-- plugin-command -->\s*```bash\n(.*?)\n```", (REPO / "README.md").read_text(), re.S
        )
        .group(1)
        .strip()
    )
    args = command.split()
    assert args[:2] == ["boltzbench", "run"]
    res = cli(*args[1:], "--out", str(tmp_path / "out"), "--no-plots", cwd=tmp_path)
    assert res.returncode == 0, res.stderr
    runs = pd.read_csv(tmp_path / "out" / "runs.csv")
    assert set(runs["status"]) == {"ok"}
    assert (runs["grad_evals_sample"] > 0).all()
