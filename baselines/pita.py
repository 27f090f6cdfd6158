"""PITA-style baseline: progressive inference-time annealing of diffusion samplers.

After Akhound-Sadegh et al. (2025), at CPU scale (see docs/methods.md for what differs, and
:data:`PAPER_CONFIG` for the paper's own settings). Coordinates are divided by the target's
``init_std`` inside the method (y = x / init_std), so one set of noise levels serves
targets of different scales.

1. **Data at T₀.** MALA at the hottest temperature T₀ from the suite's broad start, one
   step size per chain tuned by dual averaging during warm-up (a single shared step size
   leaves the chains that start far out, where the gradient is steep, rejecting every
   move: on many_well a fifth of the draws had E > 6000 kT), through the counter:
   buffer 0 (``train``). Every buffer keeps the configurations, their energies and their
   scores (the gradients come with the energies at no extra cost).
2. **Ladder.** T_{i+1} is set from buffer i's stored energies by an ESS criterion (see
   :mod:`.pita_ladder`): the tempering weights exp(−(1/T_{i+1} − 1/T_i) E) keep a
   normalised ESS of ``rung_ess``. No evaluations, no reference.
3. **Train** (phase i, on the buffers of T₀ … T_i, half of each batch from T_i, the rest
   uniformly over all of them; for as long as the wall-time allowance ``train_seconds``
   gives this phase, since training costs no evaluations) an energy network conditioned
   on (c_noise = ¼ ln σ, ln β), β = T₀/T, in the paper's form for a variance-exploding
   process (σ_data = 1, h = σ²): U_η(y) = ‖y‖²/(2(1 + h)) − (1/σ)⟨G_η(c_in y), c_in y⟩ +
   b_η(c_in y). Losses:
   - score matching λ(h)‖y_t − h∇U_η(y_t) − D*‖², λ = (h + 1)/h, with the target
     D* = (1 − w) y₀ + w (y_t + h ∇log p_T(y₀)) mixing denoising score matching (w = 0)
     and target score matching (w = 1, on the buffer's stored scores) by inverse
     variance, w = d / (d + h ‖∇log p_T‖²): both are unbiased for the score of p_σ, and
     the target score's variance vanishes as σ → 0 where the denoising target's explodes;
   - energy pinning (U_η(σ_min, y₀) − E(x₀)/T)² and force pinning v ‖∇U_η(σ_min, y₀) −
     ∇E(x₀)/T‖² (v: the buffer's variance per coordinate, so both terms are in kT²) on the
     stored energies and scores (no new evaluations). The final correction needs
     U_η(σ_min) right to about 1/γ kT; the forces give d constraints per configuration
     where the energy gives one (with energies alone the network's gradient is wrong
     and the annealed particles land at thousands of kT on many_well).
   The energy is held at its value at a floor σ_c below σ_c (see :meth:`PITA._buffer_stats`):
   the losses hardly constrain its σ-dependence there, and ∂_t U_η from that region was
   most of the weights' variance. With ``drift="score"`` a second network (the
   preconditioned denoiser D_θ = c_s y + c_out F_θ(c_in y)) is trained by the same score
   matching, and U_η by distillation λ‖y_t − h∇U_η − sg(D_θ)‖², as in the paper.
   Particle targets (``n_particles`` and ``spatial_dim`` set) are augmented with random
   rotations about the origin and permutations of the particles, each used only when
   the target's energy is found invariant under it on a few buffer configurations
   (``2 × symmetry_checks`` energy evaluations, counted).
4. **Inference-time annealing** T_i → T_{i+1}, γ = T_i/T_{i+1}: the reverse SDE
   dy = (g²/2)(s − γ∇U_η) dτ + g dW, s = −∇U_η (or the score network), from
   N(0, (σ_max² + v)/γ) (weighted by exp(−γU_η)/prior) down to σ_min, with the
   Feynman–Kac log-weight rate γ⟨−∇U_η, b⟩ + div b + γ ∂_t U_η, b = (g²/2) s (see
   :func:`fk_anneal`) and systematic resampling when the ESS falls under a threshold;
   after each step, ``corrector_steps`` MALA moves on the model's intermediate density
   exp(−γU_η(·, σ)) (network evaluations only), which let the particles, not only their
   weights, follow the tilt to the colder temperature.
   Then the correction to the target at T_{i+1} with the true energies (through the
   counter): the importance weights exp(−E/T_{i+1} + γU_η(σ_min)) in one step when they
   keep ``bridge_ess``, else an SMC bridge through q^(1−α) π^α with MALA moves (see
   :meth:`PITA._bridge`); a last resampling and MALA relaxation at T_{i+1}. The particles
   (with their energies and scores) become buffer i+1.
5. ``sample(n)`` runs the last transition (to T = 1) with ``sample_particles`` × n
   particles, resamples n of them and relaxes those, charged to ``sample``; earlier
   transitions are part of ``fit`` (``train``).

**Budget.** Under a budget the method sizes its evaluations from ``counter.budget``:
``data_share`` of it to the MALA data at T₀ (more draws, same chains and warm-up),
``sample_share`` reserved for ``sample``, the rest split over the transitions in ``fit``
as they come (the bridge's moves and the relaxation sized to each one's share);
``sample`` spends what is left, so an ok cell uses about 1 − ``MARGIN`` of the budget.
Without a budget the config's sizes hold.

Evaluation counts are reported split into data generation (MALA at T₀ and the symmetry
checks), training (always 0: the losses reuse stored energies), annealing (final
corrections, bridges and relaxation inside ``fit``) and sampling (``diag_evals_*``).
"""

from __future__ import annotations

import itertools
import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial

import torch
from boltzbench.baselines.mcmc import DualAveraging, initial_points, mala_step
from boltzbench.baselines.pita_ladder import next_temperature, rungs_left, tempering_ess
from boltzbench.baselines.weights import ess
from torch import nn

from boltzbench.budget import MARGIN, has_budget, unit_cost
from boltzbench.counter import Counter
from boltzbench.nets import hutchinson_trace, jacobian_rows, mlp
from boltzbench.registry import register_method
from boltzbench.rng import generator


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


class _TempMLP(nn.Module):
    """MLP on [c_in·y, c_noise, ln β] → out channels (SiLU)."""

    def __init__(self, dim: int, hidden: int, layers: int, out: int) -> None:
        super().__init__()
        self.net = mlp(dim + 2, hidden, layers, out)

    def forward(self, y: torch.Tensor, c_noise: torch.Tensor, log_beta: torch.Tensor):
        return self.net(torch.cat([y, c_noise, log_beta], dim=1))


class DiffusionModel(nn.Module):
    """Temperature-conditioned score and energy networks with EDM preconditioning (σ_data = 1).

    Shapes: y [n, d], sigma [n, 1], log_beta [n, 1]."""

    def __init__(self, dim: int, hidden: int, layers: int) -> None:
        super().__init__()
        self.score_net = _TempMLP(dim, hidden, layers, dim)
        self.energy_net = _TempMLP(dim, hidden, layers, dim + 1)

    @staticmethod
    def _pre(sigma: torch.Tensor):
        h = sigma**2
        c_s = 1 / (1 + h)
        c_in = (1 + h).rsqrt()
        c_out = sigma * c_in
        c_noise = 0.25 * sigma.log()
        return h, c_s, c_in, c_out, c_noise

    def denoise(self, y, sigma, log_beta):
        h, c_s, c_in, c_out, c_noise = self._pre(sigma)
        return c_s * y + c_out * self.score_net(c_in * y, c_noise, log_beta)

    def score(self, y, sigma, log_beta):
        return (self.denoise(y, sigma, log_beta) - y) / sigma**2

    def energy(self, y, sigma, log_beta, floor: torch.Tensor | float = 0.0):
        """U(y, max(σ, floor)): constant in σ below ``floor`` (a float or [n, 1])."""
        sigma = torch.maximum(sigma, torch.as_tensor(floor, dtype=sigma.dtype))
        h, c_s, c_in, c_out, c_noise = self._pre(sigma)
        out = self.energy_net(c_in * y, c_noise, log_beta)
        quad = (y * y).sum(1) / (2 * (1 + h.squeeze(1)))
        inner = (out[:, :-1] * c_in * y).sum(1) / sigma.squeeze(1)
        return quad - inner + out[:, -1]


# --------------------------------------------------------------------- symmetries
def random_rotations(n: int, k: int, gen: torch.Generator) -> torch.Tensor:
    """n Haar-distributed rotations of R^k (determinant +1), [n, k, k]."""
    q, r = torch.linalg.qr(torch.randn(n, k, k, generator=gen, dtype=torch.float64))
    q = q * torch.sign(torch.diagonal(r, dim1=1, dim2=2))[:, None, :]  # Haar on O(k)
    flip = torch.linalg.det(q) < 0
    q[flip, :, 0] = -q[flip, :, 0]
    return q.to(torch.get_default_dtype())


def transform_particles(
    arrays: tuple[torch.Tensor, ...],
    n_particles: int,
    spatial_dim: int,
    gen: torch.Generator,
    rotate: bool,
    permute: bool,
) -> tuple[torch.Tensor, ...]:
    """Apply one random rotation about the origin and/or permutation of the particles per
    row to each [n, n_particles·spatial_dim] array (positions and forces alike)."""
    if not (rotate or permute):
        return arrays
    n = arrays[0].shape[0]
    shape = (n, n_particles, spatial_dim)
    rot = random_rotations(n, spatial_dim, gen) if rotate else None
    order = torch.argsort(torch.rand(n, n_particles, generator=gen), dim=1) if permute else None
    out = []
    for a in arrays:
        p = a.reshape(shape)
        if rot is not None:
            p = p @ rot.transpose(1, 2).to(p.dtype)
        if order is not None:
            p = torch.gather(p, 1, order[..., None].expand(shape))
        out.append(p.reshape(n, -1))
    return tuple(out)


@dataclass
class PITAConfig:
    """PITA settings.

    Attributes:
        t_max: the hottest temperature T₀ (kT).
        ladder: ``"ess"`` (each next temperature from the ESS criterion of
            :mod:`.pita_ladder` on the current buffer's energies), ``"geometric"``
            (``n_temps`` temperatures geometric from T₀ to 1) or ``"fixed"``
            (``temperatures``).
        rung_ess: the ESS criterion's target (normalised ESS of the tempering weights
            between consecutive temperatures). 0.2 gives γ ≈ 1.5 on many_well (8
            temperatures), the paper's range (γ ≈ 1.2–1.5); 0.05 gave γ ≈ 1.8 there and
            left the last rung's one-step correction with a single particle in one seed
            of five (seed 2, ESS 3e-4; with 0.2 that seed's correction keeps ESS 0.49,
            measured with scripts/pita_check.py).
        max_temps: at most this many temperatures on the ``"ess"`` ladder, T₀ and 1
            included (the last rung then goes to 1 whatever its ESS).
        n_temps: temperatures on the ``"geometric"`` ladder, T₀ and 1 included.
        temperatures: the ``"fixed"`` ladder, decreasing from T₀ to 1.
        data_chains, data_warmup, data_thin: MALA at T₀ for buffer 0.
        data_size: draws in buffer 0 without a budget (under one: ``data_share``).
        buffer_size: annealed particles per later buffer.
        relax_steps: MALA relaxation steps after each transition's final resampling,
            without a budget (under one: sized from the budget).
        relax_steps_min: under a budget, the relaxation steps per sample reserved for
            ``sample`` before the transitions in ``fit`` are sized.
        bridge_ess: the bridge's criterion: each step of α keeps this normalised ESS
            (see :meth:`PITA._bridge`).
        bridge_max: at most this many steps of α (1: the paper's one-step correction).
        bridge_moves: MALA steps after each intermediate step of α, without a budget
            (under one: sized from the budget and the expected number of steps).
        sample_particles: particles in ``sample``'s transition per sample asked for
            (the final correction resamples n of them).
        data_share, sample_share: under a budget, the shares of it for the data at T₀
            and reserved for ``sample``; the rest goes to the transitions in ``fit``.
        train_seconds: wall-time allowance for all training phases together (training
            costs no evaluations); each phase gets the rest of the allowance divided over
            the phases still expected (the first one counts double: it starts from
            scratch). Ignored when ``train_steps`` is set.
        train_steps: optimiser steps per phase (fixed, so that a seed gives the same
            numbers on any machine; the default), or None to train for ``train_seconds``
            (more training on a faster machine, not reproducible across machines; the
            steps taken are reported in ``diag_train_steps``).
        min_train_steps: optimiser steps per phase at least, whatever the allowance.
        batch_size, lr, hidden, layers: training and MLP shape (lr 3e-3: at 1e-3 the
            energy network needs about three times the steps to reach the same error).
        ema: decay of the parameter average used for annealing.
        force_weight: weight of the force pinning (0: energies only, as the paper).
        target_score: mix the stored scores into the score-matching target (target score
            matching where it has the lower variance); False: plain denoising.
        drift: ``"energy"``: one network, the energy, trained by score matching on −∇U_η
            and used for the drift and the weights alike; ``"score"``: the paper's two
            networks (the score network in the drift, the energy network distilled from
            it for the weights).
        smoothing_tolerance: sets the energy floor σ_c of each temperature (kT; 0: no
            floor, see :meth:`PITA._buffer_stats`).
        augment: random rotations/permutations for particle targets (where the energy is
            found invariant).
        symmetry_checks: configurations on which each symmetry is checked.
        sigma_min, sigma_max: noise levels in units of init_std.
        anneal_steps: Euler–Maruyama steps of each annealing.
        resample: ``"always"`` (every step, as the authors' code), ``"ess"`` or
            ``"never"`` (weights only, the final correction resamples).
        ess_fraction: the ESS threshold for ``"ess"``, as a fraction of the particles.
        clip_quantile: per-step clamp of the weight increments (None: no clamp, unbiased;
            the authors' code clamps at 0.9).
        exact_div_max_dim: exact divergence up to this dimension, Hutchinson above.
        div_probes: Rademacher probes per Hutchinson estimate.
        corrector_steps: MALA moves on the model's intermediate density after each
            Euler–Maruyama step of the annealing (network evaluations only, see
            :func:`fk_anneal`).
    """

    t_max: float = 10.0
    ladder: str = "ess"
    rung_ess: float = 0.2
    max_temps: int = 10
    n_temps: int = 5
    temperatures: tuple[float, ...] | None = None
    data_chains: int = 128
    data_warmup: int = 300
    data_thin: int = 4
    data_size: int = 8000
    buffer_size: int = 4000
    relax_steps: int = 10
    relax_steps_min: int = 1
    bridge_ess: float = 0.5
    bridge_max: int = 40
    bridge_moves: int = 3
    sample_particles: int = 2
    data_share: float = 0.25
    sample_share: float = 0.3
    train_seconds: float = 180.0
    train_steps: int | None = 800
    min_train_steps: int = 100
    batch_size: int = 512
    lr: float = 3e-3
    hidden: int = 128
    layers: int = 3
    ema: float = 0.99
    force_weight: float = 1.0
    target_score: bool = True
    drift: str = "energy"
    smoothing_tolerance: float = 0.1
    augment: bool = True
    symmetry_checks: int = 8
    sigma_min: float = 0.01
    sigma_max: float = 5.0
    anneal_steps: int = 200
    resample: str = "ess"
    ess_fraction: float = 0.5
    clip_quantile: float | None = None
    exact_div_max_dim: int = 10
    div_probes: int = 4
    corrector_steps: int = 3

    def validate(self) -> None:
        if self.t_max <= 1:
            raise ValueError(f"need t_max > 1, got {self.t_max}")
        if self.ladder not in ("ess", "geometric", "fixed"):
            raise ValueError(f"ladder must be ess, geometric or fixed, got {self.ladder!r}")
        if self.ladder == "geometric" and self.n_temps < 2:
            raise ValueError(f"need n_temps ≥ 2, got {self.n_temps}")
        if self.ladder == "ess" and (self.max_temps < 2 or not 0 < self.rung_ess < 1):
            raise ValueError("need max_temps ≥ 2 and 0 < rung_ess < 1")
        if self.ladder == "fixed":
            t = self.temperatures
            if not t or len(t) < 2 or t[-1] != 1 or any(a <= b for a, b in itertools.pairwise(t)):
                raise ValueError(f"temperatures must decrease to 1, got {t}")
        if self.drift not in ("score", "energy"):
            raise ValueError(f"drift must be score or energy, got {self.drift!r}")
        if self.resample not in ("always", "ess", "never"):
            raise ValueError(f"resample must be always, ess or never, got {self.resample!r}")
        if not 0 < self.sigma_min < self.sigma_max:
            raise ValueError("need 0 < sigma_min < sigma_max")
        if self.sample_particles < 1 or self.data_share + self.sample_share >= 1:
            raise ValueError("need sample_particles ≥ 1 and data_share + sample_share < 1")


#: The paper's setting (Akhound-Sadegh et al. 2025; their configs/experiment/lj13.yaml and
#: model/energytemp.yaml) scaled to CPU, for the unbudgeted ``paper`` suite: the LJ-13
#: ladder (4, 3, 2, 1.5, 1.2, 1); 10,000 data points at T₀; 5,000 annealed particles per
#: temperature; the paper's two networks (score network in the drift, energy network for
#: the weights; ``drift="score"``) trained by denoising score matching, energy–score
#: distillation and energy pinning alone (no force pinning, no target score, no energy
#: floor); 1,000 Euler–Maruyama steps down to σ_min = 0.05 (× init_std) with resampling at
#: every step; the one-step final correction (``bridge_max=1``) and no MALA afterwards
#: (their ``post_mcmc_steps: 0``); batch 512, lr 1e-3, EMA 0.999. Training: 600 s of wall
#: time over the five phases (the paper: 1,000 epochs, about 250,000 optimiser steps of an
#: EGNN on a GPU; here an MLP, some 10,000–20,000 steps on 2 CPU cores, recorded in
#: ``diag_train_steps``; wall time, so not reproducible: the ``paper`` suite's
#: ``pita_paper`` fixes 1,000 steps per phase instead and shrinks the annealing, see
#: ``PITA_PAPER`` in boltzbench/suites.py). Differences kept on purpose: the released code
#: stops resampling at step 900 of 1,000 and clamps the final weights at their 0.9
#: quantile (biased); here every step and no clamp. Run without a budget.
PAPER_CONFIG: dict = {
    "ladder": "fixed",
    "t_max": 4.0,
    "temperatures": (4.0, 3.0, 2.0, 1.5, 1.2, 1.0),
    "data_size": 10_000,
    "buffer_size": 5_000,
    "sample_particles": 1,
    "relax_steps": 0,
    "relax_steps_min": 0,
    "bridge_max": 1,
    "anneal_steps": 1000,
    "sigma_min": 0.05,
    "resample": "always",
    "drift": "score",
    "force_weight": 0.0,
    "target_score": False,
    "smoothing_tolerance": 0.0,
    "lr": 1e-3,
    "ema": 0.999,
    "train_seconds": 600.0,
    "corrector_steps": 0,
}


@register_method("pita")
class PITA:
    """Progressive inference-time annealing (see the module docstring)."""

    amortized = True  # trained once; each sample costs a fixed number of evaluations

    Config = PITAConfig

    def __init__(self, config: PITAConfig | None = None) -> None:
        self.config = config or PITAConfig()
        self.phase_evals = {"data": 0, "training": 0, "annealing": 0, "sampling": 0}
        self.final_ess: list[float] = []
        self.train_steps_done: list[int] = []
        self.ess_oneshot: list[float] = []
        self.bridge_steps: list[int] = []
        self.fk_record: dict[int, dict] = {}
        self.info: dict[str, float] = {}

    # ----------------------------------------------------------------------- fit
    def fit(self, target: Counter, *, seed: int) -> None:
        c = self.config
        c.validate()
        self.target = target
        self.scale = float(target.init_std)
        self.gen = generator(seed)
        self.unit = unit_cost(target, grad=1)  # every evaluation here is energy + score
        self.n_out = int(getattr(target, "n_samples", None) or 2000)
        self.train_used = 0.0
        self.anneal_seconds = 0.0
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            self.model = DiffusionModel(target.dim, c.hidden, c.layers)
        self.ema = DiffusionModel(target.dim, c.hidden, c.layers)
        self.ema.load_state_dict(self.model.state_dict())
        self.opt = torch.optim.Adam(self.model.parameters(), lr=c.lr)
        self.temps = [float(c.temperatures[0]) if c.ladder == "fixed" else float(c.t_max)]
        before = self._used()
        self.buffers = [self._data_at_t0()]
        self.symmetries = self._find_symmetries()
        self.phase_evals["data"] = self._used() - before
        while True:
            i = len(self.temps) - 1
            self.temps.append(self._next_temperature(i))
            self._train(i)
            if self.temps[-1] == 1.0:
                break  # the last transition is sample()'s
            before, start = self._used(), time.perf_counter()
            n, evals = self._rung_size(i)
            self.buffers.append(self._transition(i, n, n, evals))
            self.phase_evals["annealing"] += self._used() - before
            self.anneal_seconds += time.perf_counter() - start

    def _used(self) -> int:
        return self.target.counts.total

    # -------------------------------------------------------------- planning
    def _budgeted(self) -> bool:
        return has_budget(self.target)

    def _next_temperature(self, i: int) -> float:
        """T_{i+1} by the configured ladder rule (see :mod:`.pita_ladder` for ``"ess"``)."""
        c = self.config
        t_now = self.temps[i]
        if c.ladder == "fixed":
            return float(c.temperatures[i + 1])
        if c.ladder == "geometric":
            k = i + 1
            return 1.0 if k >= c.n_temps - 1 else float(c.t_max ** (1 - k / (c.n_temps - 1)))
        if i + 2 >= c.max_temps:
            return 1.0
        return next_temperature(self.buffers[i][1], t_now, c.rung_ess)

    def _transitions_left(self, i: int) -> int:
        """Transitions expected after the one from T_i (sample()'s included), at the
        ratio of that one."""
        c = self.config
        t_next = self.temps[i + 1]
        if c.ladder != "ess":
            n_temps = len(c.temperatures) if c.ladder == "fixed" else c.n_temps
            return n_temps - (i + 2)
        left = rungs_left(t_next, self.temps[i] / t_next)
        return min(left, c.max_temps - (i + 2))

    def _rung_size(self, i: int) -> tuple[int, int | None]:
        """(particles, evaluations for the bridge's moves and the relaxation) of the
        transition from T_i inside fit; None: the config's counts (no budget)."""
        c = self.config
        n = c.buffer_size
        if not self._budgeted():
            return n, None
        t = self.target
        n_out = self.n_out * (1 + c.relax_steps_min)  # sample() needs at least this
        reserve = max(c.sample_share * t.budget, n_out * self.unit) + MARGIN * t.budget
        left = max(0.0, t.remaining - reserve) / self.unit
        share = left / max(1, self._transitions_left(i))  # this and the later ones in fit
        n = max(1, min(n, int(share / 2)))
        return n, max(0, int(share) - n)

    # ---------------------------------------------------------------- data at T₀
    def _data_at_t0(self) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """MALA at T₀ from the broad start (one step size per chain): the draws, their
        energies and scores."""
        c = self.config
        t0 = self.temps[0]
        beta = 1.0 / t0
        chains, warmup, size = c.data_chains, c.data_warmup, c.data_size
        if self._budgeted():
            share = c.data_share * self.target.budget / self.unit
            warmup = min(warmup, max(0, int(0.5 * share / chains) - 1))
            per_chain = max(1, int((share - chains * (1 + warmup)) / (chains * c.data_thin)))
            size = chains * per_chain
        x = initial_points(self.target, chains, self.gen)
        state = (x, *self.target.energy_and_score(x))
        h = torch.full((chains, 1), 0.01 * self.scale**2 * t0)
        adapter = DualAveraging(h, 0.574)
        for _ in range(warmup):
            state, prob, _ = mala_step(self.target, state, h, self.gen, beta)
            h = adapter.update(prob[:, None])
        h = adapter.final if warmup else h
        self.h_move = float(h.median()) / t0  # MALA step per unit temperature
        xs, es, ss = [], [], []
        while sum(len(v) for v in xs) < size:
            for _ in range(c.data_thin):
                state, _, _ = mala_step(self.target, state, h, self.gen, beta)
            xs.append(state[0].clone())
            es.append(state[1].clone())
            ss.append(state[2].clone())
        return torch.cat(xs)[:size], torch.cat(es)[:size], torch.cat(ss)[:size]

    def _find_symmetries(self) -> tuple[bool, bool]:
        """(rotate, permute): which augmentations leave the target's energy unchanged on
        ``symmetry_checks`` buffer configurations (2 × that many counted evaluations);
        (False, False) for targets that are not particle systems."""
        c, t = self.config, self.target
        k, s = getattr(t, "n_particles", None), getattr(t, "spatial_dim", None)
        if not c.augment or not k or not s or c.symmetry_checks < 1:
            return False, False
        x, e, _ = self.buffers[0]
        m = min(c.symmetry_checks, x.shape[0])
        x, e = x[:m], e[:m]
        found = []
        for rotate, permute in ((True, False), (False, True)):
            (xt,) = transform_particles((x,), k, s, self.gen, rotate, permute)
            et = t.energy(xt)
            tol = 1e-3 * (1 + e.abs())
            found.append(bool(((et - e).abs() <= tol).all()))
        return found[0], found[1]

    # ------------------------------------------------------------------ training
    def _phase_seconds(self, phase: int) -> float:
        """This phase's share of what is left of ``train_seconds``."""
        c = self.config
        weight = 2.0 if phase == 0 else 1.0
        later = self._transitions_left(phase)
        return max(0.0, c.train_seconds - self.train_used) * weight / (weight + later)

    def _batch(self, phase: int):
        """A training batch: half from the buffer of T_phase, half uniformly over the
        buffers of T₀ … T_phase (all of it from T₀ in phase 0), augmented."""
        c = self.config
        newest = torch.rand(c.batch_size, generator=self.gen) < 0.5
        j = torch.randint(0, phase + 1, (c.batch_size,), generator=self.gen)
        j = torch.where(newest, torch.full_like(j, phase), j)
        ys, es, gs, lb, fsq, var, floor = [], [], [], [], [], [], []
        for k in range(phase + 1):
            m = int((j == k).sum())
            if m == 0:
                continue
            x, e, s = self.buffers[k]
            temp = self.temps[k]
            pick = torch.randint(0, x.shape[0], (m,), generator=self.gen)
            ys.append(x[pick] / self.scale)
            es.append(e[pick] / temp)
            gs.append(-s[pick] * self.scale / temp)  # ∇_y (E/T)
            lb.append(torch.full((m, 1), math.log(self.temps[0] / temp)))
            fsq.append(torch.full((m, 1), self.stats[k][0]))
            var.append(torch.full((m,), self.stats[k][1]))
            floor.append(torch.full((m, 1), self.stats[k][2]))
        y0, e0, g0 = torch.cat(ys), torch.cat(es), torch.cat(gs)
        rotate, permute = self.symmetries
        if rotate or permute:
            k, s = self.target.n_particles, self.target.spatial_dim
            y0, g0 = transform_particles((y0, g0), k, s, self.gen, rotate, permute)
        return y0, e0, g0, torch.cat(lb), torch.cat(fsq), torch.cat(var), torch.cat(floor)

    def _buffer_stats(self, k: int) -> tuple[float, float, float, float]:
        """(median ‖∇_y E/T‖², mean variance per coordinate of y, energy floor σ_c,
        largest ‖y‖) of buffer k.

        The floor: below σ_c the model's energy is held at its value at σ_c. Smoothing by
        N(0, σ_c²) changes −log p by about (σ_c²/2)(‖∇E‖² − ΔE)/T, of spread
        ≈ (σ_c²/2) κ √(2d) for a curvature κ ≈ ‖∇_y E/T‖²/d (at equilibrium
        E‖∇E‖² = T E[ΔE]); σ_c makes that ``smoothing_tolerance`` kT (clipped to
        [σ_min, 0.25]). Above σ_c the network follows the noise level; below, its
        σ-dependence (which the losses hardly constrain there) only added noise to the
        Feynman–Kac weights through ∂_t U (on many_well the accumulated log-weights' s.d.
        went from 7.0 to 2.8 with σ_c ≈ 0.05)."""
        c = self.config
        x, _, s = self.buffers[k]
        g = s * self.scale / self.temps[k]
        gsq = (g * g).sum(1)
        gsq = gsq[torch.isfinite(gsq)]
        fsq = float(gsq.median()) if gsq.numel() else 1.0
        d = x.shape[1]
        floor = c.sigma_min
        if c.smoothing_tolerance > 0:
            kappa = max(fsq / d, 1e-12)
            floor = math.sqrt(2 * c.smoothing_tolerance / (kappa * math.sqrt(2 * d)))
            floor = min(max(floor, c.sigma_min), 0.25)
        y = x / self.scale
        radius = float((y * y).sum(1).max().sqrt())
        return fsq, float(y.var(0).mean()), floor, radius

    def _train(self, phase: int) -> None:
        """Train on the buffers of temperatures 0 … phase."""
        c = self.config
        self.stats = [self._buffer_stats(k) for k in range(phase + 1)]
        start = time.perf_counter()
        allowance = self._phase_seconds(phase)
        steps = 0
        while True:
            if c.train_steps is not None:
                done = steps / max(1, c.train_steps)
            else:
                done = (time.perf_counter() - start) / max(allowance, 1e-9)
                if steps < c.min_train_steps:
                    done = min(done, 1.0 - 1e-9)
            if done >= 1.0:
                break
            loss = self._loss(*self._batch(phase))
            self.opt.zero_grad(set_to_none=True)
            loss.backward()
            for net in (self.model.score_net, self.model.energy_net):
                nn.utils.clip_grad_norm_(net.parameters(), 1.0)
            self.opt.step()
            with torch.no_grad():
                for pe, p in zip(self.ema.parameters(), self.model.parameters(), strict=True):
                    pe.mul_(c.ema).add_(p, alpha=1 - c.ema)
            steps += 1
        self.train_used += time.perf_counter() - start
        self.train_steps_done.append(steps)

    def _sample_sigma(self, n: int) -> torch.Tensor:
        """Half from ln σ ~ N(−1.2, 1.2²) (EDM), half log-uniform on [σ_min, σ_max] (the
        annealing starts at σ_max, which the EDM law alone rarely visits); clamped."""
        c = self.config
        lo, hi = math.log(c.sigma_min), math.log(c.sigma_max)
        edm = -1.2 + 1.2 * torch.randn(n, 1, generator=self.gen)
        uni = lo + (hi - lo) * torch.rand(n, 1, generator=self.gen)
        pick = torch.rand(n, 1, generator=self.gen) < 0.5
        return torch.where(pick, edm, uni).clamp(lo, hi).exp()

    def _loss(
        self,
        y0: torch.Tensor,
        e0: torch.Tensor,
        g0: torch.Tensor,
        log_beta: torch.Tensor,
        fsq: torch.Tensor,
        var: torch.Tensor,
        floor: torch.Tensor,
    ) -> torch.Tensor:
        """Score matching (denoising/target mixed), distillation, energy and force pinning;
        y0 [n, d], e0 = E/T [n], g0 = ∇_y(E/T) [n, d], fsq [n, 1], var [n]."""
        c = self.config
        n, d = y0.shape
        sigma = self._sample_sigma(n)
        h = sigma**2
        lam = ((h + 1) / h).squeeze(1)
        yt = (y0 + sigma * torch.randn(y0.shape, generator=self.gen)).requires_grad_(True)
        ok = torch.isfinite(e0) & (e0.abs() < 1000) & torch.isfinite(g0).all(1)
        g0 = torch.where(ok[:, None], g0, 0.0)
        target = y0
        if c.target_score:
            w = d / (d + h * fsq)
            w = torch.where(ok[:, None], w, 0.0)
            target = (1 - w) * y0 + w * (yt.detach() - h * g0)
        u = self.model.energy(yt, sigma, log_beta, floor)
        (grad_u,) = torch.autograd.grad(u.sum(), yt, create_graph=True)
        if c.drift == "energy":  # one network: score matching on −∇U directly
            l_dsm = lam * ((yt - h * grad_u - target) ** 2).sum(1)
            l_dist = torch.zeros_like(l_dsm)
        else:
            den = self.model.denoise(yt, sigma, log_beta)
            l_dsm = lam * ((den - target) ** 2).sum(1)
            l_dist = lam * ((yt - h * grad_u - den.detach()) ** 2).sum(1)
        y0g = y0.detach().requires_grad_(True)
        u0 = self.model.energy(y0g, torch.full((n, 1), c.sigma_min), log_beta, floor)
        mask = ok.to(u0.dtype)
        l_pin = mask * (u0 - torch.where(ok, e0, 0.0)) ** 2
        loss = l_dsm + l_dist + l_pin
        if c.force_weight > 0:
            (grad_u0,) = torch.autograd.grad(u0.sum(), y0g, create_graph=True)
            loss = loss + c.force_weight * mask * var * ((grad_u0 - g0) ** 2).sum(1)
        return loss.mean()

    # ----------------------------------------------------------------- annealing
    def _transition(
        self, i: int, n: int, m: int, evals: int | None
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Anneal the model at T_i to T_{i+1} with n particles, correct them to the target
        at T_{i+1} (the bridge, see :meth:`_bridge`), resample m and relax those:
        (x [m, d], energies [m], scores [m, d]). ``evals``: evaluations (rows) for the
        bridge's moves and the relaxation, or None for the config's counts."""
        c = self.config
        t_next = self.temps[i + 1]
        gamma = self.temps[i] / t_next
        log_beta = math.log(self.temps[0] / self.temps[i])
        model = self.ema
        floor = self.floor = self.stats[i][2]

        def energy(y, sigma):
            return model.energy(y, sigma, torch.full((y.shape[0], 1), log_beta), floor)

        def score(y, sigma):
            with torch.enable_grad():
                if c.drift == "score":
                    return model.score(y, sigma, torch.full((y.shape[0], 1), log_beta))
                yy = y if y.requires_grad else y.detach().requires_grad_(True)
                (g,) = torch.autograd.grad(energy(yy, sigma).sum(), yy, create_graph=True)
                return -g

        y, log_a = fk_anneal(
            score,
            energy,
            n,
            self.target.dim,
            gamma,
            c.sigma_min,
            c.sigma_max,
            c.anneal_steps,
            self.gen,
            resample=c.resample,
            ess_fraction=c.ess_fraction,
            clip_quantile=c.clip_quantile,
            exact_div_max_dim=c.exact_div_max_dim,
            prior_var=c.sigma_max**2 + self.stats[i][1],
            div_probes=c.div_probes,
            radius=self.stats[i][3],
            record=self.fk_record.setdefault(i, {}),
            corrector_steps=c.corrector_steps,
        )
        x = y * self.scale
        e, s = self.target.energy_and_score(x)  # the final correction's true energies

        def q_energy(x, e, s):  # the bridge's start: U_η(σ_min) and its gradient
            return self._model_energy(x, log_beta)

        state = (x, e, s, *q_energy(x, e, s))
        log_w = log_a.double()
        r = gamma * state[3].double() - e.double() / t_next
        if not torch.isfinite(log_w + r).any():
            # No annealed particle has a finite weight (e.g. a poorly trained model sent
            # them all where the target's energy overflows). Rather than end the run, the
            # bridge starts from buffer i, exact draws at T_i: q = exp(−E/T_i), i.e.
            # γU = E/T_i, so the bridge is plain adaptive tempering T_i → T_{i+1} with
            # MALA moves (the ladder rule chose T_{i+1} so that these tempering weights
            # keep ``rung_ess`` of the buffer). Uses stored energies: no new evaluations.
            xb, eb, sb = self.buffers[i]
            ok = torch.isfinite(eb).nonzero().squeeze(1)
            if ok.numel() == 0:
                raise RuntimeError(f"PITA: no finite energy in the buffer at T={self.temps[i]:g}")
            pick = ok[torch.randint(0, ok.numel(), (n,), generator=self.gen)]
            k_q = 1.0 / (gamma * self.temps[i])

            def q_energy(x, e, s):
                return e * k_q, -s * k_q

            state = (xb[pick], eb[pick], sb[pick], *q_energy(None, eb[pick], sb[pick]))
            log_w = torch.zeros(n, dtype=torch.float64)
            self.info["buffer_fallbacks"] = self.info.get("buffer_fallbacks", 0.0) + 1
        return self._bridge(state, log_w, gamma, t_next, q_energy, m, evals)

    def _model_energy(self, x: torch.Tensor, log_beta: float) -> tuple[torch.Tensor, torch.Tensor]:
        """U_η(σ_min, x / init_std) [n] and its gradient in x [n, d] (the EMA model)."""
        n = x.shape[0]
        y = (x / self.scale).detach().requires_grad_(True)
        with torch.enable_grad():
            u = self.ema.energy(
                y,
                torch.full((n, 1), self.config.sigma_min),
                torch.full((n, 1), log_beta),
                self.floor,
            )
            (g,) = torch.autograd.grad(u.sum(), y)
        return u.detach(), g.detach() / self.scale

    def _bridge(self, state, log_w, gamma, t_next, q_energy, m, evals):
        """The final importance correction, as an SMC bridge when one step is too far.

        The annealed particles represent (with log-weights ``log_w``) q ∝ exp(−γU_η(σ_min));
        the target is π ∝ exp(−E/T_{i+1}). The bridge goes through π_α ∝ q^(1−α) π^α,
        α: 0 → 1, each step of α the largest whose incremental weights
        exp(Δα (γU_η − E/T_{i+1})) keep a normalised ESS of ``bridge_ess`` (α = 1 at once
        when that holds for the whole way: then this is the plain one-step correction);
        after each intermediate step the particles are resampled and moved by MALA steps
        that leave π_α invariant (true energies and scores through the counter, the
        network's U_η and ∇U_η). At α = 1: systematic resampling of m particles and MALA
        relaxation at T_{i+1}. Records the ESS of the one-step correction
        (``ess_oneshot``), of the last step (``final_ess``), the number of steps and the
        share of distinct bridge-start ancestors among the m particles. ``q_energy(x, e,
        s)``: U and ∇_x U of the bridge's start at x (energies e, scores s there)."""
        c = self.config
        n = state[0].shape[0]

        def log_ratio(st):  # log π − log q up to a constant: γU − E/T_{i+1}
            r = gamma * st[3].double() - st[1].double() / t_next
            return torch.where(torch.isfinite(r), r, -torch.inf)

        if not torch.isfinite(log_w + log_ratio(state)).any():
            raise RuntimeError(f"PITA: no annealed particle has a finite weight at T={t_next:g}")
        self.ess_oneshot.append(ess(log_w + log_ratio(state)) / n)
        k_stage = c.bridge_moves
        if evals is not None:  # moves per intermediate step from the expected step count
            planned = _bridge_schedule(log_w, log_ratio(state), c.bridge_ess, c.bridge_max)
            k_stage = 0 if planned <= 1 else max(1, evals // (n * (planned - 1) + m))
        ancestors = torch.arange(n)
        alpha, steps, moves_done = 0.0, 0, 0
        h = self.h_move * t_next  # the step size per unit temperature carried along
        accept: list[float] = []
        while True:
            r = log_ratio(state)
            if steps + 1 >= c.bridge_max:
                new_alpha = 1.0
            else:
                new_alpha = _next_alpha(log_w, r, alpha, c.bridge_ess)
            log_w = log_w + (new_alpha - alpha) * r
            alpha, steps = new_alpha, steps + 1
            if alpha >= 1.0:
                break
            idx = resample(log_w, n, self.gen)
            state = tuple(v[idx] for v in state)
            ancestors, log_w = ancestors[idx], torch.zeros(n, dtype=torch.float64)
            k = k_stage if evals is None else min(k_stage, (evals - moves_done) // n)
            for _ in range(k):
                state, prob = self._bridge_move(state, alpha, gamma, t_next, q_energy, h)
                accept.append(prob)
                h = min(max(h * math.exp(2.0 * (prob - 0.574)), 1e-10), 1e4)
            moves_done += k * n
        self.final_ess.append(ess(log_w) / n)
        self.bridge_steps.append(steps)
        idx = resample(log_w, m, self.gen)
        self.unique_fraction = float(ancestors[idx].unique().numel()) / m
        x, e, s = (v[idx] for v in state[:3])
        relax = c.relax_steps if evals is None else max(0, (evals - moves_done) // m)
        out = (x, e, s)
        beta = 1.0 / t_next
        for _ in range(relax):
            out, prob, _ = mala_step(self.target, out, h, self.gen, beta)
            accept.append(float(prob.mean()))
            h = min(max(h * math.exp(2.0 * (accept[-1] - 0.574)), 1e-10), 1e4)
        self.move_accept = sum(accept) / len(accept) if accept else float("nan")
        self.h_move = h / t_next
        self.moves = (moves_done, relax)
        return out

    def _bridge_move(self, state, alpha, gamma, t_next, q_energy, h):
        """One MALA step for π_α ∝ exp(−(1 − α) γ U_η − α E/T_{i+1}) on (x, E, s, U, ∇U)."""
        x, e, s, u, gu = state

        def log_p(e, u):
            return -(1 - alpha) * gamma * u - alpha * e / t_next

        def grad(s, gu):
            return -(1 - alpha) * gamma * gu + alpha * s / t_next

        g = grad(s, gu)
        noise = torch.randn(x.shape, generator=self.gen)
        xp = x + h * g + math.sqrt(2 * h) * noise
        ep, sp = self.target.energy_and_score(xp)
        up, gup = q_energy(xp, ep, sp)
        gp = grad(sp, gup)
        fwd = ((xp - x - h * g) ** 2).sum(1)
        bwd = ((x - xp - h * gp) ** 2).sum(1)
        log_alpha = log_p(ep, up) - log_p(e, u) + (fwd - bwd) / (4 * h)
        log_alpha = torch.where(torch.isnan(log_alpha), -torch.inf, log_alpha)
        prob = log_alpha.clamp(max=0.0).exp()
        acc = torch.rand(x.shape[0], generator=self.gen) < prob
        new = tuple(
            torch.where(acc[:, None] if a.ndim == 2 else acc, b, a)
            for a, b in zip(state, (xp, ep, sp, up, gup), strict=True)
        )
        return new, float(prob.mean())

    def sample(self, n: int) -> torch.Tensor:
        c = self.config
        before = self._used()
        i = len(self.temps) - 2
        m = c.sample_particles * n
        evals = None
        if self._budgeted():
            left = int((self.target.remaining - MARGIN * self.target.budget) / self.unit)
            m = max(n, min(m, left // 2))
            evals = max(0, left - m)
        self.info.update(sample_particles=float(m))
        x, _, _ = self._transition(i, m, n, evals)
        self.info.update(
            bridge_moves_sample=float(self.moves[0]), relax_steps_sample=float(self.moves[1])
        )
        self.phase_evals["sampling"] = self._used() - before
        return x

    def diagnostics(self) -> dict[str, float]:
        """Evaluations (values + gradients) per stage (``evals_*``); of sample()'s
        transition: ``ess_fraction_final`` (also ``ess_fraction``), the normalised ESS of
        the correction's last step (the one-step importance correction when there is no
        bridge), ``ess_fraction_oneshot`` the ESS the one-step correction would have had
        (the networks' quality), ``bridge_steps``, ``unique_fraction`` (distinct
        bridge-start ancestors among the n samples), ``fk_resamples`` (resamplings along
        the annealing; ``fk_resample_sigma_min``: the smallest noise level of one, in
        units of init_std), ``fk_refused_steps`` (annealing steps refused for every
        particle, all transitions; see :func:`fk_anneal`), ``buffer_fallbacks`` (bridges
        started from the previous buffer), ``move_acceptance``; the same minima and maxima over all
        transitions (``*_min``, ``*_max``); the ladder (``n_temperatures``, ``t_max``,
        ``gamma_max``, ``rung_ess_min``: the smallest ESS of the tempering weights between
        consecutive rungs on the hotter buffer); ``train_steps`` over all phases,
        ``train_seconds_used`` and ``anneal_seconds``; the symmetries used
        (``augment_rotate``, ``augment_permute``); sample()'s particles, bridge moves and
        relaxation steps."""
        out = {f"evals_{k}": float(v) for k, v in self.phase_evals.items()}
        if self.final_ess:
            out["ess_fraction"] = self.final_ess[-1]
            out["ess_fraction_final"] = self.final_ess[-1]
            out["ess_fraction_min"] = min(self.final_ess)
        if self.ess_oneshot:
            out["ess_fraction_oneshot"] = self.ess_oneshot[-1]
            out["ess_fraction_oneshot_min"] = min(self.ess_oneshot)
            out["bridge_steps"] = float(self.bridge_steps[-1])
            out["bridge_steps_max"] = float(max(self.bridge_steps))
            out["move_acceptance"] = self.move_accept
        if hasattr(self, "unique_fraction"):
            out["unique_fraction"] = self.unique_fraction
        if self.fk_record:
            refused = sum(r.get("refused_steps", 0) for r in self.fk_record.values())
            out["fk_refused_steps"] = float(refused)
            last = self.fk_record[max(self.fk_record)].get("resample_sigmas", [])
            out["fk_resamples"] = float(len(last))
            if last:
                out["fk_resample_sigma_min"] = min(last)
            rates = [a for r in self.fk_record.values() for a in r.get("corrector_accept", [])]
            if rates:
                out["corrector_accept"] = sum(rates) / len(rates)
        if hasattr(self, "temps"):
            t = self.temps
            out["n_temperatures"] = float(len(t))
            out["t_max"] = t[0]
            out["gamma_max"] = max(a / b for a, b in itertools.pairwise(t)) if len(t) > 1 else 1.0
            rung = [
                tempering_ess(self.buffers[k][1], t[k], t[k + 1])
                for k in range(min(len(self.buffers), len(t) - 1))
            ]
            if rung:
                out["rung_ess_min"] = min(rung)
        if self.train_steps_done:
            out["train_steps"] = float(sum(self.train_steps_done))
            out["train_seconds_used"] = self.train_used
            out["anneal_seconds"] = self.anneal_seconds
        if hasattr(self, "symmetries"):
            out["augment_rotate"] = float(self.symmetries[0])
            out["augment_permute"] = float(self.symmetries[1])
        out.update(self.info)
        return out
