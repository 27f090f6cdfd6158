"""Shared machinery of the MCMC baselines.

- :func:`initial_points`: the suite's broad initial distribution N(0, init_std² I), the
  same for every method that starts from noise (never the exact sampler or the reference).
- :class:`DualAveraging`: step-size adaptation toward a target acceptance rate.
- :func:`mala_step`: one batched (optionally tempered) MALA transition through the counter.
- :class:`ChainMethod`: warm-up (``train``) then production with thinning (``sample``),
  snapshots for quality-against-cost curves, and acceptance / ESS / R-hat diagnostics.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from boltzbench.baselines.diagnostics import ess_rhat

from boltzbench.budget import affordable, has_budget
from boltzbench.counter import Counter
from boltzbench.protocols import Snapshot
from boltzbench.rng import generator

#: under a budget: warm-up transitions measured before the plan is made, and the share of
#: the budget left after the cheapest production that goes to warm-up (the rest thins)
PLAN_AFTER = 10
WARMUP_SHARE = 0.5


def initial_points(target: Counter, n: int, gen: torch.Generator) -> torch.Tensor:
    """n draws from N(0, init_std² I), [n, d] float32."""
    return float(target.init_std) * torch.randn(n, target.dim, generator=gen)


class DualAveraging:
    """Nesterov dual averaging of log step sizes (Hoffman & Gelman 2014, Alg. 5).

    Works elementwise on a tensor of step sizes (one per temperature in parallel tempering).
    :meth:`update` takes the mean acceptance probability of the last transition and returns
    the next step size; :attr:`final` is the averaged iterate to freeze after warm-up.
    """

    def __init__(
        self,
        h0: torch.Tensor,
        target_accept: float,
        gamma: float = 0.05,
        t0: float = 10.0,
        kappa: float = 0.75,
    ) -> None:
        self.mu = torch.log(10 * h0)
        self.target = target_accept
        self.gamma, self.t0, self.kappa = gamma, t0, kappa
        self.t = 0
        self.h_avg = torch.zeros_like(h0)
        self.log_h = torch.log(h0)
        self.log_h_bar = torch.log(h0)

    def update(self, accept_prob: torch.Tensor) -> torch.Tensor:
        self.t += 1
        eta = 1.0 / (self.t + self.t0)
        self.h_avg = (1 - eta) * self.h_avg + eta * (self.target - accept_prob)
        self.log_h = self.mu - math.sqrt(self.t) / self.gamma * self.h_avg
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
) -> tuple[tuple[torch.Tensor, torch.Tensor, torch.Tensor], torch.Tensor, torch.Tensor]:
    """One MALA transition for π_β ∝ exp(−β E) on a batch of chains.

    Proposal y = x + h β s(x) + sqrt(2h) ξ, Metropolis–Hastings correction. One energy and
    one gradient evaluation per chain (the current point's are carried in ``state``).

    Args:
        state: (x [n, d], E(x) [n], ∇log π(x) = −∇E(x) [n, d]) of the *untempered* target.
        h: step size, a float or [n, 1].
        beta: inverse temperature, a float or [n, 1].

    Returns:
        (new state, acceptance probabilities [n], accepted mask [n]).
    """
    x, e, s = state
    b = beta if isinstance(beta, float) else beta.squeeze(-1)
    noise = torch.randn(x.shape, generator=gen)
    y = x + h * beta * s + torch.sqrt(torch.as_tensor(2.0 * h)) * noise
    ey, sy = target.energy_and_score(y)
    fwd = ((y - x - h * beta * s) ** 2).sum(1)
    bwd = ((x - y - h * beta * sy) ** 2).sum(1)
    hh = h if isinstance(h, float) else h.squeeze(-1)
    log_alpha = _finite_log_alpha(b * (e - ey) + (fwd - bwd) / (4 * hh))
    accept_prob = log_alpha.clamp(max=0.0).exp()
    accept = torch.rand(x.shape[0], generator=gen) < accept_prob
    new = (
        torch.where(accept[:, None], y, x),
        torch.where(accept, ey, e),
        torch.where(accept[:, None], sy, s),
    )
    return new, accept_prob, accept


@dataclass
class ChainConfig:
    """Settings every chain method shares.

    Attributes:
        n_chains: independent chains run in parallel (as one batch).
        warmup: transitions per chain in ``fit`` (burn-in and tuning; charged to ``train``).
        thin: transitions per chain between two kept draws in ``sample``.
            Under a budget, ``warmup`` and ``thin`` are set by the budget instead: the
            cheapest production (thin 1) is reserved, and what is left goes half to
            warm-up, half to thinning.
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
    the number of accepted moves), :meth:`_end_warmup` (freeze tuning) and
    :meth:`_position` (the chains' current points, [n_chains, d]).

    ``sample(n)`` keeps every ``thin``-th state of each chain until n draws exist; draws are
    ordered round by round, so any prefix spreads over all chains. Snapshots: during
    warm-up the chains' current points after 1, 2, 4, … transitions; during production the
    draws so far after 1, 2, 4, … rounds and at the end (what a user stopping there has).
    """

    Config: type = ChainConfig

    def __init__(self, config: ChainConfig | None = None) -> None:
        self.config = config or type(self).Config()
        self._accepted = {"train": 0.0, "sample": 0.0}
        self._proposed = {"train": 0, "sample": 0}
        self.snapshots: list[Snapshot] = []
        self.draws: torch.Tensor | None = None

    # subclass hooks ---------------------------------------------------------------
    def _start(self, x0: torch.Tensor) -> None:
        raise NotImplementedError

    def _transition(self, adapt: bool) -> float:
        raise NotImplementedError

    def _end_warmup(self) -> None:
        pass

    def _position(self) -> torch.Tensor:
        raise NotImplementedError

    def _extra_diagnostics(self) -> dict[str, float]:
        return {}

    def _initial(self, n: int) -> torch.Tensor:
        """Starting points of n chains: the suite's broad initial distribution."""
        return initial_points(self.target, n, self.gen)

    # shared loop ------------------------------------------------------------------
    def fit(self, target: Counter, *, seed: int) -> None:
        c = self.config
        c.validate()
        self.target = target
        self.gen = generator(seed)
        self._start(self._initial(c.n_chains))
        warmup = c.warmup
        self._cost_stats = [0, 0.0, 0.0]  # warm-up transitions, Σ cost, Σ cost² (budget units)
        budgeted = has_budget(target)
        i = 0
        while i < warmup:
            if budgeted and i >= PLAN_AFTER and not self._can_afford(1, production=True):
                break  # costs ran above the plan: keep what production needs
            i += 1
            before = target.used
            self._count("train", self._transition(adapt=True))
            cost = target.used - before
            stats = self._cost_stats
            stats[0], stats[1], stats[2] = stats[0] + 1, stats[1] + cost, stats[2] + cost**2
            if _is_checkpoint(i):
                self._snapshot(self._position(), "train")
            if i == min(PLAN_AFTER, warmup) and budgeted:
                warmup = i + self._budget_warmup(target)
        self._end_warmup()

    def _rounds(self, n: int | None) -> int:
        return math.ceil((n or self.config.n_chains) / self.config.n_chains)

    def _mean_cost(self) -> float:
        count, total, _ = self._cost_stats
        return total / count

    def _expected(self, k: int) -> float:
        """A cautious cost of k more transitions: k × mean + 3 √k × sd of the measured
        per-transition costs (which vary for HMC's random trajectory lengths)."""
        count, total, squares = self._cost_stats
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

    def sample(self, n: int) -> torch.Tensor:
        c = self.config
        draws = []
        rounds = math.ceil(n / c.n_chains)
        thin = c.thin
        if has_budget(self.target) and self._cost_stats[0]:
            left = affordable(self.target, 1.0)
            thin = max(1, int(left / (rounds * self._mean_cost())))
            while thin > 1 and self._expected(rounds * thin) > left:
                thin -= 1
        for r in range(1, rounds + 1):
            for _ in range(thin):
                self._count("sample", self._transition(adapt=False))
            draws.append(self._position().clone())
            if _is_checkpoint(r) or r == rounds:
                self._snapshot(torch.cat(draws), "sample")
        self.draws = torch.stack(draws, dim=1)  # [chains, rounds, d]
        return torch.cat(draws)[:n]

    def _count(self, phase: str, accepted: float) -> None:
        self._accepted[phase] += accepted
        self._proposed[phase] += self.config.n_chains

    def _snapshot(self, x: torch.Tensor, phase: str) -> None:
        if self.config.snapshots:
            self.snapshots.append(Snapshot.of(self.target.counts, x, phase))

    def diagnostics(self) -> dict[str, float]:
        """Acceptance rates (warm-up and production), bulk ESS (minimum over dimensions)
        and R-hat (maximum over dimensions) of the production draws, plus the method's own."""
        out = {
            f"acceptance_{p}": self._accepted[p] / self._proposed[p]
            for p in ("train", "sample")
            if self._proposed[p]
        }
        if self.draws is not None:
            out.update(ess_rhat(self.draws.double().cpu().numpy()))
        out.update(self._extra_diagnostics())
        return out
