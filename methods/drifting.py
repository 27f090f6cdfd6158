"""Drifting one-step samplers for Boltzmann targets.

A generator f_θ maps noise ε ~ N(0, I) to a sample x = f_θ(ε) in one forward pass. It is
trained with the stop-gradient drifting loss

    L(θ) = mean_i ‖ f_θ(ε_i) − sg( f_θ(ε_i) + η V(f_θ(ε_i)) ) ‖²,

where, for a Gaussian kernel of bandwidth σ, the drift is a difference of smoothed scores

    V_σ(x) = V⁺_σ(x) − V⁻_σ(x) = σ² ( ∇log π_σ(x) − ∇log q_σ(x) ),

π_σ = π * N(0, σ² I) the smoothed target and q_σ the smoothed generator distribution. V
vanishes exactly when q = π. With several bandwidths the drifts are averaged.

Sampler side V⁻ (every variant): the Gaussian mean-shift over the generated batch,
V⁻(x_i) = Σ_j softmax_j(−‖x_i − x_j‖² / 2σ²) (x_j − x_i), *self included*: an isolated
sample then gets V⁻ ≈ 0 and is pulled by V⁺ alone, instead of being pushed further out.

Target side V⁺ = σ² ∇log π_σ = E[y | x] − x under r(y | x) ∝ exp(−E(y)) N(y; x, σ² I):

- ``estimator="is"``, ``proposals="local"``: the local importance-sampling mean-shift,
  y_m = x + σ u_m, V⁺ = σ Σ_m softmax_m(−E(y_m)) u_m with antithetic pairs ±u (energy
  values only; batch × M energy evaluations per bandwidth and step).
- ``estimator="is"``, ``proposals="shared"``: one proposal y_j = x_j + σ u_j per generated
  sample, shared by the whole batch as a mixture proposal q̂(y) = (1/B) Σ_k N(y; x_k, σ² I);
  V⁺(x_i) = Σ_j w_ij (y_j − x_i) with w_ij ∝ exp(−E(y_j)) N(y_j; x_i, σ² I) / q̂(y_j)
  (self-normalised over j; batch energy evaluations per bandwidth and step).
- ``estimator="curvature"``: the second-order approximation from E(x + v) ≈ E + gᵀv +
  ½ vᵀHv, V⁺ = −σ² (I + σ² H)⁻¹ g, exact for Gaussian targets. Where I + σ²H is not
  positive definite (non-convex regions), its eigenvalues are clipped from below at
  ``curvature_floor`` before inverting, which keeps the step bounded by σ² |g| / floor and
  pointing downhill. Costs one gradient and d Hessian-vector products per sample and step,
  shared by all bandwidths.

Bandwidths are given relative to the target's ``init_std`` (the scale of the suite's broad
initial distribution), and the generator's output is scaled by it, so one set of defaults
serves targets of different scales. Every evaluation goes through the counter in ``fit``;
``sample`` is one forward pass and evaluates nothing.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import nn

from boltzbench.budget import affordable, has_budget
from boltzbench.counter import Counter
from boltzbench.nets import mlp
from boltzbench.protocols import Snapshot
from boltzbench.registry import register_method
from boltzbench.rng import generator

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


@dataclass
class DriftingConfig:
    """Settings of the drifting sampler; one set of defaults for all targets.

    Attributes:
        estimator: target-side estimator, ``"is"`` or ``"curvature"``. The curvature
            approximation is only trusted at fine bandwidths (σ ≤ ``local_below`` ×
            init_std); coarser bandwidths use the shared-proposal IS estimator.
        proposals: for ``"is"``: ``"local"`` (per-sample proposals) or ``"shared"`` (one
            proposal per sample, shared by the batch as a mixture).
        n_proposals: proposals per sample for local IS (antithetic pairs).
        bandwidths: kernel bandwidths σ, relative to the target's ``init_std``; the drift
            is the average over them.
        step_size: η, the drift step in the loss target x + ηV.
        batch_size: generated samples per training step.
        steps: training steps (under a budget: as many as the budget allows).
        lr: Adam learning rate (decayed by cosine to 10% over the run).
        noise_dim, hidden, layers: generator MLP shape (SiLU, PyTorch's default
            initialisation: the first samples are concentrated near the origin, about
            0.1 × init_std wide).
        grad_clip: gradient-norm clip.
        curvature_floor: lower clip of the eigenvalues of I + σ²H.
        normalize: per-bandwidth drift scale: ``"none"`` (the natural σ²-scaled field) or
            ``"rms"`` (each bandwidth's drift divided by its batch RMS, as in the original
            drifting models, so fine and coarse scales weigh alike). Any positive scalar
            keeps V = 0 at q = π.
        max_step: per-sample trust region: each bandwidth's drift is clipped to at most
            ``max_step`` × σ (0 disables); inactive near equilibrium.
        local_below: bandwidths up to this (relative) value count as "fine".
        broad_init: rescale the output layer at initialisation so the first samples are
            N(0, init_std² I)-like. The curvature estimator needs it (from the narrow
            default start it collapsed onto one mode of ``gmm4`` in all three seeds); the
            IS and force variants do better without it (``gmm4`` mode masses within 0.02).
    """

    estimator: str = "is"
    proposals: str = "shared"
    n_proposals: int = 16
    bandwidths: tuple[float, ...] = (0.1, 0.3, 1.0)
    step_size: float = 0.1
    batch_size: int = 512
    steps: int = 3000
    lr: float = 1e-3
    noise_dim: int = 32
    hidden: int = 256
    layers: int = 4
    grad_clip: float = 2.0
    curvature_floor: float = 0.1
    normalize: str = "rms"
    max_step: float = 1.0
    local_below: float = 0.5
    broad_init: bool = False

    def validate(self) -> None:
        if self.estimator not in ESTIMATORS:
            raise ValueError(f"estimator must be one of {ESTIMATORS}, got {self.estimator!r}")
        if self.proposals not in PROPOSALS:
            raise ValueError(f"proposals must be one of {PROPOSALS}, got {self.proposals!r}")
        if not self.bandwidths or min(self.bandwidths) <= 0:
            raise ValueError(f"bandwidths must be positive, got {self.bandwidths}")
        if self.normalize not in ("none", "rms"):
            raise ValueError(f"normalize must be none or rms, got {self.normalize!r}")
        if self.batch_size < 2 or self.steps < 0 or self.n_proposals < 1:
            raise ValueError(f"invalid sizes in {self}")


class _OneStepSampler:
    """Shared parts of the drifting methods: generator, training loop and sampling."""

    amortized = True  # trained once; each sample costs a fixed number of evaluations

    config: DriftingConfig

    SNAPSHOT_SIZE = 2000

    def __init__(self, config: DriftingConfig | None = None) -> None:
        self.config = config or type(self).Config()
        self.history: list[float] = []
        self.snapshots: list[Snapshot] = []

    def drift(self, x: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def fit(self, target: Counter, *, seed: int) -> None:
        c = self.config
        c.validate()
        self.target = target
        self.scale = float(target.init_std)
        self.sigmas = [b * self.scale for b in c.bandwidths]
        self.fine_sigmas = [s for s in self.sigmas if s <= c.local_below * self.scale]
        self.gen = generator(seed)
        with torch.random.fork_rng(devices=[]):  # seeded init without touching global RNG
            torch.manual_seed(seed)
            self.net = mlp(c.noise_dim, c.hidden, c.layers, target.dim)
            if c.broad_init:
                # rescale the output layer so the initial samples have unit std per
                # dimension in units of init_std, i.e. N(0, init_std² I)-like
                with torch.no_grad():
                    probe = self.net(torch.randn(4096, c.noise_dim, generator=self.gen))
                    last = self.net[-1]
                    std = probe.std(0).clamp_min(1e-6)
                    last.weight /= std[:, None]
                    last.bias.copy_((last.bias - probe.mean(0)) / std)
        opt = torch.optim.Adam(self.net.parameters(), lr=c.lr)
        # fixed noise for the training snapshots, from its own stream (training unchanged)
        probe = torch.randn(self.SNAPSHOT_SIZE, c.noise_dim, generator=generator(seed + 7919))
        steps, sched = c.steps, None
        if not has_budget(target):  # (under a budget the first step's cost sets steps)
            sched = torch.optim.lr_scheduler.CosineAnnealingLR(
                opt, max(1, steps), eta_min=0.1 * c.lr
            )
        step = 0
        while step < steps:
            step += 1
            before = target.used
            eps = torch.randn(c.batch_size, c.noise_dim, generator=self.gen)
            x = self._forward(eps)
            with torch.no_grad():
                xs = x.detach()
                v = self.drift(xs)
                goal = xs + c.step_size * v
            loss = ((x - goal) / self.scale).pow(2).sum(1).mean()
            opt.zero_grad(set_to_none=True)
            loss.backward()
            nn.utils.clip_grad_norm_(self.net.parameters(), c.grad_clip)
            opt.step()
            if sched is None:  # budgeted: the first step's cost sizes the run
                steps = 1 + affordable(target, target.used - before)
                sched = torch.optim.lr_scheduler.CosineAnnealingLR(
                    opt, max(1, steps - 1), eta_min=0.1 * c.lr
                )
            else:
                sched.step()
            self.history.append(float(loss.detach()))
            if step & (step - 1) == 0 or step == steps:
                self._snapshot(probe)

    def _snapshot(self, probe: torch.Tensor) -> None:
        """The generator's samples of the fixed probe noise, at the evaluations so far."""
        with torch.no_grad():
            x = self._forward(probe)
        self.snapshots.append(Snapshot.of(self.target.counts, x, "train"))

    def _norm(self, v: torch.Tensor, sigma: float) -> torch.Tensor:
        if self.config.max_step > 0:
            size = v.norm(dim=1, keepdim=True).clamp_min(1e-30)
            v = v * (self.config.max_step * sigma / size).clamp(max=1.0)
        if self.config.normalize == "rms":
            return v / v.pow(2).mean().sqrt().clamp_min(1e-12) * self.scale
        return v

    def sample(self, n: int) -> torch.Tensor:
        with torch.no_grad():
            eps = torch.randn(n, self.config.noise_dim, generator=self.gen)
            return self._forward(eps)

    def _forward(self, eps: torch.Tensor) -> torch.Tensor:
        return self.scale * self.net(eps)

    def diagnostics(self) -> dict[str, float]:
        """Final drift size ‖ηV‖²/scale² (the loss value), averaged over the last 100 steps."""
        tail = self.history[-100:]
        return {"final_drift_sq": sum(tail) / len(tail)} if tail else {}


@register_method("drifting")
class Drifting(_OneStepSampler):
    """One-step generator trained by drift toward the Boltzmann target (IS or curvature
    target-side estimator, Gaussian mean-shift sampler side)."""

    Config = DriftingConfig

    def drift(self, x: torch.Tensor) -> torch.Tensor:
        c = self.config
        fine = self.fine_sigmas
        if c.estimator == "curvature" and fine:
            e_grad = -self.target.score(x)
            hess = self.target.hessian(x)
        sq = torch.cdist(x, x).pow(2)  # shared by every bandwidth's sampler side
        total = torch.zeros_like(x)
        for sigma in self.sigmas:
            if c.estimator == "curvature" and sigma in fine:
                v_plus = curvature_drift(e_grad, hess, sigma, c.curvature_floor)
            elif c.proposals == "local":
                v_plus = is_local_drift(self.target, x, sigma, c.n_proposals, self.gen)
            else:
                v_plus = is_shared_drift(self.target, x, sigma, self.gen)
            total += self._norm(v_plus - sampler_drift(x, sigma, sq=sq), sigma)
        return total / len(self.sigmas)


@dataclass
class DriftingForceConfig(DriftingConfig):
    """Settings of the force-guided drifting sampler (``estimator``/``proposals`` unused).

    Defaults differ from :class:`DriftingConfig` in ``normalize="none"`` and
    ``step_size=1``: with per-bandwidth RMS normalisation the generator collapsed onto one
    mode of ``gmm4`` in our runs, while the natural σ²-scaled field keeps all modes."""

    normalize: str = "none"
    step_size: float = 1.0


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


@register_method("drifting_force")
class DriftingForce(_OneStepSampler):
    """Force-guided drifting: the attraction is a kernel-weighted average of the target's
    score (forces) at the generated samples.

    Force labels: the target's score −∇E evaluated at the current generated batch (the only
    data a sampler has; there is no training set): one gradient evaluation per generated
    sample and step at the fine bandwidths (σ ≤ ``local_below`` × init_std). At coarser
    bandwidths the force average's variance grows like σ², so those use the shared-proposal
    IS estimator (one energy value per sample and step). Everything is charged to
    ``train`` through the counter."""

    Config = DriftingForceConfig

    def drift(self, x: torch.Tensor) -> torch.Tensor:
        scores = self.target.score(x).to(x.dtype) if self.fine_sigmas else None
        sq = torch.cdist(x, x).pow(2)  # shared by every bandwidth
        total = torch.zeros_like(x)
        for sigma in self.sigmas:
            if sigma in self.fine_sigmas:
                v = force_drift(x, scores, sigma, sq=sq)
            else:  # coarse scales: the force average's variance grows like σ², use IS
                v = is_shared_drift(self.target, x, sigma, self.gen) - sampler_drift(
                    x, sigma, sq=sq
                )
            total += self._norm(v, sigma)
        return total / len(self.sigmas)
