"""Parsing the command line's values: names, seeds, sizes, ``--param`` overrides, the cost
model and method variants. Every mistake raises :class:`UsageError` with one line."""

from __future__ import annotations

import ast
from pathlib import Path
from typing import Any

from boltzbench.counter import CostModel


class UsageError(Exception):
    """A mistake in the command line; reported in one line, exit status 2."""


def names(text: str, option: str) -> list[str]:
    """A comma-separated list of non-empty names."""
    items = [t.strip() for t in text.split(",")]
    if not text.strip() or any(not t for t in items):
        raise UsageError(f"{option}: expected a comma-separated list of names, got {text!r}")
    return items


def seeds(text: str) -> list[int]:
    """'0,1,2' or '0-4' (inclusive) or a mix; distinct and non-negative."""
    out: list[int] = []
    for part in names(text, "--seeds"):
        try:
            if "-" in part[1:]:
                lo, hi = part.split("-", 1)
                lo_i, hi_i = int(lo), int(hi)
                if hi_i < lo_i:
                    raise ValueError
                out.extend(range(lo_i, hi_i + 1))
            else:
                out.append(int(part))
        except ValueError:
            raise UsageError(
                f"--seeds: {part!r} is not a non-negative integer or range like 0-4"
            ) from None
    if any(s < 0 for s in out):
        raise UsageError("--seeds: seeds must be non-negative")
    if len(set(out)) != len(out):
        raise UsageError(f"--seeds: repeated seed in {text!r}")
    return out


def positive_int(option: str, text: str, allow_sci: bool = False) -> int:
    """A positive integer (``1e6`` allowed with ``allow_sci``)."""
    try:
        value = float(text) if allow_sci else int(text)
    except ValueError:
        raise UsageError(f"{option}: expected a positive integer, got {text!r}") from None
    if value != int(value) or value <= 0:
        raise UsageError(f"{option}: expected a positive integer, got {text!r}")
    return int(value)


def literal(raw: str) -> Any:
    """A Python literal (number, string, list, tuple, bool, None), else the raw string."""
    try:
        return ast.literal_eval(raw)
    except (ValueError, SyntaxError):
        return raw


def params(items: list[str]) -> dict[str, dict[str, Any]]:
    """``METHOD.KEY=VALUE`` pairs (METHOD a method or variant name); values are Python
    literals. Types are checked against the method's Config when cells are resolved."""
    out: dict[str, dict[str, Any]] = {}
    for item in items:
        if "=" not in item or "." not in item.split("=", 1)[0]:
            raise UsageError(f"--param: expected METHOD.KEY=VALUE, got {item!r}")
        lhs, raw = item.split("=", 1)
        method, key = lhs.split(".", 1)
        out.setdefault(method, {})[key] = literal(raw)
    return out


def cost(text: str) -> CostModel:
    """``--cost energy=1,grad=1,hvp=2`` (any subset)."""
    try:
        return CostModel.parse(text)
    except ValueError as exc:
        raise UsageError(f"--cost: {exc}") from None


def variants(items: list[str]) -> list[tuple[str, str, dict[str, Any]]]:
    """``--method LABEL=METHOD[:KEY=VALUE[:KEY=VALUE...]]`` -> (label, method, params):
    a named configuration of a registered method, run beside the suite's methods."""
    out = []
    for item in items:
        label, sep, rest = item.partition("=")
        label = label.strip()
        if not sep or not label or not rest or "," in label or "@" in label:
            raise UsageError(
                f"--method: expected LABEL=METHOD[:KEY=VALUE...], got {item!r} "
                "(e.g. fast_mala=mala:step_size=0.05)"
            )
        method, *pairs = rest.split(":")
        overrides: dict[str, Any] = {}
        for pair in pairs:
            key, eq, raw = pair.partition("=")
            if not eq or not key.strip():
                raise UsageError(f"--method {label}: expected KEY=VALUE, got {pair!r}")
            overrides[key.strip()] = literal(raw)
        out.append((label, method.strip(), overrides))
    return out


def out_folder(text: str) -> Path:
    """A folder to write results into: it may not exist yet, but neither it nor any folder
    above it may be a file."""
    path = Path(text)
    for p in (path, *path.parents):
        if p.exists():
            if not p.is_dir():
                what = "--out" if p == path else f"--out {path}: {p}"
                raise UsageError(f"{what} is a file, not a folder")
            break
    return path


def memory_limit(text: str | None) -> int | None:
    """``--memory-limit GIB`` as bytes (None when not given)."""
    if text is None:
        return None
    try:
        gib = float(text)
    except ValueError:
        gib = -1.0
    if not gib > 0:
        raise UsageError(f"--memory-limit: expected a positive number of GiB, got {text!r}")
    return int(gib * 2**30)
