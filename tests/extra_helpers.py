"""Building a target as if an optional extra were not installed (for the molecules'
missing-extra tests)."""

import builtins

from boltzbench.registry import TARGETS


def build_without(monkeypatch, prefix: str, target: str):
    """Build ``target`` with every import of a module whose name starts with ``prefix``
    failing, as on a machine without that extra."""
    real_import = builtins.__import__

    def blocked(name, *args, **kwargs):
        if name.startswith(prefix):
            raise ImportError(f"No module named {name!r}")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", blocked)
    return TARGETS.get(target)()
