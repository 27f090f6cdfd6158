"""Named suites: which targets, methods (with configs) and seeds make a leaderboard.

A suite is data, not code: :class:`Suite` lists targets and :class:`MethodEntry` items;
:func:`expand` turns it (with the command line's selections) into cells. One tuning rule
for every method: a method entry has one configuration for all targets (no per-target
overrides chosen by looking at a reference); a variant (e.g. ``osds_fine``) is a named
configuration of its own, shown as its own row.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from boltzbench.baselines.osds import PAPER_CONFIG as OSDS_PAPER_CONFIG
from boltzbench.baselines.pita import PAPER_CONFIG as PITA_PAPER_CONFIG
from boltzbench.counter import DEFAULT_COST, CostModel
from boltzbench.metrics import DEFAULT_METRICS
from boltzbench.registry import UnknownNameError
from boltzbench.run.cells import Cell, resolve


@dataclass(frozen=True)
class MethodEntry:
    """A method in a suite: registry name, config overrides (the same on every target) and
    the variant's label (default: the method's name)."""

    method: str
    params: dict[str, Any] = field(default_factory=dict)
    label: str | None = None

    @property
    def name(self) -> str:
        """The variant's label in the results."""
        return self.label or self.method


@dataclass(frozen=True)
class Suite:
    """A named grid.

    Attributes:
        budget: evaluation budget of every cell (energy values + gradients, see
            :mod:`boltzbench.budget`), or None for none.
        target_budgets: per-target budgets that replace ``budget`` for those targets.
        cost: the cost model's units (energy, grad, hvp) for every cell of the suite.
        budgets: a sweep: the grid at each of these budgets (replaces the others).
        n_samples: samples asked of every cell (None: each target's ``n_eval``).
        long_budgets: further sweep budgets, run by ``long_methods`` only (labels).
        draw_probe: learned samplers draw up to this many more samples after each cell to
            time a draw and measure their bias (0: not measured; see Cell.draw_probe).
        timeout: seconds a cell may run before it is killed (``--timeout`` overrides).
    """

    name: str
    description: str
    targets: tuple[str, ...]
    methods: tuple[MethodEntry, ...]
    seeds: tuple[int, ...] = (0, 1, 2)
    budget: int | None = None
    target_budgets: dict[str, int] = field(default_factory=dict)
    metrics: tuple[str, ...] = DEFAULT_METRICS
    cost: CostModel = DEFAULT_COST
    budgets: tuple[int, ...] = ()
    n_samples: int | None = None
    draw_probe: int = 0
    timeout: float = 1800.0
    long_budgets: tuple[int, ...] = ()
    long_methods: tuple[str, ...] = ()

    def budget_for(self, target: str) -> int | None:
        return self.target_budgets.get(target, self.budget)


#: the sweep's methods that also run at its long budgets: the learned samplers still
#: improving at 1e6 and the (cheap) chain and SMC baselines they are compared with
LONG_METHODS = (
    "drifting",
    "drifting_force",
    "osds_fine",
    "ula",
    "mala",
    "hmc",
    "pt",
    "nuts",
    "smc",
)

#: every built-in method, with the configurations the leaderboards use
ALL_METHODS: tuple[MethodEntry, ...] = (
    MethodEntry("ula"),
    MethodEntry("mala"),
    MethodEntry("hmc"),
    MethodEntry("pt"),
    MethodEntry("nuts"),
    MethodEntry("smc"),
    MethodEntry("pita"),
    # the one-step sampler (default) and the same training sampled on its fine grid
    MethodEntry("osds"),
    MethodEntry("osds", {"sample_steps": 0}, label="osds_fine"),  # the finest affordable grid
    MethodEntry("drifting"),
    # from the narrow default start the curvature estimator collapses onto one mode
    MethodEntry("drifting", {"estimator": "curvature", "broad_init": True}, label="drifting_curv"),
    MethodEntry("drifting_force"),
)

#: the molecules suite's methods: MD (the "traditional method" of the force-guided drifting
#: paper), the chain and SMC baselines, PITA, OSDS on its fine grid, and the drifting
#: samplers trained on their own draws or on a 500 K MD dataset with 300 K force labels
#: (and that dataset without the forces, the paper's ablation)
MOLECULE_METHODS: tuple[MethodEntry, ...] = (
    MethodEntry("md"),
    MethodEntry("mala"),
    MethodEntry("hmc"),
    MethodEntry("nuts"),
    MethodEntry("pt"),
    MethodEntry("smc"),
    MethodEntry("pita"),
    MethodEntry("osds", {"sample_steps": 0}, label="osds_fine"),
    MethodEntry("drifting"),
    MethodEntry("drifting_force"),
    MethodEntry("drifting_force_data"),
    MethodEntry("drifting_data"),
)

#: PITA's data and annealing buffers sized for the budgeted suites (its default config
#: spends about 9e5 evaluations before it samples). Training is a fixed number of
#: optimiser steps per phase, not wall time, so that a seed gives the same numbers on any
#: machine: 800 steps (batch 512) take about 12 s a phase on one core at d = 32–39, so
#: about a minute and a half over the seven phases the ESS ladder makes on many_well
#: (measured with scripts/pita_check.py and the earlier rung_ess 0.05, five or six phases:
#: at 300 steps the one-step correction's ESS was 0.001–0.003 on many_well, at 1000 steps
#: 0.03–0.36 on the rungs inside fit).
SMALL_PITA = {
    "data_chains": 100,
    "data_warmup": 200,
    "data_size": 1000,
    "buffer_size": 1000,
    "train_steps": 800,
}


def with_params(entries: tuple[MethodEntry, ...], method: str, params: dict[str, Any]):
    """``entries`` with ``params`` merged into every entry of registered method ``method``."""
    return tuple(
        MethodEntry(e.method, {**e.params, **params}, e.label) if e.method == method else e
        for e in entries
    )


#: PITA at baselines.pita.PAPER_CONFIG with, for reproducibility and a cell of at most
#: about 3 minutes on one core on the 2-D targets (gmm4 asks for 10,000 samples): a fixed
#: 1000 optimiser steps per phase instead of PAPER_CONFIG's 600 s of wall time, 2000
#: particles per temperature (paper: 5000) and 500 Euler–Maruyama steps (paper: 1000)
PITA_PAPER = {**PITA_PAPER_CONFIG, "train_steps": 1000, "buffer_size": 2000, "anneal_steps": 500}

#: the learned baselines at their papers' settings scaled to CPU (no budget; see
#: docs/methods.md): OSDS with baselines.osds.PAPER_CONFIG, one-step and on its fine grid;
#: PITA with PITA_PAPER
PAPER_VARIANTS: tuple[MethodEntry, ...] = (
    MethodEntry("osds", dict(OSDS_PAPER_CONFIG), label="osds_paper"),
    MethodEntry("osds", {**OSDS_PAPER_CONFIG, "sample_steps": 32}, label="osds_fine_paper"),
    MethodEntry("pita", PITA_PAPER, label="pita_paper"),
)

FIVE_SEEDS = (0, 1, 2, 3, 4)

#: the six posteriordb posteriors (reference draws from posteriordb's long NUTS runs)
POSTERIORDB_TARGETS = (
    "pdb_eight_schools",
    "pdb_diamonds",
    "pdb_ark",
    "pdb_blr",
    "pdb_gp_pois_regr",
    "pdb_gauss_mix",
)

SUITES: dict[str, Suite] = {
    "quick": Suite(
        name="quick",
        description=(
            "The three 2-D targets of the drifting paper, every method at an equal budget "
            "of energy values + gradients per cell (5e5 on gmm4, which asks for 10,000 "
            "samples; 3e5 on double_well and banana)."
        ),
        targets=("gmm4", "double_well", "banana"),
        methods=with_params(ALL_METHODS, "pita", SMALL_PITA),
        seeds=FIVE_SEEDS,
        target_budgets={"gmm4": 500_000, "double_well": 300_000, "banana": 300_000},
    ),
    "paper": Suite(
        name="paper",
        description=(
            "The drifting paper's setting: the three 2-D targets, every method with its "
            "own default cost (no budget; drifting trains for 3000 steps)."
        ),
        targets=("gmm4", "double_well", "banana"),
        methods=ALL_METHODS + PAPER_VARIANTS,
        seeds=(0, 1, 2),
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
        methods=with_params(ALL_METHODS, "pita", SMALL_PITA),
        seeds=FIVE_SEEDS,
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
    "molecules": Suite(
        name="molecules",
        description=(
            "The force-guided drifting paper's setting: ethanol (GFN2-xTB through tblite) "
            "and aldp, MD and the chain baselines against the drifting samplers trained "
            "on their own draws or on a 500 K MD dataset with 300 K force labels; needs "
            "the molecules extra."
        ),
        targets=("ethanol", "aldp"),
        methods=with_params(MOLECULE_METHODS, "pita", SMALL_PITA),
        seeds=FIVE_SEEDS,
        target_budgets={"ethanol": 100_000, "aldp": 200_000},
        metrics=DEFAULT_METRICS + ("bond_w1", "angle_w1"),
        # an ethanol cell spends 1e5 GFN2-xTB evaluations (2 ms each on an idle core,
        # 10–15 ms on a loaded one) before a method's own work; a data-trained drifting
        # cell passed 1800 s beside three other jobs
        timeout=5400.0,
    ),
    "posteriordb": Suite(
        name="posteriordb",
        description=(
            "Six real posteriors from posteriordb on Stan's unconstrained space, scored "
            "against posteriordb's reference draws; every method at 3e5 per cell."
        ),
        targets=POSTERIORDB_TARGETS,
        methods=with_params(ALL_METHODS, "pita", SMALL_PITA),
        seeds=FIVE_SEEDS,
        budget=300_000,
    ),
    "sweep": Suite(
        name="sweep",
        description=(
            "Quality against budget: the three quick targets, every method, five seeds, "
            "2000 samples per cell, at budgets 1e4, 3.16e4, 1e5, 3.16e5 and 1e6, and the "
            "learned samplers still improving at 1e6 and the chain methods also at 3.16e6 "
            "and 1e7; learned samplers then draw 1e5 more to measure their bias."
        ),
        targets=("gmm4", "double_well", "banana"),
        methods=with_params(ALL_METHODS, "pita", SMALL_PITA),
        seeds=FIVE_SEEDS,
        budgets=(10_000, 31_623, 100_000, 316_228, 1_000_000),
        long_budgets=(3_162_278, 10_000_000),
        long_methods=LONG_METHODS,
        n_samples=2000,
        draw_probe=100_000,
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
    variants: list[tuple[str, str, dict[str, Any]]] | None = None,
    cost: CostModel | None = None,
) -> list[Cell]:
    """The suite's cells, with the given selections replacing the suite's own.

    ``budget`` replaces the suite's budgets; ``budgets`` (a sweep) makes one copy of the
    grid per budget.

    ``methods`` may name methods outside the suite (run with their defaults) and suite
    labels; ``variants`` adds (label, method, params) entries; ``params`` maps a method
    name or label to config overrides applied on top; ``cost`` replaces the suite's cost
    model. Raises UnknownNameError / ValueError for unknown names or ill-typed parameters.
    """
    entries = list(suite.methods)
    if methods is not None:
        by_key = {e.name: e for e in entries}
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
    for label, method, overrides in variants or []:
        if label in {e.name for e in entries}:
            raise ValueError(f"--method {label}: the name is taken by a method of this run")
        entries.append(MethodEntry(method, overrides, label))
    cost = cost or suite.cost
    params = params or {}
    known_keys = {e.name for e in entries} | {e.method for e in entries}
    for key in params:
        if key not in known_keys:
            raise ValueError(
                f"--param names method {key!r}, which is not in this run; "
                f"methods in this run: {', '.join(sorted(known_keys))}"
            )
    cells = []
    for target in targets if targets is not None else suite.targets:
        for entry in entries:
            p = dict(entry.params)
            p.update(params.get(entry.method, {}))
            if entry.label:
                p.update(params.get(entry.label, {}))
            if budgets or (suite.budgets and budget is None):
                cell_budgets: list[int | None] = list(budgets or suite.budgets)
                if not budgets and entry.name in suite.long_methods:
                    cell_budgets += list(suite.long_budgets)
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
                        n_samples=n_samples or suite.n_samples,
                        label=entry.name,
                        cost=tuple(sorted(cost.as_dict().items())),
                        metrics=tuple(metrics) if metrics is not None else suite.metrics,
                        draw_probe=suite.draw_probe,
                    )
                    cells.append(resolve(cell))
    return cells
