"""OSDS's step-conditioned model and its training losses; the method, its settings and the
account of its design are in :mod:`boltzbench.baselines.osds`.

- :func:`embed`, :func:`vp_beta`: Fourier features of the time and the step size, and β(t)
  of the VP reference process (the cosine schedule, in generative time).
- :class:`Control`: the step-conditioned control u(x, t, Δ) = F(x/σ₀, e) + G(e) ⊙ ℓ.
- :class:`Terms`: what a probability-flow step at (x, t) needs from the target.
- :class:`OSDSModel`: the part of :class:`~boltzbench.baselines.osds.OSDS` that evaluates
  the model: the schedule and the prior, the Langevin term and the target's Hessian terms,
  one probability-flow Euler step with its log-det increment, the reverse-KL path loss and
  the self-distillation losses (state, volume-consistency and Jacobian terms).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import torch
from boltzbench.baselines.mcmc import initial_points
from torch import nn

from boltzbench.counter import Counter
from boltzbench.nets import hutchinson_trace, jacobian_rows, mlp, rademacher

_FREQS = torch.tensor([1.0, 2.0, 4.0, 8.0])
EMB_DIM = 4 * len(_FREQS)
LGV_CLIP = 100.0


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


class OSDSModel:
    """The model side of OSDS (see :mod:`boltzbench.baselines.osds`): the networks, the
    reference process and the target's terms, the ODE step and the training losses.

    Attributes (set by :meth:`~boltzbench.baselines.osds.OSDS.start`):
        config: the method's ``OSDSConfig``.
        target, dim, sigma0: the counted target, its dimension and σ₀ = init_std.
        gen: the method's random generator.
        net, teacher: the student control and its EMA teacher.
    """

    config: Any  # an OSDSConfig (boltzbench.baselines.osds builds on this module)
    target: Counter
    dim: int
    sigma0: float
    gen: torch.Generator
    net: Control
    teacher: Control

    # -------------------------------------------------------------- schedule
    def beta(self, t: torch.Tensor) -> torch.Tensor:
        """β at generative time t (see :func:`vp_beta`)."""
        return vp_beta(t, self.config.beta_min, self.config.beta_max)

    def _log_p0(self, x: torch.Tensor) -> torch.Tensor:
        s2 = self.sigma0**2
        return -0.5 * (x * x).sum(1) / s2 - 0.5 * x.shape[1] * math.log(2 * math.pi * s2)

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

    def volume_mode(self) -> str:
        """The volume-consistency term in use: ``config.volume``, with ``"auto"`` resolved
        to ``"off"`` where the weights are exact (``exact_weights`` in d ≤
        ``exact_div_max_dim``) and to ``"released"`` elsewhere."""
        c = self.config
        if c.volume != "auto":
            return c.volume
        exact = c.exact_weights and self.dim <= c.exact_div_max_dim
        return "off" if exact else "released"

    def train_hvp_probes(self) -> int | None:
        """Target HVPs per path point that the volume term needs (``train_probes`` for
        ``"hessian"``, None meaning d; none for the other terms)."""
        return self.config.train_probes if self.volume_mode() == "hessian" else 0

    def _distill_terms(self, path: torch.Tensor) -> dict[str, torch.Tensor]:
        """The self-distillation losses on a detached path [T + 1, B, d]: ``state`` (mean
        ‖x_teacher − x_student‖²/σ₀²), ``volume`` (mean squared gap of the teacher's two
        half steps' log-det increments and the student's, as :meth:`volume_mode` computes
        them; 0 when it is ``"off"``) and ``jacobian`` (the penalty ‖Jᵀ_u v‖²; 0 when
        ``jac_weight`` is 0)."""
        c = self.config
        t_steps, b = c.n_steps, path.shape[1]
        levels = int(math.log2(t_steps))
        k = torch.randint(1, levels + 1, (b,), generator=self.gen)
        length = 2**k  # in fine-grid steps
        start = (torch.rand(b, generator=self.gen) * (t_steps // length)).long() * length
        x = path[start, torch.arange(b)]
        t = (start.double() / t_steps).float()[:, None]
        step = (length.double() / t_steps).float()[:, None]
        mode = self.volume_mode()
        logdet = {"hessian": "first", "released": "control", "off": None}[mode]
        probes = self.train_hvp_probes()
        # the teacher's first half step and the student share ℓ and the Hessian probes
        terms = self._terms(x, t, probes)
        with torch.no_grad():
            xm, ld1, _ = self._ode_step(self.teacher, x, t, step / 2, terms, logdet=logdet)
            terms_m = self._terms(xm, t + step / 2, probes)
            xt, ld2, _ = self._ode_step(self.teacher, xm, t + step / 2, step / 2, terms_m, logdet)
        xs, ld_s, _ = self._ode_step(self.net, x, t, step, terms, logdet, create_graph=True)
        out = {
            "state": (((xt - xs) ** 2).sum(1) / self.sigma0**2).mean(),
            "volume": torch.zeros(()) if ld_s is None else ((ld1 + ld2 - ld_s) ** 2).mean(),
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

    # ------------------------------------------------------------ ODE step
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

        Returns (x' [n, d], log-det increment [n] or None, u [n, d]); with
        ``create_graph`` they keep their graph to the network's parameters. ``logdet``:
        None (no log-det), ``"first"`` (the paper's Δ div v) or ``"exact"`` (log|det(I +
        Δ ∂v/∂x)|, only with exact Hessians in low dimension; first order otherwise), both
        with the Langevin term's dependence on x as far as ``terms`` carry it; or
        ``"control"`` (the released code's volume term: Δ (½βd + ½σ tr ∂u/∂x) at fixed ℓ,
        exact traces up to ``exact_div_max_dim``, one Hutchinson probe above)."""
        beta = self.beta(t)
        sig = self.sigma0 * beta.sqrt()
        x = x.detach().requires_grad_(True)
        with torch.enable_grad():
            u, gate = net(x, embed(t, step), terms.lgv)
        x_new = x + step * (0.5 * beta * x + 0.5 * sig * u)
        if logdet is None:  # the student's step keeps its graph (its state loss needs it)
            return (x_new, None, u) if create_graph else (x_new.detach(), None, u.detach())
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
        if logdet == "control":  # the released term: ℓ held fixed, the control's trace only
            if low_dim:
                tr_net = j_net.diagonal(dim1=1, dim2=2).sum(1)
            ld = step.squeeze(1) * (
                0.5 * beta.squeeze(1) * self.dim + 0.5 * sig.squeeze(1) * tr_net
            )
        elif low_dim and terms.hess is not None:
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
