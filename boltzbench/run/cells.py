"""One cell of a grid: (target, method + config, seed, budget, cost model), and how it is
executed.

:func:`execute_cell` runs in the cell's own process (see :mod:`boltzbench.run.child`): it
builds the target and the method, hands the method a :class:`~boltzbench.counter.Counter`
(never the raw target), drives it with :func:`boltzbench.driver.run_method` and scores
the samples with :mod:`boltzbench.score.scoring`. It never raises for a method's fault: the
record's ``status`` and ``error`` say what went wrong.
"""

from __future__ import annotations

import time
import traceback
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from boltzbench.costs import decompose
from boltzbench.counter import (
    DEFAULT_COST,
    BudgetExceeded,
    CostModel,
    Counter,
    Counts,
    charging,
)
from boltzbench.driver import InvalidSamples, UncountedEvaluations, run_method
from boltzbench.fingerprint import identity
from boltzbench.guard import SealedError, sealed
from boltzbench.metrics import DEFAULT_METRICS
from boltzbench.protocols import build_method, config_hash
from boltzbench.records import SCHEMA_VERSION
from boltzbench.registry import METHODS, METRICS, TARGETS, is_amortized
from boltzbench.score import tiers
from boltzbench.score.bias import block_bias
from boltzbench.score.ess import chain_ess
from boltzbench.score.scoring import one_line, score_curve, score_record


@dataclass(frozen=True)
class Cell:
    """One unit of work; its results go to one JSON file named by :attr:`cell_id`.

    Attributes:
        suite: the suite name written into the results.
        target: registered target name.
        method: registered method name.
        seed: the method's seed.
        params: config overrides as sorted (name, value) pairs.
        config: the method's full resolved config (filled by :func:`resolve`).
        budget: the cell's budget in cost units (see :class:`CostModel`), or None.
        n_samples: samples asked for; None means the target's ``metric_spec.n_eval``.
        label: the variant's display name (defaults to ``method``); results are grouped
            by label and config hash, never across configurations.
        cost: the cost model as sorted (kind, units) pairs.
        metrics: metric names to score with; not part of the cell's identity (a new
            metric is a rescore, not a rerun).
        draw_probe: for a learned sampler, draw up to this many more samples after the
            cell (batches of 1e3, 1e4, 1e5, ...) to time a draw and measure its bias
            (:mod:`boltzbench.score.bias`); 0: not measured. Not part of the identity.
    """

    suite: str
    target: str
    method: str
    seed: int
    params: tuple[tuple[str, Any], ...] = ()
    config: tuple[tuple[str, Any], ...] = ()
    budget: int | None = None
    n_samples: int | None = None
    label: str = ""
    cost: tuple[tuple[str, float], ...] = tuple(sorted(DEFAULT_COST.as_dict().items()))
    metrics: tuple[str, ...] = field(default=DEFAULT_METRICS, compare=False)
    draw_probe: int = field(default=0, compare=False)

    def __post_init__(self) -> None:
        if not self.label:
            object.__setattr__(self, "label", self.method)

    @property
    def config_hash(self) -> str:
        return config_hash(self.method, dict(self.config))

    @property
    def cost_model(self) -> CostModel:
        return CostModel(**dict(self.cost))

    @property
    def cell_id(self) -> str:
        """File-safe unique id: target, label, hash of config/budget/n/cost, seed."""
        identity: dict[str, Any] = {
            "config": dict(self.config),
            "budget": self.budget,
            "n": self.n_samples,
        }
        if dict(self.cost) != DEFAULT_COST.as_dict():
            identity["cost"] = dict(self.cost)
        h = config_hash(self.method, identity)[:10]
        return f"{self.target}__{self.label}__{h}__seed{self.seed}"


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


#: exception type -> record status (anything else: ``failed`` or ``out_of_memory``)
STATUS_OF = {
    UncountedEvaluations: "uncounted_evals",
    SealedError: "sealed",
    BudgetExceeded: "budget_exceeded",
    InvalidSamples: "invalid_samples",
}


def execute_cell(
    cell: Cell, provenance: dict[str, Any]
) -> tuple[dict[str, Any], np.ndarray | None]:
    """Run one cell in this process. Returns (record, samples as [n, d] float32 or None)."""
    record = base_record(cell, provenance)
    started = time.time()
    run = counter = method = target = None
    device = torch.device(provenance.get("device", "cpu"))
    try:
        target = TARGETS.get(cell.target)()
        record.update(identity(target).record_fields())
        method, _ = build_method(METHODS.get(cell.method), dict(cell.params))
        n = cell.n_samples or target.metric_spec.n_eval
        record["n_samples"] = n
        counter = Counter(target, budget=cell.budget, cost=cell.cost_model, n_samples=n)
        run = run_method(method, counter, cell.seed, n, device)
        record["train_seconds"] = run.train_seconds
        record["sample_seconds"] = run.sample_seconds
        record["status"] = "ok"
    except Exception as exc:
        status = next((s for t, s in STATUS_OF.items() if isinstance(exc, t)), None)
        if status is None:
            status = "out_of_memory" if is_out_of_memory(exc) else "failed"
            record["traceback"] = traceback.format_exc(limit=20)
        record["status"], record["error"] = status, one_line(exc)
    if counter is not None:
        record["counts"] = counter.counts.as_dict()
    diagnostics = getattr(method, "diagnostics", None)
    if callable(diagnostics):
        try:
            record["diagnostics"] = {k: float(v) for k, v in dict(diagnostics()).items()}
        except Exception as exc:
            record["diagnostics"] = {"error": one_line(exc)}
    if run is not None:
        score_record(record, target, run.samples, cell.metrics, device)
        tiers.apply(record, run.samples, target)
        score_curve(target, getattr(method, "snapshots", None), record, run.started)
        chains = getattr(method, "draws", None)
        if isinstance(chains, torch.Tensor) and chains.ndim == 3:
            record["chain_shape"] = list(chains.shape[:2])  # [chains, rounds]
            try:
                record["ess"] = chain_ess(target, chains.detach().cpu())
            except Exception as exc:
                record["ess_error"] = one_line(exc)
        if cell.draw_probe and record.get("tier") == "ok" and is_amortized(cell.method):
            measure_draws(record, method, counter, target, cell.draw_probe, n)
        record["costs"] = decompose(record)
    record["wall_seconds"] = time.time() - started
    return record, None if run is None else run.samples.numpy()


#: a probe batch that takes longer than this (seconds) is the last one
PROBE_SECONDS = 30.0


def measure_draws(
    record: dict[str, Any], method: Any, counter: Counter, target: Any, largest: int, block: int
) -> None:
    """After the cell: draw batches of 1e3, 1e4, ... up to ``largest`` from the trained
    ``method`` (outside the cell's budget and counts; a batch over PROBE_SECONDS is the
    last), store their seconds and evaluations in ``record["draw_probe"]`` and the
    largest batch's bias in ``record["bias"]`` (blocks of ``block``). Never raises: a
    failure is ``record["probe_error"]``."""
    sizes, seconds, evals, batch = [], [], [], None
    budget, counter.budget = counter.budget, None
    try:
        size = 1000
        while size <= largest:
            before = counter.used
            t0 = time.perf_counter()
            with sealed(), charging(counter, "sample"), torch.no_grad():
                batch = method.sample(size)
            seconds.append(time.perf_counter() - t0)
            sizes.append(size)
            evals.append(counter.used - before)
            if seconds[-1] > PROBE_SECONDS:
                break
            size *= 10
        record["draw_probe"] = {"sizes": sizes, "seconds": seconds, "evals": evals}
        x = batch.detach().to("cpu", torch.float32)
        if not torch.isfinite(x).all():
            raise ValueError("the probe's draws are not all finite")
        record["bias"] = block_bias(target, x, block)
    except Exception as exc:
        record["probe_error"] = one_line(exc)
    finally:
        counter.budget = budget


def base_record(cell: Cell, provenance: dict[str, Any]) -> dict[str, Any]:
    """The fields every record has, before anything runs (status ``failed`` until the cell
    says otherwise)."""
    return {
        "schema": SCHEMA_VERSION,
        "cell_id": cell.cell_id,
        "suite": cell.suite,
        "target": cell.target,
        "method": cell.label,
        "registry_name": cell.method,
        "seed": cell.seed,
        "budget": cell.budget,
        "cost_model": dict(cell.cost),
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


def stopped_record(cell: Cell, provenance: dict[str, Any], status: str, error: str) -> dict:
    """The record of a cell whose process was killed or died before reporting."""
    record = base_record(cell, provenance)
    record["status"], record["error"] = status, error
    return record
