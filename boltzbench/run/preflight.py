"""What a run does with its targets before any cell starts: probe them, and load or
generate their reference and floor sets in the run's own process."""

from __future__ import annotations

import sys
import time

from boltzbench.options import UsageError


def check_targets(names: list[str]) -> None:
    """Probe each target of the run before anything is written: a target whose energy or
    score is NaN where methods start is a usage error, not a grid of failed cells."""
    from boltzbench.registry import TARGETS
    from boltzbench.testing import TargetCheckError, check_target

    for name in names:
        try:
            check_target(TARGETS.get(name)())
        except TargetCheckError as exc:
            raise UsageError(str(exc)) from None


def prepare_references(names: list[str]) -> None:
    """Reference and floor sets of each target, loaded or generated here before any cell
    starts: a cell's process is a daemon and cannot start the worker processes a generated
    reference may need (``aldp``'s replica exchange). A target whose sets cannot be made
    is reported on stderr; its cells then fail with the reason, the run goes on."""
    from boltzbench.registry import TARGETS
    from boltzbench.score.floors import prepare_references as prepare

    for name in names:
        start = time.perf_counter()
        try:
            prepare(TARGETS.get(name)())
        except Exception as exc:
            print(f"boltzbench: {name}: reference sets not ready: {exc}", file=sys.stderr)
            continue
        seconds = time.perf_counter() - start
        if seconds > 5:
            print(f"boltzbench: {name}: reference sets ready ({seconds:.0f} s)", file=sys.stderr)
