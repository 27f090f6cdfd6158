"""PITA's networks and their training.

- :class:`DiffusionModel`: the temperature-conditioned energy network U_η(y, σ, ln β) [n]
  (in kT at T) and score network [n, d] with EDM preconditioning (σ_data = 1), on the
  scaled coordinates y = x / init_std; shapes y [n, d], σ [n, 1] (units of init_std),
  ln β [n, 1] with β = T₀/T.
- :func:`random_rotations` ([n, k, k]) and :func:`transform_particles`: the rotation and
  permutation augmentation of particle targets (rows of n_particles·spatial_dim).
- :class:`ModelTraining`: the part of :class:`boltzbench.baselines.pita.PITA` that trains
  the networks on the buffers (step 3 of its module docstring): which symmetries the
  target has, each buffer's statistics (energy floor σ_c, radius), the batches, the
  losses and the training loop, whose wall-time allowance is read through this module's
  ``time``. No evaluations: the losses reuse the buffers' stored energies and scores
  (the symmetry check's 2 × ``symmetry_checks`` energies aside, counted).
"""

from __future__ import annotations

import math
import time

import torch
from torch import nn

from boltzbench.nets import mlp


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


class ModelTraining:
    """Training of :class:`DiffusionModel` for :class:`boltzbench.baselines.pita.PITA` (a
    mixin: it uses the method's ``config``, ``target``, ``gen``, ``scale``, ``temps``,
    ``buffers``, ``model``, ``ema``, ``opt`` and ``_transitions_left``; it sets
    ``stats``, ``train_used`` and ``train_steps_done``)."""

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
