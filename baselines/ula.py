"""Unadjusted Langevin algorithm (ULA), batched over independent chains."""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from boltzbench.baselines.mcmc import ChainConfig, ChainMethod

from boltzbench.registry import register_method


@dataclass
class ULAConfig(ChainConfig):
    """ULA settings; see :class:`ChainConfig` (``target_accept`` is unused).

    Attributes:
        step_size: h in x' = x + h ∇log π(x) + sqrt(2h) ξ, relative to init_std². Fixed:
            ULA has no accept/reject, so its stationary law is biased by O(h); smaller is
            more exact and slower. The default 0.002 is h = 0.008 on ``gmm4`` (mode std
            0.25).
        tamed: use the tamed drift h s / (1 + h‖s‖) (Brosse, Durmus, Moulines & Sabanis
            2019) instead of h s. It equals ULA's drift wherever h‖s‖ ≪ 1 (all of the
            target's bulk at the default step) and keeps chains that start far out from
            overflowing on energies with super-linear gradients (``double_well``'s x⁴
            sends plain ULA from the broad start to inf in a few steps).
    """

    step_size: float = 0.002
    tamed: bool = True


@register_method("ula")
class ULA(ChainMethod):
    """Unadjusted Langevin x' = x + h ∇log π(x) + sqrt(2h) ξ (tamed by default, see the
    config): one gradient evaluation per chain and transition, no energy values at all;
    the O(h) discretisation bias is not corrected. Its acceptance rate is 1 by definition."""

    Config = ULAConfig
    config: ULAConfig

    def _start(self, x0: torch.Tensor) -> None:
        if self.config.step_size <= 0:
            raise ValueError(f"step_size must be positive, got {self.config.step_size}")
        self.h = self.config.step_size * float(self.target.init_std) ** 2
        self.x = x0

    def _transition(self, adapt: bool) -> torch.Tensor:
        drift = self.h * self.target.score(self.x)
        if self.config.tamed:
            drift = drift / (1.0 + drift.norm(dim=1, keepdim=True))
        noise = torch.randn(self.x.shape, generator=self.gen)
        self.x = self.x + drift + math.sqrt(2 * self.h) * noise
        return torch.ones(self.n_chains, dtype=torch.bool)  # every move is taken

    def _start_cost(self) -> float:
        return 0.0  # the start evaluates nothing

    def _position(self) -> torch.Tensor:
        return self.x

    def _extra_diagnostics(self) -> dict[str, float]:
        return {"step_size": self.h}
