"""PITA's inference-time annealing: the Feynman–Kac annealed reverse SDE and its pieces.

Functions of a variance-exploding diffusion model given as two callables, score(y, σ)
[n, d] and energy(y, σ) [n] (kT at the temperature the model stands for), on the method's
scaled coordinates y = x / init_std [n, d] with noise levels σ [n, 1] in the same units:

- :func:`fk_anneal`: the reverse SDE from σ_max down to σ_min tilted by γ = T_i/T_{i+1},
  with its Feynman–Kac log-weights [n], resampling and, after each step, the corrector;
- :func:`_corrector`: MALA moves on the model's intermediate density exp(−γU(·, σ));
- :func:`divergence`: (fn(y), div fn(y)) of a vector field, exact or by Hutchinson;
- :func:`resample`, :func:`_resample_n`: systematic resampling (indices [m]);
- :func:`_next_alpha`, :func:`_bridge_schedule`: the step rule (α from 0 to 1) of the
  final correction's SMC bridge, which :mod:`.pita_bridge` runs.

Network evaluations only: nothing here goes through the counter (the target's energies
enter in :mod:`.pita_bridge`).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from functools import partial

import torch
from boltzbench.baselines.weights import ess

from boltzbench.nets import hutchinson_trace, jacobian_rows


def divergence(
    fn: Callable[[torch.Tensor], torch.Tensor],
    y: torch.Tensor,
    gen: torch.Generator | None = None,
    exact_max_dim: int = 10,
    probes: int = 1,
) -> tuple[torch.Tensor, torch.Tensor]:
    """(fn(y), div fn(y)) for a vector field fn: [n, d] → [n, d], rows independent.

    Exact trace (d backward passes) when d ≤ ``exact_max_dim``, else Hutchinson's estimator
    averaged over ``probes`` Rademacher probes per row (unbiased: E[εᵀ J ε] = tr J)."""
    y = y.detach().requires_grad_(True)
    with torch.enable_grad():
        out = fn(y)
        if y.shape[1] <= exact_max_dim:
            div = jacobian_rows(out, y).diagonal(dim1=1, dim2=2).sum(1)
        else:
            div = sum(hutchinson_trace(out, y, gen) for _ in range(probes)) / probes
    return out.detach(), div.detach()


def resample(log_w: torch.Tensor, m: int, gen: torch.Generator) -> torch.Tensor:
    """m indices drawn by systematic resampling from the normalised weights
    softmax(log_w) (m may differ from the number of weights)."""
    w = torch.softmax(log_w.double(), 0)
    cdf = torch.cumsum(w, 0)
    cdf[-1] = 1.0
    u = (torch.rand(1, generator=gen, dtype=torch.float64) + torch.arange(m)) / m
    return torch.searchsorted(cdf, u).clamp(max=log_w.shape[0] - 1)


def fk_anneal(
    score: Callable[[torch.Tensor, torch.Tensor], torch.Tensor],
    energy: Callable[[torch.Tensor, torch.Tensor], torch.Tensor],
    n: int,
    dim: int,
    gamma: float,
    sigma_min: float,
    sigma_max: float,
    n_steps: int,
    gen: torch.Generator,
    resample: str = "ess",
    ess_fraction: float = 0.5,
    clip_quantile: float | None = None,
    exact_div_max_dim: int = 10,
    prior_var: float | None = None,
    div_probes: int = 1,
    radius: float | None = None,
    record: dict | None = None,
    corrector_steps: int = 0,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Feynman–Kac annealed reverse SDE of a variance-exploding diffusion model.

    The model gives, at noise level σ (h = σ², geometric schedule σ(t) = σ_min^(1−t)
    σ_max^t, g² = dh/dt = 2h ln(σ_max/σ_min)), a score s(y, σ) ≈ ∇log p_σ and an energy
    U(y, σ) ≈ −log p_σ + const. The particles start from N(0, v₀/γ), v₀ = ``prior_var``
    (default σ_max²; σ_max² plus the data's variance matches p_σmax better), with
    log-weight −γU(y, σ_max) − log N(y; 0, v₀/γ) and follow, for τ = 1 − t from 0 to 1 in
    ``n_steps`` Euler–Maruyama steps,

        dy = (g²/2) (s − γ∇U) dτ + g dW,
        dA = [γ ⟨−∇U, b⟩ + div b + γ ∂_t U] dτ,   b = (g²/2) s,

    so that the weighted particles track ρ_t ∝ exp(−γ U(·, σ(t))) (the Feynman–Kac rate
    −∂_τΦ + ∇·v − ⟨∇Φ, v⟩ − (g²/2)(‖∇Φ‖² − ΔΦ) for Φ = γU and this drift v; the ΔU terms
    cancel). This is the paper's drift; the authors' released code uses γ(g²/2)(s − ∇U)
    with rate γ²⟨−∇U, b⟩ + γ div b + γ∂_tU. Both are valid (the weights correct any
    drift) and agree at γ = 1, but for a Gaussian model the paper's drift is exact (the
    weights stay uniform) while the code's over-contracts (the particles end with too small
    a variance) and leaves the weights to undo it. Resampling: systematic,
    ``"always"`` (every step), ``"ess"`` (when the ESS falls under ``ess_fraction`` × n),
    weights reset after each, or ``"never"`` (weights only). ``clip_quantile``: clamp
    each step's increments at that quantile over the particles (the authors' code uses
    0.9; None keeps the estimator unbiased). ``radius``: a particle whose squared norm
    exceeds 4 (radius² + d σ²) (twice the data's largest norm, noise included) gets weight
    zero (an explicit step can throw a particle where the networks extrapolate, and its
    weight would then swamp the resampling); the target has no mass there. When every
    particle would be dropped at a step, none is: that step is refused for all of them
    (they keep their positions and weights), so a poor model or too few steps degrade the
    result rather than end it.

    ``corrector_steps``: after each Euler–Maruyama step (and its resampling), that many
    MALA moves on the current intermediate density ρ_t ∝ exp(−γ U(·, σ(t))) with the
    Metropolis–Hastings test, so each move leaves ρ_t invariant and the weights stand as
    they are (an SMC sampler's move step; the model alone, no target evaluations). The
    moves let the particles follow ρ_t where the SDE's drift does not: the drift is exact
    only for a Gaussian model, and on a target whose modes are chosen at moderate σ (16
    independent double wells on many_well) the tilt from T_i to T_{i+1} was otherwise
    left to the weights, whose variance then grows with the number of modes chosen at
    once. The step size is c (σ² + v)/γ per coordinate (v = the data's variance,
    ``prior_var`` − σ_max², or 1 when ``prior_var`` is None), c adapted after each move
    towards an acceptance of 0.57. Particles with weight zero are not moved; with
    ``radius`` a proposal outside the drop rule's ball is rejected.
    The acceptance rates are recorded in ``record["corrector_accept"]``.

    Args:
        score(y [n, d], sigma [n, 1]) → [n, d]; energy(y, sigma) → [n] (differentiable in y
            and sigma).

    Returns:
        (y [n, d], log-weights A [n]) at σ_min; the weighted particles represent
        exp(−γ U(·, σ_min)).
    """
    log_ratio = math.log(sigma_max / sigma_min)
    d_tau = 1.0 / n_steps
    var0 = (sigma_max**2 if prior_var is None else prior_var) / gamma
    data_var = max(var0 * gamma - sigma_max**2, 0.0) if prior_var is not None else 1.0
    log_c = math.log(0.1)
    y = math.sqrt(var0) * torch.randn(n, dim, generator=gen)
    s_max = torch.full((n, 1), sigma_max)
    with torch.no_grad():
        log_prior = -0.5 * (y * y).sum(1) / var0 - 0.5 * dim * math.log(2 * math.pi * var0)
        log_a = -gamma * energy(y, s_max) - log_prior
    for k in range(n_steps):
        t = 1.0 - k * d_tau
        sigma = sigma_max * math.exp(-(1.0 - t) * log_ratio)
        g2 = 2 * sigma**2 * log_ratio
        sig = torch.full((n, 1), sigma, requires_grad=True)
        yy = y.detach().requires_grad_(True)
        with torch.enable_grad():
            u = energy(yy, sig)
            grad_u, du_dsigma = torch.autograd.grad(u.sum(), (yy, sig))
        du_dt = du_dsigma.squeeze(1) * sigma * log_ratio  # dσ/dt = σ ln(σ_max/σ_min)
        sig_c = torch.full((n, 1), sigma)
        s, div_s = divergence(partial(score, sigma=sig_c), y, gen, exact_div_max_dim, div_probes)
        b = 0.5 * g2 * s
        rate = gamma * (-(grad_u * b).sum(1)) + 0.5 * g2 * div_s + gamma * du_dt
        rate = torch.where(torch.isfinite(rate), rate, -torch.inf)
        if clip_quantile is not None:
            finite = rate[torch.isfinite(rate)]
            if finite.numel():
                rate = rate.clamp(max=float(torch.quantile(finite, clip_quantile)))
        log_a = log_a + d_tau * rate
        noise = torch.randn(y.shape, generator=gen)
        y_new = y + d_tau * 0.5 * g2 * (s - gamma * grad_u) + math.sqrt(g2 * d_tau) * noise
        if radius is not None:  # a particle thrown far outside the data is dropped
            out = ~((y_new * y_new).sum(1) <= 4 * (radius**2 + dim * sigma**2))
            if (~out & torch.isfinite(log_a)).any():
                log_a = torch.where(out, -torch.inf, log_a)
                y_new = torch.where(out[:, None], y, y_new)
            else:
                # Every particle thrown out: the explicit step itself has failed (with an
                # untrained model, or too few steps for the stiffness of the schedule:
                # Euler is unstable once (g²/2) dτ (1 + γ) / (1 + h) > 2, i.e. for
                # n_steps < ln(σ_max/σ_min)(1 + γ)/2 with the Gaussian part alone), not
                # the particles. Dropping them all would leave nothing to correct, so the
                # step is refused for all of them instead: each keeps its position and
                # its weight, and the annealing goes on from there (the weights then only
                # approximate ρ_t; the final correction with the true energies still
                # applies). Counted in ``record["refused_steps"]``.
                y_new = y
                if record is not None:
                    record["refused_steps"] = record.get("refused_steps", 0) + 1
        y = y_new
        if resample == "always" or (resample == "ess" and ess(log_a) < ess_fraction * n):
            idx = _resample_n(log_a, gen)
            y, log_a = y[idx], torch.zeros(n)
            if record is not None:
                record.setdefault("resample_sigmas", []).append(sigma)
                record.setdefault("unique", []).append(idx.unique().numel() / n)
        if corrector_steps:
            sigma_next = sigma_max * math.exp(-(k + 1) * d_tau * log_ratio)  # σ after step k
            scale = (sigma_next**2 + data_var) / gamma
            bound = None if radius is None else 4 * (radius**2 + dim * sigma_next**2)
            y, log_c = _corrector(
                energy,
                y,
                sigma_next,
                gamma,
                scale,
                log_c,
                corrector_steps,
                gen,
                record,
                alive=torch.isfinite(log_a),
                bound=bound,
            )
    return y.detach(), log_a.detach()


def _corrector(
    energy: Callable[[torch.Tensor, torch.Tensor], torch.Tensor],
    y: torch.Tensor,
    sigma: float,
    gamma: float,
    scale: float,
    log_c: float,
    steps: int,
    gen: torch.Generator,
    record: dict | None,
    alive: torch.Tensor | None = None,
    bound: float | None = None,
) -> tuple[torch.Tensor, float]:
    """``steps`` MALA moves on exp(−γ U(·, σ)), step size exp(log_c) · ``scale``; returns
    the particles and the adapted log_c (after each move, log_c += ½ (rate − 0.57), a
    constant gain, clamped to [1e-4, 10]).

    ``alive`` [n] bool: the particles with a finite weight; the others are not moved (nor
    counted in the acceptance rate). ``bound``: a proposal with squared norm above it is
    rejected and a particle already outside is not moved, so the moves leave exp(−γU)
    restricted to that ball invariant (the region the annealing's drop rule keeps) and
    the particles outside where they are."""
    sig = torch.full((y.shape[0], 1), sigma)
    alive = torch.ones(y.shape[0], dtype=torch.bool) if alive is None else alive
    if bound is not None:  # a particle outside the ball (the drop rule's ball at the
        # previous, larger σ is wider) stays put: a move into the ball could not be undone
        alive = alive & ((y * y).sum(1) <= bound)

    def potential(z: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        z = z.detach().requires_grad_(True)
        with torch.enable_grad():
            u = gamma * energy(z, sig)
            (g,) = torch.autograd.grad(u.sum(), z)
        return u.detach(), g.detach()

    u0, g0 = potential(y)
    for _ in range(steps):
        eps = math.exp(log_c) * scale
        prop = y - eps * g0 + math.sqrt(2 * eps) * torch.randn(y.shape, generator=gen)
        u1, g1 = potential(prop)
        fwd = ((prop - y + eps * g0) ** 2).sum(1)
        bwd = ((y - prop + eps * g1) ** 2).sum(1)
        log_alpha = -(u1 - u0) - (bwd - fwd) / (4 * eps)
        ok = torch.isfinite(log_alpha) & alive
        if bound is not None:
            ok &= (prop * prop).sum(1) <= bound
        log_alpha = torch.where(ok, log_alpha, -torch.inf)
        accept = torch.rand(y.shape[0], generator=gen).log() < log_alpha
        y = torch.where(accept[:, None], prop, y)
        u0 = torch.where(accept, u1, u0)
        g0 = torch.where(accept[:, None], g1, g0)
        rate = float(accept[alive].double().mean()) if alive.any() else 0.0
        log_c = min(max(log_c + 0.5 * (rate - 0.57), math.log(1e-4)), math.log(10.0))
        if record is not None:
            record.setdefault("corrector_accept", []).append(rate)
    return y, log_c


def _resample_n(log_w: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
    return resample(log_w, log_w.shape[0], gen)


def _next_alpha(log_w: torch.Tensor, r: torch.Tensor, alpha: float, target: float) -> float:
    """The bridge's next α: 1 if the weights log_w + (1 − α) r keep a normalised ESS of
    ``target``, else the largest α' < 1 whose weights log_w + (α' − α) r do (bisection)."""
    n = log_w.shape[0]
    if ess(log_w + (1 - alpha) * r) >= target * n:
        return 1.0
    lo, hi = 0.0, 1.0 - alpha
    for _ in range(50):
        mid = 0.5 * (lo + hi)
        lo, hi = (mid, hi) if ess(log_w + mid * r) >= target * n else (lo, mid)
    return alpha + max(lo, 1e-6)


def _bridge_schedule(log_w: torch.Tensor, r: torch.Tensor, target: float, max_steps: int) -> int:
    """Steps of α the bridge is expected to take, from the starting particles alone (the
    weights reset after each step, the particles held fixed)."""
    alpha, steps = 0.0, 0
    while alpha < 1.0 and steps + 1 < max_steps:
        alpha = _next_alpha(log_w, r, alpha, target)
        log_w, steps = torch.zeros_like(log_w), steps + 1
    return steps + (alpha < 1.0)
