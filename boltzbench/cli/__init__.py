"""The front door: the ``boltzbench`` command line (``list``, ``run``, ``score``,
``report``, ``reference``). It parses options and hands each command to its wing:
:mod:`boltzbench.run`, :mod:`boltzbench.score`, :mod:`boltzbench.report`."""

from boltzbench.cli.commands import main, make_parser

__all__ = ["main", "make_parser"]
