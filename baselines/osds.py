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
"""

from __future__ import annotations

import copy
import math
from dataclasses import dataclass

import torch
from boltzbench.baselines.mcmc import initial_points
from boltzbench.baselines.weights import ess
from torch import nn

from boltzbench.budget import affordable, has_budget, unit_cost
from boltzbench.counter import BudgetExceeded, Counter
from boltzbench.nets import hutchinson_trace, jacobian_rows, mlp, rademacher
from boltzbench.registry import register_method
from boltzbench.rng import generator

_FREQS = torch.tensor([1.0, 2.0, 4.0, 8.0])
EMB_DIM = 4 * len(_FREQS)
LGV_CLIP = 100.0
#: ``sample_steps = 0`` under a budget: the whole sampling cost (the samples' gradients and the
#: weights) takes at most this share, so training keeps the rest ...
FINE_SAMPLING_SHARE = 0.2
#: ... and within it the samples' own gradients at most this share (the weights the rest)
FINE_GRADIENT_SHARE = 0.15

#: The paper's settings (Jutras-Dubé et al. 2025, released ``configs/algorithm/osds.yaml``:
#: T = 128, 60k iterations of 1024 paths, Adam 5e-4, EMA 0.999, self-distillation warm-up
#: 2500 iterations to weight 0.25, volume weight 0.25, Jacobian weight 1e-4, cosine β in
#: [0.01, 10], one Hutchinson probe in training) scaled to a CPU, for unbudgeted runs (the
#: ``paper`` suite): T = 32 (the grid ``osds_fine`` samples on without a budget), 2000
#: iterations of 256 paths (about 1.7e7 target gradients, 2–4 min on one core), Adam 2e-3
#: to make up for 30× fewer iterations (1e-3 reaches ESS 0.25 on ``double_well`` after
#: 1500 iterations, 2e-3 reaches 0.61 after 2000), EMA 0.995 and warm-up 250 scaled with
#: the iteration count.
PAPER_CONFIG: dict = {
    "n_steps": 32,
    "iters": 2000,
    "batch_size": 256,
    "lr": 2e-3,
    "ema": 0.995,
    "sd_warmup": 250,
}


def embed(t: torch.Tensor, step: torch.Tensor) -> torch.Tensor:
    """Fourier features of time and step size, [n, 16] (t, step: [n, 1] in [0, 1])."""
    a = math.pi * t * _FREQS
    b = math.pi * step * _FREQS
    return torch.cat([a.sin(), a.cos(), b.sin(), b.cos()], dim=1)


def vp_beta(t: torch.Tensor, beta_min: float, beta_max: float, s: float = 0.008) -> torch.Tensor:
    """β(t) of the VP reference process at generative time t (any shape; 0: the prior end,
    1: the target end), the cosine schedule of the OSDS/DIS code in that time: decreasing
    from ½(β_max − β_min) cos²(½π s/(1 + s)) + ½β_min ≈ β_max/2 at t = 0 to β_min/2 at t = 1.
    Units: 1/time (the generative time runs over [0, 1])."""
    cos2 = torch.cos(0.5 * math.pi * (t + s) / (1 + s)) ** 2
    return 0.5 * (beta_max - beta_min) * cos2 + 0.5 * beta_min


class Control(nn.Module):
    """u(x, t, Δ) = F(x/σ₀, e) + G(e) ⊙ ℓ; F starts at 0, G at 1."""

    def __init__(self, dim: int, hidden: int, layers: int, sigma0: float) -> None:
        super().__init__()
        self.sigma0 = sigma0
        self.body = mlp(dim + EMB_DIM, hidden, layers, dim)
        self.gate = mlp(EMB_DIM, hidden, layers, dim)
        with torch.no_grad():
            self.body[-1].weight.zero_()
            self.body[-1].bias.zero_()
            self.gate[-1].weight.zero_()
            self.gate[-1].bias.fill_(1.0)

    def forward(self, x: torch.Tensor, emb: torch.Tensor, lgv: torch.Tensor):
        """Returns (u [n, d], gate [n, d])."""
        gate = self.gate(emb)
        return self.body(torch.cat([x / self.sigma0, emb], dim=1)) + gate * lgv, gate


@dataclass
class Terms:
    """What a probability-flow step at (x, t) needs from the target; steps that start from
    the same (x, t) share them instead of paying for them again.

    Attributes:
        lgv: the clipped Langevin term ℓ_t(x), [n, d].
        inside: 1 where the clip is inactive, [n, d].
        hess: the Hessians ∇²E(x), [n, d, d] (zero on rows at t = 0), or None.
        probes, hv: Rademacher probes ε and the products ∇²E(x) ε, [n, p, d], or None.
    """

    lgv: torch.Tensor
    inside: torch.Tensor
    hess: torch.Tensor | None = None
    probes: torch.Tensor | None = None
    hv: torch.Tensor | None = None


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
            (0: drop it, as the released code; None: exact, d HVPs).
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
        if self.weight_probes < 1:
            raise ValueError(f"weight_probes must be ≥ 1, got {self.weight_probes}")


@register_method("osds")
class OSDS:
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

    # -------------------------------------------------------------- schedule
    def beta(self, t: torch.Tensor) -> torch.Tensor:
        """β at generative time t (see :func:`vp_beta`)."""
        return vp_beta(t, self.config.beta_min, self.config.beta_max)

    def _log_p0(self, x: torch.Tensor) -> torch.Tensor:
        s2 = self.sigma0**2
        return -0.5 * (x * x).sum(1) / s2 - 0.5 * x.shape[1] * math.log(2 * math.pi * s2)

    # -------------------------------------------------------------- costs
    def _exact_weights(self) -> bool:
        return self.config.exact_weights and self.dim <= self.config.exact_div_max_dim

    def weight_cost(self, steps: int) -> float:
        """Budget units a weighted particle costs beyond its sample: the Hessian term on the
        k − 1 steps after t = 0 and the final energy."""
        hvps = self.dim if self._exact_weights() else self.config.weight_probes
        return unit_cost(self.target, energy=1, hvp=(steps - 1) * hvps)

    def sampling_cost(self, n: int, n_weighted: int, steps: int) -> float:
        """Budget units of ``sample(n)`` with ``n_weighted`` weighted particles."""
        m = max(n, n_weighted)
        return unit_cost(self.target, grad=m * (steps - 1)) + n_weighted * self.weight_cost(steps)

    def iteration_cost(self, batch: int | None = None) -> float:
        """An upper bound on the budget units of one training iteration on ``batch`` paths
        (default: the batch in use)."""
        c = self.config
        probes = self.dim if c.train_probes is None else c.train_probes
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

    def fine_steps(self, target: Counter) -> int:
        """The ODE steps ``sample`` uses: ``sample_steps``, or for 0 the largest power of two
        k ≤ T whose n (k − 1) gradient units take at most ``FINE_GRADIENT_SHARE`` of the
        budget (T without a budget; at least 1)."""
        c = self.config
        if c.sample_steps:
            return c.sample_steps
        if not has_budget(target):
            return c.n_steps
        n = target.n_samples or c.weight_particles
        k = c.n_steps
        while k > 1 and unit_cost(target, grad=n * (k - 1)) > FINE_GRADIENT_SHARE * target.budget:
            k //= 2
        return k

    def _plan_sampling(self, target: Counter) -> float:
        """Under a budget: the number of weighted particles and the sampling reserve."""
        c, k = self.config, self.steps
        n = target.n_samples or c.weight_particles
        per = self.weight_cost(k)
        if c.sample_steps == 0:  # the fine grid: the weights get the rest of its allowance
            share = FINE_SAMPLING_SHARE * target.budget
            # the most particles that rest pays for; at least one, even where one does not
            # fit (tiny budgets or very few samples: the remaining-budget check below holds)
            lo, hi = 1, c.weight_particles
            while lo < hi:
                mid = (lo + hi + 1) // 2
                lo, hi = (mid, hi) if self.sampling_cost(n, mid, k) <= share else (lo, mid - 1)
            self.n_weighted = lo
        else:
            fits = math.floor(c.weight_share * target.budget / per)
            # The floor min_weight_particles holds only while it costs at most half the
            # budget: on the 32-step grid in d ≤ exact_div_max_dim a weighted particle costs
            # 1 + 2(k − 1)d units (497 on dw4, 621 on funnel), and 500 of them, beside the
            # samples' own gradients, took the whole budget and left no training at all.
            self.n_weighted = max(1, min(c.weight_particles, fits))
            floor = min(c.min_weight_particles, n)
            if floor * per <= 0.5 * target.budget:
                self.n_weighted = max(self.n_weighted, floor)
        reserve = self.sampling_cost(n, self.n_weighted, k)
        if reserve > target.remaining:  # a small budget: fewer weights before failing
            spare = target.remaining - self.sampling_cost(n, 0, k)
            self.n_weighted = min(self.n_weighted, n, max(1, math.floor(spare / per)))
            reserve = self.sampling_cost(n, self.n_weighted, k)
        if reserve > target.remaining:
            raise BudgetExceeded(
                f"drawing {n} samples ({self.n_weighted} weighted) with {k} steps needs "
                f"{reserve:.3g} evaluations, more than the {target.remaining:.3g} left of the "
                f"budget of {target.budget}"
            )
        return reserve

    def _ema(self) -> None:
        d = self.config.ema
        with torch.no_grad():
            for pt, p in zip(self.teacher.parameters(), self.net.parameters(), strict=True):
                pt.mul_(d).add_(p, alpha=1 - d)

    # ------------------------------------------------------ the target's terms
    @staticmethod
    def _mix(t: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """The weights (a, b) = (t, 1 − t) [n, 1] of ℓ_t = σ_t (a ∇log π − b x/σ₀²): the
        released code's interpolation of the target's and the prior's scores."""
        return t, 1 - t

    def _scores(self, x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        """∇log π(x) [n, d] on the rows with t > 0 (one gradient each), zero elsewhere (the
        Langevin term gives the target no weight at t = 0)."""
        rows = t.squeeze(1) > 0
        s = torch.zeros_like(x)
        if rows.any():
            s[rows] = self.target.score(x[rows].detach()).to(x.dtype)
        return torch.nan_to_num(s, nan=0.0, posinf=0.0, neginf=0.0)

    def _lgv(self, x: torch.Tensor, t: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """ℓ_t(x) = σ_t (t ∇log π(x) − (1 − t) x/σ₀²), clipped at ±100, and the clip's mask."""
        sig = self.sigma0 * self.beta(t).sqrt()
        x = x.detach()
        a, b = self._mix(t)
        raw = sig * (a * self._scores(x, a) - b * x / self.sigma0**2)
        inside = (raw.abs() < LGV_CLIP).to(x.dtype)
        return raw.clamp(-LGV_CLIP, LGV_CLIP), inside

    def _terms(self, x: torch.Tensor, t: torch.Tensor, probes: int | None) -> Terms:
        """The Langevin term at (x, t) and what the log-det needs of the Hessian: exact
        (``probes`` None: d HVPs per row), ``probes`` Hutchinson products, or none (0).
        Rows at t = 0 need neither."""
        lgv, inside = self._lgv(x, t)
        terms = Terms(lgv, inside)
        rows = self._mix(t)[0].squeeze(1) > 0
        n, d = x.shape
        if probes is None:
            terms.hess = torch.zeros(n, d, d, dtype=x.dtype)
            if rows.any():
                terms.hess[rows] = self.target.hessian(x[rows].detach()).to(x.dtype)
        elif probes > 0:
            eps = rademacher(torch.empty(n, probes, d, dtype=x.dtype), self.gen)
            terms.probes, terms.hv = eps, torch.zeros_like(eps)
            if rows.any():
                xr = x[rows].detach()
                for j in range(probes):
                    hv = self.target.hvp(xr, eps[rows, j]).to(x.dtype)
                    terms.hv[rows, j] = torch.nan_to_num(hv, nan=0.0, posinf=0.0, neginf=0.0)
        return terms

    # ------------------------------------------------------------ training
    def _path_loss(self) -> tuple[torch.Tensor, torch.Tensor]:
        """Reverse-KL path loss on the fine grid and the detached path [T + 1, B, d]."""
        c = self.config
        b, t_steps = self.batch, c.n_steps
        dt = 1.0 / t_steps
        x = initial_points(self.target, b, self.gen).clamp(-4 * self.sigma0, 4 * self.sigma0)
        log_p0 = self._log_p0(x)
        run = torch.zeros(b)
        path = [x.detach()]
        step = torch.full((b, 1), dt)
        for n in range(t_steps):
            t = torch.full((b, 1), n * dt)
            beta = self.beta(t)
            sig = self.sigma0 * beta.sqrt()
            lgv, _ = self._lgv(x, t)
            u, _ = self.net(x, embed(t, step), lgv)
            mean_f = x + dt * (0.5 * beta * x + sig * u)
            x_new = mean_f + sig * math.sqrt(dt) * torch.randn(x.shape, generator=self.gen)
            mean_b = x_new - 0.5 * beta * dt * x_new
            var = (sig**2 * dt).squeeze(1)
            log_f = -((x_new - mean_f) ** 2).sum(1) / (2 * var)
            log_b = -((x - mean_b) ** 2).sum(1) / (2 * var)
            run = run + log_f - log_b  # the normalisers of the two kernels cancel
            x = x_new
            path.append(x.detach())
        e, s = self.target.energy_and_score(x.detach())
        e = torch.where(torch.isfinite(e), e, torch.full_like(e, 1e6)).to(x.dtype)
        s = torch.nan_to_num(s.to(x.dtype), nan=0.0, posinf=0.0, neginf=0.0)
        e_sur = e + ((x - x.detach()) * (-s)).sum(1)  # value E(x_T), gradient ∇E(x_T)
        return (log_p0 + run + e_sur).mean(), torch.stack(path)

    def _distill_terms(self, path: torch.Tensor) -> dict[str, torch.Tensor]:
        """The self-distillation losses on a detached path [T + 1, B, d]: ``state`` (mean
        ‖x_teacher − x_student‖²/σ₀²), ``volume`` (mean squared gap of the first-order
        log-dets) and ``jacobian`` (the penalty ‖Jᵀ_u v‖²; 0 when ``jac_weight`` is 0)."""
        c = self.config
        t_steps, b = c.n_steps, path.shape[1]
        levels = int(math.log2(t_steps))
        k = torch.randint(1, levels + 1, (b,), generator=self.gen)
        length = 2**k  # in fine-grid steps
        start = (torch.rand(b, generator=self.gen) * (t_steps // length)).long() * length
        x = path[start, torch.arange(b)]
        t = (start.double() / t_steps).float()[:, None]
        step = (length.double() / t_steps).float()[:, None]
        # the teacher's first half step and the student share ℓ and the Hessian probes
        terms = self._terms(x, t, c.train_probes)
        with torch.no_grad():
            xm, ld1, _ = self._ode_step(self.teacher, x, t, step / 2, terms, logdet="first")
            terms_m = self._terms(xm, t + step / 2, c.train_probes)
            xt, ld2, _ = self._ode_step(self.teacher, xm, t + step / 2, step / 2, terms_m, "first")
        xs, ld_s, _ = self._ode_step(self.net, x, t, step, terms, "first", create_graph=True)
        out = {
            "state": (((xt - xs) ** 2).sum(1) / self.sigma0**2).mean(),
            "volume": ((ld1 + ld2 - ld_s) ** 2).mean(),
            "jacobian": torch.zeros(()),
        }
        if c.jac_weight > 0:
            out["jacobian"] = self._jacobian_penalty(x, t, step, terms.lgv)
        return out

    def _jacobian_penalty(self, x, t, step, lgv) -> torch.Tensor:
        x = x.detach().requires_grad_(True)
        u, _ = self.net(x, embed(t, step), lgv)
        v = rademacher(u, self.gen)
        (jtv,) = torch.autograd.grad((u * v).sum(), x, create_graph=True)
        return (jtv**2).sum(1).mean()

    # ------------------------------------------------------ ODE and weights
    def _ode_step(
        self,
        net: Control,
        x: torch.Tensor,
        t: torch.Tensor,
        step: torch.Tensor,
        terms: Terms,
        logdet: str | None = None,
        create_graph: bool = False,
    ) -> tuple[torch.Tensor, torch.Tensor | None, torch.Tensor]:
        """One probability-flow Euler step of size ``step`` (per-row t, Δ: [n, 1]) with the
        target's ``terms`` at (x, t).

        Returns (x' [n, d], log-det increment [n] or None, u [n, d]). ``logdet``: None (no
        log-det), ``"first"`` (the paper's Δ div v) or ``"exact"`` (log|det(I + Δ ∂v/∂x)|,
        only with exact Hessians in low dimension; first order otherwise). Both include the
        Langevin term's dependence on x as far as ``terms`` carry it."""
        beta = self.beta(t)
        sig = self.sigma0 * beta.sqrt()
        x = x.detach().requires_grad_(True)
        with torch.enable_grad():
            u, gate = net(x, embed(t, step), terms.lgv)
        x_new = x + step * (0.5 * beta * x + 0.5 * sig * u)
        if logdet is None:
            return x_new.detach(), None, u.detach()
        low_dim = self.dim <= self.config.exact_div_max_dim
        with torch.enable_grad():
            if low_dim:
                j_net = jacobian_rows(u, x, create_graph)  # [n, d, d] at fixed ℓ
            else:
                tr_net = hutchinson_trace(u, x, self.gen, create_graph)
        cf = gate * terms.inside  # ∂u/∂x = ∂F/∂x + diag(cf) ∂ℓ/∂x
        if not create_graph:
            cf = cf.detach()
        a, b = self._mix(t)
        prior_k = b / self.sigma0**2  # ∂ℓ/∂x = −σ_t (a ∇²E + b/σ₀² I)
        if low_dim and terms.hess is not None:
            eye = torch.eye(self.dim, dtype=x.dtype)
            d_lgv = -sig[:, :, None] * (a[:, :, None] * terms.hess + prior_k[:, :, None] * eye)
            j_u = j_net + cf[:, :, None] * d_lgv
            j_v = 0.5 * beta[:, :, None] * eye + 0.5 * sig[:, :, None] * j_u
            if logdet == "exact":
                ld = torch.linalg.slogdet(eye + step[:, :, None] * j_v).logabsdet
            else:
                ld = step.squeeze(1) * j_v.diagonal(dim1=1, dim2=2).sum(1)
        else:
            if low_dim:
                tr_net = j_net.diagonal(dim1=1, dim2=2).sum(1)
            tr_h = torch.zeros_like(tr_net)
            if terms.hess is not None:
                tr_h = (cf * terms.hess.diagonal(dim1=1, dim2=2)).sum(1)
            elif terms.probes is not None:
                tr_h = (cf[:, None, :] * terms.probes * terms.hv).sum(2).mean(1)
            tr_lgv = -sig.squeeze(1) * (a.squeeze(1) * tr_h + prior_k.squeeze(1) * cf.sum(1))
            div = 0.5 * beta.squeeze(1) * self.dim + 0.5 * sig.squeeze(1) * (tr_net + tr_lgv)
            ld = step.squeeze(1) * div
        if not create_graph:
            x_new, ld, u = x_new.detach(), ld.detach(), u.detach()
        return x_new, ld, u

    def flow(
        self, x0: torch.Tensor, steps: int, n_weighted: int | None = None, exact: bool | None = None
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """The teacher's ODE from x0 [n, d] with ``steps`` steps; the first ``n_weighted``
        rows (default all) carry log-dets and weights.

        Returns (x [n, d], Σ log-det increments [m], log-weights [m]) with
        log w = log π̃(x) − log p₀(x₀) + Σ increments (π̃ = exp(−E), unnormalised). The
        increments are exact in low dimension if ``exact`` (default: ``exact_weights``),
        Hutchinson estimates with ``weight_probes`` probes and first order otherwise."""
        c = self.config
        exact = (c.exact_weights if exact is None else exact) and self.dim <= c.exact_div_max_dim
        m = x0.shape[0] if n_weighted is None else min(n_weighted, x0.shape[0])
        xw, xu = x0[:m], x0[m:]
        logdet = torch.zeros(m)
        for i in range(steps):
            t = torch.full((m, 1), i / steps)
            step = torch.full((m, 1), 1.0 / steps)
            terms = self._terms(xw, t, None if exact else c.weight_probes)
            xw, ld, _ = self._ode_step(
                self.teacher, xw, t, step, terms, "exact" if exact else "first"
            )
            logdet = logdet + ld
            if len(xu):
                tu = torch.full((len(xu), 1), i / steps)
                lgv, inside = self._lgv(xu, tu)
                xu, _, _ = self._ode_step(
                    self.teacher, xu, tu, torch.full_like(tu, 1.0 / steps), Terms(lgv, inside)
                )
        log_w = logdet - self._log_p0(x0[:m]) - self.target.energy(xw).to(xw.dtype)
        log_w = torch.where(torch.isfinite(log_w), log_w, -torch.inf)
        return torch.cat([xw, xu]), logdet, log_w

    def sample(self, n: int) -> torch.Tensor:
        c = self.config
        m = max(n, self.n_weighted)
        x0 = initial_points(self.target, m, self.gen)
        self.steps = c.sample_steps or self.steps  # a k set after fit is honoured
        x, _, log_w = self.flow(x0, self.steps, n_weighted=self.n_weighted)
        lw = log_w.double()
        finite = torch.isfinite(lw)
        k = lw.shape[0]
        self.estimates = {
            "log_z": float(torch.logsumexp(lw, 0) - math.log(k)),
            "elbo": float(lw[finite].mean()) if finite.any() else -math.inf,
            "ess_fraction": ess(lw) / k,
        }
        return x[:n]

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
