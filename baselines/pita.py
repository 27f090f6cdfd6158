"""PITA-style baseline: progressive inference-time annealing of diffusion samplers.

After Akhound-Sadegh et al. (2025), as their code runs it, at CPU scale (see the README for
what differs). Coordinates are divided by the target's ``init_std`` inside the method
(y = x / init_std), so one set of noise levels serves targets of different scales.

1. **Data at T₀.** MALA at the hottest temperature T₀ (step size tuned by dual averaging),
   from the suite's broad start, through the counter: buffer 0 (``train``).
2. **Train** (phase i, on the buffers of T₀ … T_i, a temperature drawn uniformly per batch):
   a score network and an energy network, both MLPs conditioned on (c_noise = ¼ ln σ,
   ln β) with β = T₀/T, under the EDM preconditioning of a variance-exploding process
   (σ_data = 1): D_θ(y) = c_s y + c_out F_θ(c_in y), s_θ = (D_θ − y)/h, h = σ²;
   U_η(y) = ‖y‖²/(2(1 + h)) − (1/√h) ⟨G_η(c_in y), c_in y⟩ + b_η (a free offset b_η, since
   the pinned energies carry the target's constant). Losses, each weighted by
   λ(h) = (h + 1)/h where the paper does: denoising score matching λ‖D_θ(y_t) − y₀‖²,
   energy–score distillation λ‖y_t − h∇U_η(y_t) − sg(D_θ(y_t))‖², energy pinning
   (U_η(σ_min, y₀) − E(x₀)/T_i)² on the buffer's stored energies (no new evaluations).
3. **Inference-time annealing** T_i → T_{i+1}, γ = T_i/T_{i+1}: the reverse SDE
   dy = (g²/2)(s_θ − γ∇U_η) dτ + g dW from N(0, σ_max²/γ) (weighted by exp(−γU_η)/prior)
   down to σ_min, with the Feynman–Kac log-weight rate
   γ⟨−∇U_η, b⟩ + div b + γ ∂_t U_η, b = (g²/2) s_θ (see :func:`fk_anneal`), systematic
   resampling (at every step, or when the ESS falls under a threshold), the final
   importance correction log w = −E(x)/T_{i+1} + γ U_η(σ_min, y) with the true energy
   (through the counter), a last resampling, and MALA relaxation steps at T_{i+1}.
   The annealed particles (with their energies) become buffer i+1.
4. ``sample(n)`` runs the last transition (to T = 1) with n particles, charged to
   ``sample``; earlier transitions are part of ``fit`` (``train``).

Evaluation counts are reported split into data generation (MALA at T₀), training
(always 0: the losses reuse stored energies), annealing (final corrections and
relaxation inside ``fit``) and sampling (``diag_evals_*``).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial

import torch
from boltzbench.baselines.mcmc import DualAveraging, initial_points, mala_step
from boltzbench.baselines.weights import ess, systematic_resample
from torch import nn

from boltzbench.counter import Counter
from boltzbench.nets import hutchinson_trace, jacobian_rows, mlp
from boltzbench.registry import register_method
from boltzbench.rng import generator


def divergence(
    fn: Callable[[torch.Tensor], torch.Tensor],
    y: torch.Tensor,
    gen: torch.Generator | None = None,
    exact_max_dim: int = 10,
) -> tuple[torch.Tensor, torch.Tensor]:
    """(fn(y), div fn(y)) for a vector field fn: [n, d] → [n, d], rows independent.

    Exact trace (d backward passes) when d ≤ ``exact_max_dim``, else Hutchinson's estimator
    with one Rademacher probe per row (unbiased: E[εᵀ J ε] = tr J)."""
    y = y.detach().requires_grad_(True)
    with torch.enable_grad():
        out = fn(y)
        if y.shape[1] <= exact_max_dim:
            div = jacobian_rows(out, y).diagonal(dim1=1, dim2=2).sum(1)
        else:
            div = hutchinson_trace(out, y, gen)
    return out.detach(), div.detach()


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
) -> tuple[torch.Tensor, torch.Tensor]:
    """Feynman–Kac annealed reverse SDE of a variance-exploding diffusion model.

    The model gives, at noise level σ (h = σ², geometric schedule σ(t) = σ_min^(1−t)
    σ_max^t, g² = dh/dt = 2h ln(σ_max/σ_min)), a score s(y, σ) ≈ ∇log p_σ and an energy
    U(y, σ) ≈ −log p_σ + const. The particles start from N(0, σ_max²/γ) with log-weight
    −γU(y, σ_max) − log N(y; 0, σ_max²/γ) and follow, for τ = 1 − t from 0 to 1 in
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
    0.9; None keeps the estimator unbiased).

    Args:
        score(y [n, d], sigma [n, 1]) → [n, d]; energy(y, sigma) → [n] (differentiable in y
            and sigma).

    Returns:
        (y [n, d], log-weights A [n]) at σ_min; the weighted particles represent
        exp(−γ U(·, σ_min)).
    """
    log_ratio = math.log(sigma_max / sigma_min)
    d_tau = 1.0 / n_steps
    var0 = sigma_max**2 / gamma
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
        s, div_s = divergence(partial(score, sigma=sig_c), y, gen, exact_div_max_dim)
        b = 0.5 * g2 * s
        rate = gamma * (-(grad_u * b).sum(1)) + 0.5 * g2 * div_s + gamma * du_dt
        rate = torch.where(torch.isfinite(rate), rate, -torch.inf)
        if clip_quantile is not None:
            finite = rate[torch.isfinite(rate)]
            if finite.numel():
                rate = rate.clamp(max=float(torch.quantile(finite, clip_quantile)))
        log_a = log_a + d_tau * rate
        noise = torch.randn(y.shape, generator=gen)
        y = y + d_tau * 0.5 * g2 * (s - gamma * grad_u) + math.sqrt(g2 * d_tau) * noise
        if resample == "always" or (resample == "ess" and ess(log_a) < ess_fraction * n):
            idx = systematic_resample(log_a, gen)
            y, log_a = y[idx], torch.zeros(n)
    return y.detach(), log_a.detach()


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

    def energy(self, y, sigma, log_beta):
        h, c_s, c_in, c_out, c_noise = self._pre(sigma)
        out = self.energy_net(c_in * y, c_noise, log_beta)
        quad = (y * y).sum(1) / (2 * (1 + h.squeeze(1)))
        inner = (out[:, :-1] * c_in * y).sum(1) / sigma.squeeze(1)
        return quad - inner + out[:, -1]


@dataclass
class PITAConfig:
    """PITA settings (one set of defaults for the 2-D targets).

    Attributes:
        t_max: the hottest temperature T₀ (kT); the ladder is geometric from T₀ to 1.
        n_temps: temperatures on the ladder, T₀ and 1 included.
        data_chains, data_warmup, data_thin, data_size: MALA at T₀ for buffer 0.
        buffer_size: annealed particles per later buffer.
        train_steps: optimiser steps per training phase (one phase per transition).
        batch_size, lr, hidden, layers: training and MLP shape.
        ema: decay of the parameter average used for annealing.
        sigma_min, sigma_max: noise levels in units of init_std.
        anneal_steps: Euler–Maruyama steps of each annealing.
        resample: ``"always"`` (every step, as the authors' code), ``"ess"`` or
            ``"never"`` (weights only, the final correction resamples).
        ess_fraction: the ESS threshold for ``"ess"``, as a fraction of the particles.
        clip_quantile: per-step clamp of the weight increments (None: no clamp, unbiased;
            the authors' code clamps at 0.9).
        relax_steps: MALA relaxation steps at the new temperature after the final
            correction.
        exact_div_max_dim: exact divergence up to this dimension, Hutchinson above.
    """

    t_max: float = 10.0
    n_temps: int = 5
    data_chains: int = 500
    data_warmup: int = 500
    data_thin: int = 5
    data_size: int = 4000
    buffer_size: int = 4000
    train_steps: int = 1500
    batch_size: int = 512
    lr: float = 1e-3
    hidden: int = 128
    layers: int = 3
    ema: float = 0.99
    sigma_min: float = 0.01
    sigma_max: float = 5.0
    anneal_steps: int = 200
    resample: str = "ess"
    ess_fraction: float = 0.5
    clip_quantile: float | None = None
    relax_steps: int = 10
    exact_div_max_dim: int = 10

    def validate(self) -> None:
        if self.t_max <= 1 or self.n_temps < 2:
            raise ValueError(f"need t_max > 1 and n_temps ≥ 2, got {self}")
        if self.resample not in ("always", "ess", "never"):
            raise ValueError(f"resample must be always, ess or never, got {self.resample!r}")
        if not 0 < self.sigma_min < self.sigma_max:
            raise ValueError("need 0 < sigma_min < sigma_max")


@register_method("pita")
class PITA:
    """Progressive inference-time annealing (see the module docstring)."""

    amortized = True  # trained once; each sample costs a fixed number of evaluations

    Config = PITAConfig

    def __init__(self, config: PITAConfig | None = None) -> None:
        self.config = config or PITAConfig()
        self.phase_evals = {"data": 0, "training": 0, "annealing": 0, "sampling": 0}
        self.final_ess: list[float] = []

    # ----------------------------------------------------------------------- fit
    def fit(self, target: Counter, *, seed: int) -> None:
        c = self.config
        c.validate()
        self.target = target
        self.scale = float(target.init_std)
        self.gen = generator(seed)
        k = torch.arange(c.n_temps, dtype=torch.float64)
        self.temps = [float(t) for t in c.t_max ** (1 - k / (c.n_temps - 1))]
        self.temps[-1] = 1.0
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            self.model = DiffusionModel(target.dim, c.hidden, c.layers)
        self.ema = DiffusionModel(target.dim, c.hidden, c.layers)
        self.ema.load_state_dict(self.model.state_dict())
        self.opt = torch.optim.Adam(self.model.parameters(), lr=c.lr)
        before = self._used()
        self.buffers = [self._data_at_t0()]
        self.phase_evals["data"] = self._used() - before
        for i in range(c.n_temps - 1):
            self._train(i)
            if i < c.n_temps - 2:  # the last transition is sample()'s
                before = self._used()
                x, e = self._transition(i, c.buffer_size)
                self.phase_evals["annealing"] += self._used() - before
                self.buffers.append((x, e))

    def _used(self) -> int:
        return self.target.counts.total

    def _data_at_t0(self) -> tuple[torch.Tensor, torch.Tensor]:
        """MALA at T₀ from the broad start: data_size draws and their energies."""
        c = self.config
        beta = 1.0 / self.temps[0]
        x = initial_points(self.target, c.data_chains, self.gen)
        state = (x, *self.target.energy_and_score(x))
        h = torch.tensor(0.01 * self.scale**2 * self.temps[0])
        adapter = DualAveraging(h, 0.574)
        for _ in range(c.data_warmup):
            state, prob, _ = mala_step(self.target, state, float(h), self.gen, beta)
            h = adapter.update(prob.mean())
        h = adapter.final
        xs, es = [], []
        while sum(len(v) for v in xs) < c.data_size:
            for _ in range(c.data_thin):
                state, _, _ = mala_step(self.target, state, float(h), self.gen, beta)
            xs.append(state[0].clone())
            es.append(state[1].clone())
        return torch.cat(xs)[: c.data_size], torch.cat(es)[: c.data_size]

    def _train(self, phase: int) -> None:
        """Train on the buffers of temperatures 0 … phase."""
        c = self.config
        for _ in range(c.train_steps):
            j = torch.randint(0, phase + 1, (c.batch_size,), generator=self.gen)
            ys, es, lb = [], [], []
            for temp_idx in range(phase + 1):
                m = int((j == temp_idx).sum())
                if m == 0:
                    continue
                xb, eb = self.buffers[temp_idx]
                pick = torch.randint(0, xb.shape[0], (m,), generator=self.gen)
                ys.append(xb[pick] / self.scale)
                es.append(eb[pick] / self.temps[temp_idx])
                lb.append(torch.full((m, 1), math.log(self.temps[0] / self.temps[temp_idx])))
            y0, e0, log_beta = torch.cat(ys), torch.cat(es), torch.cat(lb)
            loss = self._loss(y0, e0, log_beta)
            self.opt.zero_grad(set_to_none=True)
            loss.backward()
            nn.utils.clip_grad_norm_(self.model.parameters(), 1.0)
            self.opt.step()
            with torch.no_grad():
                for pe, p in zip(self.ema.parameters(), self.model.parameters(), strict=True):
                    pe.mul_(c.ema).add_(p, alpha=1 - c.ema)

    def _sample_sigma(self, n: int) -> torch.Tensor:
        """Half from ln σ ~ N(−1.2, 1.2²) (EDM), half log-uniform on [σ_min, σ_max] (the
        annealing starts at σ_max, which the EDM law alone rarely visits); clamped."""
        c = self.config
        lo, hi = math.log(c.sigma_min), math.log(c.sigma_max)
        edm = -1.2 + 1.2 * torch.randn(n, 1, generator=self.gen)
        uni = lo + (hi - lo) * torch.rand(n, 1, generator=self.gen)
        pick = torch.rand(n, 1, generator=self.gen) < 0.5
        return torch.where(pick, edm, uni).clamp(lo, hi).exp()

    def _loss(self, y0: torch.Tensor, e0: torch.Tensor, log_beta: torch.Tensor) -> torch.Tensor:
        c = self.config
        n = y0.shape[0]
        sigma = self._sample_sigma(n)
        h = sigma**2
        lam = ((h + 1) / h).squeeze(1)
        yt = (y0 + sigma * torch.randn(y0.shape, generator=self.gen)).requires_grad_(True)
        d = self.model.denoise(yt, sigma, log_beta)
        l_dsm = lam * ((d - y0) ** 2).sum(1)
        u = self.model.energy(yt, sigma, log_beta)
        (grad_u,) = torch.autograd.grad(u.sum(), yt, create_graph=True)
        l_dist = lam * ((yt - h * grad_u - d.detach()) ** 2).sum(1)
        u0 = self.model.energy(y0, torch.full((n, 1), c.sigma_min), log_beta)
        mask = (e0.abs() < 1000).to(u0.dtype)
        l_pin = mask * (u0 - e0) ** 2
        return (l_dsm + l_dist + l_pin).mean()

    # ----------------------------------------------------------------- annealing
    def _transition(self, i: int, n: int) -> tuple[torch.Tensor, torch.Tensor]:
        """Anneal the model at T_i to T_{i+1}; n particles and their true energies."""
        c = self.config
        gamma = self.temps[i] / self.temps[i + 1]
        log_beta = math.log(self.temps[0] / self.temps[i])
        model = self.ema

        def score(y, sigma):
            with torch.enable_grad():
                return model.score(y, sigma, torch.full((y.shape[0], 1), log_beta))

        def energy(y, sigma):
            return model.energy(y, sigma, torch.full((y.shape[0], 1), log_beta))

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
        )
        x = y * self.scale
        e, s = self.target.energy_and_score(x)  # the final correction's true energies
        with torch.no_grad():
            u = energy(y, torch.full((n, 1), c.sigma_min))
        log_w = -e.double() / self.temps[i + 1] + gamma * u.double() + log_a.double()
        log_w = torch.where(torch.isfinite(log_w), log_w, -torch.inf)
        self.final_ess.append(ess(log_w) / n)
        idx = systematic_resample(log_w, self.gen)
        state = (x[idx], e[idx], s[idx])
        beta = 1.0 / self.temps[i + 1]
        h = 0.01 * self.scale**2 * self.temps[i + 1]
        for _ in range(c.relax_steps):
            state, prob, _ = mala_step(self.target, state, h, self.gen, beta)
            h *= 1.1 if float(prob.mean()) > 0.55 else 1 / 1.1
        return state[0], state[1]

    def sample(self, n: int) -> torch.Tensor:
        before = self._used()
        x, _ = self._transition(self.config.n_temps - 2, n)
        self.phase_evals["sampling"] = self._used() - before
        return x

    def diagnostics(self) -> dict[str, float]:
        """Evaluations (values + gradients) per stage; ``ess_fraction``: the normalised ESS
        of sample()'s final importance correction (``ess_fraction_min``: the lowest over
        all transitions)."""
        out = {f"evals_{k}": float(v) for k, v in self.phase_evals.items()}
        if self.final_ess:
            out["ess_fraction"] = self.final_ess[-1]
            out["ess_fraction_min"] = min(self.final_ess)
        return out
