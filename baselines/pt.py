"""Parallel tempering (replica exchange) with MALA moves within each replica.

Under a budget the number of chains per temperature is chosen so that every replica
makes at least ``min_transitions`` transitions (warm-up + production): 200 chains ×
8 temperatures left each replica 125–310 transitions at the suite budgets (2–5 × 10⁵), too
few for the swaps to carry a hot replica's mode down the ladder.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from boltzbench.baselines.mcmc import (
    ChainConfig,
    ChainMethod,
    DualAveraging,
    mala_step,
    per_draw_factor,
)

from boltzbench.budget import unit_cost
from boltzbench.counter import Counter
from boltzbench.registry import register_method


@dataclass
class PTConfig(ChainConfig):
    """Parallel-tempering settings; see :class:`ChainConfig` (``n_chains`` counts the
    chains *per temperature*; each transition costs n_temps × n_chains gradients).

    Attributes:
        n_chains: chains per temperature without a budget, and at most under one (see
            ``min_transitions``).
        min_transitions: under a budget, the chains per temperature are
            min(n_chains, budget / (n_temps × min_transitions × gradient cost)), at least
            one, so that each replica makes at least this many transitions (warm-up and
            production) when the budget allows one chain that many (the chain-count rule
            of :mod:`boltzbench.baselines.mcmc`).
        n_temps: replicas per chain, on a geometric ladder T_k = t_max^(k/(n_temps−1)).
            Under a budget too small for the draws at n_temps gradients each only the
            coldest rungs are kept (at least two; see ``per_draw_factor``).
        t_max: the hottest temperature (in units of kT; barriers of a few tens of kT are
            crossed at T = 30 in a few steps).
        step_size: initial MALA step per replica, relative to init_std² × T_k; adapted per
            temperature in warm-up toward ``target_accept``, then frozen.
    """

    n_temps: int = 8
    t_max: float = 30.0
    step_size: float = 0.01
    min_transitions: int = 500


@register_method("pt")
class ParallelTempering(ChainMethod):
    """Replica exchange over a geometric temperature ladder.

    Every transition moves every replica by one MALA step on π^(1/T_k), then proposes swaps
    between neighbouring temperatures (even pairs on even transitions, odd pairs on odd
    ones), accepted with probability min(1, exp((β_k − β_{k+1})(E_k − E_{k+1}))). Swaps
    need no new evaluations. Only the T = 1 replica is returned. Reports the MALA
    acceptance rates of the T = 1 replica, the swap acceptance rate of each neighbouring
    pair (minimum and mean), the chains per temperature and the transitions each replica
    made; for ``frozen_fraction`` and ``acceptance_chain_min`` a T = 1 chain has moved when
    its MALA step was accepted or a swap brought it another replica's point.
    """

    Config = PTConfig
    config: PTConfig

    def _size_to_budget(self, target: Counter) -> None:
        """Under a budget too small for the draws at ``n_temps`` gradients each, keep the
        ladder's coldest rungs only (at least two; :func:`per_draw_factor`)."""
        self.n_temps = per_draw_factor(target, target.n_samples, self.config.n_temps, 2)

    def _chain_transition_cost(self) -> float:
        return unit_cost(self.target, grad=self.n_temps)

    def _least_chains(self, target: Counter) -> int:
        """One: PT keeps its own rule (its swaps need transitions per replica more than its
        T = 1 chains need numbers)."""
        return 1

    def _start_cost(self) -> float:
        return unit_cost(self.target, grad=self.n_temps * self.n_chains)

    def _transition_cost(self) -> float:
        return unit_cost(self.target, grad=self.n_temps * self.n_chains)

    def _start(self, x0: torch.Tensor) -> None:
        c = self.config
        if c.n_temps < 2 or c.t_max <= 1.0 or c.step_size <= 0:
            raise ValueError(f"invalid parallel-tempering settings {c}")
        k = torch.arange(self.n_temps, dtype=torch.float32)
        self.temps = c.t_max ** (k / (c.n_temps - 1))  # [K]: the ladder's n_temps coldest
        n = self.n_chains
        # row r = k * n + chain: replica of chain `chain` at temperature k
        x = torch.cat([x0, self._initial((self.n_temps - 1) * n)])
        self.beta = (1.0 / self.temps).repeat_interleave(n)[:, None]  # [K n, 1]
        self.h_k = c.step_size * float(self.target.init_std) ** 2 * self.temps  # [K]
        self.adapter = DualAveraging(self.h_k.clone(), c.target_accept)
        self.state = (x, *self.target.energy_and_score(x))
        self.swaps_tried = torch.zeros(self.n_temps - 1)
        self.swaps_taken = torch.zeros(self.n_temps - 1)
        self._t = 0
        self.transitions = 0
        self._mala_accepted = {"train": 0.0, "sample": 0.0}  # T = 1 replica's MALA steps

    def _transition(self, adapt: bool) -> torch.Tensor:
        n, k = self.n_chains, self.n_temps
        h = self.h_k.repeat_interleave(n)[:, None]
        self.state, prob, accept = mala_step(self.target, self.state, h, self.gen, self.beta)
        if adapt:
            self.h_k = self.adapter.update(prob.reshape(k, n).mean(1))
        self._mala_accepted["train" if adapt else "sample"] += float(accept[:n].sum())
        swapped = self._swap(parity=self._t % 2)
        self._t += 1
        self.transitions += 1
        return accept[:n] | swapped  # the T = 1 replica: moved by MALA or by a swap

    def _swap(self, parity: int) -> torch.Tensor:
        """Swap neighbouring replicas (pairs starting at ``parity``); returns the mask [n]
        of T = 1 chains that received another replica's point."""
        n, k = self.n_chains, self.n_temps
        x, e, s = (t.reshape(k, n, *t.shape[1:]) for t in self.state)
        betas = 1.0 / self.temps
        lo = torch.arange(parity, k - 1, 2)
        if lo.numel() == 0:
            return torch.zeros(n, dtype=torch.bool)
        hi = lo + 1
        log_a = (betas[lo] - betas[hi])[:, None] * (e[lo] - e[hi])  # [P, n]
        log_a = torch.where(torch.isnan(log_a), -torch.inf, log_a)
        take = torch.rand(log_a.shape, generator=self.gen).log() < log_a
        self.swaps_tried[lo] += n
        self.swaps_taken[lo] += take.sum(1).float()
        for t in (x, e, s):
            a, b = t[lo].clone(), t[hi].clone()
            mask = take.reshape(*take.shape, *([1] * (t.dim() - 2)))
            t[lo] = torch.where(mask, b, a)
            t[hi] = torch.where(mask, a, b)
        self.state = (x.reshape(k * n, -1), e.reshape(k * n), s.reshape(k * n, -1))
        return take[0] if parity == 0 else torch.zeros(n, dtype=torch.bool)

    def _end_warmup(self) -> None:
        if self.warmup_done > 0:
            self.h_k = self.adapter.final

    def _position(self) -> torch.Tensor:
        return self.state[0][: self.n_chains]

    def _extra_diagnostics(self) -> dict[str, float]:
        rates = self.swaps_taken / self.swaps_tried.clamp_min(1)
        # acceptance_*: the T = 1 replica's MALA steps (swaps count as moves only for
        # frozen_fraction and acceptance_chain_min)
        mala = {
            f"acceptance_{p}": self._mala_accepted[p] / self._proposed[p]
            for p in ("train", "sample")
            if self._proposed[p]
        }
        return {
            **mala,
            "swap_acceptance_min": float(rates.min()),
            "swap_acceptance_mean": float(rates.mean()),
            "step_size_t1": float(self.h_k[0]),
            "n_chains": float(self.n_chains),
            "n_temps": float(self.n_temps),
            "transitions_per_replica": float(self.transitions),
        }
