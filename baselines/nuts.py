"""The No-U-Turn Sampler (NUTS), batched over independent chains.

Multinomial NUTS with the generalized no-U-turn criterion as in Stan (Hoffman & Gelman
2014; Betancourt 2017, "A Conceptual Introduction to Hamiltonian Monte Carlo", appendix A),
including Stan's extra checks across the seam of two merged subtrees. Trees are built by
iterative doubling synchronised across chains: at doubling j every chain still building
draws a direction and integrates a new subtree of 2^j leapfrog steps, one leaf at a time;
each leaf evaluates only the rows of chains whose tree is still valid, so the counted
evaluations are exactly the leapfrog steps taken.

Warm-up as Stan's windowed adaptation: per-chain dual averaging of the step size toward
``target_accept`` throughout, and a diagonal inverse mass matrix (the variance of the
chains' points, pooled over chains) estimated at the end of slow windows of doubling
length (25, 50, 100, ... after an initial buffer of 75 transitions, with a terminal buffer
of 50; scaled 15 % / 75 % / 10 % for short warm-ups). After every metric update the step
size is re-initialised by Stan's doubling/halving heuristic and dual averaging restarts.

Chains: the chain-count rule of :mod:`boltzbench.baselines.mcmc` (at most ``n_chains``,
each at least ``min_transitions`` transitions) at a measured cost per transition: under a
budget a pilot of :data:`PILOT_CHAINS` chains runs :data:`PLAN_AFTER` warm-up transitions
from the broad start first (charged to training, then discarded), and the mean tree of its
last transitions prices one transition. Early trees are longer than tuned ones (on ``aldp``
290 leapfrog steps in warm-up against 7 in production), so the estimate errs toward fewer,
longer chains.

Layout: this module holds the settings (:class:`NUTSConfig`), the warm-up windows and the
registered sampler with its warm-up, budget plan and production; the transition kernel
(tree building, the U-turn criterion) is in :mod:`boltzbench.baselines.nuts_tree`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

import torch
from boltzbench.baselines.mcmc import (
    PLAN_AFTER,
    WARMUP_SHARE,
    ChainConfig,
    ChainMethod,
    DualAveraging,
    _is_checkpoint,
    chain_count,
)
from boltzbench.baselines.nuts_tree import NUTSKernel, adaptation_windows  # noqa: F401

from boltzbench.budget import MARGIN, affordable, has_budget, unit_cost
from boltzbench.counter import BudgetExceeded, Counter
from boltzbench.registry import register_method
from boltzbench.rng import generator

#: warm-up transitions whose costs estimate a production transition's (the latest ones)
COST_WINDOW = 20
#: chains of the pilot run that prices a transition for the chain-count rule, the pilot's
#: latest transitions that are averaged, and the offset of its seed from the cell's
PILOT_CHAINS = 4
PILOT_WINDOW = 5
PILOT_SEED = 7_919_000


@dataclass
class NUTSConfig(ChainConfig):
    """NUTS settings; see :class:`ChainConfig` (``warmup`` and ``thin`` count NUTS
    transitions, each costing its tree's leapfrog steps in gradients per chain).

    Attributes:
        n_chains: chains in parallel without a budget, and at most under one.
        min_transitions: the chain-count rule's transitions per chain (above its floor
            of one chain per 30 draws). Enough for Stan's windows: warm-up is about half
            of a chain's transitions, three metric updates need 300 of it, and the pilot
            prices a transition low where tuned trees grow (``pdb_blr``: 4–8 leapfrog
            steps against 8.6 in warm-up). With 300, ``pdb_blr`` at 3e5 ran 95–200
            chains of about 140 warm-up transitions, no metric update, step 0.002, and
            four of five seeds had no overlap (64 fixed chains: three updates, all at
            the floor). At the quick budgets 300 gave 62 chains on banana (MMD_multi
            0.0025) where 30 gave 200 (0.0073); see
            docs/investigations/chain_and_batch_sizing.md.
        warmup: warm-up transitions per chain (Stan-like windows are laid out on it).
            Under a budget it is an upper bound: after ``PLAN_AFTER`` transitions the
            length is set to half of what is left once production at thin 1 (at the
            measured cost per transition) is reserved; the rest goes to thinning.
        step_size: initial step, relative to init_std; with ``warmup`` > 0 it is only the
            starting point of Stan's step-size heuristic, then of dual averaging.
        target_accept: dual-averaging target for the mean Metropolis acceptance
            probability over each tree's leapfrog states (Stan's ``adapt_delta``).
        max_depth: tree-depth cap: at most 2^max_depth − 1 leapfrog steps per transition.
        max_delta_h: a leapfrog state whose energy error H − H0 exceeds it (or is not
            finite) makes the trajectory divergent: its subtree is discarded and the tree
            stops (Stan's 1000).
        adapt_metric: estimate a diagonal mass matrix in the slow windows (False: identity).
    """

    n_chains: int = 200
    warmup: int = 500
    min_transitions: int = 1000
    thin: int = 1
    target_accept: float = 0.8
    step_size: float = 0.1
    max_depth: int = 10
    max_delta_h: float = 1000.0
    adapt_metric: bool = True

    def validate(self) -> None:
        super().validate()
        if self.step_size <= 0 or self.max_depth < 1 or self.max_delta_h <= 0:
            raise ValueError(f"invalid NUTS settings in {self}")


@register_method("nuts")
class NUTS(NUTSKernel, ChainMethod):
    """Multinomial NUTS with the generalized U-turn criterion, per-chain step sizes and a
    diagonal mass matrix tuned in Stan-like windows (see the module docstring).

    A transition draws p ~ N(0, M) and doubles the trajectory forward or backward at random
    until the generalized criterion (with Stan's extra checks) sees a U-turn, a subtree
    diverges, or the tree reaches ``max_depth``; the new point is drawn from the trajectory
    with probabilities ∝ exp(−H) (uniform progressive sampling inside a subtree, biased
    toward the newest subtree at each doubling). Cost: one gradient (with the energy at the
    same row) per leapfrog step per chain, plus one per chain at the start and a few per
    chain for each step-size initialisation in warm-up.

    Budget: the cheapest production (one leapfrog step per transition) must fit or ``fit``
    fails before any evaluation. After ``PLAN_AFTER`` warm-up transitions the warm-up
    length is set to half of what is left after reserving production at the measured cost
    (capped at ``warmup``); production spends the rest on thinning. A doubling whose worst
    case (every chain still building takes all 2^j steps) would eat into what the remaining
    work needs at one step per transition is not started: the tree stops there (counted as
    ``budget_capped``), so the counter is never overrun.
    """

    Config = NUTSConfig
    config: NUTSConfig
    _pilot = False  # a pilot run counts no chains of its own

    # ------------------------------------------------------------------ fit
    def fit(self, target: Counter, *, seed: int) -> None:
        c = self.config
        c.validate()
        self.target = target
        self.gen = generator(seed)
        self._unit = unit_cost(target, grad=1)
        self.n_chains = self._count_chains(target, seed)
        self._fail_if_unaffordable()
        n = self.n_chains
        self.h = torch.full((n,), c.step_size * float(target.init_std))
        self.inv_mass = torch.ones(target.dim)
        self._to_go: int | None = None  # production transitions left (None in warm-up)
        self._costs: list[float] = []  # budget units of each warm-up transition
        self._stats = {
            p: {"transitions": 0, "depth": 0.0, "steps": 0.0, "divergent": 0, "max_depth": 0}
            for p in ("train", "sample")
        }
        self.leapfrog_steps = {"train": 0, "sample": 0}
        self.search_steps = 0  # step-size heuristic leapfrog steps (warm-up)
        self.budget_capped = 0
        self.metric_updates = 0
        x0 = self._initial(n)
        self.state = (x0, *target.energy_and_score(x0))
        self._moved = torch.zeros(n, dtype=torch.bool)
        warmup = c.warmup
        if warmup > 0:
            self._find_step_size()
        self.adapter = DualAveraging(self.h, c.target_accept)
        self._windows = adaptation_windows(warmup) if c.adapt_metric else []
        self._collected: list[tuple[int, torch.Tensor]] = []
        budgeted = has_budget(target)
        i = 0
        while i < warmup:
            if budgeted and i >= PLAN_AFTER and self._over_plan():
                break  # costs ran above the plan: keep what production needs
            self._i = i
            self._count("train", self._transition(adapt=True))
            i += 1
            if _is_checkpoint(i):
                self._snapshot(self._position(), "train")
            if budgeted and i == min(PLAN_AFTER, warmup):
                planned = min(warmup, i + self._planned_warmup())
                if planned < warmup:
                    warmup = planned
                    self._windows = adaptation_windows(warmup) if c.adapt_metric else []
        self._end_warmup(i)

    def _count_chains(self, target: Counter, seed: int) -> int:
        """The chain-count rule at the cost of one transition of one chain, measured by a
        pilot run under a budget (see the module docstring); ``n_chains`` without one."""
        c = self.config
        self.pilot_evals = 0.0
        if not has_budget(target) or self._pilot:
            return c.n_chains
        draws = getattr(target, "n_samples", None) or c.n_chains
        if draws * self._unit > target.remaining - MARGIN * target.budget:
            raise BudgetExceeded(
                f"nuts: {draws} draws need at least {draws * self._unit:g} budget units (one "
                f"leapfrog step each), more than the budget of {target.budget:g} less a margin"
            )
        k = min(PILOT_CHAINS, c.n_chains)
        pilot = NUTS(replace(c, n_chains=k, warmup=PLAN_AFTER, snapshots=False))
        pilot._pilot = True
        before = target.used
        pilot.fit(target, seed=seed + PILOT_SEED)
        self.pilot_evals = target.used - before
        recent = pilot._costs[-PILOT_WINDOW:]
        per_chain = max(sum(recent) / len(recent) / k, self._unit)
        return chain_count(
            target, c.n_chains, c.min_transitions, per_chain, self._least_chains(target)
        )

    def _fail_if_unaffordable(self) -> None:
        """Raise BudgetExceeded before any evaluation when the budget cannot pay for the
        starting points and the cheapest production (one leapfrog step per transition)."""
        t = self.target
        if not has_budget(t):
            return
        need = self.n_chains * (1 + self._production_rounds()) * self._unit
        if need > t.remaining - MARGIN * t.budget:
            rounds = self._production_rounds()
            raise BudgetExceeded(
                f"nuts: {rounds} rounds of {self.n_chains} chains need at least "
                f"{need:g} budget units (one leapfrog step per transition), more than "
                f"the {t.remaining:g} left after the pilot, less a margin of {MARGIN:g}"
            )

    def _end_warmup(self, done: int) -> None:
        if done > 0:
            self.h = self.adapter.final
        self._collected = []

    # budget planning -----------------------------------------------------------------
    def _production_rounds(self) -> int:
        """Production rounds (one draw per chain each) for the samples the cell asks for."""
        n = getattr(self.target, "n_samples", None) or self.n_chains
        return math.ceil(n / self.n_chains)

    def _mean_cost(self) -> float:
        recent = self._costs[-COST_WINDOW:]
        return max(sum(recent) / len(recent), self.n_chains * self._unit)

    def _expected(self, k: int) -> float:
        """A cautious cost of k more transitions: k × mean + 3 √k × sd of the latest
        ``COST_WINDOW`` warm-up transitions' costs (costs fall as the tuning improves, so
        only the recent ones predict production)."""
        recent = torch.tensor(self._costs[-COST_WINDOW:], dtype=torch.float64)
        sd = float(recent.std()) if recent.numel() > 1 else 0.0
        return k * float(recent.mean()) + 3.0 * math.sqrt(k) * sd

    def _over_plan(self) -> bool:
        """Whether one more warm-up transition and production at thin 1 no longer fit."""
        return self._expected(1 + self._production_rounds()) > affordable(self.target, 1.0)

    def _planned_warmup(self) -> int:
        """Further warm-up transitions under the budget: a share of what is left after
        reserving production at thin 1 at the measured cost."""
        production = self._expected(self._production_rounds())
        free = affordable(self.target, self._mean_cost(), reserve=production)
        return int(WARMUP_SHARE * free)

    def _spendable(self) -> float:
        """Budget units the current tree may still spend: what is left after the rest of
        the run's cheapest work (production at one step per transition, and in warm-up
        the budget's margin)."""
        t = self.target
        if not has_budget(t):
            return math.inf
        n = self.n_chains
        if self._to_go is None:  # warm-up
            reserve = n * self._production_rounds() * self._unit + MARGIN * t.budget
        else:
            reserve = n * self._to_go * self._unit
        return t.remaining - reserve

    # ------------------------------------------------------------------ sample
    def sample(self, n: int) -> torch.Tensor:
        """n draws: every chain's state after each round of ``thin`` transitions, round by
        round. Under a budget the thinning of each round is set from what is left of it
        and the production cost measured so far (at first the cautious warm-up estimate),
        so the rounds spread the budget evenly and the last ones absorb the error."""
        c = self.config
        rounds = math.ceil(n / self.n_chains)
        budgeted = has_budget(self.target) and bool(self._costs)
        draws, thins = [], []
        spent, done = 0.0, 0  # production cost and transitions so far
        for r in range(1, rounds + 1):
            thin = self._round_thin(rounds - r + 1, spent, done) if budgeted else c.thin
            thins.append(thin)
            for t in range(thin):
                self._to_go = (thin - t - 1) + (rounds - r)  # transitions after this one
                before = self.target.used
                self._count("sample", self._transition(adapt=False))
                spent, done = spent + self.target.used - before, done + 1
            draws.append(self._position().clone())
            if _is_checkpoint(r) or r == rounds:
                self._snapshot(torch.cat(draws), "sample")
        self.thin_used = sum(thins) / len(thins)
        self.draws = torch.stack(draws, dim=1)  # [chains, rounds, d]
        return torch.cat(draws)[:n]

    def _round_thin(self, rounds_left: int, spent: float, done: int) -> int:
        """Transitions in the next round so that ``rounds_left`` rounds fit in what is left
        of the budget (after its margin)."""
        left = affordable(self.target, 1.0)
        if done == 0:
            thin = max(1, int(left / (rounds_left * self._mean_cost())))
            while thin > 1 and self._expected(rounds_left * thin) > left:
                thin -= 1
            return thin
        per_transition = max(spent / done, self.n_chains * self._unit)
        return max(1, int(left / (rounds_left * per_transition)))

    # ------------------------------------------------------------------ step size (warm-up)
    def _find_step_size(self) -> None:
        """Stan's step-size initialisation, per chain: double (or halve) the step while one
        leapfrog step from the chain's point, with fresh momentum, keeps (or fails to keep)
        an acceptance probability above 0.8. Counted leapfrog steps; at most 40 rounds."""
        x, e, s = self.state
        n = x.shape[0]
        direction = torch.zeros(n)
        searching = torch.ones(n, dtype=torch.bool)
        for it in range(40):
            idx = searching.nonzero().squeeze(1)
            if idx.numel() == 0 or idx.numel() * self._unit > self._spendable():
                break
            p = self._momentum(torch.Size((idx.numel(), x.shape[1])))
            h = self.h[idx]
            _, p1, e1, _ = self._leapfrog(x[idx], p, s[idx], h[:, None])
            self.search_steps += idx.numel()
            delta = (e[idx] + self._kinetic(p)) - (e1 + self._kinetic(p1))
            good = torch.nan_to_num(delta, nan=-math.inf) > math.log(0.8)
            if it == 0:
                direction[idx] = torch.where(good, 1.0, -1.0)
            d = direction[idx]
            done = ((d > 0) & ~good) | ((d < 0) & good)
            self.h[idx] = torch.where(done, h, h * 2.0**d)
            searching[idx] = ~done

    # ------------------------------------------------------------------ adaptation
    def _adapt(self, accept: torch.Tensor) -> None:
        """Per-chain dual averaging; collect points in slow windows; at a window's end,
        set the inverse metric to their regularised variance (pooled over chains),
        re-initialise the step sizes and restart dual averaging (Stan's order)."""
        i = self._i
        self.h = self.adapter.update(accept)
        window = next(((a, b) for a, b in self._windows if a <= i < b), None)
        if window is not None or i < PLAN_AFTER:  # early points: windows may move at the plan
            self._collected.append((i, self.state[0].clone()))
        if window is not None and i == window[1] - 1:
            pts = torch.cat([x for j, x in self._collected if j >= window[0]]).double()
            m = pts.shape[0]
            var = pts.var(0)
            self.inv_mass = ((m / (m + 5.0)) * var + 1e-3 * (5.0 / (m + 5.0))).float()
            self.metric_updates += 1
            self._collected = []
            self._find_step_size()
            self.adapter = DualAveraging(self.h, self.config.target_accept)

    # ------------------------------------------------------------------ diagnostics
    def _record(self, phase: str, depth, steps, divergent) -> None:
        st = self._stats[phase]
        st["transitions"] += depth.numel()
        st["depth"] += float(depth.sum())
        st["steps"] += float(steps.sum())
        st["divergent"] += int(divergent.sum())
        st["max_depth"] += int((depth >= self.config.max_depth).sum())
        self.leapfrog_steps[phase] += int(steps.sum())

    def _position(self) -> torch.Tensor:
        return self.state[0]

    def _extra_diagnostics(self) -> dict[str, float]:
        h = self.h
        out = {
            "step_size": float(h.median()),
            "step_size_min": float(h.min()),
            "step_size_max": float(h.max()),
            "inv_mass_mean": float(self.inv_mass.mean()),
            "metric_updates": float(self.metric_updates),
            "budget_capped": float(self.budget_capped),
            "pilot_evals": float(self.pilot_evals),
        }
        for phase, st in self._stats.items():
            if st["transitions"]:
                t = st["transitions"]
                out[f"tree_depth_{phase}"] = st["depth"] / t
                out[f"leapfrog_per_transition_{phase}"] = st["steps"] / t
                out[f"divergences_{phase}"] = float(st["divergent"])
                out[f"max_depth_fraction_{phase}"] = st["max_depth"] / t
        if self._stats["sample"]["transitions"]:
            out["frozen_fraction"] = float((~self._moved).float().mean())
        return out
