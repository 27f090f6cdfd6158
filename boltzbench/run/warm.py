"""What the local executor's forkserver does once per run, so that no cell pays for it.

Importing this module (the forkserver's preload) imports what a cell process would import
on first use and runs each one-off set-up once: the cell machinery, POT (``ot``, about
1.5 s), ArviZ (the chains' ESS, 1.3–2.3 s with its numba and xarray), the registries'
built-ins and entry points, the first ESS call, and the class sources that a target's
fingerprint reads. A forked cell inherits all of it. Nothing here computes a number a
cell reports: the cells' results are the same with or without it (only their seconds
differ). Every step is guarded: a failure here leaves the cell to pay for the step
itself, where its error is reported in the cell's record.
"""

from __future__ import annotations

import importlib
import warnings

#: modules whose import a cell would otherwise pay for
MODULES = ("boltzbench.run.child", "ot", "arviz", "boltzbench.score.ess")


def _quietly(step) -> None:  # noqa: ANN001 - a zero-argument callable
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            step()
    except Exception:  # the cell will meet (and report) the same problem itself
        pass


def _registries() -> None:
    from boltzbench.registry import METHODS, METRICS, TARGETS

    for registry in (TARGETS, METHODS, METRICS):
        registry.names()


def _first_ess() -> None:
    import numpy as np

    from boltzbench.score.ess import bulk_ess

    bulk_ess(np.random.default_rng(0).normal(size=(4, 20, 2)))


def _target_sources() -> None:
    from boltzbench.fingerprint import _class_sources
    from boltzbench.registry import TARGETS

    for name in TARGETS.names():
        factory = TARGETS.get(name)
        if isinstance(factory, type):
            _class_sources(factory)


def warm() -> None:
    """Import :data:`MODULES` and run the one-off steps (never raises)."""
    for module in MODULES:
        _quietly(lambda m=module: importlib.import_module(m))
    for step in (_registries, _first_ess, _target_sources):
        _quietly(step)


warm()
