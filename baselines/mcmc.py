"""Shared machinery of the MCMC baselines.

- :func:`initial_points`: the suite's broad initial distribution N(0, init_std² I), the
  same for every method that starts from noise (never the exact sampler or the reference).
- :class:`DualAveraging`: step-size adaptation toward a target acceptance rate, elementwise
  over a tensor of step sizes (one per chain, or one per temperature).
- :func:`mala_step`: one batched (optionally tempered, optionally preconditioned by a
  diagonal or dense mass matrix) MALA transition through the counter.
- :class:`MassMatrixEstimator`: pooled running covariance of the chains' points and the
  regularised mass matrix Stan takes from it.
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
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from boltzbench.baselines.diagnostics import ess_rhat

from boltzbench.budget import affordable, has_budget, unit_cost
from boltzbench.counter import BudgetExceeded, Counter
from boltzbench.protocols import Snapshot
from boltzbench.rng import generator

#: mass-matrix adaptation: a chain's mean energy may exceed the median chain's by this
#: many times d and still count as in the bulk (:class:`MassMatrixEstimator`)
BULK_ENERGY_MARGIN = 1.0
#: under a budget: warm-up transitions measured before the plan is made, and the share of
#: the budget left after the cheapest production that goes to warm-up (the rest thins)
PLAN_AFTER = 10
WARMUP_SHARE = 0.5


def initial_points(target: Counter, n: int, gen: torch.Generator) -> torch.Tensor:
    """n draws from N(0, init_std² I), [n, d] float32."""
    return float(target.init_std) * torch.randn(n, target.dim, generator=gen)


class DualAveraging:
    """Nesterov dual averaging of log step sizes (Hoffman & Gelman 2014, Alg. 5).

    Works elementwise on a tensor of step sizes (one per chain in MALA and HMC, one per
    temperature in parallel tempering). :meth:`update` takes the acceptance probabilities
    of the last transition (same shape as the step sizes) and returns the next step sizes;
    :attr:`final` is the averaged iterate to freeze after warm-up. The log step stays
    within ``max_log_change`` of its shrinkage point log(10 h0), so that a chain whose
    every proposal is accepted (a flat direction) cannot grow its step to overflow;
    ``max_log_shrink`` (default: the same) bounds it from below.
    """

    def __init__(
        self,
        h0: torch.Tensor,
        target_accept: float,
        gamma: float = 0.05,
        t0: float = 10.0,
        kappa: float = 0.75,
        max_log_change: float = 20.0,
        max_log_shrink: float | None = None,
    ) -> None:
        self.mu = torch.log(10 * h0)
        self.target = target_accept
        self.gamma, self.t0, self.kappa = gamma, t0, kappa
        self.max_log_change = max_log_change
        self.max_log_shrink = max_log_change if max_log_shrink is None else max_log_shrink
        self.t = 0
        self.h_avg = torch.zeros_like(h0)
        self.log_h = torch.log(h0)
        self.log_h_bar = torch.log(h0)

    def update(self, accept_prob: torch.Tensor) -> torch.Tensor:
        self.t += 1
        eta = 1.0 / (self.t + self.t0)
        self.h_avg = (1 - eta) * self.h_avg + eta * (self.target - accept_prob)
        log_h = self.mu - math.sqrt(self.t) / self.gamma * self.h_avg
        lo, hi = self.mu - self.max_log_shrink, self.mu + self.max_log_change
        self.log_h = torch.minimum(torch.maximum(log_h, lo), hi)
        w = self.t ** (-self.kappa)
        self.log_h_bar = w * self.log_h + (1 - w) * self.log_h_bar
        return self.log_h.exp()

    @property
    def final(self) -> torch.Tensor:
        return self.log_h_bar.exp()


def _finite_log_alpha(log_alpha: torch.Tensor) -> torch.Tensor:
    return torch.where(torch.isnan(log_alpha), -torch.inf, log_alpha)


def mala_step(
    target: Counter,
    state: tuple[torch.Tensor, torch.Tensor, torch.Tensor],
    h: torch.Tensor | float,
    gen: torch.Generator,
    beta: torch.Tensor | float = 1.0,
    chol: torch.Tensor | None = None,
) -> tuple[tuple[torch.Tensor, torch.Tensor, torch.Tensor], torch.Tensor, torch.Tensor]:
    """One MALA transition for π_β ∝ exp(−β E) on a batch of chains.

    Proposal y = x + h β Σ s(x) + sqrt(2h) L ξ with Σ = L Lᵀ the inverse mass matrix
    (identity by default), Metropolis–Hastings correction. One energy and one gradient
    evaluation per chain (the current point's are carried in ``state``).

    Args:
        state: (x [n, d], E(x) [n], ∇log π(x) = −∇E(x) [n, d]) of the *untempered* target.
        h: step size, a float or [n, 1] (in the units of z = L⁻¹x when ``chol`` is given).
        beta: inverse temperature, a float or [n, 1].
        chol: None (Σ = I), per-coordinate scales [d] (Σ = diag(chol²)) or the lower
            Cholesky factor L [d, d] of a dense Σ; in x's dtype. The transition is then
            plain MALA on z = L⁻¹x, computed without solving for z.

    Returns:
        (new state, acceptance probabilities [n], accepted mask [n]).
    """
    if chol is not None:
        return _preconditioned_mala_step(target, state, h, gen, beta, chol)
    x, e, s = state
    b = beta if isinstance(beta, float) else beta.squeeze(-1)
    noise = torch.randn(x.shape, generator=gen)
    y = x + h * beta * s + torch.sqrt(torch.as_tensor(2.0 * h)) * noise
    ey, sy = target.energy_and_score(y)
    fwd = ((y - x - h * beta * s) ** 2).sum(1)
    bwd = ((x - y - h * beta * sy) ** 2).sum(1)
    return _metropolis(state, (y, ey, sy), b * (e - ey), fwd - bwd, h, gen)


def _preconditioned_mala_step(
    target: Counter,
    state: tuple[torch.Tensor, torch.Tensor, torch.Tensor],
    h: torch.Tensor | float,
    gen: torch.Generator,
    beta: torch.Tensor | float,
    chol: torch.Tensor,
) -> tuple[tuple[torch.Tensor, torch.Tensor, torch.Tensor], torch.Tensor, torch.Tensor]:
    """:func:`mala_step` with Σ = L Lᵀ: MALA on z = L⁻¹x, whose score is Lᵀ s(x).

    With u = h β Lᵀs(x) + sqrt(2h) ξ the move in z (y = x + L u), the forward residual is
    sqrt(2h) ξ and the backward one −u − h β Lᵀs(y)."""
    x, e, s = state
    b = beta if isinstance(beta, float) else beta.squeeze(-1)

    def whiten(v: torch.Tensor) -> torch.Tensor:  # rows v ↦ (Lᵀ v)ᵀ = v L
        return v * chol if chol.dim() == 1 else v @ chol

    def color(u: torch.Tensor) -> torch.Tensor:  # rows u ↦ (L u)ᵀ = u Lᵀ
        return u * chol if chol.dim() == 1 else u @ chol.T

    noise = torch.randn(x.shape, generator=gen)
    drift = h * beta * whiten(s)
    u = drift + torch.sqrt(torch.as_tensor(2.0 * h)) * noise
    y = x + color(u)
    ey, sy = target.energy_and_score(y)
    fwd = ((u - drift) ** 2).sum(1)
    bwd = ((u + h * beta * whiten(sy)) ** 2).sum(1)
    return _metropolis(state, (y, ey, sy), b * (e - ey), fwd - bwd, h, gen)


def _metropolis(
    state: tuple[torch.Tensor, torch.Tensor, torch.Tensor],
    proposal: tuple[torch.Tensor, torch.Tensor, torch.Tensor],
    log_target_ratio: torch.Tensor,
    residual_diff: torch.Tensor,
    h: torch.Tensor | float,
    gen: torch.Generator,
) -> tuple[tuple[torch.Tensor, torch.Tensor, torch.Tensor], torch.Tensor, torch.Tensor]:
    """The MALA accept step shared by both proposals: log α = log π(y)/π(x) +
    (‖forward residual‖² − ‖backward residual‖²)/(4h), per row; returns (new state,
    acceptance probabilities [n], accepted mask [n])."""
    hh = h if isinstance(h, float) else h.squeeze(-1)
    log_alpha = _finite_log_alpha(log_target_ratio + residual_diff / (4 * hh))
    accept_prob = log_alpha.clamp(max=0.0).exp()
    accept = torch.rand(state[0].shape[0], generator=gen) < accept_prob
    new = tuple(
        torch.where(accept[:, None] if old.dim() == 2 else accept, prop, old)
        for old, prop in zip(state, proposal, strict=True)
    )
    return new, accept_prob, accept


class MassMatrixEstimator:
    """Running mean and covariance (or per-coordinate variance) of each chain's points
    (Welford's update, float64), with each chain's mean energy; :meth:`factor` pools the
    chains in the bulk and returns the regularised inverse mass matrix Stan takes from
    them: Σ = m/(m+5) Σ̂ + 10⁻³ · 5/(m+5) I, with m the number of points pooled.

    A chain is in the bulk when its mean energy is at most the median chain's plus
    :data:`BULK_ENERGY_MARGIN` × d (a d-dimensional Gaussian's energy has sd sqrt(d/2)):
    a chain still far out in the tails (from the broad start, energies of 10¹¹ on
    ``pdb_diamonds``) would otherwise make Σ's widest direction point at it and its
    condition number 10³ times too large. At least half of the chains are pooled."""

    def __init__(self, n_chains: int, dim: int, dense: bool) -> None:
        self.dense = dense
        self.count = torch.zeros(n_chains, dtype=torch.float64)
        self.mean = torch.zeros(n_chains, dim, dtype=torch.float64)
        shape = (n_chains, dim, dim) if dense else (n_chains, dim)
        self.m2 = torch.zeros(shape, dtype=torch.float64)
        self.energy = torch.zeros(n_chains, dtype=torch.float64)

    def add(self, x: torch.Tensor, energy: torch.Tensor) -> None:
        """Add one point per chain, x [n_chains, d] with its energy [n_chains]; chains
        whose point or energy is not finite skip it."""
        x = x.detach().to(torch.float64)
        energy = energy.detach().to(torch.float64)
        ok = (torch.isfinite(x).all(1) & torch.isfinite(energy)).to(torch.float64)
        x = torch.where(ok[:, None] > 0, x, self.mean)
        self.count += ok
        n = self.count.clamp(min=1.0)
        delta = x - self.mean
        self.mean += delta * (ok / n)[:, None]
        after = x - self.mean
        if self.dense:
            self.m2 += ok[:, None, None] * delta[:, :, None] * after[:, None, :]
        else:
            self.m2 += ok[:, None] * delta * after
        e = torch.where(ok > 0, energy, self.energy)
        self.energy += (e - self.energy) * ok / n

    def bulk(self) -> torch.Tensor:
        """Mask [n_chains] of the chains pooled (see the class docstring)."""
        seen = self.count > 0
        if not bool(seen.any()):
            return seen
        median = self.energy[seen].median()
        return seen & (self.energy <= median + BULK_ENERGY_MARGIN * self.mean.shape[1])

    def factor(self) -> torch.Tensor | None:
        """L with Σ = L Lᵀ ([d, d] lower triangular; [d] scales when diagonal), float64,
        or None when fewer than 2 points were pooled or Σ is not positive definite."""
        keep = self.bulk()
        counts = self.count[keep]
        m = float(counts.sum())
        if m < 2:
            return None
        means = self.mean[keep]
        pooled = (counts[:, None] * means).sum(0) / m
        dev = means - pooled
        if self.dense:
            between = (counts[:, None, None] * dev[:, :, None] * dev[:, None, :]).sum(0)
        else:
            between = (counts[:, None] * dev**2).sum(0)
        cov = (self.m2[keep].sum(0) + between) / (m - 1)
        shrink = 5.0 / (m + 5.0)
        if self.dense:
            cov = (1 - shrink) * cov + 1e-3 * shrink * torch.eye(cov.shape[0], dtype=cov.dtype)
            chol, info = torch.linalg.cholesky_ex(cov)
            ok = int(info) == 0 and bool(torch.isfinite(chol).all())
            return chol if ok else None
        var = (1 - shrink) * cov + 1e-3 * shrink
        ok = bool(torch.isfinite(var).all() and (var > 0).all())
        return var.sqrt() if ok else None


def mixed_steps(h: torch.Tensor, p_other: float, gen: torch.Generator) -> torch.Tensor:
    """Per-chain step sizes for one production transition: each chain keeps its own step
    ``h[i]`` with probability 1 − ``p_other``, else takes the step of a chain drawn
    uniformly at random. The draw does not depend on the chains' points, so every chain's
    transition is a fixed mixture of kernels that each leave the target invariant.

    Args:
        h: frozen per-chain step sizes, [n].

    Returns:
        [n] step sizes.
    """
    n = h.shape[0]
    if p_other <= 0.0 or n < 2:
        return h
    other = torch.rand(n, generator=gen) < p_other
    picks = torch.randint(0, n, (n,), generator=gen)
    return torch.where(other, h[picks], h)


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
        target_accept: acceptance rate the step-size adaptation aims at.
        snapshots: record snapshots for quality-against-cost curves (no evaluations).
    """

    n_chains: int = 200
    warmup: int = 1000
    thin: int = 10
    target_accept: float = 0.574
    snapshots: bool = True

    def validate(self) -> None:
        if self.n_chains < 1 or self.warmup < 0 or self.thin < 1:
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
        """How many chains to run (the config's ``n_chains``)."""
        return self.config.n_chains

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
        if self.draws is not None:
            out.update(ess_rhat(self.draws.double().cpu().numpy()))
        out.update(self._extra_diagnostics())
        return out
