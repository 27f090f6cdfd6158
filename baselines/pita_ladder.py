"""PITA's temperature ladder: the next rung from the energies already in hand.

The rule (an adaptive-tempering criterion, as in adaptive SMC): from the buffer at T_i
(its configurations were drawn at T_i and their energies E came through the counter, so
the rule costs no evaluations), the next temperature T_{i+1} < T_i is the one at which
the normalised effective sample size of the tempering weights

    w_k ∝ exp(−(1/T_{i+1} − 1/T_i) E_k)

equals ``rung_ess``; T_{i+1} = 1 as soon as that ESS at T = 1 is at least ``rung_ess``.
The buffer at T_i then still covers the colder distribution (an importance sampler from
T_i to T_{i+1} keeps that share of its particles), which is what PITA's annealing needs:
the networks trained at T_i are asked about the region T_{i+1} occupies. For a heat
capacity C (Var E = C T²) the rule gives T_i / T_{i+1} ≈ 1 + sqrt(−ln(rung_ess) / C), so
the ladder is finer where the energy fluctuates more (larger systems, phase changes).

:class:`LadderPlan`, a part of :class:`boltzbench.baselines.pita.PITA`, applies the
configured ladder (this rule, geometric or fixed; temperatures in kT) and, under a
budget, sizes each transition: particles and evaluations (rows of energy + score).
"""

from __future__ import annotations

import math

import torch
from boltzbench.baselines.weights import ess

from boltzbench.budget import MARGIN, has_budget


def tempering_ess(energies: torch.Tensor, t_now: float, t_next: float) -> float:
    """Normalised ESS of the weights exp(−(1/t_next − 1/t_now) E) over ``energies`` [n]
    (non-finite energies are dropped)."""
    e = energies.double()
    e = e[torch.isfinite(e)]
    if e.numel() == 0:
        return 0.0
    log_w = -(1.0 / t_next - 1.0 / t_now) * e
    return ess(log_w) / e.numel()


def next_temperature(
    energies: torch.Tensor, t_now: float, rung_ess: float, iters: int = 60
) -> float:
    """The next rung below ``t_now`` by the ESS criterion (see the module docstring):
    bisection on the inverse temperature in (1/t_now, 1]."""
    if not 0.0 < rung_ess < 1.0:
        raise ValueError(f"rung_ess must lie in (0, 1), got {rung_ess}")
    if t_now <= 1.0 or tempering_ess(energies, t_now, 1.0) >= rung_ess:
        return 1.0
    lo, hi = 1.0 / t_now, 1.0  # ESS(lo) = 1 ≥ rung_ess > ESS(hi)
    for _ in range(iters):
        mid = 0.5 * (lo + hi)
        if tempering_ess(energies, t_now, 1.0 / mid) >= rung_ess:
            lo = mid
        else:
            hi = mid
    return 1.0 / lo


def rungs_left(t_next: float, ratio: float) -> int:
    """Transitions still needed below ``t_next`` if each keeps the ratio ``ratio`` =
    T_i / T_{i+1} (> 1) of the last one: ceil(ln t_next / ln ratio), 0 at t_next = 1."""
    if t_next <= 1.0:
        return 0
    return max(1, math.ceil(math.log(t_next) / math.log(max(ratio, 1.0 + 1e-6)) - 1e-9))


class LadderPlan:
    """The ladder and the rungs' sizes of :class:`boltzbench.baselines.pita.PITA` (a mixin:
    it uses the method's ``config``, ``target``, ``temps``, ``buffers``, ``unit`` and
    ``n_out``)."""

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
