"""PITA's transitions T_i → T_{i+1} and the diagnostics they leave.

:class:`Transitions`, a part of :class:`boltzbench.baselines.pita.PITA` (step 4 of its
module docstring): anneal the EMA model from T_i to T_{i+1} with
:func:`.pita_anneal.fk_anneal` (n particles, y [n, d] in units of init_std), then correct
them to the target at T_{i+1} with its true energies (through the counter) in one
importance step or an SMC bridge through q^(1−α) π^α with MALA moves, resample m and
relax them: (x [m, d], energies [m], scores [m, d]) in the target's units. Also
:meth:`Transitions.diagnostics`, which reports what the transitions (and the ladder and
training) recorded.
"""

from __future__ import annotations

import itertools
import math

import torch
from boltzbench.baselines.mcmc import mala_step
from boltzbench.baselines.pita_anneal import _bridge_schedule, _next_alpha, fk_anneal, resample
from boltzbench.baselines.pita_ladder import tempering_ess
from boltzbench.baselines.weights import ess


class Transitions:
    """The annealing transitions of :class:`boltzbench.baselines.pita.PITA` and its
    diagnostics (a mixin: it uses the method's ``config``, ``target``, ``gen``, ``scale``,
    ``temps``, ``buffers``, ``stats``, ``ema``, ``h_move`` and records; it sets ``floor``,
    ``h_move``, ``moves``, ``unique_fraction``, ``move_accept`` and appends to the
    records)."""

    # ----------------------------------------------------------------- annealing
    def _transition(
        self, i: int, n: int, m: int, evals: int | None
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Anneal the model at T_i to T_{i+1} with n particles, correct them to the target
        at T_{i+1} (the bridge, see :meth:`_bridge`), resample m and relax those:
        (x [m, d], energies [m], scores [m, d]). ``evals``: evaluations (rows) for the
        bridge's moves and the relaxation, or None for the config's counts."""
        c = self.config
        t_next = self.temps[i + 1]
        gamma = self.temps[i] / t_next
        log_beta = math.log(self.temps[0] / self.temps[i])
        model = self.ema
        floor = self.floor = self.stats[i][2]

        def energy(y, sigma):
            return model.energy(y, sigma, torch.full((y.shape[0], 1), log_beta), floor)

        def score(y, sigma):
            with torch.enable_grad():
                if c.drift == "score":
                    return model.score(y, sigma, torch.full((y.shape[0], 1), log_beta))
                yy = y if y.requires_grad else y.detach().requires_grad_(True)
                (g,) = torch.autograd.grad(energy(yy, sigma).sum(), yy, create_graph=True)
                return -g

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
            prior_var=c.sigma_max**2 + self.stats[i][1],
            div_probes=c.div_probes,
            radius=self.stats[i][3],
            record=self.fk_record.setdefault(i, {}),
            corrector_steps=c.corrector_steps,
        )
        x = y * self.scale
        e, s = self.target.energy_and_score(x)  # the final correction's true energies

        def q_energy(x, e, s):  # the bridge's start: U_η(σ_min) and its gradient
            return self._model_energy(x, log_beta)

        state = (x, e, s, *q_energy(x, e, s))
        log_w = log_a.double()
        r = gamma * state[3].double() - e.double() / t_next
        if not torch.isfinite(log_w + r).any():
            # No annealed particle has a finite weight (e.g. a poorly trained model sent
            # them all where the target's energy overflows). Rather than end the run, the
            # bridge starts from buffer i, exact draws at T_i: q = exp(−E/T_i), i.e.
            # γU = E/T_i, so the bridge is plain adaptive tempering T_i → T_{i+1} with
            # MALA moves (the ladder rule chose T_{i+1} so that these tempering weights
            # keep ``rung_ess`` of the buffer). Uses stored energies: no new evaluations.
            xb, eb, sb = self.buffers[i]
            ok = torch.isfinite(eb).nonzero().squeeze(1)
            if ok.numel() == 0:
                raise RuntimeError(f"PITA: no finite energy in the buffer at T={self.temps[i]:g}")
            pick = ok[torch.randint(0, ok.numel(), (n,), generator=self.gen)]
            k_q = 1.0 / (gamma * self.temps[i])

            def q_energy(x, e, s):
                return e * k_q, -s * k_q

            state = (xb[pick], eb[pick], sb[pick], *q_energy(None, eb[pick], sb[pick]))
            log_w = torch.zeros(n, dtype=torch.float64)
            self.info["buffer_fallbacks"] = self.info.get("buffer_fallbacks", 0.0) + 1
        return self._bridge(state, log_w, gamma, t_next, q_energy, m, evals)

    def _model_energy(self, x: torch.Tensor, log_beta: float) -> tuple[torch.Tensor, torch.Tensor]:
        """U_η(σ_min, x / init_std) [n] and its gradient in x [n, d] (the EMA model)."""
        n = x.shape[0]
        y = (x / self.scale).detach().requires_grad_(True)
        with torch.enable_grad():
            u = self.ema.energy(
                y,
                torch.full((n, 1), self.config.sigma_min),
                torch.full((n, 1), log_beta),
                self.floor,
            )
            (g,) = torch.autograd.grad(u.sum(), y)
        return u.detach(), g.detach() / self.scale

    def _bridge(self, state, log_w, gamma, t_next, q_energy, m, evals):
        """The final importance correction, as an SMC bridge when one step is too far.

        The annealed particles represent (with log-weights ``log_w``) q ∝ exp(−γU_η(σ_min));
        the target is π ∝ exp(−E/T_{i+1}). The bridge goes through π_α ∝ q^(1−α) π^α,
        α: 0 → 1, each step of α the largest whose incremental weights
        exp(Δα (γU_η − E/T_{i+1})) keep a normalised ESS of ``bridge_ess`` (α = 1 at once
        when that holds for the whole way: then this is the plain one-step correction);
        after each intermediate step the particles are resampled and moved by MALA steps
        that leave π_α invariant (true energies and scores through the counter, the
        network's U_η and ∇U_η). At α = 1: systematic resampling of m particles and MALA
        relaxation at T_{i+1}. Records the ESS of the one-step correction
        (``ess_oneshot``), of the last step (``final_ess``), the number of steps and the
        share of distinct bridge-start ancestors among the m particles. ``q_energy(x, e,
        s)``: U and ∇_x U of the bridge's start at x (energies e, scores s there)."""
        c = self.config
        n = state[0].shape[0]

        def log_ratio(st):  # log π − log q up to a constant: γU − E/T_{i+1}
            r = gamma * st[3].double() - st[1].double() / t_next
            return torch.where(torch.isfinite(r), r, -torch.inf)

        if not torch.isfinite(log_w + log_ratio(state)).any():
            raise RuntimeError(f"PITA: no annealed particle has a finite weight at T={t_next:g}")
        self.ess_oneshot.append(ess(log_w + log_ratio(state)) / n)
        k_stage = c.bridge_moves
        if evals is not None:  # moves per intermediate step from the expected step count
            planned = _bridge_schedule(log_w, log_ratio(state), c.bridge_ess, c.bridge_max)
            k_stage = 0 if planned <= 1 else max(1, evals // (n * (planned - 1) + m))
        ancestors = torch.arange(n)
        alpha, steps, moves_done = 0.0, 0, 0
        h = self.h_move * t_next  # the step size per unit temperature carried along
        accept: list[float] = []
        while True:
            r = log_ratio(state)
            if steps + 1 >= c.bridge_max:
                new_alpha = 1.0
            else:
                new_alpha = _next_alpha(log_w, r, alpha, c.bridge_ess)
            log_w = log_w + (new_alpha - alpha) * r
            alpha, steps = new_alpha, steps + 1
            if alpha >= 1.0:
                break
            idx = resample(log_w, n, self.gen)
            state = tuple(v[idx] for v in state)
            ancestors, log_w = ancestors[idx], torch.zeros(n, dtype=torch.float64)
            k = k_stage if evals is None else min(k_stage, (evals - moves_done) // n)
            for _ in range(k):
                state, prob = self._bridge_move(state, alpha, gamma, t_next, q_energy, h)
                accept.append(prob)
                h = min(max(h * math.exp(2.0 * (prob - 0.574)), 1e-10), 1e4)
            moves_done += k * n
        self.final_ess.append(ess(log_w) / n)
        self.bridge_steps.append(steps)
        idx = resample(log_w, m, self.gen)
        self.unique_fraction = float(ancestors[idx].unique().numel()) / m
        x, e, s = (v[idx] for v in state[:3])
        relax = c.relax_steps if evals is None else max(0, (evals - moves_done) // m)
        out = (x, e, s)
        beta = 1.0 / t_next
        for _ in range(relax):
            out, prob, _ = mala_step(self.target, out, h, self.gen, beta)
            accept.append(float(prob.mean()))
            h = min(max(h * math.exp(2.0 * (accept[-1] - 0.574)), 1e-10), 1e4)
        self.move_accept = sum(accept) / len(accept) if accept else float("nan")
        self.h_move = h / t_next
        self.moves = (moves_done, relax)
        return out

    def _bridge_move(self, state, alpha, gamma, t_next, q_energy, h):
        """One MALA step for π_α ∝ exp(−(1 − α) γ U_η − α E/T_{i+1}) on (x, E, s, U, ∇U)."""
        x, e, s, u, gu = state

        def log_p(e, u):
            return -(1 - alpha) * gamma * u - alpha * e / t_next

        def grad(s, gu):
            return -(1 - alpha) * gamma * gu + alpha * s / t_next

        g = grad(s, gu)
        noise = torch.randn(x.shape, generator=self.gen)
        xp = x + h * g + math.sqrt(2 * h) * noise
        ep, sp = self.target.energy_and_score(xp)
        up, gup = q_energy(xp, ep, sp)
        gp = grad(sp, gup)
        fwd = ((xp - x - h * g) ** 2).sum(1)
        bwd = ((x - xp - h * gp) ** 2).sum(1)
        log_alpha = log_p(ep, up) - log_p(e, u) + (fwd - bwd) / (4 * h)
        log_alpha = torch.where(torch.isnan(log_alpha), -torch.inf, log_alpha)
        prob = log_alpha.clamp(max=0.0).exp()
        acc = torch.rand(x.shape[0], generator=self.gen) < prob
        new = tuple(
            torch.where(acc[:, None] if a.ndim == 2 else acc, b, a)
            for a, b in zip(state, (xp, ep, sp, up, gup), strict=True)
        )
        return new, float(prob.mean())

    def diagnostics(self) -> dict[str, float]:
        """Evaluations (values + gradients) per stage (``evals_*``); of sample()'s
        transition: ``ess_fraction_final`` (also ``ess_fraction``), the normalised ESS of
        the correction's last step (the one-step importance correction when there is no
        bridge), ``ess_fraction_oneshot`` the ESS the one-step correction would have had
        (the networks' quality), ``bridge_steps``, ``unique_fraction`` (distinct
        bridge-start ancestors among the n samples), ``fk_resamples`` (resamplings along
        the annealing; ``fk_resample_sigma_min``: the smallest noise level of one, in
        units of init_std), ``fk_refused_steps`` (annealing steps refused for every
        particle, all transitions; see :func:`fk_anneal`), ``buffer_fallbacks`` (bridges
        started from the previous buffer), ``move_acceptance``; the same minima and maxima over all
        transitions (``*_min``, ``*_max``); the ladder (``n_temperatures``, ``t_max``,
        ``gamma_max``, ``rung_ess_min``: the smallest ESS of the tempering weights between
        consecutive rungs on the hotter buffer); ``train_steps`` over all phases,
        ``train_seconds_used`` and ``anneal_seconds``; the symmetries used
        (``augment_rotate``, ``augment_permute``); sample()'s particles, bridge moves and
        relaxation steps."""
        out = {f"evals_{k}": float(v) for k, v in self.phase_evals.items()}
        if self.final_ess:
            out["ess_fraction"] = self.final_ess[-1]
            out["ess_fraction_final"] = self.final_ess[-1]
            out["ess_fraction_min"] = min(self.final_ess)
        if self.ess_oneshot:
            out["ess_fraction_oneshot"] = self.ess_oneshot[-1]
            out["ess_fraction_oneshot_min"] = min(self.ess_oneshot)
            out["bridge_steps"] = float(self.bridge_steps[-1])
            out["bridge_steps_max"] = float(max(self.bridge_steps))
            out["move_acceptance"] = self.move_accept
        if hasattr(self, "unique_fraction"):
            out["unique_fraction"] = self.unique_fraction
        if self.fk_record:
            refused = sum(r.get("refused_steps", 0) for r in self.fk_record.values())
            out["fk_refused_steps"] = float(refused)
            last = self.fk_record[max(self.fk_record)].get("resample_sigmas", [])
            out["fk_resamples"] = float(len(last))
            if last:
                out["fk_resample_sigma_min"] = min(last)
            rates = [a for r in self.fk_record.values() for a in r.get("corrector_accept", [])]
            if rates:
                out["corrector_accept"] = sum(rates) / len(rates)
        if hasattr(self, "temps"):
            t = self.temps
            out["n_temperatures"] = float(len(t))
            out["t_max"] = t[0]
            out["gamma_max"] = max(a / b for a, b in itertools.pairwise(t)) if len(t) > 1 else 1.0
            rung = [
                tempering_ess(self.buffers[k][1], t[k], t[k + 1])
                for k in range(min(len(self.buffers), len(t) - 1))
            ]
            if rung:
                out["rung_ess_min"] = min(rung)
        if self.train_steps_done:
            out["train_steps"] = float(sum(self.train_steps_done))
            out["train_seconds_used"] = self.train_used
            out["anneal_seconds"] = self.anneal_seconds
        if hasattr(self, "symmetries"):
            out["augment_rotate"] = float(self.symmetries[0])
            out["augment_permute"] = float(self.symmetries[1])
        out.update(self.info)
        return out
