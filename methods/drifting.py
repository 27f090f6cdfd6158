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

The drift fields themselves (plain functions of a batch) are in
:mod:`boltzbench.methods.drift_fields`; this module holds the configurations, the training
loop and the registered samplers.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from boltzbench.methods.drift_fields import (
    ESTIMATORS,
    PROPOSALS,
    curvature_drift,
    force_drift,
    is_local_drift,
    is_shared_drift,
    sampler_drift,
)
from torch import nn

from boltzbench.budget import affordable, has_budget
from boltzbench.counter import Counter
from boltzbench.nets import mlp
from boltzbench.protocols import Snapshot
from boltzbench.registry import register_method
from boltzbench.rng import generator


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
    #: under a budget, train for as many steps as it pays for (False: ``steps``, for a
    #: sampler whose training evaluates nothing)
    budget_sets_steps = True

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
        if not (has_budget(target) and self.budget_sets_steps):  # else: the first step's cost
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
        """Training steps, the batch they ran and the final drift size ‖ηV‖²/scale² (the
        loss value), averaged over the last 100 steps."""
        tail = self.history[-100:]
        out = {"train_steps": float(len(self.history)), "batch_size": float(self.config.batch_size)}
        return {**out, "final_drift_sq": sum(tail) / len(tail)} if tail else out


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
