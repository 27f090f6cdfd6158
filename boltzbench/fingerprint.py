"""A target's definition fingerprint: what its reference, floors and records are keyed on.

A target may declare ``content_hash`` (a string that changes whenever its distribution
does). Otherwise the fingerprint is the SHA-256 of the source of every class in its
type's MRO below the shared base class (``BaseTarget``) and of its public instance state
(tensors by their bytes, numbers, strings and containers of them). Editing a plugin
target's parameter or its energy thus changes the fingerprint, so its cached reference and
floors are regenerated and records scored against the old definition show as stale.
"""

from __future__ import annotations

import hashlib
import inspect
import json
from typing import Any

import numpy as np
import torch


def _state(value: Any) -> Any:
    """A JSON-able digest of an attribute value."""
    if isinstance(value, torch.Tensor):
        array = value.detach().cpu().contiguous().numpy()
        return ["tensor", str(array.dtype), list(array.shape), _sha(array.tobytes())]
    if isinstance(value, np.ndarray):
        array = np.ascontiguousarray(value)
        return ["array", str(array.dtype), list(array.shape), _sha(array.tobytes())]
    if isinstance(value, bool | int | float | str) or value is None:
        return value
    if isinstance(value, list | tuple):
        return [_state(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _state(v) for k, v in sorted(value.items(), key=lambda kv: str(kv[0]))}
    if hasattr(value, "__dataclass_fields__"):
        return _state(
            {k: getattr(value, k) for k in value.__dataclass_fields__}  # type: ignore[attr-defined]
        )
    return type(value).__qualname__  # other objects: by type only


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


#: the shared base class (its machinery is not part of any one target's definition)
BASE = ("boltzbench.targets.base", "BaseTarget")


def _class_sources(cls: type) -> list[str]:
    sources = []
    for klass in cls.__mro__:
        if (klass.__module__, klass.__qualname__) == BASE or klass is object:
            break
        try:
            sources.append(inspect.getsource(klass))
        except (OSError, TypeError):
            sources.append(f"{klass.__module__}.{klass.__qualname__}")
    return sources


def fingerprint(target: Any) -> str:
    """16 hex digits identifying ``target``'s definition (see the module docstring)."""
    declared = getattr(target, "content_hash", None)
    if declared:
        return _sha(f"declared:{declared}".encode())[:16]
    cls = type(target)
    state = {
        k: _state(v)
        for k, v in sorted(vars(target).items())
        # private names and values cached by descriptors (functools.cached_property) are
        # derived state that appears on first use: not part of the definition
        if not k.startswith("_") and not hasattr(getattr(cls, k, None), "__get__")
    }
    blob = json.dumps(
        {"sources": _class_sources(type(target)), "state": state, "name": target.name},
        sort_keys=True,
        default=str,
    )
    return _sha(blob.encode())[:16]
