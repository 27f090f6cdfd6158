"""OSDS's sampling side: the deterministic-flow sampler with its importance weights
(log Ẑ, ELBO, ESS), what sampling costs, and the budget rules that choose the fine grid's
step count (``sample_steps = 0``) and the number of weighted particles; the method and the
account of these rules are in :mod:`boltzbench.baselines.osds`.
"""

from __future__ import annotations

import math

import torch
from boltzbench.baselines.mcmc import initial_points
from boltzbench.baselines.osds_model import OSDSModel, Terms
from boltzbench.baselines.weights import ess

from boltzbench.budget import has_budget, unit_cost
from boltzbench.counter import BudgetExceeded, Counter

#: ``sample_steps = 0`` under a budget: the whole sampling cost (the samples' gradients and the
#: weights) takes at most this share, so training keeps the rest ...
FINE_SAMPLING_SHARE = 0.2
#: ... and within it the samples' own gradients at most this share (the weights the rest)
FINE_GRADIENT_SHARE = 0.15


class OSDSSampling(OSDSModel):
    """The sampling side of OSDS (see :mod:`boltzbench.baselines.osds`): costs, the budget
    plan of ``sample``, the teacher's ODE with its weights, and ``sample`` itself.

    Attributes:
        n_weighted: particles that carry importance weights.
        steps: the ODE steps ``sample`` uses.
        estimates: log Ẑ, ELBO and ESS fraction of the latest ``sample``.
    """

    n_weighted: int
    steps: int
    estimates: dict[str, float]

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

    # -------------------------------------------------------- sampling plan
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

    # ------------------------------------------------------ ODE and weights
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
