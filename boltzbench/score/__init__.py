"""The score wing: stored samples to numbers.

:mod:`~boltzbench.score.scoring` scores a cell's samples and curve snapshots with the
registered metrics and rescores stored records; :mod:`~boltzbench.score.floors` gives each
metric's noise floor (the value an exact sampler of the same size gets). It reads records
and samples and writes scores; it never imports the run or report wings.
"""
