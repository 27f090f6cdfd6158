"""The drift fields of the drifting samplers, as plain functions of a generated batch.

Shapes: a batch x [B, d]; energies [B] or [B, M]; every field returns [B, d] in the
coordinates of x. The sampler side :func:`sampler_drift` is V⁻ (the Gaussian mean-shift
over the batch, self included); the target side V⁺ is :func:`is_local_drift`,
:func:`is_shared_drift` or :func:`curvature_drift`; :func:`force_drift` is the force-guided
field (kernel-weighted σ² (s_π − s_q)). See :mod:`boltzbench.methods.drifting` for the loss
that uses them and the derivation.
"""

from __future__ import annotations

import math

import torch

from boltzbench.counter import Counter

ESTIMATORS = ("is", "curvature")
PROPOSALS = ("local", "shared")


def _finite_or_neg_inf(log_w: torch.Tensor) -> torch.Tensor:
    """Treat NaN/inf log-weights (an energy that is NaN or -inf somewhere) as weight 0."""
    if torch.isfinite(log_w).all():
        return log_w
    return torch.where(torch.isfinite(log_w), log_w, -torch.inf)


def _safe_softmax(log_w: torch.Tensor) -> torch.Tensor:
    """Row softmax; a row with no finite weight gives all-zero weights (no move)."""
    w = torch.softmax(log_w, dim=1)
    return w if torch.isfinite(w).all() else torch.nan_to_num(w, nan=0.0)


def _pairwise_sq(x: torch.Tensor, sq: torch.Tensor | None) -> torch.Tensor:
    """Squared pairwise distances of the batch (a fresh tensor: callers modify it)."""
    return torch.cdist(x, x).pow(2) if sq is None else sq.clone()


def sampler_drift(
    x: torch.Tensor, sigma: float, self_weight: float = 1.0, sq: torch.Tensor | None = None
) -> torch.Tensor:
    """Gaussian mean-shift over the batch, Σ_j a_ij (x_j − x_i), [B, d]: an estimate of
    σ² ∇log q_σ(x_i) for the batch's own distribution q.

    The self pair (j = i, zero displacement) enters the normalisation with weight
    ``self_weight`` instead of its kernel value 1: 1 is the plain self-included mean-shift,
    0 excludes self (unstable: an isolated sample is pushed away by about its distance to
    the rest). A small positive weight keeps isolated samples still while barely damping
    the repulsion in sparse regions such as a generator's seam between modes. ``sq``:
    the batch's squared pairwise distances [B, B], if already computed.
    """
    logits = -_pairwise_sq(x, sq) / (2 * sigma**2)
    logits.diagonal().fill_(math.log(self_weight) if self_weight > 0 else -math.inf)
    return torch.softmax(logits, dim=1) @ x - x


def is_local_drift(
    counter: Counter, x: torch.Tensor, sigma: float, n_proposals: int, gen: torch.Generator
) -> torch.Tensor:
    """Local importance-sampling mean-shift σ Σ_m softmax_m(−E(x + σu_m)) u_m, [B, d].

    Uses ``n_proposals`` (rounded up to even) antithetic proposals ±u per sample; charges
    B × n_proposals energy evaluations."""
    b, d = x.shape
    half = max(1, (n_proposals + 1) // 2)
    u = torch.randn(b, half, d, generator=gen, dtype=x.dtype)
    u = torch.cat([u, -u], dim=1)  # [B, M, d]
    y = (x[:, None, :] + sigma * u).reshape(-1, d)
    log_w = _finite_or_neg_inf(-counter.energy(y).reshape(b, -1).to(x.dtype))
    return sigma * (_safe_softmax(log_w)[..., None] * u).sum(1)


def is_shared_drift(
    counter: Counter, x: torch.Tensor, sigma: float, gen: torch.Generator
) -> torch.Tensor:
    """Mixture-proposal importance-sampling mean-shift with one proposal per sample shared
    across the batch, [B, d]; charges B energy evaluations.

    Proposals y_j = x_j + σ u_j have the mixture density q̂(y) ∝ Σ_k N(y; x_k, σ² I), so
    V⁺(x_i) = Σ_j w_ij (y_j − x_i) with w_ij ∝ exp(−E(y_j)) N(y_j; x_i, σ² I) / q̂(y_j),
    self-normalised over j: a consistent estimate of E[y | x_i] − x_i."""
    y = x + sigma * torch.randn(x.shape, generator=gen, dtype=x.dtype)
    log_pi = -counter.energy(y).to(x.dtype)  # [B]
    log_k = -torch.cdist(x, y).pow(2) / (2 * sigma**2)  # [B_x, B_y]
    log_q = torch.logsumexp(log_k, dim=0)  # mixture density of each y_j, up to constants
    log_w = log_k + _finite_or_neg_inf(log_pi - log_q)[None, :]
    return _safe_softmax(log_w) @ y - x


def curvature_drift(g: torch.Tensor, h: torch.Tensor, sigma: float, floor: float) -> torch.Tensor:
    """−σ² (I + σ² H)⁻¹ g with the eigenvalues of I + σ²H clipped at ``floor``, [B, d].

    Args:
        g: energy gradients ∇E, [B, d].
        h: energy Hessians ∇²E, [B, d, d].
    """
    d = g.shape[1]
    # in float64, with non-finite or huge curvature (far in a target's tails, Hessians can
    # reach 1e17) bounded, so that the eigendecomposition converges; a gradient that is not
    # finite (an energy that is +inf there) gives no move
    h64 = torch.nan_to_num(h.to(torch.float64), nan=0.0, posinf=1e12, neginf=-1e12)
    m = torch.eye(d, dtype=torch.float64) + sigma**2 * h64.clamp(-1e12, 1e12)
    m = 0.5 * (m + m.transpose(1, 2))
    scale = m.abs().amax(dim=(1, 2), keepdim=True).clamp_min(1.0)
    evals, evecs = torch.linalg.eigh(m / scale)
    evals = (evals * scale[:, 0]).clamp_min(floor)
    g64 = torch.nan_to_num(g.to(torch.float64), nan=0.0, posinf=1e12, neginf=-1e12)
    coeffs = (evecs.transpose(1, 2) @ g64[..., None]).squeeze(-1) / evals
    return (-(sigma**2) * (evecs @ coeffs[..., None]).squeeze(-1)).to(g.dtype)


def force_drift(
    x: torch.Tensor, scores: torch.Tensor, sigma: float, sq: torch.Tensor | None = None
) -> torch.Tensor:
    """Σ_j k̃_ij [σ² s(x_j) − (x_j − x_i)] with k̃ the row-normalised Gaussian kernel over the
    batch (self included), [B, d].

    By the Drifting Score Identity, E_q[k̃ (y − x)] = σ² E_q[k̃ s_q(y)], so this is the
    kernel-weighted average of the Boltzmann correction σ² (s_π − s_q) over the batch; it
    vanishes when q = π. ``sq``: the batch's squared pairwise distances, if computed.

    A sample whose score is not finite (the energy overflows there, e.g. exp(f) of a
    Poisson rate) carries no force: it gets kernel weight zero in every row, and a row
    with no finite neighbour gets no drift. (One such sample once made the whole batch's
    drift NaN and every later sample NaN.)"""
    logits = -_pairwise_sq(x, sq) / (2 * sigma**2)
    finite = torch.isfinite(scores).all(1)
    if not bool(finite.all()):
        logits = logits.masked_fill(~finite[None, :], -math.inf)
        scores = torch.where(finite[:, None], scores, torch.zeros_like(scores))
        a = torch.nan_to_num(torch.softmax(logits, dim=1), nan=0.0)
        return (sigma**2 * (a @ scores) - (a @ x - x)) * a.sum(1, keepdim=True)
    a = torch.softmax(logits, dim=1)
    return sigma**2 * (a @ scores) - (a @ x - x)
