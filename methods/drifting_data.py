"""Drifting trained from a dataset, the force-guided drifting paper's setting: molecular
conformations from an MD run at a higher temperature (a biased sample of the Boltzmann
distribution) with force labels at the target's temperature.

- **Dataset** (``fit``, charged to ``train``): Langevin MD (BAOAB,
  :mod:`boltzbench.baselines.md`) of ``data_chains`` trajectories on π^(1/τ), τ =
  ``data_temperature`` (500 K / 300 K by default), after ``data_warmup`` steps a frame every
  ``data_thin`` steps. Each step evaluates the target's score −∇E at 300 K once per
  trajectory; the force label of a frame *is* that score (the MD at τ moves with it scaled
  by 1/τ), so the labels cost nothing more. The first warm-up steps run strongly damped,
  as ``md``'s do (``cool_steps`` of :class:`~boltzbench.baselines.md.MDConfig`). Under a
  budget the whole budget goes to the dataset (training evaluates nothing): the warm-up
  takes at most a quarter of the steps and the thinning spreads ``data_size`` frames over
  the rest.
- **Training**: the drifting loss of :mod:`boltzbench.methods.drifting` with V = V⁺ − V⁻,
  V⁻ the Gaussian mean-shift over the generated batch, and V⁺ from a random minibatch of
  ``data_batch`` frames y_j with kernel weights a_ij = softmax_j(−‖x_i − y_j‖²/2σ²):
  ``forces=True`` (``drifting_force_data``): V⁺ = σ² Σ_j a_ij s_π(y_j) at the fine
  bandwidths — the Drifting Force Identity: the standard drift Σ_j a_ij (y_j − x_i), which
  equals σ² Σ_j a_ij s_data(y_j) in expectation, with the data's score replaced by the
  Boltzmann one — and the standard drift at the coarse ones, where the force average's
  variance grows like σ²; ``forces=False`` (``drifting_data``, the ablation): the standard
  drift at every bandwidth, whose equilibrium is the (biased) data distribution.
  Training evaluates nothing, so its cost is in seconds only; ``steps`` is used with or
  without a budget.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from boltzbench.baselines.mcmc import initial_points
from boltzbench.baselines.md import MDConfig, baoab_step, cooling, dynamics_for
from boltzbench.methods.drift_fields import sampler_drift
from boltzbench.methods.drifting import DriftingForceConfig, _OneStepSampler

from boltzbench.budget import affordable, has_budget, unit_cost
from boltzbench.counter import BudgetExceeded, Counter
from boltzbench.registry import register_method


@dataclass
class DriftingDataConfig(DriftingForceConfig):
    """Settings of the dataset-trained drifting samplers; see :class:`DriftingConfig` for
    the generator and the loss, the module docstring for the dataset.

    Attributes:
        forces: use the force labels (the Drifting Force Identity) at the fine bandwidths.
        data_temperature: τ = T_data / T of the MD that makes the dataset.
        data_chains, data_warmup, data_thin, data_size: MD trajectories, warm-up steps,
            steps between frames and frames (without a budget; under one, warm-up and
            thinning follow from it).
        data_batch: frames per training step that serve as kernel centres.
        md_timestep, md_friction: the MD's step in ps and its friction in 1/ps (on a
            target without masses: the ``md`` baseline's reduced units, Δt = 0.1 init_std).
    """

    forces: bool = True
    data_temperature: float = 500.0 / 300.0
    data_chains: int = 16
    data_warmup: int = 2000
    data_thin: int = 20
    data_size: int = 4000
    data_batch: int = 1024
    md_timestep: float = 0.0005
    md_friction: float = 10.0


class _DataDrifting(_OneStepSampler):
    """Shared parts: the dataset, then the drifting loop on it."""

    Config = DriftingDataConfig
    config: DriftingDataConfig
    budget_sets_steps = False  # training evaluates nothing: it runs ``steps``

    def fit(self, target: Counter, *, seed: int) -> None:
        c = self.config
        if c.data_temperature <= 0 or min(c.data_chains, c.data_thin, c.data_size) < 1:
            raise ValueError(f"invalid dataset settings in {c}")
        self._make_dataset(target, seed)
        super().fit(target, seed=seed)

    def _plan(self, target: Counter) -> tuple[int, int]:
        """(warm-up steps, thinning) of the dataset's MD."""
        c = self.config
        if not has_budget(target):
            return c.data_warmup, c.data_thin
        per_step = unit_cost(target, grad=c.data_chains)
        steps = affordable(target, per_step) - 1  # one step's worth for the start
        rounds = math.ceil(c.data_size / c.data_chains)
        if steps < rounds:
            raise BudgetExceeded(
                f"a budget of {target.budget:g} cannot pay for {rounds} MD steps of "
                f"{c.data_chains} trajectories (one frame each)"
            )
        warmup = min(c.data_warmup, steps // 4)
        return warmup, max(1, (steps - warmup) // rounds)

    def _make_dataset(self, target: Counter, seed: int) -> None:
        c = self.config
        warmup, thin = self._plan(target)
        md = MDConfig(timestep=c.md_timestep, friction=c.md_friction)
        dyn = dynamics_for(target, md)
        dyn.kt *= c.data_temperature  # the noise of temperature τ T; the kicks stay
        gen = torch.Generator().manual_seed(seed + 104729)

        def score_at_tau(x: torch.Tensor) -> torch.Tensor:
            return target.score(x) / c.data_temperature

        x = initial_points(target, c.data_chains, gen)
        v = dyn.velocities(c.data_chains, gen, x.dtype)
        s = score_at_tau(x)
        frames, labels = [], []
        rounds = math.ceil(c.data_size / c.data_chains)
        cool = cooling(dyn)
        for i in range(warmup + rounds * thin):
            step_dyn = cool if i < min(md.cool_steps, warmup) else dyn
            x, v, s = baoab_step(x, v, s, score_at_tau, step_dyn, gen)
            if i >= warmup and (i - warmup + 1) % thin == 0:
                frames.append(x.clone())
                labels.append(s * c.data_temperature)  # the score at the target's T
        self.data = torch.cat(frames)[: c.data_size]
        self.labels = torch.cat(labels)[: c.data_size]
        ok = torch.isfinite(self.data).all(1) & torch.isfinite(self.labels).all(1)
        self.data, self.labels = self.data[ok], self.labels[ok]
        self.data_frames, self.data_warmup_steps, self.data_thin_steps = (
            len(self.data),
            warmup,
            thin,
        )
        if not len(self.data):
            raise RuntimeError("the dataset's MD produced no finite frame")

    def drift(self, x: torch.Tensor) -> torch.Tensor:
        c = self.config
        pick = torch.randint(
            len(self.data), (min(c.data_batch, len(self.data)),), generator=self.gen
        )
        y, s = self.data[pick].to(x.dtype), self.labels[pick].to(x.dtype)
        d2 = torch.cdist(x, y).pow(2)
        sq = torch.cdist(x, x).pow(2)
        total = torch.zeros_like(x)
        for sigma in self.sigmas:
            a = torch.softmax(-d2 / (2 * sigma**2), dim=1)
            if c.forces and sigma in self.fine_sigmas:
                v_plus = sigma**2 * (a @ s)
            else:
                v_plus = a @ y - x
            total += self._norm(v_plus - sampler_drift(x, sigma, sq=sq), sigma)
        return total / len(self.sigmas)

    def diagnostics(self) -> dict[str, float]:
        out = super().diagnostics()
        out.update(
            data_frames=float(self.data_frames),
            data_warmup_steps=float(self.data_warmup_steps),
            data_thin_steps=float(self.data_thin_steps),
        )
        return out


@register_method("drifting_force_data")
class DriftingForceData(_DataDrifting):
    """Drifting from a high-temperature MD dataset with 300 K force labels (the paper's
    setting; see the module docstring)."""


@dataclass
class DriftingDataOnlyConfig(DriftingDataConfig):
    """The ablation: the same dataset and model without the force labels."""

    forces: bool = False


@register_method("drifting_data")
class DriftingData(_DataDrifting):
    """The ablation of ``drifting_force_data``: standard drifting toward the dataset."""

    Config = DriftingDataOnlyConfig
