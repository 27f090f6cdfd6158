"""One cell of a grid: (target, method + config, seed, budget), and how it is executed.

:func:`execute_cell` runs in the cell's own process (see :mod:`boltzbench.runner`): it
builds the target and the method, hands the method a :class:`~boltzbench.counter.Counter`
(never the raw target), runs ``fit`` under the ``train`` phase and ``sample`` under the
``sample`` phase, validates the samples, and scores them against the frozen reference.
It never raises for a method's fault: the record's ``status`` and ``error`` say what
went wrong.
"""

from __future__ import annotations

import math
import time
import traceback
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from boltzbench.counter import BudgetExceeded, Counter, Counts, charging
from boltzbench.floors import noise_floors
from boltzbench.guard import SealedError, sealed
from boltzbench.metrics import DEFAULT_METRICS
from boltzbench.protocols import build_method, config_hash
from boltzbench.registry import METHODS, METRICS, TARGETS

SCHEMA_VERSION = 2  # 2: records carry a checksum (and their samples' SHA-256)
STATUSES = (
    "ok",
    "failed",
    "budget_exceeded",
    "invalid_samples",
    "timeout",
    "crashed",
    "out_of_memory",
    "sealed",
    "uncounted_evals",
    "metric_failed",
)


@dataclass(frozen=True)
class Cell:
    """One unit of work; its results go to one JSON file named by :attr:`cell_id`.

    Attributes:
        suite: the suite name written into the results.
        target, method: registered names.
        seed: the method's seed.
        params: config overrides as sorted (name, value) pairs.
        config: the method's full resolved config (filled by :func:`resolve`).
        budget: evaluation budget (energy + gradient evaluations) or None.
        n_samples: samples asked for; None means the target's ``metric_spec.n_eval``.
        label: display name in the results (defaults to ``method``).
        metrics: metric names to compute.
    """

    suite: str
    target: str
    method: str
    seed: int
    params: tuple[tuple[str, Any], ...] = ()
    config: tuple[tuple[str, Any], ...] = ()
    budget: int | None = None
    n_samples: int | None = None
    label: str | None = None
    metrics: tuple[str, ...] = DEFAULT_METRICS

    @property
    def name(self) -> str:
        """The method's display name."""
        return self.label or self.method

    @property
    def config_hash(self) -> str:
        return config_hash(self.method, dict(self.config))

    @property
    def cell_id(self) -> str:
        """File-safe unique id: target, label, hash of config/budget/n, seed."""
        h = config_hash(
            self.method,
            {
                "config": dict(self.config),
                "budget": self.budget,
                "n": self.n_samples,
                "metrics": list(self.metrics),
            },
        )[:10]
        return f"{self.target}__{self.name}__{h}__seed{self.seed}"


def resolve(cell: Cell) -> Cell:
    """Fill in the method's full config; raises on unknown names or parameters."""
    TARGETS.get(cell.target)
    for name in cell.metrics:
        METRICS.get(name)
    _, config = build_method(METHODS.get(cell.method), dict(cell.params))
    return Cell(**{**cell.__dict__, "config": tuple(sorted(config.items()))})


def is_out_of_memory(exc: BaseException) -> bool:
    """Whether ``exc`` says an allocation failed (Python's MemoryError, torch's CPU
    allocator or CUDA out-of-memory errors)."""
    if isinstance(exc, MemoryError) or type(exc).__name__ == "OutOfMemoryError":
        return True
    text = str(exc)
    return "can't allocate memory" in text or "out of memory" in text.lower()


class UncountedEvaluations(RuntimeError):
    """The counted target was evaluated other than through the counter."""


class InvalidSamples(ValueError):
    """The method returned something that is not n finite float samples of dimension d."""


def validate_samples(samples: Any, n: int, dim: int) -> torch.Tensor:
    """Check the method's output; return it as a detached float32 CPU tensor."""
    if not isinstance(samples, torch.Tensor):
        raise InvalidSamples(f"sample() returned {type(samples).__name__}, not a torch.Tensor")
    if not samples.is_floating_point():
        raise InvalidSamples(f"sample() returned dtype {samples.dtype}, not a float dtype")
    if tuple(samples.shape) != (n, dim):
        raise InvalidSamples(f"sample() returned shape {tuple(samples.shape)}, expected {(n, dim)}")
    samples = samples.detach().to("cpu", torch.float32)
    bad = int((~torch.isfinite(samples)).any(dim=1).sum())
    if bad:
        raise InvalidSamples(f"{bad} of {n} samples contain NaN or inf")
    return samples


def _one_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split())
    text = f"{type(exc).__name__}: {text}" if text else type(exc).__name__
    return text[:500]


def base_record(cell: Cell, provenance: dict[str, Any]) -> dict[str, Any]:
    """The fields every record has, before anything runs."""
    return {
        "schema": SCHEMA_VERSION,
        "cell_id": cell.cell_id,
        "suite": cell.suite,
        "target": cell.target,
        "method": cell.name,
        "method_registry_name": cell.method,
        "seed": cell.seed,
        "budget": cell.budget,
        "params": dict(cell.params),
        "config": dict(cell.config),
        "config_hash": cell.config_hash,
        "status": "failed",
        "error": "",
        "counts": Counts().as_dict(),
        "train_seconds": None,
        "sample_seconds": None,
        "n_samples": None,
        "metrics": {},
        "floors": {},
        "metric_versions": {},
        "metric_estimators": {},
        "diagnostics": {},
        **provenance,
    }


def execute_cell(
    cell: Cell, provenance: dict[str, Any]
) -> tuple[dict[str, Any], np.ndarray | None]:
    """Run one cell in this process. Returns (record, samples as [n, d] float32 or None)."""
    record = base_record(cell, provenance)
    started = time.time()
    samples = None
    counter = None
    device = torch.device(provenance.get("device", "cpu"))
    try:
        target = TARGETS.get(cell.target)()
        method, _ = build_method(METHODS.get(cell.method), dict(cell.params))
        n = cell.n_samples or target.metric_spec.n_eval
        record["n_samples"] = n
        counter = Counter(target, budget=cell.budget, n_samples=n)
        torch.manual_seed(cell.seed)  # for methods that (against advice) use global RNG
        # the method's tensors on the device (the target stays on the CPU), and every
        # route to the target other than the counter shut (boltzbench.guard)
        with torch.device(device), sealed():
            t0 = time.perf_counter()
            with charging(counter, "train"):
                method.fit(counter, seed=cell.seed)
            _synchronize(device)
            record["train_seconds"] = time.perf_counter() - t0
            t0 = time.perf_counter()
            with charging(counter, "sample"):
                raw = method.sample(n)
            _synchronize(device)
            record["sample_seconds"] = time.perf_counter() - t0
        samples = validate_samples(raw, n, target.dim)
        bypassed = counter.uncounted()
        if bypassed:
            samples = None
            raise UncountedEvaluations(
                "evaluations bypassed the counter: "
                + ", ".join(f"{v} {k}" for k, v in bypassed.items())
            )
        record["status"] = "ok"
    except UncountedEvaluations as exc:
        record["status"], record["error"] = "uncounted_evals", _one_line(exc)
    except SealedError as exc:
        record["status"], record["error"] = "sealed", _one_line(exc)
    except BudgetExceeded as exc:
        record["status"], record["error"] = "budget_exceeded", _one_line(exc)
    except InvalidSamples as exc:
        record["status"], record["error"] = "invalid_samples", _one_line(exc)
    except Exception as exc:
        status = "out_of_memory" if is_out_of_memory(exc) else "failed"
        record["status"], record["error"] = status, _one_line(exc)
        record["traceback"] = traceback.format_exc(limit=20)
    if counter is not None:
        record["counts"] = counter.counts.as_dict()
    diagnostics = getattr(locals().get("method"), "diagnostics", None)
    if callable(diagnostics):
        try:
            record["diagnostics"] = {k: float(v) for k, v in dict(diagnostics()).items()}
        except Exception as exc:
            record["diagnostics"] = {"error": _one_line(exc)}
    if samples is not None:
        _score(cell, target, samples, record, device)
        _curve(target, locals().get("method"), record)
        _estimates(target, record)
    record["wall_seconds"] = time.time() - started
    return record, None if samples is None else samples.numpy()


def _synchronize(device: torch.device) -> None:
    """Wait for queued GPU work, so that the timings measure it."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _score(
    cell: Cell,
    target: Any,
    samples: torch.Tensor,
    record: dict[str, Any],
    device: torch.device | None = None,
) -> None:
    """Compute the cell's metrics into the record. Metrics registered with
    ``accelerated=True`` get samples and reference on ``device``; the others on the CPU."""
    reference = target.reference().samples
    on_device = None
    if device is not None and device.type != "cpu":
        on_device = (samples.to(device), reference.to(device))
    errors = []
    for name in cell.metrics:
        fn = METRICS.get(name)
        record["metric_versions"][name] = fn.version
        try:
            if on_device is not None and getattr(fn, "accelerated", False):
                value = fn(*on_device, target)
            else:
                value = fn(samples, reference, target)
            estimator = getattr(fn, "estimator", None)
            if estimator is not None:
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
            errors.append(f"{name}: {_one_line(exc)}")
    try:
        record["floors"] = noise_floors(target, list(cell.metrics), samples.shape[0])
    except Exception as exc:
        errors.append(f"floors: {_one_line(exc)}")
    if errors:
        record["status"], record["error"] = "metric_failed", "; ".join(errors)[:500]


CURVE_METRICS = ("mmd", "sliced_w2")
CURVE_MAX_POINTS = 1000


def _curve(target: Any, method: Any, record: dict[str, Any]) -> None:
    """Score the method's snapshots (if any) with MMD and sliced W2 against the reference:
    the record's ``curve`` is a list of {energy_evals, grad_evals, evals, phase, n, mmd,
    sliced_w2}. A snapshot
    larger than CURVE_MAX_POINTS is thinned evenly. A broken snapshot list is reported in
    ``curve_error`` and never fails the cell."""
    snaps = getattr(method, "snapshots", None)
    if not snaps:
        return
    try:
        fns = {name: METRICS.get(name) for name in CURVE_METRICS}
        reference = target.reference().samples
        curve = []
        for snap in snaps:
            x = validate_samples(snap.samples, snap.samples.shape[0], target.dim)
            if x.shape[0] > CURVE_MAX_POINTS:
                x = x[torch.linspace(0, x.shape[0] - 1, CURVE_MAX_POINTS).long()]
            point = {
                "energy_evals": int(snap.energy_evals),
                "grad_evals": int(snap.grad_evals),
                "evals": int(snap.energy_evals) + int(snap.grad_evals),
                "phase": str(snap.phase),
                "n": int(x.shape[0]),
            }
            for name, fn in fns.items():
                point[name] = float(fn(x, reference, target))
            curve.append(point)
        record["curve"] = curve
    except Exception as exc:
        record["curve_error"] = _one_line(exc)


#: Metrics computed from what a method reports about its own importance weights (in its
#: diagnostics), not from the samples: name -> (diagnostic, lower is better).
ESTIMATE_METRICS = {
    "log_z_error": ("log_z", True),
    "elbo": ("elbo", False),
    "ess_fraction": ("ess_fraction", False),
}
ESTIMATE_VERSION = "1"


def _estimates(target: Any, record: dict[str, Any]) -> None:
    """Turn a method's reported estimates into metrics: ``log_z_error`` = |log Ẑ − log Z|
    (targets that know log Z), ``elbo`` (mean log-weight, a lower bound on log Z for
    exact weights) and ``ess_fraction`` (ESS / number of weights)."""
    diag = record["diagnostics"]
    for name, (key, _) in ESTIMATE_METRICS.items():
        value = diag.get(key)
        if not isinstance(value, int | float) or not math.isfinite(value):
            continue
        if name == "log_z_error":
            true = getattr(target, "log_Z", None)
            if true is None:
                continue
            value = abs(float(value) - float(true))
        record["metrics"][name] = float(value)
        record["metric_versions"][name] = ESTIMATE_VERSION
