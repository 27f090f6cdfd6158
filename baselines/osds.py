"""OSDS-style baseline: a self-distilled one-step diffusion sampler with deterministic-flow
importance weights (after Jutras-Dubé et al. 2025; their release does not run, so this
follows the algorithm as described; see the README for the departures).

- **Reference process.** Variance preserving towards p₀ = N(0, σ₀² I), σ₀ = init_std, with
  the cosine schedule β(t) = ½(β_max − β_min) cos²(½π(1 + s − t)/(1 + s)) + ½β_min
  (s = 0.008), σ_t = σ₀ √β(t); generative time t runs from 0 (prior) to 1 (target).
- **Control.** u_θ(x, t, Δ) = F_θ(x/σ₀, e(t, Δ)) + G_θ(e(t, Δ)) ⊙ clip(σ_t ∇log π(x), ±100)
  with Fourier features e of the time and of the step size Δ. The Langevin term costs one
  target gradient per step (through the counter). At initialisation F = 0 and G = 1.
- **Training** (each iteration, ``train``): the Euler–Maruyama path of the generative SDE
  dX = (½β X + σ_t u) dt + σ_t dW on the fine grid (T steps), and the reverse-KL (negative
  ELBO) path loss log p₀(x₀) + Σ log p_fwd/p_bwd − log π(x_T), with the EM kernels of the
  SDE and of the reference process; its gradient needs ∇E(x_T), one more gradient.
- **Self-distillation** on the stop-gradient path: per sample a step Δ = 2^k/T and a start
  on the Δ-grid; the EMA teacher takes two probability-flow ODE half steps, the student one
  full step; loss ‖x_teacher − x_student‖²/σ₀² + 0.25 (logdet_teacher − logdet_student)² +
  1e-4 ‖Jᵀ_u v‖² (Rademacher v: the Frobenius penalty, in expectation the same as the
  paper's ‖J_u v‖²), scaled by 0.25 min(1, iteration/warm-up), as a second optimiser step.
- **Deterministic-flow weights.** The ODE x ← x + Δ (½β x + ½σ_t u) with k steps gives
  log w = log π(x_k) − log p₀(x₀) + Σ Δ div v, with div v = ½β d + ½σ_t tr ∂u/∂x. The trace
  includes the Langevin term's dependence on x (the target's Hessian diagonal, through the
  counter's Hessian-vector products): exact up to ``exact_div_max_dim``, Hutchinson above.
  From the weights: log Ẑ = logsumexp(log w) − log N, ELBO = mean(log w), ESS.

``sample(n)`` runs the EMA model's ODE with ``sample_steps`` steps (default 1): one target
gradient per sample and step, plus the evaluations of the weights, all charged to
``sample``. The estimates are reported as ``log_z``, ``elbo`` and ``ess_fraction``.
"""

from __future__ import annotations

import copy
import math
from dataclasses import dataclass

import torch
from boltzbench.baselines.mcmc import initial_points
from boltzbench.baselines.weights import ess
from torch import nn

from boltzbench.budget import affordable, has_budget
from boltzbench.counter import BudgetExceeded, Counter
from boltzbench.nets import hutchinson_trace, jacobian_rows, mlp, rademacher
from boltzbench.registry import register_method
from boltzbench.rng import generator

_FREQS = torch.tensor([1.0, 2.0, 4.0, 8.0])
#: (Langevin term, its clip mask, Hessians ∇²E or None above exact_div_max_dim)
_Terms = tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]
EMB_DIM = 4 * len(_FREQS)


def embed(t: torch.Tensor, step: torch.Tensor) -> torch.Tensor:
    """Fourier features of time and step size, [n, 16] (t, step: [n, 1] in [0, 1])."""
    a = math.pi * t * _FREQS
    b = math.pi * step * _FREQS
    return torch.cat([a.sin(), a.cos(), b.sin(), b.cos()], dim=1)


class Control(nn.Module):
    """u(x, t, Δ) = F(x/σ₀, e) + G(e) ⊙ lgv; F starts at 0, G at 1."""

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
class OSDSConfig:
    """OSDS settings (one set of defaults for the 2-D targets).

    Attributes:
        n_steps: the fine grid T (a power of two).
        sample_steps: ODE steps k of ``sample`` (1: the one-step sampler; T: the fine grid).
        iters, batch_size, lr: training iterations, paths per iteration, Adam rate.
        hidden, layers: MLP shape of both parts of the control.
        beta_min, beta_max: the cosine schedule's range.
        ema: teacher's EMA decay.
        sd_weight, sd_warmup: self-distillation scale and its linear ramp (iterations).
        vc_weight, jac_weight: volume-consistency and Jacobian-penalty weights.
        weight_particles: at least this many ODE particles for log Ẑ, ELBO and ESS.
        exact_div_max_dim: exact Jacobians up to this dimension, Hutchinson traces above.
        exact_weights: in dimension ≤ ``exact_div_max_dim``, weight samples with the exact
            log|det(I + Δ ∂v/∂x)| of each Euler step instead of the paper's first-order
            Δ div v, so the weights are exact for the discrete flow and log Ẑ is
            consistent (the first-order increment drops the −Δ² tr(J²)/2 term of each step
            and biases log Ẑ upwards). Training is unchanged.
    """

    n_steps: int = 32
    sample_steps: int = 1
    iters: int = 1000  # under a budget: as many as fit after reserving sampling
    batch_size: int = 256
    lr: float = 5e-4
    hidden: int = 64
    layers: int = 2
    beta_min: float = 0.01
    beta_max: float = 10.0
    ema: float = 0.99
    sd_weight: float = 0.25
    sd_warmup: int = 250
    vc_weight: float = 0.25
    jac_weight: float = 1e-4
    weight_particles: int = 2000
    exact_div_max_dim: int = 10
    exact_weights: bool = True

    def validate(self) -> None:
        t = self.n_steps
        if t < 2 or t & (t - 1):
            raise ValueError(f"n_steps must be a power of two ≥ 2, got {t}")
        if not 1 <= self.sample_steps <= 4 * t:
            raise ValueError(f"sample_steps must be in 1 … {4 * t}, got {self.sample_steps}")


@register_method("osds")
class OSDS:
    """One-step diffusion sampler by self-distillation (see the module docstring)."""

    amortized = True  # trained once; each sample costs a fixed number of evaluations

    Config = OSDSConfig

    def __init__(self, config: OSDSConfig | None = None) -> None:
        self.config = config or OSDSConfig()
        self.estimates: dict[str, float] = {}
        self.history: list[float] = []

    # -------------------------------------------------------------- schedule
    def beta(self, t: torch.Tensor) -> torch.Tensor:
        c, s = self.config, 0.008
        cos2 = torch.cos(0.5 * math.pi * (1 + s - t) / (1 + s)) ** 2
        return 0.5 * (c.beta_max - c.beta_min) * cos2 + 0.5 * c.beta_min

    def _log_p0(self, x: torch.Tensor) -> torch.Tensor:
        s2 = self.sigma0**2
        return -0.5 * (x * x).sum(1) / s2 - 0.5 * x.shape[1] * math.log(2 * math.pi * s2)

    # -------------------------------------------------------------- fit
    def fit(self, target: Counter, *, seed: int) -> None:
        c = self.config
        c.validate()
        self.target = target
        self.dim = target.dim
        self.sigma0 = float(target.init_std)
        self.gen = generator(seed)
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            self.net = Control(self.dim, c.hidden, c.layers, self.sigma0)
        self.teacher = copy.deepcopy(self.net).requires_grad_(False)
        opt = torch.optim.Adam(self.net.parameters(), lr=c.lr)
        iters = c.iters
        if has_budget(target):  # reserve sampling: its cost per particle, on two particles
            before = target.used
            self.flow(initial_points(target, 2, self.gen), c.sample_steps)
            m = max(target.n_samples or c.weight_particles, c.weight_particles)
            reserve = m * (target.used - before) / 2
            if reserve > target.remaining:
                raise BudgetExceeded(
                    f"drawing {m} samples with {c.sample_steps} steps needs about "
                    f"{reserve:.3g} evaluations, more than the {target.remaining:.3g} left "
                    f"of the budget of {target.budget}"
                )
        it = 0
        while it < iters:
            before = target.used
            loss, path = self._path_loss()
            opt.zero_grad(set_to_none=True)
            loss.backward()
            nn.utils.clip_grad_norm_(self.net.parameters(), 1.0)
            opt.step()
            self._ema()
            self.history.append(float(loss.detach()))
            alpha = c.sd_weight * min(1.0, (it + 1) / max(1, c.sd_warmup))  # it: 0-based
            sd = self._distill_loss(path)
            opt.zero_grad(set_to_none=True)
            (alpha * sd).backward()
            nn.utils.clip_grad_norm_(self.net.parameters(), 1.0)
            opt.step()
            self._ema()
            if it == 0 and has_budget(target):  # the first iteration's cost sizes the run
                iters = 1 + affordable(target, target.used - before, reserve=reserve)
            it += 1

    def _ema(self) -> None:
        d = self.config.ema
        with torch.no_grad():
            for pt, p in zip(self.teacher.parameters(), self.net.parameters(), strict=True):
                pt.mul_(d).add_(p, alpha=1 - d)

    def _lgv(self, x: torch.Tensor, sig: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """σ_t ∇log π(x), clipped at ±100 (one gradient per row), and the clip's mask."""
        raw = sig * self.target.score(x.detach()).to(x.dtype)
        inside = (raw.abs() < 100).to(x.dtype)
        return raw.clamp(-100, 100), inside

    def _terms(self, x: torch.Tensor, t: torch.Tensor) -> _Terms:
        """What a probability-flow step at (x, t) needs from the target: the Langevin term,
        its clip mask and, in low dimension, the Hessians ∇²E(x) (d HVPs per row). Steps
        that start from the same (x, t) share them instead of evaluating them again."""
        lgv, inside = self._lgv(x, self.sigma0 * self.beta(t).sqrt())
        low_dim = self.dim <= self.config.exact_div_max_dim
        hess = self.target.hessian(x.detach()).to(x.dtype) if low_dim else None
        return lgv, inside, hess

    def _path_loss(self) -> tuple[torch.Tensor, torch.Tensor]:
        """Reverse-KL path loss on the fine grid and the detached path [T + 1, B, d]."""
        c = self.config
        b, t_steps = c.batch_size, c.n_steps
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
            lgv, _ = self._lgv(x, sig)
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

    # ------------------------------------------------------ ODE and weights
    def _ode_step(
        self,
        net: Control,
        x: torch.Tensor,
        t: torch.Tensor,
        step: torch.Tensor,
        create_graph: bool = False,
        exact_logdet: bool = False,
        terms: _Terms | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """One probability-flow Euler step of size ``step`` (per-row t, Δ: [n, 1]); ``terms``:
        :meth:`_terms` at (x, t) if already evaluated.

        Returns (x', log-det increment [n], u). The increment is the first-order Δ div v
        (the paper's), or with ``exact_logdet`` (only in low dimension) the exact
        log|det(I + Δ ∂v/∂x)| of the Euler map. Both include the Langevin term's dependence
        on x (the target's Hessian, through the counter's Hessian-vector products)."""
        beta = self.beta(t)
        sig = self.sigma0 * beta.sqrt()
        x = x.detach().requires_grad_(True)
        lgv, inside, hess = self._terms(x, t) if terms is None else terms
        low_dim = hess is not None
        with torch.enable_grad():
            u, gate = net(x, embed(t, step), lgv)
            if low_dim:
                j_net = jacobian_rows(u, x, create_graph)  # [n, d, d] at fixed lgv
            else:
                tr_net = hutchinson_trace(u, x, self.gen, create_graph)
        w = gate * inside * sig
        if not create_graph:
            w = w.detach()
        if low_dim:
            j_u = j_net - w[:, :, None] * hess  # ∂u/∂x, since ∂lgv/∂x = −σ_t ∇²E
            eye = torch.eye(self.dim, dtype=x.dtype)
            j_v = 0.5 * beta[:, :, None] * eye + 0.5 * sig[:, :, None] * j_u
            if exact_logdet:
                ld = torch.linalg.slogdet(eye + step[:, :, None] * j_v).logabsdet
            else:
                ld = step.squeeze(1) * j_v.diagonal(dim1=1, dim2=2).sum(1)
        else:
            eps = rademacher(x, self.gen)
            tr_lgv = -((w * eps) * self.target.hvp(x.detach(), eps).to(x.dtype)).sum(1)
            div = 0.5 * beta.squeeze(1) * self.dim + 0.5 * sig.squeeze(1) * (tr_net + tr_lgv)
            ld = step.squeeze(1) * div
        x_new = x + step * (0.5 * beta * x + 0.5 * sig * u)
        if not create_graph:
            x_new, ld, u = x_new.detach(), ld.detach(), u.detach()
        return x_new, ld, u

    def _distill_loss(self, path: torch.Tensor) -> torch.Tensor:
        c = self.config
        t_steps, b = c.n_steps, path.shape[1]
        levels = int(math.log2(t_steps))
        k = torch.randint(1, levels + 1, (b,), generator=self.gen)
        length = 2**k  # in fine-grid steps
        start = (torch.rand(b, generator=self.gen) * (t_steps // length)).long() * length
        x = path[start, torch.arange(b)]
        t = (start.double() / t_steps).float()[:, None]
        step = (length.double() / t_steps).float()[:, None]
        terms = self._terms(x, t)  # shared by the teacher's first step and the student
        with torch.no_grad():
            xm, ld1, _ = self._ode_step(self.teacher, x, t, step / 2, terms=terms)
            xt, ld2, _ = self._ode_step(self.teacher, xm, t + step / 2, step / 2)
        xs, ld_s, _ = self._ode_step(self.net, x, t, step, create_graph=True, terms=terms)
        state = ((xt - xs) ** 2).sum(1) / self.sigma0**2
        volume = (ld1 + ld2 - ld_s) ** 2
        loss = state.mean() + c.vc_weight * volume.mean()
        if c.jac_weight > 0:
            loss = loss + c.jac_weight * self._jacobian_penalty(x, t, step, terms[0])
        return loss

    def _jacobian_penalty(self, x, t, step, lgv) -> torch.Tensor:
        x = x.detach().requires_grad_(True)
        u, _ = self.net(x, embed(t, step), lgv)
        v = rademacher(u, self.gen)
        (jtv,) = torch.autograd.grad((u * v).sum(), x, create_graph=True)
        return (jtv**2).sum(1).mean()

    def flow(
        self, x0: torch.Tensor, steps: int, exact: bool | None = None
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """The teacher's ODE from x0 [n, d] with ``steps`` steps.

        Returns (x [n, d], Σ log-det increments [n], log-weights [n]) with
        log w = log π̃(x) − log p₀(x₀) + Σ increments (π̃ = exp(−E), unnormalised). The
        increments are exact in low dimension if ``exact`` (default: ``exact_weights``)."""
        exact = self.config.exact_weights if exact is None else exact
        n = x0.shape[0]
        x, logdet = x0, torch.zeros(n)
        step = torch.full((n, 1), 1.0 / steps)
        for i in range(steps):
            t = torch.full((n, 1), i / steps)
            x, ld, _ = self._ode_step(self.teacher, x, t, step, exact_logdet=exact)
            logdet = logdet + ld
        log_w = logdet - self._log_p0(x0) - self.target.energy(x).to(x.dtype)
        return x, logdet, torch.where(torch.isfinite(log_w), log_w, -torch.inf)

    def sample(self, n: int) -> torch.Tensor:
        c = self.config
        m = max(n, c.weight_particles)
        x, _, log_w = self.flow(initial_points(self.target, m, self.gen), c.sample_steps)
        lw = log_w.double()
        finite = torch.isfinite(lw)
        self.estimates = {
            "log_z": float(torch.logsumexp(lw, 0) - math.log(m)),
            "elbo": float(lw[finite].mean()) if finite.any() else -math.inf,
            "ess_fraction": ess(lw) / m,
        }
        return x[:n]

    def diagnostics(self) -> dict[str, float]:
        out = dict(self.estimates)
        if self.history:
            tail = self.history[-50:]
            out["final_path_loss"] = sum(tail) / len(tail)
        return out
