"""The evaluation counter: the only handle a method gets on a target.

A :class:`Counter` wraps a target and exposes its energy (values) and score (gradients of
the log-density, ``-∇E``) while counting every evaluation *per row of the batch*,
separately for values and gradients, and separately per phase (``train`` and ``sample``).
An optional budget bounds the cell's total cost under a :class:`CostModel` over both
phases; the call that would cross it raises :class:`BudgetExceeded` *before* anything is
evaluated. The counter also times the seconds spent inside the target.

Isolation: no module-level name leads to the raw target. The counter holds it inside a
closure, behind two nested tallies of every row evaluated (:class:`_Tallied`), and the
counter's outputs are detached from autograd, so that a method cannot obtain uncounted
gradients by back-propagating through a counted energy. An evaluation that bypasses the
counter's methods — through the tally, or through the tally's wrapped object after one
unwrap — shows in :meth:`Counter.uncounted` and fails the cell. In-process Python cannot be
made tamper-proof: a plugin that opens the closure and unwraps both tallies reaches the bare
target uncounted, so plugins are trusted not to (docs/guarantees.md states exactly what is
caught).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass
from typing import Any

import torch
from torch.utils._python_dispatch import _disable_current_modes, _get_current_dispatch_mode

PHASES: tuple[str, ...] = ("train", "sample")


class BudgetExceeded(RuntimeError):
    """Raised when an evaluation would take a counter past its budget."""


@dataclass(frozen=True)
class CostModel:
    """What one row of each kind of evaluation costs, in budget units.

    A row's cost is ``energy`` for an energy value alone, ``grad`` for a gradient (with or
    without the energy at the same row: one pass computes both, so ``energy_and_score``
    costs ``grad``, not ``energy + grad``) and ``hvp`` for a Hessian-vector product.
    """

    energy: float = 1.0
    grad: float = 1.0
    hvp: float = 2.0

    def row_cost(self, n_energy_only: int, n_grad: int, n_hvp: int = 0) -> float:
        """Cost of ``n_energy_only`` energy-only rows, ``n_grad`` gradient rows (with or
        without their energies) and ``n_hvp`` Hessian-vector products."""
        return self.energy * n_energy_only + self.grad * n_grad + self.hvp * n_hvp

    def as_dict(self) -> dict[str, float]:
        return {"energy": self.energy, "grad": self.grad, "hvp": self.hvp}

    @classmethod
    def parse(cls, text: str) -> CostModel:
        """``"energy=1,grad=1,hvp=2"`` (any subset) -> CostModel; ValueError on bad input."""
        values: dict[str, float] = {}
        for part in filter(None, (p.strip() for p in text.split(","))):
            key, sep, value = part.partition("=")
            key = key.strip()
            if not sep or key not in ("energy", "grad", "hvp"):
                raise ValueError(
                    f"bad cost entry {part!r}: expected KEY=VALUE with KEY in energy, grad, hvp"
                )
            try:
                values[key] = float(value)
            except ValueError:
                raise ValueError(f"bad cost value {value!r} for {key}: not a number") from None
            if not values[key] >= 0:
                raise ValueError(f"cost of {key} must be a non-negative number, got {value}")
        return cls(**values)


DEFAULT_COST = CostModel()


@dataclass
class Counts:
    """Evaluation counts, in rows of a batch (one row = one configuration x)."""

    energy_evals_train: int = 0
    grad_evals_train: int = 0
    energy_evals_sample: int = 0
    grad_evals_sample: int = 0
    hvp_evals_train: int = 0
    hvp_evals_sample: int = 0
    cost_train: float = 0.0
    cost_sample: float = 0.0
    target_seconds: float = 0.0
    target_seconds_train: float = 0.0
    target_seconds_sample: float = 0.0

    def as_dict(self) -> dict[str, float]:
        return dict(self.__dict__)

    @property
    def total_cost(self) -> float:
        """Budget units spent over both phases (see :class:`CostModel`)."""
        return self.cost_train + self.cost_sample

    @property
    def energy_evals(self) -> int:
        """Energy values over both phases."""
        return self.energy_evals_train + self.energy_evals_sample

    @property
    def gradient_evals(self) -> int:
        """Gradients plus Hessian-vector products over both phases."""
        return (
            self.grad_evals_train
            + self.grad_evals_sample
            + self.hvp_evals_train
            + self.hvp_evals_sample
        )

    @property
    def total(self) -> int:
        """Every evaluation of either kind, both phases."""
        return self.energy_evals + self.gradient_evals


def total_cost(counts: dict[str, float]) -> float:
    """A record's total cost from its ``counts`` dict: the cost the counter charged
    (``cost_train + cost_sample``). Records written before the cost model (no cost fields)
    count every evaluation as one unit. The one definition of a cell's total cost."""
    if "cost_train" in counts:
        return float(counts.get("cost_train") or 0.0) + float(counts.get("cost_sample") or 0.0)
    keys = ("energy_evals", "grad_evals", "hvp_evals")
    return float(sum(counts.get(f"{k}_{p}", 0) or 0 for k in keys for p in PHASES))


def _hold(tally: _Tallied) -> Callable[[], _Tallied]:
    """A closure over ``tally``: the counter's only way to its target."""
    return lambda: tally


class Counter:
    """Counted view of a target.

    Attributes a method may read: ``name``, ``dim``, ``init_std`` (the scale of the suite's
    broad initial distribution N(0, init_std² I), the same for every method that starts
    from noise), ``n_particles`` and ``spatial_dim`` (None for non-particle targets),
    ``masses`` (amu per coordinate) and ``kt_kj_per_mol`` (k_B T) of a molecule (or None),
    ``phase``, ``counts``, ``budget``, ``used``, ``remaining`` and ``n_samples`` (how many
    samples ``sample`` will be asked for, when the runner knows; see
    :mod:`boltzbench.budget`).

    Args:
        target: any object following the Target protocol (``energy``, ``score``, ``dim``).
        budget: maximum total cost (see :class:`CostModel`) over both phases, or None for
            no limit.
        cost: the cost model (default: energy 1, gradient 1, Hessian-vector product 2).
        n_samples: the number of samples the cell will ask ``sample`` for, or None.
    """

    __slots__ = (
        *"name dim init_std n_particles spatial_dim masses kt_kj_per_mol".split(),
        *"budget cost n_samples _phase _counts _tally __weakref__".split(),
    )

    def __init__(
        self,
        target,
        budget: int | None = None,
        cost: CostModel | None = None,
        n_samples: int | None = None,
    ) -> None:
        if budget is not None and budget < 0:
            raise ValueError(f"budget must be non-negative, got {budget}")
        self.name: str = str(target.name)
        self.dim: int = int(target.dim)
        self.init_std: float = float(getattr(target, "init_std", 1.0))
        self.n_particles: int | None = getattr(target, "n_particles", None)
        self.spatial_dim: int | None = getattr(target, "spatial_dim", None)
        self.masses: torch.Tensor | None = getattr(target, "masses", None)
        self.kt_kj_per_mol: float | None = getattr(target, "kt_kj_per_mol", None)
        self.budget = budget
        self.cost = cost or DEFAULT_COST
        self.n_samples = n_samples
        self._phase = "train"
        self._counts = Counts()
        self._tally = _hold(_Tallied(_Tallied(target)))

    # ----------------------------------------------------------------- bookkeeping
    @property
    def phase(self) -> str:
        """The phase evaluations are charged to: ``train`` or ``sample``."""
        return self._phase

    @property
    def counts(self) -> Counts:
        """A copy of the counts so far."""
        return Counts(**self._counts.as_dict())

    @property
    def used(self) -> float:
        """Budget units spent so far under the counter's :class:`CostModel`."""
        return self._counts.total_cost

    @property
    def remaining(self) -> float:
        """Budget units left (``inf`` without a budget)."""
        return float("inf") if self.budget is None else self.budget - self.used

    def _charge(self, n_energy: int, n_grad: int, n_hvp: int = 0) -> None:
        """Charge rows: ``n_energy`` energy values, ``n_grad`` gradients (rows with both
        cost one gradient), ``n_hvp`` Hessian-vector products."""
        cost = self.cost.row_cost(max(n_energy - n_grad, 0), n_grad, n_hvp)
        if self.budget is not None and self.used + cost > self.budget:
            raise BudgetExceeded(
                f"evaluation of {n_energy} energies, {n_grad} gradients and {n_hvp} "
                f"Hessian-vector products would exceed the budget of {self.budget} "
                f"(used {self.used:g})"
            )
        c = self._counts
        if self._phase == "train":
            c.energy_evals_train += n_energy
            c.grad_evals_train += n_grad
            c.hvp_evals_train += n_hvp
            c.cost_train += cost
        else:
            c.energy_evals_sample += n_energy
            c.grad_evals_sample += n_grad
            c.hvp_evals_sample += n_hvp
            c.cost_sample += cost

    def _rows(self, x: torch.Tensor) -> int:
        if not isinstance(x, torch.Tensor):
            raise TypeError(f"expected a torch.Tensor of shape [n, {self.dim}], got {type(x)}")
        if x.ndim != 2 or x.shape[1] != self.dim:
            raise ValueError(f"expected a tensor of shape [n, {self.dim}], got {tuple(x.shape)}")
        return int(x.shape[0])

    # ----------------------------------------------------------------- evaluations
    def energy(self, x: torch.Tensor) -> torch.Tensor:
        """Energies E(x) in kT, shape [n]; charged n energy evaluations."""
        self._charge(self._rows(x), 0)
        with torch.no_grad():
            return self._timed(self._tally().energy, x)

    def score(self, x: torch.Tensor) -> torch.Tensor:
        """Scores -∇E(x), shape [n, d]; charged n gradient evaluations."""
        self._charge(0, self._rows(x))
        return self._timed(self._tally().score, x)

    def energy_and_score(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Both E(x) [n] and -∇E(x) [n, d]; counted as n energy and n gradient evaluations,
        charged as n gradients (one pass computes both)."""
        n = self._rows(x)
        self._charge(n, n)
        return self._timed(self._tally().energy_and_score, x)

    def hvp(self, x: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
        """Hessian-vector products ∇²E(x_i) v_i, shape [n, d]; charged n HVP evaluations."""
        n = self._rows(x)
        if tuple(v.shape) != tuple(x.shape):
            raise ValueError(f"v must have the shape of x, {tuple(x.shape)}; got {tuple(v.shape)}")
        self._charge(0, 0, n)
        return self._timed(self._tally().hvp, x, v)

    def hessian(self, x: torch.Tensor) -> torch.Tensor:
        """Full Hessians ∇²E(x_i), shape [n, d, d], as d Hessian-vector products per row;
        charged n·d HVP evaluations."""
        n = self._rows(x)
        self._charge(0, 0, n * self.dim)
        raw = self._tally()

        def columns(x: torch.Tensor) -> torch.Tensor:
            eye = torch.eye(self.dim, dtype=x.dtype)
            return torch.stack([raw.hvp(x, eye[k].expand(n, -1)) for k in range(self.dim)], 2)

        return self._timed(columns, x)

    def _timed(self, fn: Callable, *tensors: torch.Tensor) -> Any:
        """Evaluate on the target, adding the wall-clock seconds spent there to
        ``target_seconds`` and to the current phase's ``target_seconds_<phase>``."""
        t0 = time.perf_counter()
        try:
            return _on_target(fn, *tensors)
        finally:
            spent = time.perf_counter() - t0
            self._counts.target_seconds += spent
            if self._phase == "train":
                self._counts.target_seconds_train += spent
            else:
                self._counts.target_seconds_sample += spent

    def uncounted(self) -> dict[str, int]:
        """Evaluations of the wrapped target that did not go through this counter's
        methods (rows, by kind; empty when there were none): a method that found its way
        to the target around the counter's methods (through its tally, or one level inside
        it)."""
        outer = self._tally()
        c = self._counts
        counted = (
            c.energy_evals_train + c.energy_evals_sample,
            c.grad_evals_train + c.grad_evals_sample,
            c.hvp_evals_train + c.hvp_evals_sample,
        )
        extra = {}
        for layer in (outer.rows, outer._target.rows):  # the tally, and the one inside it
            for kind, rows, charged in zip(
                ("energy", "gradient", "hvp"), layer, counted, strict=True
            ):
                extra[kind] = max(extra.get(kind, 0), rows - charged)
        return {k: v for k, v in extra.items() if v > 0}

    def __repr__(self) -> str:
        return f"Counter({self.name!r}, dim={self.dim}, phase={self._phase!r}, {self._counts})"

    def __reduce__(self):  # pickling would copy the target out of reach of the counts
        raise TypeError("a Counter cannot be pickled")


class _Tallied:
    """The raw target as a counter holds it: every row evaluated through it is tallied
    (energy, gradient, Hessian-vector product), counted or not, so that evaluations which
    bypass the counter show in :meth:`Counter.uncounted`."""

    __slots__ = ("_target", "rows")

    def __init__(self, target) -> None:
        self._target = target
        self.rows = [0, 0, 0]

    def energy(self, x: torch.Tensor) -> torch.Tensor:
        self.rows[0] += int(x.shape[0])
        return self._target.energy(x)

    def score(self, x: torch.Tensor) -> torch.Tensor:
        self.rows[1] += int(x.shape[0])
        return self._target.score(x)

    def energy_and_score(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        self.rows[0] += int(x.shape[0])
        self.rows[1] += int(x.shape[0])
        return self._target.energy_and_score(x)

    def hvp(self, x: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
        self.rows[2] += int(x.shape[0])
        return _hvp(self._target, x, v)


def _on_target(fn: Callable, *tensors: torch.Tensor) -> Any:
    """``fn(*tensors)`` detached, evaluated where targets live: on the CPU. Targets are
    built on the CPU; a method running on a GPU (``--device cuda``) passes GPU tensors,
    which go to the CPU and come back on their device; with the method's modes (its
    device context among them) off, the target's own tensor factories make CPU tensors."""
    device = tensors[0].device
    # the method's torch function and dispatch modes (hooks that would see the target's
    # internals, or the method's device context) are switched off inside the target
    with torch._C.DisableTorchFunction(), _no_dispatch_modes():
        out = fn(*(t.detach().cpu() for t in tensors))
    if isinstance(out, tuple):
        return tuple(o.detach().to(device) for o in out)
    return out.detach().to(device)


def _no_dispatch_modes():
    """Pop the active torch dispatch modes for the block (nothing to do without any)."""
    if _get_current_dispatch_mode() is None:
        return nullcontext()
    return _disable_current_modes()


def _hvp(target, x: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    """The target's own ``hvp`` if it has one, else autograd through its score."""
    if hasattr(target, "hvp"):
        return target.hvp(x, v)
    with torch.enable_grad():
        x = x.detach().requires_grad_(True)
        (hv,) = torch.autograd.grad((target.score(x) * v).sum(), x)
    return -hv


@contextmanager
def charging(counter: Counter, phase: str) -> Iterator[Counter]:
    """Charge the counter's evaluations to ``phase`` inside the block (used by the runner)."""
    if phase not in PHASES:
        raise ValueError(f"unknown phase {phase!r}; known: {', '.join(PHASES)}")
    previous = counter._phase
    counter._phase = phase
    try:
        yield counter
    finally:
        counter._phase = previous
