"""What produced a record: the checkout's commit, package versions, the device."""

from __future__ import annotations

import platform
import subprocess
from pathlib import Path
from typing import Any

import torch


def git_sha() -> str:
    """The commit of the boltzbench checkout (``-dirty`` when tracked files changed), or
    'unknown' outside a git checkout."""
    here = Path(__file__).resolve().parent
    try:
        out = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=here, capture_output=True, text=True, timeout=10
        )
        if out.returncode == 0:
            sha = out.stdout.strip()
            dirty = subprocess.run(
                ["git", "status", "--porcelain", "--untracked-files=no"],
                cwd=here,
                capture_output=True,
                text=True,
                timeout=10,
            ).stdout.strip()
            return sha + ("-dirty" if dirty else "")
    except (OSError, subprocess.SubprocessError):
        pass
    return "unknown"


def provenance(device: str = "cpu") -> dict[str, Any]:
    """Columns that say what produced a record."""
    from boltzbench import __version__

    return {
        "git_sha": git_sha(),
        "boltzbench_version": __version__,
        "torch_version": torch.__version__,
        "python_version": platform.python_version(),
        "device": device,
    }
