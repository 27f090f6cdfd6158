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


def cli_inproc(*args) -> subprocess.CompletedProcess:
    """``boltzbench ARGS`` run in this process (``boltzbench.cli.commands.main``), for checks that
    end before any cell runs (usage errors): the same code path as ``cli`` without the
    two seconds of interpreter and torch start-up. Plugins change the registries, so tests
    that load one use ``cli``."""
    import contextlib
    import io

    from boltzbench.cli.commands import main

    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            code = main([str(a) for a in args])
        except SystemExit as exc:  # argparse's own errors
            code = exc.code if isinstance(exc.code, int) else 1
    return subprocess.CompletedProcess(list(args), code, out.getvalue(), err.getvalue())
