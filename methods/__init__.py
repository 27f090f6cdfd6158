"""Methods under study: the drifting one-step samplers.

This package is where the suite's subject methods register themselves with
``@boltzbench.register_method``; none is built in yet (see the project's issues).
"""
