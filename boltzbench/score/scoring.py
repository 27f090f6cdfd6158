"""Scoring samples: metrics, noise floors, quality-against-cost curves and estimates.

Scoring is apart from running: :func:`score_record` fills a record's metrics from its
samples (a tensor, or the stored ``.npy`` file), so a metric added later costs a rescore
(:func:`rescore`, the ``boltzbench score`` command), never a rerun of a method. The metric
list is not part of a cell's identity.
"""

from __future__ import annotations

import math
import sys
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np
import torch

from boltzbench.costs import decompose
from boltzbench.driver import validate_samples
from boltzbench.fingerprint import identity
from boltzbench.protocols import primary_metric
from boltzbench.records import CURVE_MAX_POINTS, iter_records, reseal
from boltzbench.registry import METRICS, TARGETS
from boltzbench.score import tiers
from boltzbench.score.ess import stored_chain_ess
from boltzbench.score.floors import noise_floors


def one_line(exc: BaseException) -> str:
    """``Type: message`` on one line, at most 500 characters."""
    text = " ".join(str(exc).split())
    text = f"{type(exc).__name__}: {text}" if text else type(exc).__name__
    return text[:500]


def score_record(
    record: dict[str, Any],
    target: Any,
    samples: torch.Tensor,
    metrics: Iterable[str],
    device: torch.device | None = None,
) -> None:
    """Compute ``metrics`` of ``samples`` [n, d] against the target's frozen reference
    into ``record`` (``metrics``, ``floors``, ``metric_versions``, ``metric_estimators``);
    metrics from diagnostics read ``record["diagnostics"]``. A metric that raises or is not
    finite sets the status ``metric_failed``; one that does not apply is None. Metrics
    registered with ``accelerated=True`` get samples and reference on ``device``. The
    failure tier is classified afterwards, from all of the record's metrics
    (:func:`boltzbench.score.tiers.apply`)."""
    record["primary_metric"] = primary_metric(target)
    reference = on_device = None  # loaded for the first metric of the samples
    for key in ("metrics", "floors", "metric_versions", "metric_estimators"):
        record[key] = {}
    errors = []
    sample_metrics = []
    for name in metrics:
        fn = METRICS.get(name)
        record["metric_versions"][name] = fn.version
        try:
            if getattr(fn, "source", "samples") == "diagnostics":
                value = fn(record.get("diagnostics", {}), target)
                if value is None:
                    del record["metric_versions"][name]
                    continue
            else:
                sample_metrics.append(name)
                if reference is None:
                    reference = target.reference().samples
                    if device is not None and device.type != "cpu":
                        on_device = (samples.to(device), reference.to(device))
                if on_device is not None and getattr(fn, "accelerated", False):
                    value = fn(*on_device, target)
                else:
                    value = fn(samples, reference, target)
                estimator = getattr(fn, "estimator", None)
                if estimator is not None and value is not None:
                    record["metric_estimators"][name] = estimator(
                        samples.shape[0], reference.shape[0], target
                    )
            if value is None:  # the metric does not apply to this target
                record["metrics"][name] = None
                continue
            value = float(value)
            record["metrics"][name] = value if math.isfinite(value) else None
            if not math.isfinite(value):
                errors.append(f"{name}: not finite")
        except Exception as exc:
            record["metrics"][name] = None
            errors.append(f"{name}: {one_line(exc)}")
    try:
        if sample_metrics:
            record["floors"] = noise_floors(target, sample_metrics, samples.shape[0])
    except Exception as exc:
        errors.append(f"floors: {one_line(exc)}")
    if errors:
        record["status"], record["error"] = "metric_failed", "; ".join(errors)[:500]
    elif record.get("status") == "metric_failed":
        record["status"], record["error"] = "ok", ""


def score_curve(
    target: Any, snapshots: Any, record: dict[str, Any], started: float | None = None
) -> None:
    """Score a method's snapshots (if any) with the target's primary metric against the
    reference: the record's ``curve`` is a list of {energy_evals, grad_evals, evals, cost,
    phase, n, n_scored, seconds, <metric>, <metric>_floor} (``cost`` in budget units; ``n``
    the draws the snapshot holds; ``seconds`` wall seconds since ``fit`` began, from the
    snapshot's ``clock`` and ``started``, absent where either is unknown). A snapshot
    larger than CURVE_MAX_POINTS is thinned evenly to ``n_scored`` points before scoring;
    the floor is the exact sampler's at ``n_scored``, so that value and floor are
    comparable. A broken snapshot list is reported in ``curve_error`` and never fails the
    cell."""
    if not snapshots:
        return
    try:
        name = primary_metric(target)
        fns = {name: METRICS.get(name)}
        reference = target.reference().samples
        curve = []
        for snap in snapshots:
            drawn = int(snap.samples.shape[0])
            x = validate_samples(snap.samples, drawn, target.dim)
            if x.shape[0] > CURVE_MAX_POINTS:
                x = x[torch.linspace(0, x.shape[0] - 1, CURVE_MAX_POINTS).long()]
            point = {
                "energy_evals": int(snap.energy_evals),
                "grad_evals": int(snap.grad_evals),
                "evals": int(snap.energy_evals) + int(snap.grad_evals),
                "cost": float(
                    snap.cost
                    if getattr(snap, "cost", None) is not None
                    else int(snap.energy_evals) + int(snap.grad_evals)
                ),
                "phase": str(snap.phase),
                "n": drawn,
                "n_scored": int(x.shape[0]),
            }
            clock = getattr(snap, "clock", None)
            if clock is not None and started is not None:
                point["seconds"] = float(clock - started)
            for metric, fn in fns.items():
                value = fn(x, reference, target)
                point[metric] = None if value is None else float(value)
                point[f"{metric}_floor"] = noise_floors(target, [metric], x.shape[0])[metric]
            curve.append(point)
        record["curve"] = curve
    except Exception as exc:
        record["curve_error"] = one_line(exc)


def _kept_scores(record: dict[str, Any], names: list[str]) -> dict[str, dict[str, Any]]:
    """The stored values, floors, versions and estimators of ``names`` in ``record``."""
    keys = ("metrics", "floors", "metric_versions", "metric_estimators")
    return {k: {m: v for m, v in record.get(k, {}).items() if m in names} for k in keys}


def rescore(
    out_dir: Path,
    metrics: Iterable[str] | None = None,
    targets: Iterable[str] | None = None,
    tiers_only: bool = False,
) -> int:
    """Rescore every stored ok (or metric_failed) cell of ``out_dir`` (of ``targets`` only,
    when given) from its samples file, resealing each record: ``metrics`` are (re)computed
    and the record's other metrics kept as they are (default: every metric the record was
    scored with). With ``tiers_only`` no metric is recomputed: each record's failure tier
    is classified from its samples and stored metrics (no reference needed). Either way the
    record's decomposed costs (:mod:`boltzbench.costs`) are recomputed. No method
    runs. A record whose every metric is recomputed takes the target's current identity
    (fingerprint, definition, probe). Returns the number of records
    rescored; a record that cannot be trusted, or whose target is unavailable, is left as it
    is, with a line on stderr."""
    chosen = list(metrics) if metrics is not None else None
    only = set(targets) if targets is not None else None
    for name in chosen or []:
        METRICS.get(name)  # unknown names fail before anything is written
    built: dict[str, Any] = {}
    done = 0
    for path, record, problem in iter_records(out_dir):
        if record is None:
            if problem:
                print(f"boltzbench: leaving out {path.name}: {problem}", file=sys.stderr)
            continue
        if record.get("status") not in ("ok", "metric_failed") or not record.get("samples_file"):
            continue
        name = record["target"]
        if only is not None and name not in only:
            continue
        try:
            if name not in built:
                built[name] = TARGETS.get(name)()
        except Exception as exc:
            print(f"boltzbench: cannot rescore {path.name}: {one_line(exc)}", file=sys.stderr)
            continue
        samples = torch.from_numpy(np.load(Path(out_dir) / record["samples_file"]))
        stored_chain_ess(built[name], record, samples)
        if tiers_only:
            tiers.apply(record, samples, built[name])
            record["costs"] = decompose(record)
            reseal(path, record)
            done += 1
            continue
        own = list(record.get("metric_versions", {}))
        named = own if chosen is None else chosen
        kept = _kept_scores(record, [m for m in own if m not in named])
        score_record(record, built[name], samples, named)
        for key, values in kept.items():
            record[key] = {**values, **record[key]}
        tiers.apply(record, samples, built[name])  # from every metric, kept ones included
        if not kept["metrics"]:
            # every metric now scored against the current reference: the record's target
            # identity is the current one (a partial rescore keeps the old identity, so a
            # changed target still shows as stale)
            record.update(identity(built[name]).record_fields())
        record["costs"] = decompose(record)
        reseal(path, record)
        done += 1
    return done
