"""While a method runs, the ways to the target other than its counter are shut.

:func:`sealed` is entered by the cell around the method's ``fit`` and ``sample``. Inside
it, building a target (through the registry or a target class), loading a reference set
and calling a target's exact sampler raise :class:`SealedError`; the counter is then the
method's only way to the energy. What in-process Python cannot shut (reading the cache
files directly, digging the raw target out of the counter module, starting another
process) is listed in the README's trusted-plugin note; the counter's tally catches
evaluations of the counted target that bypass the counter.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

_SEALED = [False]


class SealedError(RuntimeError):
    """A method tried to reach the target other than through its counter."""


@contextmanager
def sealed() -> Iterator[None]:
    """Shut the routes around the counter for the duration of the block."""
    previous = _SEALED[0]
    _SEALED[0] = True
    try:
        yield
    finally:
        _SEALED[0] = previous


def check(what: str) -> None:
    """Raise :class:`SealedError` if a method is running."""
    if _SEALED[0]:
        raise SealedError(
            f"{what} is shut while a method runs: a method sees the target only through "
            "the counter it is given"
        )
