"""OSDS-style baseline: a self-distilled one-step diffusion sampler with deterministic-flow
importance weights (after Jutras-Dubé et al. 2025, checked against their released JAX code,
which does not run as published; see the README for the departures).

- **Reference process.** Variance preserving towards p₀ = N(0, σ₀² I), σ₀ = init_std. Time
  t is *generative*: t = 0 is the prior (noise) end, t = 1 the target end. The schedule is
  the cosine schedule of the OSDS code (and the DIS convention it builds on) read in that
  time, :func:`vp_beta`: β(t) = ½(β_max − β_min) cos²(½π(t + s)/(1 + s)) + ½β_min
  (s = 0.008), **large at the prior end** (≈ β_max/2) and small at the target end (β_min/2);
  σ_t = σ₀ √β(t).
- **Control.** u_θ(x, t, Δ) = F_θ(x/σ₀, e(t, Δ)) + G_θ(e(t, Δ)) ⊙ clip(ℓ_t(x), ±100) with
  Fourier features e of the time and of the step size Δ, F = 0 and G = 1 at initialisation.
  The Langevin term is the released code's interpolation with the prior's score,
  ℓ_t(x) = σ_t (t ∇log π(x) + (1 − t) ∇log p₀(x)). Why this form and not σ_t ∇log π alone:
  at G = 1, F = 0 the flow's velocity is ½β(t) t (x + σ₀² ∇log π(x)) (the prior's part
  cancels the VP drift), so an explicit Euler step of size Δ multiplies a deviation along a
  direction of curvature λ of E by 1 − ½Δ t β(t)(σ₀²λ − 1): stable iff
  Δ t β(t)(σ₀²λ − 1) < 4. The factor t β(t) vanishes at both ends and peaks at 1.30
  (t ≈ 0.41) with the default schedule, whereas σ_t ∇log π alone puts the target's
  curvature against β(0) ≈ 5 at the prior end (and the earlier, backwards schedule put it
  against β_max/2 at the target end: Δ ½σ_t² λ ≈ 8 on ``banana``). It is not stable for
  every target: on ``banana`` (σ₀ = 10, λ up to ≈ 1 across the ridge) the untrained
  32-step flow sits at the limit (its variances come out at (30, 10) against (100, 19);
  128 steps are accurate), and training learns G. The clip at ±100 bounds each step's
  Langevin displacement by ½Δ σ_t · 100 per coordinate. At t = 0 the target has no weight:
  the first step of every path costs no target gradient, so the **one-step sampler needs
  no target gradient at all** (the network is the sampler; its weights cost one energy per
  weighted particle).
- **Training** (each iteration, ``train``): the Euler–Maruyama path of the generative SDE
  dX = (½β X + σ_t u) dt + σ_t dW on the fine grid (T steps), and the reverse-KL (negative
  ELBO) path loss log p₀(x₀) + Σ log p_fwd/p_bwd − log π(x_T), with the EM kernels of the
  SDE and of the reference process; T − 1 Langevin gradients per path plus one energy and
  gradient at its end.
- **Self-distillation** on the stop-gradient path: per sample a step Δ = 2^k/T and a start
  on the Δ-grid; the EMA teacher takes two probability-flow ODE half steps, the student one
  full step; loss ‖x_teacher − x_student‖²/σ₀² + 0.25 (logdet_teacher − logdet_student)² +
  1e-4 ‖Jᵀ_u v‖² (Rademacher v: the Frobenius penalty, in expectation the same as the
  paper's ‖J_u v‖²), scaled by 0.25 min(1, iteration/warm-up), as a second optimiser step.
- **Deterministic-flow weights.** The ODE x ← x + Δ (½β x + ½σ_t u) with k steps gives
  log w = log π̃(x_k) − log p₀(x₀) + Σ log-det increments, with div v = ½β d + ½σ_t tr ∂u/∂x.
  ∂u/∂x includes the Langevin term's dependence on x, −σ_t t G ⊙ ∇²E − σ_t (1 − t)/σ₀² G
  (the released code holds ℓ fixed there, which makes its weights inexact). From the
  weights: log Ẑ = logsumexp(log w) − log m, ELBO = mean(log w), ESS.

**Cheaper log-dets.** The network's Jacobian is exact up to ``exact_div_max_dim`` (autograd
only: it costs no target evaluations) and a Hutchinson trace above. The target's Hessian
term is what costs budget (a Hessian-vector product is charged two gradients):
- in *training* (the volume-consistency term) it is estimated by Hutchinson with
  ``train_probes`` Rademacher probes (1 HVP each, the paper's count; the teacher's first
  half step and the student share the probe, so their difference has less noise), instead
  of d exact HVPs per log-det: with d = 2 this halves that cost (0 drops the term, as the
  released code does; None: exact Hessians);
- at *sampling* the weights use the exact Hessian (d HVPs per step) and the exact
  log|det(I + Δ ∂v/∂x)| of each Euler step in dimension ≤ ``exact_div_max_dim`` (the
  first-order Δ div v drops −Δ² tr(J²)/2 per step and biases log Ẑ upwards), otherwise
  Hutchinson with ``weight_probes`` probes and first-order increments (measured on
  ``gmm4`` after 500 iterations, 32 steps, three draws of 2000: exact log Ẑ errors
  −0.09 … −0.16, one probe +0.10 … +0.68, four probes +0.41 … +1.7: the noise of the
  trace biases log Ẑ upwards);
- only ``weight_particles`` particles carry weights (the rest of the samples cost only
  their Langevin gradients), and under a budget that number shrinks so that the weights
  take at most ``weight_share`` of it (raised to ``min_weight_particles`` where those cost
  at most half the budget); with ``sample_steps = 0`` they get what the fine grid's
  allowance leaves instead (below).

``sample(n)`` runs the EMA model's ODE with ``sample_steps`` steps (default 1): k − 1 target
gradients per sample (none for k = 1) plus the weights' evaluations, all charged to
``sample``. ``sample_steps = 0`` asks for the finest grid the budget affords: without a
budget k = T; under one the sampling takes at most ``FINE_SAMPLING_SHARE`` (a fifth) of the
budget: k is the largest power of two ≤ T whose samples' gradients, n (k − 1), take at most
``FINE_GRADIENT_SHARE`` (15 %), and the weights get as many particles as the rest of the
fifth pays for (at most ``weight_particles``; the samples are unweighted, the weights give
log Ẑ, ELBO and ESS, here from fewer particles than ``osds``'s: 99–1104 in the built-in
suites). The criterion is the training the fine grid gives up: the one-step sampler spends
next to nothing on sampling, so the fine grid leaves at least 80 % of the budget to
training. The earlier rule (gradients alone ≤ a quarter, weights ≤ another fifth, raised to
500 particles) left ``osds_fine`` on ``logreg_cancer`` (3e5, 2000 samples) 583 training
iterations against ``osds``'s 991, and it lost to ``osds`` there although the same model
sampled on 16 steps beats its one-step map (seeds 0 and 1, MMD_multi 0.64 and 0.56 against
0.84 and 0.73); with the samples' gradients and 500 weighted particles on 16 steps (15 % of
the budget, 843 iterations) it reached 0.76 and 0.67, and under this rule (16 steps, 967
weighted particles, 794 iterations) 0.79 and 0.70 against ``osds``'s 0.84 and 0.74. On
``gmm4``, whose 10,000 samples on the 32-step grid took 62 % of a 5e5 budget, the rule
gives k = 8 (measured, seeds 0 and 1: MMD_multi 0.71 and 1.00 against 2.03 and 2.09 with
k = 32 and 0.94 and 0.89 with k = 1). The k used is reported as ``sample_steps``. The
estimates are reported as ``log_z``, ``elbo`` and ``ess_fraction``; the number of training
iterations as ``train_iterations``.

**Budgets.** Under a budget the method reserves its sampling cost (computed from the
counts above for ``counter.n_samples``), shrinks the batch B (down to ``min_batch``) so that
the rest pays for about ``budget_iters`` iterations, and trains for as many iterations as
it pays for (``iters`` is then ignored); an iteration costs at most B (T + 2) gradients +
2 B ``train_probes`` HVPs.

**Layout.** This module holds the settings (:class:`OSDSConfig`, :data:`PAPER_CONFIG`) and
the registered method with its training loop; the network, the ODE step and the losses are
in :mod:`boltzbench.baselines.osds_model`, the sampler, its weights and its budget rules in
:mod:`boltzbench.baselines.osds_sampling`.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass

import torch
from boltzbench.baselines.osds_model import Control
from boltzbench.baselines.osds_sampling import OSDSSampling
from torch import nn

from boltzbench.budget import affordable, has_budget, unit_cost
from boltzbench.counter import Counter
from boltzbench.protocols import neutral
from boltzbench.registry import register_method
from boltzbench.rng import generator

#: The paper's settings (Jutras-Dubé et al. 2025, released ``configs/algorithm/osds.yaml``:
#: T = 128, 60k iterations of 1024 paths, Adam 5e-4, EMA 0.999, self-distillation warm-up
#: 2500 iterations to weight 0.25, volume weight 0.25, Jacobian weight 1e-4, cosine β in
#: [0.01, 10], one Hutchinson probe in training) scaled to a CPU, for unbudgeted runs (the
#: ``paper`` suite): T = 32 (the grid ``osds_fine`` samples on without a budget), 2000
#: iterations of 256 paths (about 1.7e7 target gradients, 2–4 min on one core), Adam 2e-3
#: to make up for 30× fewer iterations (1e-3 reaches ESS 0.25 on ``double_well`` after
#: 1500 iterations, 2e-3 reaches 0.61 after 2000), EMA 0.995 and warm-up 250 scaled with
#: the iteration count; the volume term as fixed (``"auto"``: the release's log-dets at
#: fixed ℓ, dropped where our weights are exact; the earlier ``"hessian"`` term drove the
#: one-step map to contract, docs/investigations/osds_distillation.md).
PAPER_CONFIG: dict = {
    "n_steps": 32,
    "iters": 2000,
    "batch_size": 256,
    "lr": 2e-3,
    "ema": 0.995,
    "sd_warmup": 250,
    "volume": "auto",
}


#: the values of ``OSDSConfig.volume``
VOLUME_TERMS = ("hessian", "released", "off", "auto")


@dataclass
class OSDSConfig:
    """OSDS settings (one set of defaults for the 2-D targets).

    Attributes:
        n_steps: the fine grid T (a power of two).
        sample_steps: ODE steps k of ``sample`` (1: the one-step sampler; T: the fine grid;
            0: the finest power-of-two grid ≤ T the budget affords, see the module docstring).
        iters: training iterations without a budget (under a budget: as many as it pays for).
        batch_size, lr: paths per iteration, Adam rate.
        budget_iters, min_batch: under a budget the batch shrinks (to no less than
            ``min_batch``) so that training runs about ``budget_iters`` iterations: with a
            few 1e5 evaluations many small batches train better than a few large ones.
        hidden, layers: MLP shape of both parts of the control.
        beta_min, beta_max: the cosine schedule's range (β runs from ≈ β_max/2 to β_min/2).
        ema: teacher's EMA decay.
        sd_weight, sd_warmup: self-distillation scale and its linear ramp (iterations).
        vc_weight, jac_weight: volume-consistency and Jacobian-penalty weights.
        train_probes: Hutchinson probes for the Hessian term of the training log-dets
            (0: drop it; None: exact, d HVPs); used by ``volume="hessian"`` only.
        volume: the volume-consistency term's log-dets. ``"hessian"`` (the default, this
            suite's first reading of the paper): the full Euler step's first-order
            log-det, the Langevin term's Hessian by ``train_probes`` HVPs; it drives the
            one-step map to contract (docs/investigations/osds_distillation.md).
            ``"released"``: the authors' code's, Δ (½βd + ½σ tr ∂u/∂x) at fixed ℓ, no
            target HVPs. ``"off"``: no volume term. ``"auto"``: ``"off"`` where the
            weights are exact (``exact_weights`` in d ≤ ``exact_div_max_dim``: the term
            has nothing left to calibrate there), ``"released"`` elsewhere.
        weight_particles: particles that carry importance weights (log Ẑ, ELBO, ESS).
        min_weight_particles, weight_share: under a budget, the weights take at most this
            share of it (as many particles as that pays for, at least one), raised to
            ``min_weight_particles`` where that many cost at most half the budget (with
            ``sample_steps = 0``: the rest of ``FINE_SAMPLING_SHARE`` instead).
        exact_div_max_dim: exact Jacobians up to this dimension, Hutchinson traces above.
        exact_weights: in dimension ≤ ``exact_div_max_dim``, weight samples with the exact
            Hessian and log|det(I + Δ ∂v/∂x)| of each Euler step (consistent log Ẑ) instead
            of Hutchinson traces and the first-order Δ div v.
        weight_probes: Hutchinson probes per step for the weights when they are not exact.
    """

    n_steps: int = 32
    sample_steps: int = 1
    iters: int = 1000
    batch_size: int = 128
    budget_iters: int = 1000
    min_batch: int = 8
    lr: float = 2e-3
    hidden: int = 64
    layers: int = 2
    beta_min: float = 0.01
    beta_max: float = 10.0
    ema: float = 0.99
    sd_weight: float = 0.25
    sd_warmup: int = 250
    vc_weight: float = 0.25
    jac_weight: float = 1e-4
    train_probes: int | None = 1
    volume: str = neutral("hessian")
    weight_particles: int = 2000
    min_weight_particles: int = 500
    weight_share: float = 0.2
    exact_div_max_dim: int = 10
    exact_weights: bool = True
    weight_probes: int = 1

    def validate(self) -> None:
        t = self.n_steps
        if t < 2 or t & (t - 1):
            raise ValueError(f"n_steps must be a power of two ≥ 2, got {t}")
        if not 0 <= self.sample_steps <= 4 * t:
            raise ValueError(
                f"sample_steps must be in 0 … {4 * t} (0: the finest grid the budget "
                f"affords), got {self.sample_steps}"
            )
        if self.volume not in VOLUME_TERMS:
            raise ValueError(
                f"volume must be one of {', '.join(VOLUME_TERMS)}, got {self.volume!r}"
            )
        if self.weight_probes < 1:
            raise ValueError(f"weight_probes must be ≥ 1, got {self.weight_probes}")


@register_method("osds")
class OSDS(OSDSSampling):
    """One-step diffusion sampler by self-distillation (see the module docstring)."""

    amortized = True  # trained once; each sample costs a fixed number of evaluations

    Config = OSDSConfig

    def __init__(self, config: OSDSConfig | None = None) -> None:
        self.config = config or OSDSConfig()
        self.estimates: dict[str, float] = {}
        self.history: list[float] = []
        self.iterations = 0
        self.n_weighted = self.config.weight_particles
        self.batch = self.config.batch_size
        self.steps = self.config.sample_steps or self.config.n_steps

    # -------------------------------------------------------------- costs
    def iteration_cost(self, batch: int | None = None) -> float:
        """An upper bound on the budget units of one training iteration on ``batch`` paths
        (default: the batch in use)."""
        c = self.config
        hvp = self.train_hvp_probes()
        probes = self.dim if hvp is None else hvp
        b = self.batch if batch is None else batch
        return unit_cost(self.target, grad=b * (c.n_steps + 2), hvp=2 * b * probes)

    # -------------------------------------------------------------- fit
    def fit(self, target: Counter, *, seed: int) -> None:
        c = self.config
        c.validate()
        opt = self.start(target, seed)
        budgeted = has_budget(target)
        self.steps = self.fine_steps(target)
        reserve = 0.0
        self.n_weighted, self.batch = c.weight_particles, c.batch_size
        if budgeted:
            reserve = self._plan_sampling(target)
            paths = affordable(target, self.iteration_cost(1), reserve=reserve)
            self.batch = max(c.min_batch, min(c.batch_size, paths // max(1, c.budget_iters)))
        step_cost = self.iteration_cost()

        def more(it: int) -> bool:
            if budgeted:
                return affordable(target, step_cost, reserve=reserve) >= 1
            return it < c.iters

        it = 0
        while more(it):
            self.iteration(opt, it)
            it += 1
        self.iterations = it

    def start(self, target: Counter, seed: int) -> torch.optim.Optimizer:
        """Fresh networks (student and EMA teacher) for ``target`` and their optimiser."""
        c = self.config
        self.target = target
        self.dim = target.dim
        self.sigma0 = float(target.init_std)
        self.gen = generator(seed)
        self.skipped = 0
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            self.net = Control(self.dim, c.hidden, c.layers, self.sigma0)
        self.teacher = copy.deepcopy(self.net).requires_grad_(False)
        return torch.optim.Adam(self.net.parameters(), lr=c.lr)

    def iteration(self, opt: torch.optim.Optimizer, it: int) -> dict[str, torch.Tensor]:
        """Training iteration ``it`` (0-based) on ``self.batch`` paths: a step on the path
        loss, then one on the ramped self-distillation loss; returns its parts."""
        c = self.config
        loss, path = self._path_loss()
        self._step(opt, loss)
        self.history.append(float(loss.detach()))
        alpha = c.sd_weight * min(1.0, (it + 1) / max(1, c.sd_warmup))
        parts = self._distill_terms(path)
        sd = parts["state"] + c.vc_weight * parts["volume"] + c.jac_weight * parts["jacobian"]
        self._step(opt, alpha * sd)
        return parts

    def _step(self, opt: torch.optim.Optimizer, loss: torch.Tensor) -> None:
        """One clipped Adam step on ``loss`` and the EMA update; a step whose loss or
        gradient is not finite is skipped (counted in ``skipped_steps``): one NaN path
        loss used to turn every parameter into NaN (``funnel``, seed 3: all 2000 samples
        NaN), where the paths of the next batch are fine."""
        opt.zero_grad(set_to_none=True)
        if not torch.isfinite(loss):
            self.skipped += 1
            return
        loss.backward()
        norm = nn.utils.clip_grad_norm_(self.net.parameters(), 1.0)
        if not torch.isfinite(norm):
            opt.zero_grad(set_to_none=True)
            self.skipped += 1
            return
        opt.step()
        self._ema()

    def _ema(self) -> None:
        d = self.config.ema
        with torch.no_grad():
            for pt, p in zip(self.teacher.parameters(), self.net.parameters(), strict=True):
                pt.mul_(d).add_(p, alpha=1 - d)

    def diagnostics(self) -> dict[str, float]:
        out = dict(self.estimates)
        out["train_iterations"] = float(self.iterations)
        out["train_batch"] = float(self.batch)
        out["sample_steps"] = float(self.steps)
        out["weight_particles"] = float(self.n_weighted)
        out["skipped_steps"] = float(getattr(self, "skipped", 0))
        if self.history:
            tail = self.history[-50:]
            out["final_path_loss"] = sum(tail) / len(tail)
        return out
