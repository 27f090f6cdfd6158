"""Named suites: which targets, methods (with configs) and seeds make a leaderboard.

A suite is data, not code: :class:`Suite` lists targets and :class:`MethodEntry` items;
:func:`expand` turns it (with the command line's selections) into cells. Per-target
config overrides are allowed, and they show in every result row's ``config`` column.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from boltzbench.cells import Cell, resolve
from boltzbench.metrics import DEFAULT_METRICS
from boltzbench.registry import UnknownNameError


@dataclass(frozen=True)
class MethodEntry:
    """A method in a suite: registry name, config overrides, optional display label, and
    overrides per target (merged over ``params``)."""

    method: str
    params: dict[str, Any] = field(default_factory=dict)
    label: str | None = None
    per_target: dict[str, dict[str, Any]] = field(default_factory=dict)

    def params_for(self, target: str) -> dict[str, Any]:
        return {**self.params, **self.per_target.get(target, {})}


@dataclass(frozen=True)
class Suite:
    """A named grid.

    Attributes:
        budget: evaluation budget of every cell (energy values + gradients, see
            :mod:`boltzbench.budget`), or None for none.
        target_budgets: per-target budgets that replace ``budget`` for those targets.
    """

    name: str
    description: str
    targets: tuple[str, ...]
    methods: tuple[MethodEntry, ...]
    seeds: tuple[int, ...] = (0, 1, 2)
    budget: int | None = None
    target_budgets: dict[str, int] = field(default_factory=dict)
    metrics: tuple[str, ...] = DEFAULT_METRICS

    def budget_for(self, target: str) -> int | None:
        return self.target_budgets.get(target, self.budget)


#: every built-in method, with the configurations the leaderboards use
ALL_METHODS: tuple[MethodEntry, ...] = (
    MethodEntry("ula"),
    MethodEntry("mala"),
    MethodEntry("hmc"),
    MethodEntry("pt"),
    MethodEntry("smc"),
    MethodEntry("pita"),
    # the one-step sampler (default) and the same training sampled on its fine grid
    MethodEntry("osds"),
    MethodEntry("osds", {"sample_steps": 32}, label="osds_fine"),
    MethodEntry(
        "drifting",
        # the default rms-normalised multi-scale drift drains the shallow well of
        # the double well; the coarse bandwidth alone keeps both wells
        per_target={"double_well": {"bandwidths": (1.0,), "normalize": "none", "step_size": 1.0}},
    ),
    # from the narrow default start the curvature estimator collapses onto one mode
    MethodEntry("drifting", {"estimator": "curvature", "broad_init": True}, label="drifting_curv"),
    MethodEntry("drifting_force"),
)

#: PITA's data and annealing buffers sized for the budgeted suites (its default config
#: spends about 9e5 evaluations before it samples)
SMALL_PITA = {
    "data_chains": 100,
    "data_warmup": 200,
    "data_size": 1000,
    "buffer_size": 1000,
    "train_steps": 300,
}


def _with(entries: tuple[MethodEntry, ...], method: str, params: dict[str, Any]):
    """``entries`` with ``params`` merged into every entry of ``method``."""
    return tuple(
        MethodEntry(e.method, {**e.params, **params}, e.label, e.per_target)
        if e.method == method
        else e
        for e in entries
    )


#: the metrics of the first leaderboards (the paper suite's cells were computed with them)
PAPER_METRICS = ("mean_error", "cov_error", "mmd", "w2", "sliced_w2", "mode_mass_error")

SUITES: dict[str, Suite] = {
    "quick": Suite(
        name="quick",
        description=(
            "The three 2-D targets of the drifting paper, every method at an equal budget "
            "of energy values + gradients per cell (5e5 on gmm4, which asks for 10,000 "
            "samples; 3e5 on double_well and banana)."
        ),
        targets=("gmm4", "double_well", "banana"),
        methods=_with(ALL_METHODS, "pita", SMALL_PITA),
        seeds=(0, 1, 2),
        target_budgets={"gmm4": 500_000, "double_well": 300_000, "banana": 300_000},
    ),
    "paper": Suite(
        name="paper",
        description=(
            "The drifting paper's setting: the three 2-D targets, every method with its "
            "own default cost (no budget; drifting trains for 3000 steps)."
        ),
        targets=("gmm4", "double_well", "banana"),
        methods=ALL_METHODS,
        seeds=(0, 1, 2),
        metrics=PAPER_METRICS,
    ),
    "full": Suite(
        name="full",
        description=(
            "Every built-in target (the zoo, particles and aldp where OpenMM is installed) "
            "with every built-in method, at equal per-target budgets."
        ),
        targets=(
            "gmm4",
            "double_well",
            "banana",
            "gmm40",
            "funnel",
            "many_well",
            "logreg_cancer",
            "dw4",
            "lj13",
            "aldp",
        ),
        methods=_with(ALL_METHODS, "pita", SMALL_PITA),
        seeds=(0, 1, 2),
        target_budgets={
            "gmm4": 500_000,
            "double_well": 300_000,
            "banana": 300_000,
            "gmm40": 300_000,
            "funnel": 300_000,
            "many_well": 500_000,
            "logreg_cancer": 300_000,
            "dw4": 300_000,
            "lj13": 500_000,
            "aldp": 200_000,
        },
    ),
}


def unavailable_targets(names: tuple[str, ...] | list[str]) -> dict[str, str]:
    """Targets among ``names`` that cannot be built here (an optional extra such as OpenMM
    is missing), with the reason; unknown names raise UnknownNameError."""
    from boltzbench.registry import TARGETS

    missing = {}
    for name in names:
        cls = TARGETS.get(name)
        try:
            cls()
        except ImportError as exc:
            missing[name] = str(exc)
    return missing


def get_suite(name: str) -> Suite:
    """The suite called ``name``; the error lists the known suites."""
    try:
        return SUITES[name]
    except KeyError:
        raise UnknownNameError(
            f"unknown suite {name!r}; known: {', '.join(sorted(SUITES))}"
        ) from None


def expand(
    suite: Suite,
    *,
    methods: list[str] | None = None,
    targets: list[str] | None = None,
    seeds: list[int] | None = None,
    params: dict[str, dict[str, Any]] | None = None,
    budget: int | None = None,
    n_samples: int | None = None,
    metrics: list[str] | None = None,
    budgets: list[int] | None = None,
) -> list[Cell]:
    """The suite's cells, with the given selections replacing the suite's own.

    ``budget`` replaces the suite's budgets; ``budgets`` (a sweep) makes one copy of the
    grid per budget.

    ``methods`` may name methods outside the suite (run with their defaults) and suite
    labels; ``params`` maps a method name or label to config overrides applied on top.
    Raises UnknownNameError / ValueError for unknown names or parameters.
    """
    entries = list(suite.methods)
    if methods is not None:
        by_key = {e.label or e.method: e for e in entries}
        by_method = {}
        for e in entries:
            by_method.setdefault(e.method, []).append(e)
        chosen: list[MethodEntry] = []
        for name in methods:
            if name in by_key:
                chosen.append(by_key[name])
            elif name in by_method:
                chosen.extend(by_method[name])
            else:
                chosen.append(MethodEntry(name))
        entries = chosen
    params = params or {}
    known_keys = {e.label or e.method for e in entries} | {e.method for e in entries}
    for key in params:
        if key not in known_keys:
            raise ValueError(
                f"--param names method {key!r}, which is not in this run; "
                f"methods in this run: {', '.join(sorted(known_keys))}"
            )
    cells = []
    for target in targets if targets is not None else suite.targets:
        for entry in entries:
            p = entry.params_for(target)
            p.update(params.get(entry.method, {}))
            if entry.label:
                p.update(params.get(entry.label, {}))
            if budgets:
                cell_budgets: list[int | None] = list(budgets)
            else:
                cell_budgets = [budget if budget is not None else suite.budget_for(target)]
            for cell_budget in cell_budgets:
                for seed in seeds if seeds is not None else suite.seeds:
                    cell = Cell(
                        suite=suite.name,
                        target=target,
                        method=entry.method,
                        seed=int(seed),
                        params=tuple(sorted(p.items())),
                        budget=cell_budget,
                        n_samples=n_samples,
                        label=entry.label,
                        metrics=tuple(metrics) if metrics is not None else suite.metrics,
                    )
                    cells.append(resolve(cell))
    return cells
