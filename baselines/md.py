"""Langevin molecular dynamics (``md``): the "traditional method" of the force-guided
drifting paper's speed-up claims, batched over independent trajectories.

The integrator is BAOAB (Leimkuhler & Matthews 2013): half a kick, half a drift, an exact
Ornstein–Uhlenbeck velocity update, half a drift, half a kick with the new forces — one
gradient per trajectory and step. It has no accept/reject: its stationary configurational
law is the Boltzmann distribution up to an O(Δt²) bias (exact for a harmonic energy at any
friction, which the tests check). Kicks are clipped far from the bulk (see
:class:`Dynamics`), so a quartic energy cannot throw a trajectory to infinity.

Units. A target that declares ``masses`` (amu per coordinate) and ``kt_kj_per_mol`` (k_B T
in kJ/mol, which is amu·nm²/ps²) is integrated in physical time: the step ``timestep`` is
in ps and ``friction`` in 1/ps; coordinates in nm. Any other target runs in reduced units:
unit masses, k_B T = 1, a step of ``reduced_step`` × init_std (the thermal speed is 1) and
``reduced_friction`` per init_std of time (thermal speed 1).

Cost per decorrelated conformation: the chain driver records the trajectories
([chains, rounds, d]); the cost decomposition (:mod:`boltzbench.costs`) divides the
production cost by the effective sample size of the target's declared statistics.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import torch
from boltzbench.baselines.mcmc import ChainConfig, ChainMethod

from boltzbench.registry import register_method


@dataclass
class Dynamics:
    """What BAOAB needs besides the forces: masses [d] (amu, or 1), k_B T (kJ/mol, or 1),
    the step Δt and the friction γ (ps and 1/ps, or reduced units), and the kick clip: a
    half kick changes a velocity coordinate by at most ``kick_clip`` thermal speeds
    √(k_B T/m). In the bulk a half kick is about ½Δt ω thermal speeds (ω a mode's
    frequency), far below the clip; it binds only far out, where a quartic energy's force
    (``double_well``, ``many_well`` from the broad start) would otherwise throw the
    trajectory to infinity in a few steps."""

    masses: torch.Tensor
    kt: float
    dt: float
    friction: float
    kick_clip: float = 2.0

    def speed(self, dtype=torch.float32) -> torch.Tensor:
        """The thermal speed √(k_B T/m) per coordinate, [d]."""
        return (self.kt / self.masses).sqrt().to(dtype)

    def velocities(self, n: int, gen: torch.Generator, dtype=torch.float32) -> torch.Tensor:
        """Maxwell–Boltzmann velocities, [n, d]."""
        return self.speed(dtype) * torch.randn(n, self.masses.shape[0], generator=gen, dtype=dtype)


def baoab_step(
    x: torch.Tensor,
    v: torch.Tensor,
    score: torch.Tensor,
    score_fn: Callable[[torch.Tensor], torch.Tensor],
    dyn: Dynamics,
    gen: torch.Generator,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """One BAOAB step of positions x, velocities v [n, d] with score = −∇E(x) [n, d] (E in
    kT); returns (x', v', score(x')) after one call of ``score_fn``."""
    m = dyn.masses.to(x.dtype)
    kick = 0.5 * dyn.dt * dyn.kt / m
    c1 = math.exp(-dyn.friction * dyn.dt)
    speed = dyn.speed(x.dtype)
    noise_sd = math.sqrt(1.0 - c1 * c1) * speed
    cap = dyn.kick_clip * speed
    v = v + torch.maximum(torch.minimum(kick * score, cap), -cap)
    x = x + 0.5 * dyn.dt * v
    v = c1 * v + noise_sd * torch.randn(x.shape, generator=gen, dtype=x.dtype)
    x = x + 0.5 * dyn.dt * v
    score = score_fn(x)
    v = v + torch.maximum(torch.minimum(kick * score, cap), -cap)
    return x, v, score


@dataclass
class MDConfig(ChainConfig):
    """Langevin MD settings; see :class:`ChainConfig` (``warmup`` and ``thin`` count MD
    steps; ``target_accept`` is unused).

    Attributes:
        timestep: Δt in ps on a target with masses (0.5 fs resolves the O–H stretch).
        reduced_step: Δt relative to init_std on a target without masses.
        friction: γ in 1/ps on a target with masses.
        reduced_friction: γ per reduced time unit (init_std / thermal speed) otherwise: 1
            is near critical damping for a mode of width init_std (10 would be
            overdamped: slow diffusion along the wide directions).
        cool_steps: the first warm-up steps run at friction 1/Δt (velocities keep e⁻¹ of
            themselves each step): from the suite's broad start a molecule holds hundreds
            of kT of strain (ethanol: median 400 kT, up to 2500), which MD at the
            sampling friction turns into speed and breaks bonds (26 % of ethanol's
            samples in a pilot at 1e5); strong damping bleeds it off first.
    """

    timestep: float = 0.0005
    reduced_step: float = 0.1
    friction: float = 10.0
    reduced_friction: float = 1.0
    cool_steps: int = 200


def cooling(dyn: Dynamics) -> Dynamics:
    """The same dynamics at friction 1/Δt, to bleed off a broad start's strain."""
    return Dynamics(dyn.masses, dyn.kt, dyn.dt, 1.0 / dyn.dt, dyn.kick_clip)


def dynamics_for(target, config: MDConfig) -> Dynamics:
    """The integrator's settings for a (counted) target: physical where it declares masses
    and k_B T, reduced otherwise (see the module docstring)."""
    masses = getattr(target, "masses", None)
    kt = getattr(target, "kt_kj_per_mol", None)
    if masses is not None and kt is not None:
        return Dynamics(
            torch.as_tensor(masses).double(), float(kt), config.timestep, config.friction
        )
    dt = config.reduced_step * float(target.init_std)
    ones = torch.ones(target.dim, dtype=torch.float64)
    return Dynamics(ones, 1.0, dt, config.reduced_friction / float(target.init_std))


@register_method("md")
class MolecularDynamics(ChainMethod):
    """Langevin MD with BAOAB (see the module docstring): one gradient per trajectory and
    step, no energies, no accept/reject; warm-up and thinning sized by the chain driver."""

    Config = MDConfig
    config: MDConfig

    def _start(self, x0: torch.Tensor) -> None:
        c = self.config
        if min(c.timestep, c.reduced_step) <= 0 or min(c.friction, c.reduced_friction) < 0:
            raise ValueError(f"invalid MD settings in {c}")
        self.dyn = dynamics_for(self.target, c)
        self.cool = cooling(self.dyn)
        self.x = x0
        self.v = self.dyn.velocities(x0.shape[0], self.gen, x0.dtype)
        self.s = self.target.score(x0)

    def _transition(self, adapt: bool) -> torch.Tensor:
        cool = adapt and self.warmup_done <= self.config.cool_steps
        dyn = self.cool if cool else self.dyn
        self.x, self.v, self.s = baoab_step(
            self.x, self.v, self.s, self.target.score, dyn, self.gen
        )
        return torch.ones(self.n_chains, dtype=torch.bool)  # every step moves

    def _position(self) -> torch.Tensor:
        return self.x

    def _extra_diagnostics(self) -> dict[str, float]:
        return {"timestep": self.dyn.dt, "friction": self.dyn.friction}
