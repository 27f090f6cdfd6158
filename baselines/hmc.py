"""Hamiltonian Monte Carlo with per-chain dual-averaging step sizes and a diagonal mass
matrix.

Step sizes are adapted per chain, as in :mod:`boltzbench.baselines.mala` (see its module
docstring for why not one shared step): each chain runs its own dual averaging toward
``target_accept`` from its own acceptance probabilities, restarted when the mass matrix
changes, and keeps its averaged step in production, where with probability
``step_mixing`` a transition uses another chain's frozen step instead.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from boltzbench.baselines.mcmc import (
    ChainConfig,
    ChainMethod,
    DualAveraging,
    mixed_steps,
    per_draw_factor,
)

from boltzbench.budget import unit_cost
from boltzbench.counter import Counter
from boltzbench.registry import register_method

#: Stan-like warm-up windows, as fractions of the planned warm-up: steps only before the
#: first, the mass matrix estimated from the points in between, steps only after the second
WINDOW = (0.15, 0.75)


@dataclass
class HMCConfig(ChainConfig):
    """HMC settings; see :class:`ChainConfig`.

    Attributes:
        n_leapfrog: mean leapfrog steps per transition. Each transition draws its number
            of steps uniformly from 1 … 2 n_leapfrog − 1 (shared by all chains): a fixed
            trajectory length can be close to a whole period of some direction of the
            target, where HMC returns near its start and mixes badly (on the tests' 10-D
            Gaussian, fixed L = 10 gave a bulk ESS of 180 in 4000 draws and R-hat 1.8).
        step_size: initial leapfrog step, relative to init_std; adapted per chain in
            warm-up.
        target_accept: dual-averaging target for each chain's acceptance probability.
        step_mixing: in production, the probability that a chain's transition uses the
            frozen step of another chain (drawn uniformly) instead of its own.
        warmup, thin: as in :class:`ChainConfig`, counted in HMC transitions (each costs
            ``n_leapfrog`` gradients on average): 200 warm-up transitions ≈ 1000 gradients
            per chain, MALA's warm-up cost; keeping every transition costs half MALA's
            10 steps per draw. (On the 10-D Gaussian of ``benchmarks/bench_mcmc.py``:
            bulk ESS per production gradient 0.22 against MALA's 0.08.)
        min_transitions: the chain-count rule's transitions per chain (see
            :mod:`boltzbench.baselines.mcmc`). Under a budget too small for the draws at
            ``n_leapfrog`` steps each the mean trajectory is shortened (at least one step).
    """

    n_leapfrog: int = 5
    step_size: float = 0.05
    target_accept: float = 0.8
    step_mixing: float = 0.5
    warmup: int = 200
    thin: int = 1


@register_method("hmc")
class HMC(ChainMethod):
    """HMC with leapfrog integration, batched over chains with a step size each (dual
    averaging per chain) and one shared diagonal mass matrix.

    Warm-up (Stan-like windows, fractions of the planned warm-up): the first 15% adapts
    the step sizes only; the next 60% also collects the chains' points, whose
    per-dimension variance (pooled over chains, shrunk toward 1e-3 as Stan does) becomes
    the inverse mass matrix; the last 25% restarts every chain's step adaptation for the
    new metric. Then each step is frozen at its averaged iterate. A transition costs its
    number of leapfrog steps (``n_leapfrog`` on average) in gradients per chain, the last
    with the energy. Divergent trajectories (non-finite energy) are rejected.
    """

    Config = HMCConfig
    config: HMCConfig

    def _size_to_budget(self, target: Counter) -> None:
        """The mean trajectory length: ``n_leapfrog``, shortened where the budget cannot
        pay for the draws at that many steps each (:func:`per_draw_factor`)."""
        self.n_leapfrog = per_draw_factor(target, target.n_samples, self.config.n_leapfrog, 1)

    def _chain_transition_cost(self) -> float:
        return unit_cost(self.target, grad=self.n_leapfrog)

    def _transition_cost(self) -> float:
        return unit_cost(self.target, grad=self.n_chains * self.n_leapfrog)

    def _max_transition_cost(self) -> float:
        return unit_cost(self.target, grad=self.n_chains * (2 * self.n_leapfrog - 1))

    def _start(self, x0: torch.Tensor) -> None:
        c = self.config
        if c.n_leapfrog < 1 or c.step_size <= 0 or not 0.0 <= c.step_mixing <= 1.0:
            raise ValueError(f"invalid HMC settings {c}")
        self.h = torch.full((self.n_chains,), c.step_size * float(self.target.init_std))
        self.inv_mass = torch.ones(self.target.dim)
        self.adapter = DualAveraging(self.h, c.target_accept)
        self.state = (x0, *self.target.energy_and_score(x0))
        self.leapfrog_steps = 0
        self._collected: list[torch.Tensor] = []
        self._metric_done = False

    def _transition(self, adapt: bool) -> torch.Tensor:
        x, e, s = self.state
        m_inv = self.inv_mass
        h = (self.h if adapt else mixed_steps(self.h, self.config.step_mixing, self.gen))[:, None]
        p = torch.randn(x.shape, generator=self.gen) / m_inv.sqrt()
        h0 = e + 0.5 * (p * p * m_inv).sum(1)
        x1, p1 = x, p + 0.5 * h * s
        n_steps = int(torch.randint(1, 2 * self.n_leapfrog, (1,), generator=self.gen).item())
        self.leapfrog_steps += n_steps
        for step in range(n_steps):
            x1 = x1 + h * m_inv * p1
            if step < n_steps - 1:
                p1 = p1 + h * self.target.score(x1)
            else:
                e1, s1 = self.target.energy_and_score(x1)
                p1 = p1 + 0.5 * h * s1
        h1 = e1 + 0.5 * (p1 * p1 * m_inv).sum(1)
        log_alpha = h0 - h1
        log_alpha = torch.where(torch.isnan(log_alpha), -torch.inf, log_alpha)
        prob = log_alpha.clamp(max=0.0).exp()
        accept = torch.rand(x.shape[0], generator=self.gen) < prob
        self.state = (
            torch.where(accept[:, None], x1, x),
            torch.where(accept, e1, e),
            torch.where(accept[:, None], s1, s),
        )
        if adapt:
            self._adapt(prob)
        return accept

    def _adapt(self, prob: torch.Tensor) -> None:
        self.h = self.adapter.update(prob)
        if self._metric_done:
            return
        done = self.warmup_done / max(self.warmup_planned, 1)
        if WINDOW[0] < done <= WINDOW[1]:
            self._collected.append(self.state[0].clone())
        if done >= WINDOW[1] and self._collected:
            pts = torch.cat(self._collected).double()
            n = pts.shape[0]
            var = pts.var(0)
            self.inv_mass = ((n / (n + 5.0)) * var + 1e-3 * (5.0 / (n + 5.0))).float()
            self._collected = []
            self._metric_done = True
            self.adapter = DualAveraging(self.adapter.final, self.config.target_accept)
            self.h = self.adapter.final

    def _end_warmup(self) -> None:
        if self.warmup_done > 0:
            self.h = self.adapter.final

    def _position(self) -> torch.Tensor:
        return self.state[0]

    def _extra_diagnostics(self) -> dict[str, float]:
        log_h = self.h.log()
        return {
            "step_size": float(log_h.median().exp()),
            "step_size_spread": float((log_h.max() - log_h.min()).exp()),
            "inv_mass_mean": float(self.inv_mass.mean()),
            "n_leapfrog": float(self.n_leapfrog),
        }
