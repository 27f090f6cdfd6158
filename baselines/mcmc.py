"""The chain methods' driver: warm-up, budget plan and thinned production.

The kernels it drives (:func:`mala_step`, :class:`DualAveraging`,
:class:`MassMatrixEstimator`, :func:`mixed_steps`, :func:`initial_points`) live in
:mod:`boltzbench.baselines.chain_kernels` and are re-exported here for the chain methods.

- :class:`ChainMethod`: warm-up (``train``) then production with thinning (``sample``),
  sized to the cell's budget; snapshots for quality-against-cost curves; acceptance,
  frozen-chain, ESS and R-hat diagnostics.

Budgets. Under a budget a chain method (1) fails up front, before evaluating anything,
when the budget cannot pay for its start, :data:`PLAN_AFTER` warm-up transitions and the
cheapest production (one transition per kept draw); (2) measures the cost of its first
:data:`PLAN_AFTER` warm-up transitions and gives :data:`WARMUP_SHARE` of what is left
after reserving that cheapest production to warm-up; (3) spends the rest on production,
re-planning the thinning before every round of draws from what is actually left (so that
random per-transition costs, HMC's trajectory lengths, neither cross the budget nor leave
much of it unspent), the last round running transitions for as long as one more surely
fits (its cost bound, :meth:`ChainMethod._max_transition_cost`, is left).

Chain counts: one rule for every chain method (:func:`chain_count`). Without a budget a
method runs its config's ``n_chains``. Under one it runs as many chains as the budget can
give ``min_transitions`` transitions each (at the method's cost of one transition of one
chain), at most ``n_chains``, and never fewer than one chain per
:data:`MAX_DRAWS_PER_CHAIN` draws (PT: one). The trade-off: more chains allocate mass
between modes better (the share of chains in a mode has sd √(p(1 − p)/n): 0.031 with 200
chains on gmm4, 0.054 with 64) and spend less warm-up per draw; fewer chains run longer,
so each forgets its broad start and tunes its step. Measured at 1e4 (2000 draws, seeds
0–2, median MMD_multi): MALA with 196 chains against 19 (``min_transitions`` 50 against
500) scores 0.004 against 0.18 on gmm4, 0.029 against 0.042 on banana, 0.29 against 0.45
on double_well, but 0.98 against 0.39 on the funnel, whose neck only long chains reach.
Chains win on three of four, so ``min_transitions`` is small for MALA, ULA and HMC (50);
NUTS runs 1000 above the floor, so that its warm-up completes Stan's metric windows
(with 300, 95–200 chains never updated the metric on ``pdb_blr`` and failed there; on
banana at the quick budget 200 chains scored 0.0073, 67 scored 0.0012; see
docs/investigations/chain_and_batch_sizing.md); parallel tempering keeps 500 (its
swaps need that many transitions to carry a hot replica's mode down the ladder).
Methods whose draws cost several gradients each (HMC's trajectory, PT's ladder) also
shrink that factor when the budget cannot pay for the draws at one transition each
(:func:`per_draw_factor`), instead of failing.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from boltzbench.baselines.chain_kernels import (  # noqa: F401  (re-exported)
    DualAveraging,
    MassMatrixEstimator,
    initial_points,
    mala_step,
    mixed_steps,
)
from boltzbench.baselines.diagnostics import ess_rhat

from boltzbench.budget import MARGIN, affordable, has_budget, unit_cost
from boltzbench.counter import BudgetExceeded, Counter
from boltzbench.protocols import Snapshot
from boltzbench.rng import generator

#: under a budget: warm-up transitions measured before the plan is made, and the share of
#: the budget left after the cheapest production that goes to warm-up (the rest thins)
PLAN_AFTER = 10
WARMUP_SHARE = 0.5
#: the most of the budget that production at one transition per draw may take before a
#: per-draw factor (HMC's trajectory length, PT's ladder) is shrunk
PRODUCTION_SHARE = 0.6
#: under a budget no chain gives more than this many draws (a floor on the chain count:
#: 67 chains for 2000 draws), so that the share of chains per mode is not left to a few
MAX_DRAWS_PER_CHAIN = 30


def chain_count(
    target: Counter, cap: int, min_transitions: int, transition_cost: float, least: int = 1
) -> int:
    """The chain-count rule: ``cap`` without a budget; under one
    min(cap, max(least, ⌊(1 − MARGIN) × remaining / (min_transitions × transition_cost)⌋)),
    at least 1.

    ``transition_cost`` is the budget units of one transition of *one* chain (a gradient row
    for MALA, the mean trajectory length for HMC, the ladder for PT, the measured tree for
    NUTS)."""
    if min_transitions < 1:
        raise ValueError(f"min_transitions must be positive, got {min_transitions}")
    if not has_budget(target):
        return cap
    fit = math.floor((1.0 - MARGIN) * target.remaining / (min_transitions * transition_cost))
    return max(1, min(cap, max(least, fit)))


def per_draw_factor(target: Counter, n_draws: int | None, full: int, least: int) -> int:
    """A per-transition multiplier of the gradient cost (HMC's mean leapfrog steps, PT's
    temperatures) sized to the budget: ``full``, or under a budget the largest value ≥
    ``least`` for which ``n_draws`` transitions take at most :data:`PRODUCTION_SHARE` of
    what the budget's margin leaves."""
    if not has_budget(target) or not n_draws:
        return full
    room = PRODUCTION_SHARE * (1.0 - MARGIN) * target.budget
    fit = math.floor(room / (n_draws * unit_cost(target, grad=1)))
    return max(least, min(full, fit))


@dataclass
class ChainConfig:
    """Settings every chain method shares.

    Attributes:
        n_chains: independent chains run in parallel (as one batch).
        warmup: transitions per chain in ``fit`` (burn-in and tuning; charged to ``train``).
        thin: transitions per chain between two kept draws in ``sample``.
            Under a budget, ``warmup`` and ``thin`` are set by the budget instead (see the
            module docstring): the cheapest production (thin 1) is reserved, what is left
            goes half to warm-up, and production spends the rest.
        min_transitions: under a budget, the chain count is the most chains the budget can
            give this many transitions each (see :func:`chain_count`), at most
            ``n_chains``.
        target_accept: acceptance rate the step-size adaptation aims at.
        snapshots: record snapshots for quality-against-cost curves (no evaluations).
    """

    n_chains: int = 200
    warmup: int = 1000
    thin: int = 10
    min_transitions: int = 50
    target_accept: float = 0.574
    snapshots: bool = True

    def validate(self) -> None:
        if self.n_chains < 1 or self.warmup < 0 or self.thin < 1 or self.min_transitions < 1:
            raise ValueError(f"invalid chain settings in {self}")
        if not 0.0 < self.target_accept < 1.0:
            raise ValueError(f"target_accept must be in (0, 1), got {self.target_accept}")


def _is_checkpoint(i: int) -> bool:
    """Snapshot after transitions/rounds 1, 2, 4, 8, … (powers of two)."""
    return i > 0 and i & (i - 1) == 0


class ChainMethod:
    """Warm-up then thinned production over a batch of chains.

    Subclasses implement :meth:`_start` (build the state from initial points),
    :meth:`_transition` (one transition of every chain; ``adapt`` during warm-up; returns
    the mask [n_chains] of chains whose point changed, from which ``frozen_fraction`` is
    counted), :meth:`_end_warmup` (freeze
    tuning) and :meth:`_position` (the chains' current points, [n_chains, d]); they may
    override :meth:`_chains` (how many chains to run), :meth:`_start_cost` and
    :meth:`_transition_cost` (budget units, for the up-front check). During warm-up,
    :attr:`warmup_done` and :attr:`warmup_planned` say where the warm-up stands (the plan
    is final after :data:`PLAN_AFTER` transitions under a budget), for adaptation windows.

    ``sample(n)`` keeps every ``thin``-th state of each chain until n draws exist; draws are
    ordered round by round, so any prefix spreads over all chains. Snapshots: during
    warm-up the chains' current points after 1, 2, 4, … transitions; during production the
    draws so far after 1, 2, 4, … rounds and at the end (what a user stopping there has).
    """

    Config: type = ChainConfig

    def __init__(self, config: ChainConfig | None = None) -> None:
        self.config = config or type(self).Config()
        self.n_chains = self.config.n_chains
        self._accepted = {"train": 0.0, "sample": 0.0}
        self._proposed = {"train": 0, "sample": 0}
        self._moves: torch.Tensor | None = None  # accepted moves per chain in production
        self.snapshots: list[Snapshot] = []
        self.draws: torch.Tensor | None = None
        self.warmup_done = 0
        self.warmup_planned = self.config.warmup

    # subclass hooks ---------------------------------------------------------------
    def _start(self, x0: torch.Tensor) -> None:
        raise NotImplementedError

    def _transition(self, adapt: bool) -> torch.Tensor:
        raise NotImplementedError

    def _end_warmup(self) -> None:
        pass

    def _position(self) -> torch.Tensor:
        raise NotImplementedError

    def _extra_diagnostics(self) -> dict[str, float]:
        return {}

    def _chains(self, target: Counter) -> int:
        """How many chains to run: :func:`chain_count` at the cost of one transition of one
        chain (:meth:`_chain_transition_cost`)."""
        c = self.config
        cost = self._chain_transition_cost()
        return chain_count(target, c.n_chains, c.min_transitions, cost, self._least_chains(target))

    def _least_chains(self, target: Counter) -> int:
        """The fewest chains under a budget: each gives at most
        :data:`MAX_DRAWS_PER_CHAIN` of the draws (so that the draws spread over modes)."""
        return math.ceil((target.n_samples or 1) / MAX_DRAWS_PER_CHAIN)

    def _chain_transition_cost(self) -> float:
        """Expected budget units of one transition of one chain (a gradient row)."""
        return unit_cost(self.target, grad=1)

    def _size_to_budget(self, target: Counter) -> None:
        """Set per-transition factors from the budget before the chains are counted (HMC's
        trajectory length, PT's ladder; nothing here)."""

    def _start_cost(self) -> float:
        """Budget units :meth:`_start` spends (an energy and a gradient per chain)."""
        return unit_cost(self.target, grad=self.n_chains)

    def _transition_cost(self) -> float:
        """Expected budget units of one transition (one gradient row per chain)."""
        return unit_cost(self.target, grad=self.n_chains)

    def _max_transition_cost(self) -> float:
        """Budget units one transition can cost at most (its expected cost when fixed)."""
        return self._transition_cost()

    def _initial(self, n: int) -> torch.Tensor:
        """Starting points of n chains: the suite's broad initial distribution."""
        return initial_points(self.target, n, self.gen)

    # shared loop ------------------------------------------------------------------
    def fit(self, target: Counter, *, seed: int) -> None:
        c = self.config
        c.validate()
        self.target = target
        self.gen = generator(seed)
        self._size_to_budget(target)
        self.n_chains = self._chains(target)
        budgeted = has_budget(target)
        if budgeted:
            self._check_budget(target)
        self._start(self._initial(self.n_chains))
        self.warmup_planned = c.warmup
        # transitions, Σ cost, Σ cost², largest cost (budget units)
        self._cost_stats = [0, 0.0, 0.0, 0.0]
        i = 0
        while i < self.warmup_planned:
            if budgeted and i >= PLAN_AFTER and not self._can_afford(1, production=True):
                break  # costs ran above the plan: keep what production needs
            i += 1
            self.warmup_done = i
            self._count("train", self._measured_transition(adapt=True))
            if _is_checkpoint(i):
                self._snapshot(self._position(), "train")
            if i == min(PLAN_AFTER, c.warmup) and budgeted:
                self.warmup_planned = i + self._budget_warmup(target)
        self._end_warmup()

    def _check_budget(self, target: Counter) -> None:
        """Raise BudgetExceeded, before any evaluation, when the budget cannot pay for the
        start, the first warm-up transitions and one transition per round of draws."""
        rounds = self._rounds(target.n_samples)
        steps = min(PLAN_AFTER, self.config.warmup) + rounds
        need = self._start_cost() + steps * self._transition_cost()
        if need > target.remaining:
            n = target.n_samples or self.n_chains
            raise BudgetExceeded(
                f"a budget of {target.budget:g} cannot pay for {n} samples from "
                f"{self.n_chains} chains: the start, {min(PLAN_AFTER, self.config.warmup)} "
                f"warm-up transitions and {rounds} production transitions cost about "
                f"{need:g} (left: {target.remaining:g})"
            )

    def _measured_transition(self, adapt: bool) -> torch.Tensor:
        """One transition, its cost added to the per-transition cost statistics."""
        before = self.target.used
        moved = self._transition(adapt=adapt)
        cost = self.target.used - before
        stats = self._cost_stats
        stats[0], stats[1], stats[2] = stats[0] + 1, stats[1] + cost, stats[2] + cost**2
        stats[3] = max(stats[3], cost)
        return moved

    def _rounds(self, n: int | None) -> int:
        return math.ceil((n or self.n_chains) / self.n_chains)

    def _mean_cost(self) -> float:
        count, total = self._cost_stats[:2]
        return total / count

    def _expected(self, k: int) -> float:
        """A cautious cost of k more transitions: k × mean + 3 √k × sd of the measured
        per-transition costs (which vary for HMC's random trajectory lengths)."""
        count, total, squares = self._cost_stats[:3]
        mean = total / count
        var = (squares - count * mean**2) / (count - 1) if count > 1 else 0.0
        return k * mean + 3.0 * math.sqrt(k * max(var, 0.0))

    def _can_afford(self, k: int, production: bool = False) -> bool:
        """Whether k more transitions (plus production at thin 1, if asked) fit in what is
        left of the budget after its margin."""
        rounds = self._rounds(self.target.n_samples) if production else 0
        need = self._expected(k + rounds)
        return need <= affordable(self.target, 1.0)

    def _budget_warmup(self, target: Counter) -> int:
        """Further warm-up transitions under the budget: a share of what is left after
        reserving production at thin 1."""
        production = self._expected(self._rounds(target.n_samples))
        free = affordable(target, self._mean_cost(), reserve=production)
        return int(WARMUP_SHARE * free)

    def _thin(self, rounds_left: int) -> int:
        """Transitions before the next draw: the config's ``thin``, or under a budget the
        most that leaves every remaining round at least as many (re-planned each round)."""
        if not (has_budget(self.target) and self._cost_stats[0]):
            return self.config.thin
        left = affordable(self.target, 1.0)
        thin = max(1, int(left / (rounds_left * self._mean_cost())))
        while thin > 1 and self._expected(rounds_left * thin) > left:
            thin -= 1
        return thin

    def sample(self, n: int) -> torch.Tensor:
        draws = []
        rounds = math.ceil(n / self.n_chains)
        self._moves = torch.zeros(self.n_chains)
        self.production_transitions = 0
        for r in range(1, rounds + 1):
            steps = self._thin(rounds - r + 1)
            for _ in range(steps):
                self._production_transition()
            while r == rounds and self._one_more_fits():
                self._production_transition()  # the last round spends what is left
            draws.append(self._position().clone())
            if _is_checkpoint(r) or r == rounds:
                self._snapshot(torch.cat(draws), "sample")
        self.draws = torch.stack(draws, dim=1)  # [chains, rounds, d]
        return torch.cat(draws)[:n]

    def _production_transition(self) -> None:
        self._count("sample", self._measured_transition(adapt=False))
        self.production_transitions += 1

    def _one_more_fits(self) -> bool:
        """Under a budget, whether one more transition surely fits in what is left: its
        cost bound (:meth:`_max_transition_cost`, or the dearest one measured) is left."""
        if not (has_budget(self.target) and self._cost_stats[0]):
            return False
        bound = max(self._max_transition_cost(), self._cost_stats[3])
        return bound <= self.target.remaining

    def _count(self, phase: str, moved: torch.Tensor | float) -> None:
        """Add a transition's moves: the mask [n_chains] of chains that moved (or, from a
        subclass that keeps its own per-chain record, just their number)."""
        if isinstance(moved, torch.Tensor):
            if phase == "sample" and self._moves is not None:
                self._moves += moved.float()
            moved = float(moved.sum())
        self._accepted[phase] += moved
        self._proposed[phase] += self.n_chains

    def _snapshot(self, x: torch.Tensor, phase: str) -> None:
        if self.config.snapshots:
            self.snapshots.append(Snapshot.of(self.target.counts, x, phase))

    def diagnostics(self) -> dict[str, float]:
        """Acceptance rates (warm-up and production), the share of chains that never moved
        in production (``frozen_fraction``) and the lowest production acceptance rate of
        any chain (``acceptance_chain_min``), bulk ESS (minimum over dimensions) and
        R-hat (maximum over dimensions) of the production draws, plus the method's own."""
        out = {
            f"acceptance_{p}": self._accepted[p] / self._proposed[p]
            for p in ("train", "sample")
            if self._proposed[p]
        }
        if self._moves is not None and self.production_transitions:
            out["frozen_fraction"] = float((self._moves == 0).float().mean())
            out["acceptance_chain_min"] = float(self._moves.min()) / self.production_transitions
        out["chains"] = float(self.n_chains)
        if self.draws is not None:
            out.update(ess_rhat(self.draws.double().cpu().numpy()))
        out.update(self._extra_diagnostics())
        return out
