"""The report wing: records to documents.

:mod:`~boltzbench.report.tables` reads records into ``runs.csv`` and ranks them
(``leaderboard.csv``); :mod:`~boltzbench.report.views`, :mod:`~boltzbench.report.markdown`
and :mod:`~boltzbench.report.htmlpage` render them; :mod:`~boltzbench.report.figures` and
:mod:`~boltzbench.report.budgetfig` draw them; :mod:`~boltzbench.report.breakeven`,
:mod:`~boltzbench.report.crossover` and :mod:`~boltzbench.report.compare` answer
questions across cells; :mod:`~boltzbench.report.build` ties them into one report folder.
It reads records only: it never imports the run wing.
"""
