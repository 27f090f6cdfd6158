"""Hamiltonian Monte Carlo with dual-averaging step size and a diagonal mass matrix."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from boltzbench.baselines.mcmc import ChainConfig, ChainMethod, DualAveraging

from boltzbench.registry import register_method


@dataclass
class HMCConfig(ChainConfig):
    """HMC settings; see :class:`ChainConfig`.

    Attributes:
        n_leapfrog: mean leapfrog steps per transition. Each transition draws its number
            of steps uniformly from 1 … 2 n_leapfrog − 1 (shared by all chains): a fixed
            trajectory length can be close to a whole period of some direction of the
            target, where HMC returns near its start and mixes badly (on the tests' 10-D
            Gaussian, fixed L = 10 gave a bulk ESS of 180 in 4000 draws and R-hat 1.8).
        step_size: initial leapfrog step, relative to init_std; adapted in warm-up.
        target_accept: dual-averaging target for the mean acceptance probability.
        warmup, thin: as in :class:`ChainConfig`, counted in HMC transitions (each costs
            ``n_leapfrog`` gradients on average): 200 warm-up transitions ≈ 1000 gradients
            per chain, MALA's warm-up cost; keeping every transition costs half MALA's
            10 steps per draw. (On the 10-D Gaussian of ``benchmarks/bench_mcmc.py``:
            bulk ESS per production gradient 0.22 against MALA's 0.08.)
    """

    n_leapfrog: int = 5
    step_size: float = 0.05
    target_accept: float = 0.8
    warmup: int = 200
    thin: int = 1


@register_method("hmc")
class HMC(ChainMethod):
    """HMC with leapfrog integration, batched over chains sharing one step size and one
    diagonal mass matrix.

    Warm-up (Stan-like windows): the first 15% adapts the step size only; the next 60%
    also collects the chains' points, whose per-dimension variance (pooled over chains,
    shrunk toward 1e-3 as Stan does) becomes the inverse mass matrix; the last 25% adapts
    the step size again for the new metric. Then the step size is frozen at the averaged
    iterate. A transition costs its number of leapfrog steps (``n_leapfrog`` on average) in
    gradients and one energy value per chain.
    Divergent trajectories (non-finite energy) are rejected.
    """

    Config = HMCConfig
    config: HMCConfig

    def _start(self, x0: torch.Tensor) -> None:
        c = self.config
        if c.n_leapfrog < 1 or c.step_size <= 0:
            raise ValueError(f"invalid HMC settings {c}")
        self.h = torch.tensor(c.step_size * float(self.target.init_std))
        self.inv_mass = torch.ones(self.target.dim)
        self.adapter = DualAveraging(self.h, c.target_accept)
        self.state = (x0, *self.target.energy_and_score(x0))
        self._i = 0
        self.leapfrog_steps = 0
        self._window = (int(0.15 * c.warmup), int(0.75 * c.warmup))
        self._collected: list[torch.Tensor] = []

    def _transition(self, adapt: bool) -> float:
        x, e, s = self.state
        h, m_inv = float(self.h), self.inv_mass
        p = torch.randn(x.shape, generator=self.gen) / m_inv.sqrt()
        h0 = e + 0.5 * (p * p * m_inv).sum(1)
        x1, p1 = x, p + 0.5 * h * s
        n_steps = int(torch.randint(1, 2 * self.config.n_leapfrog, (1,), generator=self.gen).item())
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
            self._adapt(prob.mean())
        return float(accept.sum())

    def _adapt(self, mean_prob: torch.Tensor) -> None:
        self._i += 1
        lo, hi = self._window
        self.h = self.adapter.update(mean_prob)
        if lo < self._i <= hi:
            self._collected.append(self.state[0].clone())
        if self._i == hi and self._collected:
            pts = torch.cat(self._collected).double()
            n = pts.shape[0]
            var = pts.var(0)
            self.inv_mass = ((n / (n + 5.0)) * var + 1e-3 * (5.0 / (n + 5.0))).float()
            self._collected = []
            self.adapter = DualAveraging(self.h, self.config.target_accept)

    def _end_warmup(self) -> None:
        if self.config.warmup > 0:
            self.h = self.adapter.final

    def _position(self) -> torch.Tensor:
        return self.state[0]

    def _extra_diagnostics(self) -> dict[str, float]:
        return {"step_size": float(self.h), "inv_mass_mean": float(self.inv_mass.mean())}
