"""Running the ``boltzbench`` command line in a subprocess, for the CLI and plugin tests."""

import os
import subprocess
import sys
from pathlib import Path

PLUGINS = Path(__file__).resolve().parent / "plugins"


def cli(*args, cwd=None, pythonpath=None) -> subprocess.CompletedProcess:
    """``python -m boltzbench ARGS`` with ``pythonpath`` prepended to PYTHONPATH."""
    env = dict(os.environ)
    if pythonpath:
        env["PYTHONPATH"] = os.pathsep.join([str(pythonpath), env.get("PYTHONPATH", "")])
    return subprocess.run(
        [sys.executable, "-m", "boltzbench", *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        env=env,
        timeout=600,
    )
