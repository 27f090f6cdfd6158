"""A target's identity: what its reference, floors and records are keyed on.

Two parts:

- the *definition* (:func:`definition_digest`): a declared ``content_hash`` (a string that
  changes whenever the target's distribution does), or else the SHA-256 of the source of
  every class in its type's MRO below the shared base class (``BaseTarget``) and of its
  public instance state (tensors by their bytes, numbers, strings and containers of them);
- the *probe* (:func:`probe`): the energy at :data:`PROBE_POINTS` fixed seeded points of
  the target's broad initial distribution, evaluated from float64 inputs. Whatever code an
  edit touches — a module-level constant, a helper function, a data file — the
  distribution changes only if the energy does, and the probe sees it.

:func:`fingerprint` hashes both (the probe to :data:`PROBE_DIGITS` significant digits): it
keys the per-machine caches of references and floors, so an edited target never meets its
old reference. Records store the fingerprint, the definition and the probe values, and
:func:`is_stale` compares a record with the current target by the definition and the probe
*within a tolerance* (:data:`PROBE_RTOL`): energies computed in single precision differ
between machines in their last bits, which must not make committed results stale.
Records from before the probe stored only the definition digest as their fingerprint and
are compared by it.
"""

from __future__ import annotations

import functools
import hashlib
import inspect
import json
import weakref
from dataclasses import dataclass
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


@functools.cache
def _class_sources(cls: type) -> tuple[str, ...]:
    """The source of ``cls`` and of its bases up to the shared base class (read once per
    process: a class's source does not change while it is loaded)."""
    sources = []
    for klass in cls.__mro__:
        if (klass.__module__, klass.__qualname__) == BASE or klass is object:
            break
        try:
            sources.append(inspect.getsource(klass))
        except (OSError, TypeError):
            sources.append(f"{klass.__module__}.{klass.__qualname__}")
    return tuple(sources)


#: the probe: this many points from N(0, init_std² I) with this seed; the fingerprint writes
#: their energies to this many significant digits; records match within this tolerance
PROBE_POINTS = 32
PROBE_SEED = 20261207
PROBE_DIGITS = 6
PROBE_RTOL = 1e-4
PROBE_ATOL = 1e-6


def probe(target: Any) -> list[float | None]:
    """The target's energies (kT) at the fixed probe points (float64 inputs [32, d]);
    None for a non-finite energy. A target whose energy raises there gets an empty list."""
    g = torch.Generator().manual_seed(PROBE_SEED)
    x = torch.randn(PROBE_POINTS, int(target.dim), generator=g, dtype=torch.float64)
    x = x * float(getattr(target, "init_std", 1.0) or 1.0)
    try:
        with torch.no_grad():
            e = target.energy(x).detach().double().cpu().numpy().reshape(-1)
    except Exception:  # an energy that cannot take these points: the definition decides
        return []
    return [float(v) if np.isfinite(v) else None for v in e]


def same_probe(a: list[float | None], b: list[float | None]) -> bool:
    """Whether two probes agree within :data:`PROBE_RTOL` (non-finite where both are)."""
    if len(a) != len(b):
        return False
    for u, v in zip(a, b, strict=True):
        if (u is None) != (v is None):
            return False
        if u is not None and abs(u - v) > PROBE_ATOL + PROBE_RTOL * max(abs(u), abs(v)):
            return False
    return True


@dataclass(frozen=True)
class TargetIdentity:
    """A target's fingerprint (16 hex digits), definition digest and probe energies."""

    fingerprint: str
    definition: str
    probe: tuple[float | None, ...]

    def record_fields(self) -> dict[str, Any]:
        """What a record stores of its target's identity."""
        return {
            "target_fingerprint": self.fingerprint,
            "target_definition": self.definition,
            "target_probe": list(self.probe),
        }


#: target -> (definition digest, probe): a target is fingerprinted for every reference
#: lookup and noise floor (once per curve snapshot), and its probe costs 32 energy rows
#: (0.4 s on ``logreg_cancer``); it is recomputed only when the definition changes
_PROBED: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def _cached_probe(target: Any, definition: str) -> list[float | None]:
    try:
        cached = _PROBED.get(target)
    except TypeError:  # a target that cannot be weakly referenced: no cache
        return probe(target)
    if cached is not None and cached[0] == definition:
        return cached[1]
    energies = probe(target)
    _PROBED[target] = (definition, energies)
    return energies


def identity(target: Any) -> TargetIdentity:
    """The target's :class:`TargetIdentity`."""
    definition = definition_digest(target)
    energies = _cached_probe(target, definition)
    digits = ",".join("nan" if v is None else f"{v:.{PROBE_DIGITS - 1}e}" for v in energies)
    fp = _sha(f"{definition}|{digits}".encode())[:16]
    return TargetIdentity(fp, definition, tuple(energies))


def fingerprint(target: Any) -> str:
    """16 hex digits identifying ``target``'s distribution: its definition and its energy
    at the probe points (see the module docstring); the key of its cached reference."""
    return identity(target).fingerprint


def current_identities(names: Any) -> dict[str, TargetIdentity | None]:
    """The current identity of each registered target in ``names`` (None for a target that
    cannot be built here, e.g. a missing optional extra)."""
    from boltzbench.registry import TARGETS

    out: dict[str, TargetIdentity | None] = {}
    for name in sorted(set(names)):
        try:
            out[name] = identity(TARGETS.get(name)())
        except Exception:
            out[name] = None
    return out


def is_stale(record: dict[str, Any], current: TargetIdentity | None) -> bool:
    """Whether ``record`` was scored against another distribution than ``current`` (None:
    the target is unavailable, nothing to compare)."""
    stored = record.get("target_fingerprint")
    if current is None or stored in (None, current.fingerprint):
        return False
    if "target_probe" not in record:  # before the probe: the fingerprint was the definition
        return stored != current.definition
    return record.get("target_definition") != current.definition or not same_probe(
        record["target_probe"], list(current.probe)
    )


def definition_digest(target: Any) -> str:
    """16 hex digits of ``target``'s declared ``content_hash`` or class sources and public
    state (what the fingerprint was before the probe joined it)."""
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
