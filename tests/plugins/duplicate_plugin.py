"""Registers a built-in name again: loading it must fail with a clear message."""

import boltzbench


@boltzbench.register_method("mala")
class NotMala:
    pass
