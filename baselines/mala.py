"""Metropolis-adjusted Langevin algorithm (MALA), batched over independent chains.

Step sizes: one per chain, each adapted by its own dual averaging (Hoffman & Gelman 2014)
toward the acceptance rate 0.574 from that chain's acceptance probabilities, restarted
halfway through warm-up, then frozen per chain at the averaged iterate. This is what Stan
does for each of its chains, run for the whole batch at once. In production a transition
uses, with probability ``step_mixing`` (1/2), the frozen step of another chain drawn at
random instead of the chain's own.

Why not one step size for the batch. Tuned to the chains' *mean* acceptance, a shared step
suits the chains already in the bulk and leaves behind those that start in the tails of
the broad start N(0, init_std² I): on ``double_well``'s quartic tails a chain at x₁ = 9
sees a gradient ~3000, needs a step ~10⁴ times smaller than the bulk's and never accepted
a move (22–36 % of the chains on ``double_well`` and ``funnel`` did not move once in
production). Ensemble schemes that keep one step but weight the worst chains, such as
ChEES-HMC's harmonic-mean acceptance (Hoffman, Radul & Sountsov 2021), would shrink every
chain's step to what the farthest one needs; MEADS (Hoffman & Sountsov 2022) tunes per
fold of chains from the other folds' statistics, which is no help to a lone chain in the
tail. Per-chain dual averaging costs no evaluations and lets each chain shrink its step
while it comes in and grow it back in the bulk. The restart halfway (from each chain's
averaged step) forgets the approach from the tail, so that the frozen step reflects where
the chain sits at the end of warm-up.

Why the mixing. A frozen step suits where its chain was during warm-up; on ``funnel`` a
chain tuned in the mouth that later enters the neck (x₀ ≈ −3, where the other coordinates
have sd ≈ 0.2) rejected every proposal of its own step (1.5 % of the chains never moved
in production). Borrowing, half of the time, a step from the whole batch, whose steps span
the neck to the mouth (100× apart there), lets such a chain move, and costs little where
the steps agree (within 1.3–1.7× on the other targets). The borrowing does not depend on
the chain's point, so each production transition is a fixed mixture of MALA kernels, each
leaving the target invariant.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from boltzbench.baselines.mcmc import (
    ChainConfig,
    ChainMethod,
    DualAveraging,
    mala_step,
    mixed_steps,
)

from boltzbench.registry import register_method

#: fraction of the warm-up after which each chain's dual averaging restarts
RESTART_AT = 0.5


@dataclass
class MALAConfig(ChainConfig):
    """MALA settings (one set of defaults for all targets); see :class:`ChainConfig`.

    Attributes:
        step_size: initial h in the proposal y = x + h ∇log π(x) + sqrt(2h) ξ, relative to
            init_std² (so 0.01 is a jump of about 0.14 init_std); adapted per chain during
            warm-up by dual averaging toward ``target_accept`` (0.574, the optimal MALA
            rate), then frozen.
        adapt: adapt the step sizes during warm-up (False: keep the initial one).
        step_mixing: in production, the probability that a chain's transition uses the
            frozen step of another chain (drawn uniformly) instead of its own, so that a
            chain which wanders where its own step is too long (the funnel's neck) still
            moves; 0 keeps every chain on its own step.
    """

    step_size: float = 0.01
    adapt: bool = True
    step_mixing: float = 0.5


@register_method("mala")
class MALA(ChainMethod):
    """MALA with a step size per chain, tuned in warm-up by per-chain dual averaging
    (restarted halfway), then frozen (see the module docstring).

    Chains start from the suite's broad initial distribution N(0, init_std² I). Every
    transition costs one energy and one gradient evaluation per chain (the current point's
    are reused), charged as one gradient. Reports acceptance rates, the frozen fraction,
    the median and spread of the frozen step sizes, bulk ESS and R-hat.
    """

    Config = MALAConfig
    config: MALAConfig

    def _start(self, x0: torch.Tensor) -> None:
        c = self.config
        if c.step_size <= 0 or not 0.0 <= c.step_mixing <= 1.0:
            raise ValueError(f"invalid MALA settings {c}")
        self.h = torch.full((self.n_chains,), c.step_size * float(self.target.init_std) ** 2)
        self.adapter = DualAveraging(self.h, c.target_accept)
        self._restarted = False
        self.state = (x0, *self.target.energy_and_score(x0))

    def _transition(self, adapt: bool) -> torch.Tensor:
        h = self.h if adapt else mixed_steps(self.h, self.config.step_mixing, self.gen)
        self.state, prob, accept = mala_step(self.target, self.state, h[:, None], self.gen)
        if adapt and self.config.adapt:
            self.h = self.adapter.update(prob)
            if not self._restarted and self.warmup_done >= RESTART_AT * self.warmup_planned:
                self._restarted = True
                self.h = self.adapter.final
                self.adapter = DualAveraging(self.h, self.config.target_accept)
        return accept

    def _end_warmup(self) -> None:
        if self.config.adapt and self.warmup_done > 0:
            self.h = self.adapter.final

    def _position(self) -> torch.Tensor:
        return self.state[0]

    def _extra_diagnostics(self) -> dict[str, float]:
        log_h = self.h.log()
        return {
            "step_size": float(log_h.median().exp()),
            "step_size_spread": float((log_h.max() - log_h.min()).exp()),
        }
