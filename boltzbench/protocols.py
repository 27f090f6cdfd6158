"""The written contracts between targets, methods, metrics and the runner.

Shapes: a batch of configurations is a tensor ``[n, d]``; energies are ``[n]`` in units of
kT, so that p(x) ∝ exp(-E(x)); scores are ``-∇E`` with shape ``[n, d]``.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

import torch


@dataclass(frozen=True)
class MetricSpec:
    """How a target's samples are scored; frozen so numbers stay comparable.

    Attributes:
        n_eval: samples a method is asked for (``sample(n_eval)``).
        n_reference: size of the frozen reference set.
        reference_seed: seed of the reference set.
        mmd_bandwidth: RBF length-scale ℓ in k(x, y) = exp(-|x - y|² / (2ℓ²)), frozen from the
            reference (median pairwise distance of its first 1000 points).
        sliced_projections: number of random directions for ``sliced_w2``.
        projection_seed: seed of those directions.
        w2_max_n: the exact W2 uses at most this many points of each set (the first ones).
        floor_repeats: independent exact sets averaged into each metric's noise floor.
    """

    n_eval: int = 2000
    n_reference: int = 5000
    reference_seed: int = 20260318
    mmd_bandwidth: float | None = None
    sliced_projections: int = 200
    projection_seed: int = 0
    w2_max_n: int = 2000
    floor_repeats: int = 5


@runtime_checkable
class Target(Protocol):
    """What a target provides. See :class:`boltzbench.targets.base.BaseTarget`.

    Required: ``name``, ``dim``, ``energy(x[n, d]) -> [n]``, ``score(x) -> [n, d]``,
    ``energy_and_score(x)``. Optional (None when unknown): ``sample(n, generator)``,
    ``log_Z``, ``mean`` [d], ``cov`` [d, d]; plus ``box`` (plotting limits for 2-D views),
    ``init_std`` and ``metric_spec``.
    """

    name: str
    dim: int

    def energy(self, x: torch.Tensor) -> torch.Tensor: ...

    def score(self, x: torch.Tensor) -> torch.Tensor: ...

    def energy_and_score(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]: ...


@dataclass(frozen=True)
class Snapshot:
    """A method's samples at one point of its run, for quality-against-cost curves.

    Attributes:
        energy_evals: energy values evaluated so far (train + sample).
        grad_evals: gradients plus Hessian-vector products evaluated so far.
        samples: what the method would return if stopped here, [m, d].
        phase: ``"train"`` or ``"sample"``.
    """

    energy_evals: int
    grad_evals: int
    samples: torch.Tensor
    phase: str

    @classmethod
    def of(cls, counts: Any, samples: torch.Tensor, phase: str) -> Snapshot:
        """A snapshot of ``samples`` (copied) at the evaluations in ``counts`` (a
        :class:`boltzbench.counter.Counts`)."""
        return cls(counts.energy_evals, counts.gradient_evals, samples.detach().clone(), phase)


@runtime_checkable
class Method(Protocol):
    """What a method provides.

    A method class has a ``Config`` dataclass (all fields with defaults) and is built as
    ``cls(config)``. ``fit`` receives a :class:`boltzbench.counter.Counter`, never the raw
    target; every evaluation during ``fit`` is charged to ``train`` (training, tuning,
    burn-in) and during ``sample`` to ``sample``. ``sample(n)`` returns a float tensor of
    shape ``[n, d]``. An optional ``diagnostics() -> dict[str, float]`` adds columns; an
    optional ``snapshots: list[Snapshot]`` attribute (filled while it runs) adds a
    quality-against-evaluations curve.
    """

    def fit(self, target: Any, *, seed: int) -> None: ...

    def sample(self, n: int) -> torch.Tensor: ...


def build_method(cls: type, params: dict[str, Any] | None = None) -> tuple[Any, dict[str, Any]]:
    """Instantiate a method class with config overrides.

    Returns the method and its full resolved config as a plain dict. Unknown or ill-typed
    parameters raise ValueError naming the parameter and the known fields.
    """
    params = dict(params or {})
    config_cls = getattr(cls, "Config", None)
    if config_cls is None:
        if params:
            raise ValueError(f"method {cls.__name__} takes no parameters, got {sorted(params)}")
        return cls(), {}
    if not dataclasses.is_dataclass(config_cls):
        raise TypeError(f"{cls.__name__}.Config must be a dataclass")
    fields = {f.name: f for f in dataclasses.fields(config_cls)}
    unknown = sorted(set(params) - set(fields))
    if unknown:
        raise ValueError(
            f"unknown parameter(s) {', '.join(unknown)} for {cls.__name__}; "
            f"known: {', '.join(fields)}"
        )
    config = config_cls(**params)
    return cls(config), dataclasses.asdict(config)


def config_hash(method: str, config: dict[str, Any]) -> str:
    """A short stable hash of a method name and its resolved config."""
    blob = json.dumps({"method": method, "config": config}, sort_keys=True, default=str)
    return hashlib.sha256(blob.encode()).hexdigest()[:12]
