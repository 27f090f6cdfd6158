"""The forkserver's warm-up (:mod:`boltzbench.run.warm`): what it loads, and that it never
fails a run."""

import subprocess
import sys

from boltzbench.run import warm
from boltzbench.run.scheduler import FORKSERVER_PRELOAD


def test_the_forkserver_preloads_the_warm_up():
    assert "boltzbench.run.warm" in FORKSERVER_PRELOAD


def test_the_warm_up_loads_what_a_cell_would_import():
    code = (
        "import sys, boltzbench.run.warm, boltzbench.registry as r, boltzbench.fingerprint as f;"
        "print(all(m in sys.modules for m in ('ot', 'arviz', 'boltzbench.run.child')),"
        " r._BUILTINS_LOADED, f._class_sources.cache_info().currsize > 0)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["True", "True", "True"]


def test_a_failing_step_does_not_stop_the_warm_up(monkeypatch):
    ran = []

    def broken() -> None:
        raise RuntimeError("a broken entry point")

    monkeypatch.setattr(warm, "_registries", broken)
    monkeypatch.setattr(warm, "_first_ess", lambda: ran.append("ess"))
    monkeypatch.setattr(warm, "MODULES", ("boltzbench.no_such_module",))
    warm.warm()  # never raises
    assert ran == ["ess"]
