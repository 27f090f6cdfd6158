"""``boltzbench list [NAME]``: what is registered (methods, targets with their reference
kind, metrics, suites and their variants), or one method's configuration."""

from __future__ import annotations

import argparse
import dataclasses
import inspect
import json
import typing
from typing import Any

from boltzbench.options import UsageError
from boltzbench.registry import METHODS, METRICS, TARGETS, load_plugin


def cmd_list(args: argparse.Namespace) -> int:
    from boltzbench.run.suites import SUITES

    for plugin in args.plugin:
        load_plugin(plugin)
    if args.name:
        return _describe(args.name)
    if args.json:
        print(
            json.dumps(
                {
                    "methods": METHODS.names(),
                    "targets": TARGETS.names(),
                    "metrics": METRICS.names(),
                    "suites": sorted(SUITES),
                },
                indent=1,
            )
        )
        return 0
    print("methods:")
    for name in METHODS.names():
        print(f"  {name:<16} {_summary(METHODS.get(name))}")
    print("targets:")
    for name in TARGETS.names():
        t = TARGETS.get(name)
        note = ""
        try:  # some targets set their dimension when built
            dim = t().dim
        except Exception as exc:  # e.g. an optional extra is missing
            dim = getattr(t, "dim", "?")
            note = f" [unavailable: {str(exc).split(';')[0]}]"
        ref = _reference_kind(t)
        parts = getattr(t, "n_particles", None)
        shape = f"{parts}x{t.spatial_dim}" if parts else "-"
        print(f"  {name:<16} dim={dim:<4} particles={shape:<5} ref={ref:<10} {_summary(t)}{note}")
    print("metrics:")
    for name in METRICS.names():
        m = METRICS.get(name)
        print(f"  {name:<16} v{m.version:<4} {_summary(m)}")
    print("suites (variants: label = method with overrides):")
    for name, suite in sorted(SUITES.items()):
        print(f"  {name:<16} {suite.description}")
        for entry in suite.methods:
            if entry.label and (entry.label != entry.method or entry.params):
                print(f"  {'':<16}   {entry.label} = {entry.method} {entry.params}")
    return 0


def _reference_kind(target_cls: Any) -> str:
    """How the target's reference is made: ``exact`` (its own sampler), ``posteriordb``
    (shipped draws), ``generated`` (checked long MCMC) or ``none``."""
    kind = getattr(target_cls, "reference_kind", None)
    if kind:
        return str(kind)
    from boltzbench.targets.base import BaseTarget

    if hasattr(target_cls, "generate_reference"):
        return "generated"
    own_sampler = getattr(target_cls, "sample", None)
    if own_sampler is None or own_sampler is getattr(BaseTarget, "sample", None):
        return "none"
    return "exact"


def _describe(name: str) -> int:
    """``boltzbench list NAME``: a method's configuration fields, defaults and docs, or a
    target's or metric's description."""
    for registry in (METHODS, TARGETS, METRICS):
        if name in registry.names():
            obj = registry.get(name)
            break
    else:
        known = ", ".join(METHODS.names() + TARGETS.names() + METRICS.names())
        raise UsageError(f"unknown method, target or metric {name!r}; known: {known}")
    print(f"{registry.kind} {name}: {_summary(obj)}")
    doc = inspect.getdoc(obj) or ""
    if doc:
        print("\n" + doc + "\n")
    config = getattr(obj, "Config", None)
    if config is not None and dataclasses.is_dataclass(config):
        fields_doc = inspect.getdoc(config) or ""
        print(f"configuration (--param {name}.KEY=VALUE):")
        hints = typing.get_type_hints(config)
        for f in dataclasses.fields(config):
            default = f.default if f.default is not dataclasses.MISSING else f.default_factory()
            kind = getattr(hints[f.name], "__name__", str(hints[f.name]))
            print(f"  {f.name:<18} {kind:<18} = {default!r}")
        if fields_doc:
            print("\n" + fields_doc)
    return 0


def _summary(obj: Any) -> str:
    doc = (getattr(obj, "__doc__", None) or "").strip().splitlines()
    return doc[0] if doc else ""
