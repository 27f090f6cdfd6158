"""NUTS's trajectory kernel: one transition of multinomial NUTS, batched over chains; the
sampler, its settings, warm-up and budget plan are in :mod:`boltzbench.baselines.nuts`.

- :func:`no_uturn`, :func:`merge_ok`: the generalized no-U-turn criterion and Stan's extra
  checks across the seam of two merged subtrees.
- :class:`NUTSKernel`: the part of :class:`~boltzbench.baselines.nuts.NUTS` that moves the
  chains: the kinetic energy, momentum draws and the leapfrog step, the iterative doubling
  of a transition synchronised across chains, and the leaf-by-leaf building of a subtree
  (:class:`_Subtree`) with uniform progressive sampling of its proposal.
- :func:`adaptation_windows`: the slow windows of Stan's warm-up, on which the sampler
  lays out its mass-matrix updates.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import torch

from boltzbench.counter import Counter


def adaptation_windows(
    warmup: int, init_buffer: int = 75, term_buffer: int = 50, base_window: int = 25
) -> list[tuple[int, int]]:
    """The slow windows [start, end) of Stan's windowed adaptation over ``warmup``
    transitions: after an initial buffer, windows of doubling length, the last stretched to
    the terminal buffer; none under 20 transitions; buffers 15 % and 10 % (the windows the
    rest) when the default ones do not fit."""
    if warmup < 20:
        return []
    if init_buffer + term_buffer + base_window > warmup:
        init_buffer, term_buffer = int(0.15 * warmup), int(0.1 * warmup)
        base_window = warmup - init_buffer - term_buffer
    last = warmup - term_buffer
    windows = [(init_buffer, init_buffer + base_window)]
    size = base_window
    while windows[-1][1] < last:
        start = windows[-1][1]
        size *= 2
        end = start + size
        if end + 2 * size > last:  # the next window would not fit: stretch this one
            end = last
        windows.append((start, end))
    return windows


def no_uturn(p_sharp_a: torch.Tensor, p_sharp_b: torch.Tensor, rho: torch.Tensor) -> torch.Tensor:
    """The generalized no-U-turn criterion: True (per row) where a trajectory with momentum
    sum ``rho`` and velocities M⁻¹p ``p_sharp_a``, ``p_sharp_b`` at its two ends has not
    turned back, i.e. both p♯·ρ > 0. Symmetric in the two ends. Shapes [k, d] -> [k]."""
    return ((p_sharp_a * rho).sum(-1) > 0) & ((p_sharp_b * rho).sum(-1) > 0)


def merge_ok(
    old: tuple[torch.Tensor, torch.Tensor, torch.Tensor],
    new: tuple[torch.Tensor, torch.Tensor, torch.Tensor],
    inv_mass: torch.Tensor,
) -> torch.Tensor:
    """Stan's checks when a subtree ``new`` built right after ``old`` (continuing from its
    last leaf) joins it: no U-turn over the merged span, nor over either part extended by
    the adjacent leaf of the other. Each part is (ρ, first leaf's p, last leaf's p) in
    build order, [k, d] each; returns [k] bool."""
    rho_a, first_a, last_a = old
    rho_b, first_b, last_b = new
    # the three no_uturn checks in one pass: ends [2, 3, k, d] against spans [3, k, d]
    rho = torch.stack((rho_a + rho_b, rho_a + first_b, rho_b + last_a))
    ends = torch.stack((first_a, first_a, last_a, last_b, first_b, last_b)).unflatten(0, (2, 3))
    return ((ends * inv_mass * rho).sum(-1) > 0).flatten(0, 1).all(0)


@dataclass
class _Subtree:
    """A subtree built from the end of a trajectory, per chain (rows of the chains that
    built it): ``valid`` (no divergence, no U-turn inside), its log total weight, its
    multinomial proposal, ρ, first leaf's momentum, last leaf's state, and the Metropolis
    acceptance sum and leapfrog steps for the adaptation statistic."""

    valid: torch.Tensor
    divergent: torch.Tensor
    log_w: torch.Tensor
    prop: tuple[torch.Tensor, torch.Tensor, torch.Tensor]
    rho: torch.Tensor
    first_p: torch.Tensor
    last: tuple[torch.Tensor, torch.Tensor, torch.Tensor]
    accept_sum: torch.Tensor
    steps: torch.Tensor


class NUTSKernel:
    """NUTS transitions (see :mod:`boltzbench.baselines.nuts`): a transition doubles the
    trajectory until a U-turn, a divergence, the depth cap or the budget stops it, and
    draws the new point from it.

    The sampler sets the attributes below and provides the hooks :meth:`_spendable` (budget
    units the current tree may still spend), :meth:`_record` (tree statistics) and
    :meth:`_adapt` (warm-up adaptation after a transition).
    """

    config: Any  # a NUTSConfig (boltzbench.baselines.nuts builds on this module)
    target: Counter
    gen: torch.Generator
    h: torch.Tensor  # per-chain step sizes
    inv_mass: torch.Tensor  # diagonal inverse metric
    state: tuple[torch.Tensor, torch.Tensor, torch.Tensor]  # (x, E, −∇E) per chain
    budget_capped: int
    _unit: float
    _moved: torch.Tensor
    _costs: list[float]

    def _spendable(self) -> float:
        raise NotImplementedError

    def _record(self, phase: str, depth, steps, divergent) -> None:
        raise NotImplementedError

    def _adapt(self, accept: torch.Tensor) -> None:
        raise NotImplementedError

    # ------------------------------------------------------------------ dynamics
    def _kinetic(self, p: torch.Tensor) -> torch.Tensor:
        return 0.5 * (p * p * self.inv_mass).sum(-1)

    def _momentum(self, shape: torch.Size) -> torch.Tensor:
        return torch.randn(shape, generator=self.gen) / self.inv_mass.sqrt()

    def _leapfrog(
        self, x: torch.Tensor, p: torch.Tensor, s: torch.Tensor, eps: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        """One leapfrog step of signed size eps [k, 1] per row: (x, p, E, −∇E) after it.
        One counted gradient (and energy) per row."""
        p = p + 0.5 * eps * s
        x = x + eps * self.inv_mass * p
        e, s = self.target.energy_and_score(x)
        return x, p + 0.5 * eps * s, e, s

    def _transition(self, adapt: bool) -> float:
        c = self.config
        x0, e0, s0 = self.state
        n = x0.shape[0]
        m_inv = self.inv_mass
        p0 = self._momentum(x0.shape)
        h0 = e0 + self._kinetic(p0)
        # the trajectory's two ends (backward, forward), its proposal, weight and Σp
        left = [x0.clone(), p0.clone(), s0.clone()]
        right = [x0.clone(), p0.clone(), s0.clone()]
        prop = [x0.clone(), e0.clone(), s0.clone()]
        log_w = torch.zeros(n)
        rho = p0.clone()
        depth = torch.zeros(n, dtype=torch.long)
        building = torch.ones(n, dtype=torch.bool)
        divergent = torch.zeros(n, dtype=torch.bool)
        accept_sum = torch.zeros(n)
        steps = torch.zeros(n)
        for j in range(c.max_depth):
            idx = building.nonzero().squeeze(1)
            k = idx.numel()
            if k == 0:
                break
            if k * 2**j * self._unit > self._spendable():
                self.budget_capped += 1
                break
            fwd = torch.rand(k, generator=self.gen) < 0.5
            f = fwd[:, None]
            start = [torch.where(f, r[idx], lt[idx]) for r, lt in zip(right, left, strict=True)]
            eps = torch.where(fwd, self.h[idx], -self.h[idx])
            sub = self._subtree(*start, eps, j, h0[idx])
            accept_sum[idx] += sub.accept_sum
            steps[idx] += sub.steps
            divergent[idx] |= sub.divergent
            ok = sub.valid
            # multinomial sampling biased toward the new subtree: min(1, w_new / w_old)
            u = torch.rand(k, generator=self.gen)
            take = ok & (u < (sub.log_w - log_w[idx]).exp())
            for t, new in zip(prop, sub.prop, strict=True):
                t[idx] = torch.where(take.view(-1, *[1] * (new.dim() - 1)), new, t[idx])
            log_w[idx] = torch.where(ok, torch.logaddexp(log_w[idx], sub.log_w), log_w[idx])
            # the generalized criterion over the whole new trajectory (old tree, then new)
            far_p = torch.where(f, left[1][idx], right[1][idx])
            near_p = torch.where(f, right[1][idx], left[1][idx])
            turned = ~merge_ok(
                (rho[idx], far_p, near_p), (sub.rho, sub.first_p, sub.last[1]), m_inv
            )
            rho[idx] = rho[idx] + sub.rho
            grow_r, grow_l = idx[ok & fwd], idx[ok & ~fwd]
            for ends, grow, sel in ((right, grow_r, ok & fwd), (left, grow_l, ok & ~fwd)):
                for t, new in zip(ends, sub.last, strict=True):
                    t[grow] = new[sel]
            depth[idx] += ok.long()
            building[idx] = ok & ~turned
        moved = (prop[0] != x0).any(1)
        self.state = (prop[0], prop[1], prop[2])
        accept = torch.where(steps > 0, accept_sum / steps.clamp(min=1), c.target_accept)
        phase = "train" if adapt else "sample"
        if not adapt:
            self._moved |= moved
        self._record(phase, depth, steps, divergent)
        if adapt:
            self._costs.append(float(steps.sum()) * self._unit)
            self._adapt(accept)
        return float(accept.sum())

    def _subtree(
        self,
        x: torch.Tensor,
        p: torch.Tensor,
        s: torch.Tensor,
        eps: torch.Tensor,
        depth: int,
        h0: torch.Tensor,
    ) -> _Subtree:
        """Build a subtree of 2^depth leapfrog steps from (x, p, s) with signed steps eps
        [k], leaf by leaf. A row stops at its first divergence or at the first completed
        node (of 2, 4, … leaves) that fails :func:`merge_ok`; later leaves evaluate only
        the rows still going. The proposal is drawn by uniform progressive sampling, which
        gives each leaf probability ∝ exp(H0 − H)."""
        k, d = x.shape
        m_inv = self.inv_mass
        x, p, s = x.clone(), p.clone(), s.clone()
        alive = torch.ones(k, dtype=torch.bool)
        divergent = torch.zeros(k, dtype=torch.bool)
        log_w = torch.full((k,), -math.inf)
        prop_x, prop_e, prop_s = x.clone(), torch.zeros(k), s.clone()
        rho = torch.zeros(k, d)
        first_p = torch.zeros(k, d)
        accept_sum = torch.zeros(k)
        steps = torch.zeros(k)
        # stack[m]: (ρ, first p, last p) of the completed left half at level m (2^m leaves)
        stack = torch.zeros(depth, k, 3, d)
        step = eps[:, None]
        for leaf in range(2**depth):
            a = alive.nonzero().squeeze(1)
            count = a.numel()
            if count == 0:
                break
            if count == k:
                a = slice(None)  # every row still going: views instead of gathers
            xa, pa, ea, sa = self._leapfrog(x[a], p[a], s[a], step[a])
            log_wa = h0[a] - (ea + self._kinetic(pa))
            log_wa = torch.nan_to_num(log_wa, nan=-math.inf)
            div = log_wa < -self.config.max_delta_h
            accept_sum[a] += log_wa.clamp(max=0.0).exp()
            steps[a] += 1
            total = torch.logaddexp(log_w[a], log_wa)
            take = (torch.rand(count, generator=self.gen) < (log_wa - total).exp())[:, None]
            prop_x[a] = torch.where(take, xa, prop_x[a])
            prop_e[a] = torch.where(take[:, 0], ea, prop_e[a])
            prop_s[a] = torch.where(take, sa, prop_s[a])
            log_w[a] = total
            x[a], p[a], s[a] = xa, pa, sa
            rho[a] += pa
            if leaf == 0:
                first_p[a] = pa
            ok = ~div
            node = (pa, pa, pa)  # this leaf as a node: (ρ, first p, last p)
            level, i = 0, leaf
            while i & 1:  # the leaf completes the right half of nodes up the levels
                left = stack[level, a].unbind(1)
                ok &= merge_ok(left, node, m_inv)
                node = (left[0] + node[0], left[1], node[2])
                level, i = level + 1, i >> 1
            if level < depth:
                stack[level, a] = torch.stack(node, 1)
            divergent[a] |= div
            alive[a] = ok
        return _Subtree(
            valid=alive,
            divergent=divergent,
            log_w=log_w,
            prop=(prop_x, prop_e, prop_s),
            rho=rho,
            first_p=first_p,
            last=(x, p, s),
            accept_sum=accept_sum,
            steps=steps,
        )
