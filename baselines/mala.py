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

Mass matrix (``mass_matrix``, default ``"identity"``). With ``"diagonal"`` or ``"dense"``
the proposal is preconditioned by an inverse mass matrix Σ = L Lᵀ, y = x + h Σ ∇log π(x)
+ sqrt(2h) L ξ (MALA on z = L⁻¹x), adapted in a windowed warm-up after Stan's: three
windows of ¼, ½ and ¼ of the warm-up (of the planned warm-up under a budget); each
chain's dual averaging restarts at every window's start; at the end of the first two
windows Σ becomes the covariance (or its diagonal) of all chains' points over the second
half of that window, pooled, regularised as Stan does (m/(m+5) Σ̂ + 10⁻³ · 5/(m+5) I, m
points). After the first window, whose steps were in x's units, every chain's step
restarts from d^(−1/3), the scale of an optimal MALA step on a whitened Gaussian. Σ and
the steps are frozen for production. It costs no evaluations: the chains' points,
energies and scores are kept in x. Without it one step size must suit the narrowest
direction, and on posteriors whose scales differ 100–500× the widest ones do not mix in
the warm-up (the posteriordb cross-check, ``docs/targets.md``); the reference generator
(:func:`boltzbench.targets.generated.chain_reference`) uses it. The leaderboard's
``mala`` keeps the identity (see ``docs/methods.md``).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from boltzbench.baselines.mcmc import (
    ChainConfig,
    ChainMethod,
    DualAveraging,
    MassMatrixEstimator,
    mala_step,
    mixed_steps,
)

from boltzbench.registry import register_method

#: fraction of the warm-up after which each chain's dual averaging restarts
RESTART_AT = 0.5
#: with a mass matrix: warm-up windows as fractions of the warm-up (the mass matrix is
#: re-estimated at the end of every window but the last)
WINDOWS = (0.25, 0.5, 0.25)
MASS_MATRICES = ("identity", "diagonal", "dense")
#: with a mass matrix: how far (in log units) a chain's dual averaging may shrink its step
#: below its shrinkage point 10 h0 (20 with the identity): a chain started far out in the
#: tails (energies of 10¹¹ on ``pdb_diamonds``) needs a step ~10⁻¹¹, below e⁻²⁰ · 10 h0
SHRINK = 50.0


@dataclass
class MALAConfig(ChainConfig):
    """MALA settings (one set of defaults for all targets); see :class:`ChainConfig`.

    Attributes:
        step_size: initial h in the proposal y = x + h ∇log π(x) + sqrt(2h) ξ, relative to
            init_std² (so 0.01 is a jump of about 0.14 init_std); adapted per chain during
            warm-up by dual averaging toward ``target_accept`` (0.574, the optimal MALA
            rate), then frozen.
        adapt: adapt the step sizes (and the mass matrix) during warm-up (False: keep the
            initial step and the identity).
        step_mixing: in production, the probability that a chain's transition uses the
            frozen step of another chain (drawn uniformly) instead of its own, so that a
            chain which wanders where its own step is too long (the funnel's neck) still
            moves; 0 keeps every chain on its own step.

        mass_matrix: ``"identity"`` (the default, plain MALA), ``"diagonal"`` or
            ``"dense"``: the inverse mass matrix Σ (the proposal is y = x + h Σ ∇log π(x)
            + sqrt(2h) L ξ, Σ = L Lᵀ, i.e. MALA on z = L⁻¹x), adapted in windowed warm-up
            (see the module docstring) and frozen for production. Σ is in the units of
            x² ([d, d] for dense, its diagonal [d] for diagonal: the covariance of the
            chains' points); h is then in the whitened units of z, so the frozen step is
            of order d^(−1/3) on a near-Gaussian target. Dense costs O(d²) per chain step
            (a matrix product with L) and is meant for d up to a few hundred; diagonal
            O(d). No evaluations beyond MALA's own.
    """

    step_size: float = 0.01
    adapt: bool = True
    step_mixing: float = 0.5
    mass_matrix: str = "identity"


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
        if c.mass_matrix not in MASS_MATRICES:
            raise ValueError(
                f"unknown mass_matrix {c.mass_matrix!r}; known: {', '.join(MASS_MATRICES)}"
            )
        self.h = torch.full((self.n_chains,), c.step_size * float(self.target.init_std) ** 2)
        shrink = None if c.mass_matrix == "identity" else SHRINK
        self.adapter = DualAveraging(self.h, c.target_accept, max_log_shrink=shrink)
        self._restarted = False
        self.chol: torch.Tensor | None = None  # L of Σ = L Lᵀ, float64; None: identity
        self._chol_x: torch.Tensor | None = None  # the same in x's dtype
        self._window = 0
        self._estimator: MassMatrixEstimator | None = None
        self.state = (x0, *self.target.energy_and_score(x0))

    def _window_bounds(self) -> tuple[int, int]:
        """(first, last) warm-up transition of the current window, from the planned
        warm-up (final after the first transitions under a budget)."""
        n = self.warmup_planned
        edges = [0]
        for f in WINDOWS[:-1]:
            edges.append(edges[-1] + int(f * n))
        edges.append(n)
        return edges[self._window] + 1, edges[self._window + 1]

    def _transition(self, adapt: bool) -> torch.Tensor:
        h = self.h if adapt else mixed_steps(self.h, self.config.step_mixing, self.gen)
        self.state, prob, accept = mala_step(
            self.target, self.state, h[:, None], self.gen, chol=self._chol_x
        )
        if not (adapt and self.config.adapt):
            return accept
        self.h = self.adapter.update(prob)
        if self.config.mass_matrix != "identity":
            self._adapt_mass_matrix()
        elif not self._restarted and self.warmup_done >= RESTART_AT * self.warmup_planned:
            self._restarted = True
            self.h = self.adapter.final
            self.adapter = DualAveraging(self.h, self.config.target_accept)
        return accept

    def _adapt_mass_matrix(self) -> None:
        """Windowed warm-up: pool the chains' points over the second half of each window
        but the last; at its end set Σ from them and restart each chain's dual averaging
        (from d^(−1/3) after the first window, whose steps were in x's units, else from
        the chain's averaged step)."""
        if self._window >= len(WINDOWS) - 1:
            return
        i = self.warmup_done
        first, last = self._window_bounds()
        if i > first - 1 + (last - first + 1) // 2:
            if self._estimator is None:
                dense = self.config.mass_matrix == "dense"
                self._estimator = MassMatrixEstimator(self.n_chains, self.target.dim, dense)
            self._estimator.add(self.state[0], self.state[1])
        if i < last:
            return
        chol = self._estimator.factor() if self._estimator is not None else None
        self._estimator = None
        self._window += 1
        self.h = self.adapter.final
        if chol is not None:
            if self.chol is None:
                self.h = torch.full_like(self.h, float(self.target.dim) ** (-1.0 / 3.0))
            self.chol = chol
            self._chol_x = chol.to(self.state[0].dtype)
        self.adapter = DualAveraging(self.h, self.config.target_accept, max_log_shrink=SHRINK)

    def _end_warmup(self) -> None:
        if self.config.adapt and self.warmup_done > 0:
            self.h = self.adapter.final

    def _position(self) -> torch.Tensor:
        return self.state[0]

    def _extra_diagnostics(self) -> dict[str, float]:
        log_h = self.h.log()
        out = {
            "step_size": float(log_h.median().exp()),
            "step_size_spread": float((log_h.max() - log_h.min()).exp()),
        }
        if self.chol is not None:  # condition number of the frozen Σ
            if self.chol.dim() == 1:
                var = self.chol**2
            else:
                var = torch.linalg.eigvalsh(self.chol @ self.chol.T)
            out["mass_matrix_condition"] = float(var.max() / var.min())
        return out
