"""The written contracts between targets, methods, metrics and the runner.

Shapes: a batch of configurations is a tensor ``[n, d]``; energies are ``[n]`` in units of
kT, so that p(x) ∝ exp(-E(x)); scores are ``-∇E`` with shape ``[n, d]``.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import time
import types
import typing
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
        primary: the metric that ranks methods on this target (its column in the
            leaderboard is marked ``primary``); None: :data:`DEFAULT_PRIMARY`.
    """

    n_eval: int = 2000
    n_reference: int = 5000
    reference_seed: int = 20260318
    mmd_bandwidth: float | None = None
    sliced_projections: int = 200
    projection_seed: int = 0
    w2_max_n: int = 2000
    floor_repeats: int = 5
    primary: str | None = None


#: the primary metric of a target whose metric spec names none: the multi-scale relative
#: MMD² (it sees mass between modes), and for particle systems, whose raw coordinates
#: carry no information, the energy W2 with its outlier rule (a collapse onto one
#: low-energy configuration cannot match the energy distribution, and a few exploded
#: samples cannot outweigh that)
DEFAULT_PRIMARY = "mmd_multi"
DEFAULT_PARTICLE_PRIMARY = "energy_w2"


def primary_metric(target: Any) -> str:
    """The target's primary metric: its metric spec's ``primary``, else
    :data:`DEFAULT_PARTICLE_PRIMARY` for particle systems and :data:`DEFAULT_PRIMARY`
    for every other target."""
    spec = getattr(target, "metric_spec", None)
    named = getattr(spec, "primary", None)
    if named:
        return named
    if getattr(target, "n_particles", None) is not None:
        return DEFAULT_PARTICLE_PRIMARY
    return DEFAULT_PRIMARY


@runtime_checkable
class Target(Protocol):
    """The target contract: what a target provides, written once. Built-in targets
    subclass :class:`boltzbench.targets.base.BaseTarget`, which supplies defaults for
    everything optional; a plugin target may do the same or provide the members itself.

    Required:
        name: the registered name.
        dim: the dimension d of a configuration.
        energy(x [n, d]) -> [n]: E(x) in kT, p(x) ∝ exp(−E(x)).
        score(x [n, d]) -> [n, d]: −∇E(x) (analytic where cheap, autograd otherwise).
        energy_and_score(x) -> ([n], [n, d]): both, from one pass where possible.
        metric_spec: :class:`MetricSpec` (sample sizes, seeds, MMD bandwidth, primary
            metric).
        init_std: scale of the broad initial distribution N(0, init_std² I) that methods
            starting from noise use.
        reference() -> Reference: the frozen reference set (``BaseTarget`` builds it from
            ``sample`` or ``generate_reference`` and caches it, keyed on the target's
            fingerprint).

    Optional (absent or None when unknown; metrics that need one return n/a without it):
        sample(n, generator) -> [n, d] | None: exact samples (gives the reference and the
            noise floors).
        generate_reference(n, seed) -> (samples [n, d], info): a checked long-run
            reference for targets without an exact sampler; ``info["checks"]`` maps check
            names to booleans, all of which must hold.
        log_Z: log ∫ exp(−E) dx (for ``log_z_error``).
        mean [d], cov [d, d]: exact moments (``mean_error``, ``cov_error``; the
            reference's are used otherwise).
        hvp(x, v) -> [n, d]: Hessian-vector products (autograd otherwise).
        box: ((x_lo, x_hi), (y_lo, y_hi)) plotting limits for 2-D views.
        content_hash: a string that changes whenever the distribution does (else the
            fingerprint hashes the class source and public state).
        reference_version: bump when the reference-generating code changes.
        mode_of(x) -> [n] int and mode_masses: per-mode assignment and exact masses
            (``mode_mass_error``).
        n_particles, spatial_dim: particle systems (x holds n_particles × spatial_dim
            coordinates); enable the particle metrics.
        distances(x) -> [n, n_pairs]: interparticle distances (``distance_tv``).
        ramachandran(x) -> [n, 2]: backbone dihedrals φ, ψ in radians (``rama_tv``).
    """

    name: str
    dim: int
    metric_spec: MetricSpec
    init_std: float

    def energy(self, x: torch.Tensor) -> torch.Tensor: ...

    def score(self, x: torch.Tensor) -> torch.Tensor: ...

    def energy_and_score(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]: ...

    def reference(self) -> Any: ...


#: the optional members of :class:`Target` that metrics and the runner probe for
OPTIONAL_TARGET_HOOKS: tuple[str, ...] = (
    "sample",
    "generate_reference",
    "log_Z",
    "mean",
    "cov",
    "hvp",
    "box",
    "content_hash",
    "reference_version",
    "mode_of",
    "mode_masses",
    "n_particles",
    "spatial_dim",
    "distances",
    "ramachandran",
)


@dataclass(frozen=True)
class Snapshot:
    """A method's samples at one point of its run, for quality-against-cost curves.

    Attributes:
        energy_evals: energy values evaluated so far (train + sample).
        grad_evals: gradients plus Hessian-vector products evaluated so far.
        samples: what the method would return if stopped here, [m, d].
        phase: ``"train"`` or ``"sample"``.
        cost: budget units spent so far (None: not recorded; the curve then uses
            ``energy_evals + grad_evals``).
        clock: ``time.perf_counter()`` when the snapshot was taken (None: not recorded);
            the curve turns it into wall seconds since ``fit`` began.
    """

    energy_evals: int
    grad_evals: int
    samples: torch.Tensor
    phase: str
    cost: float | None = None
    clock: float | None = None

    @classmethod
    def of(cls, counts: Any, samples: torch.Tensor, phase: str) -> Snapshot:
        """A snapshot of ``samples`` (copied) at the evaluations in ``counts`` (a
        :class:`boltzbench.counter.Counts`)."""
        return cls(
            counts.energy_evals,
            counts.gradient_evals,
            samples.detach().clone(),
            phase,
            counts.total_cost,
            time.perf_counter(),
        )


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
    parameters (checked against the Config dataclass's field types) raise ValueError
    naming the parameter and the known fields.
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
    hints = typing.get_type_hints(config_cls)
    for name, value in params.items():
        hint = hints.get(name, Any)
        if not conforms(value, hint):
            raise ValueError(
                f"parameter {name}={value!r} of {cls.__name__}: expected {_type_name(hint)}, "
                f"got {type(value).__name__}"
            )
        if isinstance(value, list):
            params[name] = tuple(value)
    config = config_cls(**params)
    return cls(config), identity_config(config)


#: a ``Config`` field's metadata key (set by :func:`neutral`): the field joined the config
#: after results were committed and its default reproduces the earlier computation bit
#: for bit, so at that default it is left out of the resolved config (the cells it does not
#: change keep their identity and their records stay current); at any other value it enters
NEUTRAL_DEFAULT = "neutral_default"


def neutral(default: Any) -> Any:
    """A dataclass field with ``default`` that is left out of the cell's identity while it
    holds that default (see :data:`NEUTRAL_DEFAULT`): the way to add an option to a method
    whose committed cells its default does not change."""
    return dataclasses.field(default=default, metadata={NEUTRAL_DEFAULT: True})


def identity_config(config: Any) -> dict[str, Any]:
    """``config`` (a dataclass) as the plain dict that identifies a cell: every field, less
    those declared with :func:`neutral` that hold their default."""
    out = dataclasses.asdict(config)
    for f in dataclasses.fields(config):
        if f.metadata.get(NEUTRAL_DEFAULT) and getattr(config, f.name) == f.default:
            del out[f.name]
    return out


def conforms(value: Any, hint: Any) -> bool:
    """Whether ``value`` fits the type hint ``hint`` (int for float allowed; bool is not
    an int here; lists stand for tuples)."""
    if hint is Any:
        return True
    origin = typing.get_origin(hint)
    if origin in (typing.Union, types.UnionType):
        return any(conforms(value, h) for h in typing.get_args(hint))
    if hint is type(None) or hint is None:
        return value is None
    if hint is float:
        return isinstance(value, int | float) and not isinstance(value, bool)
    if hint is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if hint in (bool, str):
        return isinstance(value, hint)
    if origin in (tuple, list):
        if not isinstance(value, tuple | list):
            return False
        args = typing.get_args(hint)
        if not args:
            return True
        if len(args) == 2 and args[1] is Ellipsis:
            return all(conforms(v, args[0]) for v in value)
        return len(args) == len(value) and all(
            conforms(v, a) for v, a in zip(value, args, strict=True)
        )
    if isinstance(hint, type):
        return isinstance(value, hint)
    return True


def _type_name(hint: Any) -> str:
    return getattr(hint, "__name__", None) or str(hint).replace("typing.", "")


def config_hash(method: str, config: dict[str, Any]) -> str:
    """A short stable hash of a method name and its resolved config."""
    blob = json.dumps({"method": method, "config": config}, sort_keys=True, default=str)
    return hashlib.sha256(blob.encode()).hexdigest()[:12]
