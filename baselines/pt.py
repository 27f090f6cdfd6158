"""Parallel tempering (replica exchange) with MALA moves within each replica."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from boltzbench.baselines.mcmc import ChainConfig, ChainMethod, DualAveraging, mala_step

from boltzbench.registry import register_method


@dataclass
class PTConfig(ChainConfig):
    """Parallel-tempering settings; see :class:`ChainConfig` (``n_chains`` counts the
    chains *per temperature*; each transition costs n_temps × n_chains evaluations).

    Attributes:
        n_temps: replicas per chain, on a geometric ladder T_k = t_max^(k/(n_temps−1)).
        t_max: the hottest temperature (in units of kT; barriers of a few tens of kT are
            crossed at T = 30 in a few steps).
        step_size: initial MALA step per replica, relative to init_std² × T_k; adapted per
            temperature in warm-up toward ``target_accept``, then frozen.
    """

    n_temps: int = 8
    t_max: float = 30.0
    step_size: float = 0.01


@register_method("pt")
class ParallelTempering(ChainMethod):
    """Replica exchange over a geometric temperature ladder.

    Every transition moves every replica by one MALA step on π^(1/T_k), then proposes swaps
    between neighbouring temperatures (even pairs on even transitions, odd pairs on odd
    ones), accepted with probability min(1, exp((β_k − β_{k+1})(E_k − E_{k+1}))). Swaps
    need no new evaluations. Only the T = 1 replica is returned. Reports the swap
    acceptance rate of each neighbouring pair (minimum and mean) besides the MALA rates.
    """

    Config = PTConfig
    config: PTConfig

    def _start(self, x0: torch.Tensor) -> None:
        c = self.config
        if c.n_temps < 2 or c.t_max <= 1.0 or c.step_size <= 0:
            raise ValueError(f"invalid parallel-tempering settings {c}")
        k = torch.arange(c.n_temps, dtype=torch.float32)
        self.temps = c.t_max ** (k / (c.n_temps - 1))  # [K]
        n = c.n_chains
        # row r = k * n + chain: replica of chain `chain` at temperature k
        x = torch.cat([x0, self._initial((c.n_temps - 1) * n)])
        self.beta = (1.0 / self.temps).repeat_interleave(n)[:, None]  # [K n, 1]
        self.h_k = c.step_size * float(self.target.init_std) ** 2 * self.temps  # [K]
        self.adapter = DualAveraging(self.h_k.clone(), c.target_accept)
        self.state = (x, *self.target.energy_and_score(x))
        self.swaps_tried = torch.zeros(c.n_temps - 1)
        self.swaps_taken = torch.zeros(c.n_temps - 1)
        self._t = 0

    def _transition(self, adapt: bool) -> float:
        c = self.config
        n, k = c.n_chains, c.n_temps
        h = self.h_k.repeat_interleave(n)[:, None]
        self.state, prob, accept = mala_step(self.target, self.state, h, self.gen, self.beta)
        if adapt:
            self.h_k = self.adapter.update(prob.reshape(k, n).mean(1))
        self._swap(parity=self._t % 2)
        self._t += 1
        return float(accept[:n].sum())  # acceptance reported for the T = 1 replica

    def _swap(self, parity: int) -> None:
        c = self.config
        n, k = c.n_chains, c.n_temps
        x, e, s = (t.reshape(k, n, *t.shape[1:]) for t in self.state)
        betas = 1.0 / self.temps
        lo = torch.arange(parity, k - 1, 2)
        if lo.numel() == 0:
            return
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

    def _end_warmup(self) -> None:
        if self.config.warmup > 0:
            self.h_k = self.adapter.final

    def _position(self) -> torch.Tensor:
        return self.state[0][: self.config.n_chains]

    def _extra_diagnostics(self) -> dict[str, float]:
        rates = self.swaps_taken / self.swaps_tried.clamp_min(1)
        return {
            "swap_acceptance_min": float(rates.min()),
            "swap_acceptance_mean": float(rates.mean()),
            "step_size_t1": float(self.h_k[0]),
        }
