"""The run wing: cells from suites, executed and written as records.

The path of a cell: :mod:`~boltzbench.run.suites` expands a suite into
:class:`~boltzbench.run.cells.Cell` objects; :mod:`~boltzbench.run.preflight` checks the
targets and prepares their references; :mod:`~boltzbench.run.scheduler` (or
:mod:`~boltzbench.run.dask_executor`) hands each cell to :mod:`~boltzbench.run.child`,
which runs it in its own process through :func:`boltzbench.run.cells.execute` (the method
driven by :mod:`boltzbench.driver`, the samples scored by :mod:`boltzbench.score`) and
writes one record (:mod:`boltzbench.records`).
"""
