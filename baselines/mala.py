"""Metropolis-adjusted Langevin algorithm (MALA), batched over independent chains."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from boltzbench.baselines.mcmc import ChainConfig, ChainMethod, DualAveraging, mala_step

from boltzbench.registry import register_method


@dataclass
class MALAConfig(ChainConfig):
    """MALA settings (one set of defaults for all targets); see :class:`ChainConfig`.

    Attributes:
        step_size: initial h in the proposal y = x + h ∇log π(x) + sqrt(2h) ξ, relative to
            init_std² (so 0.01 is a jump of about 0.14 init_std); adapted during warm-up
            by dual averaging toward ``target_accept`` (0.574, the optimal MALA rate),
            then frozen.
        adapt: adapt the step size during warm-up (False: keep the initial one).
    """

    step_size: float = 0.01
    adapt: bool = True


@register_method("mala")
class MALA(ChainMethod):
    """MALA with one step size shared by all chains, tuned in warm-up, then frozen.

    Chains start from the suite's broad initial distribution N(0, init_std² I). Every
    transition costs one energy and one gradient evaluation per chain (the current point's
    are reused). Reports acceptance rates, the frozen step size, bulk ESS and R-hat.
    """

    Config = MALAConfig
    config: MALAConfig

    def _start(self, x0: torch.Tensor) -> None:
        c = self.config
        if c.step_size <= 0:
            raise ValueError(f"step_size must be positive, got {c.step_size}")
        self.h = torch.tensor(c.step_size * float(self.target.init_std) ** 2)
        self.adapter = DualAveraging(self.h, c.target_accept)
        self.state = (x0, *self.target.energy_and_score(x0))

    def _transition(self, adapt: bool) -> float:
        self.state, prob, accept = mala_step(self.target, self.state, float(self.h), self.gen)
        if adapt and self.config.adapt:
            self.h = self.adapter.update(prob.mean())
        return float(accept.sum())

    def _end_warmup(self) -> None:
        if self.config.adapt and self.config.warmup > 0:
            self.h = self.adapter.final

    def _position(self) -> torch.Tensor:
        return self.state[0]

    def _extra_diagnostics(self) -> dict[str, float]:
        return {"step_size": float(self.h)}
