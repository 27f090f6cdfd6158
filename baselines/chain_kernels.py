"""The transition kernels and adaptation the chain methods share.

- :func:`initial_points`: the suite's broad initial distribution N(0, init_std² I), the
  same for every method that starts from noise (never the exact sampler or the reference).
- :class:`DualAveraging`: step-size adaptation toward a target acceptance rate, elementwise
  over a tensor of step sizes (one per chain, or one per temperature).
- :func:`mala_step`: one batched (optionally tempered, optionally preconditioned by a
  diagonal or dense mass matrix) MALA transition through the counter.
- :class:`MassMatrixEstimator`: pooled running covariance of the chains' points and the
  regularised mass matrix Stan takes from it.
- :func:`mixed_steps`: per-chain step sizes mixed across chains in production.

Each is a plain function or small class over batched tensors [n_chains, d]; evaluations go
through the :class:`~boltzbench.counter.Counter` they are given. The warm-up/production
driver that uses them is :class:`boltzbench.baselines.mcmc.ChainMethod`.
"""

from __future__ import annotations

import math

import torch

from boltzbench.counter import Counter

#: mass-matrix adaptation: a chain's mean energy may exceed the median chain's by this
#: many times d and still count as in the bulk (:class:`MassMatrixEstimator`)
BULK_ENERGY_MARGIN = 1.0


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
