"""Alanine dipeptide (ACE-ALA-NME, 22 atoms) in vacuum at 300 K, energies and forces from
OpenMM. Optional: needs the ``molecules`` extra (``pip install boltzbench[molecules]``,
i.e. ``openmm`` and ``openmmtools``); without it the target is still listed, and building
it raises :class:`MissingExtra` with the install command.

Coordinates: x ∈ R⁶⁶ are the atoms' displacements in nm from the starting structure that
openmmtools ships (``AlanineDipeptideVacuum``, centred on its centroid), so the suite's
broad start N(0, init_std² I) with init_std = 0.02 nm lies around a folded molecule. The
force field is the one in that system (Amber, no cutoff, no constraints; its
``CMMotionRemover`` is dropped). Energy in kT at 300 K:

    E(x) = U(x_ref + x) / (k_B · 300 K) + ‖x̄‖² / (2 σ_com²),   σ_com = 0.01 nm,

with the centroid restraint of :mod:`boltzbench.targets.particles`. Rotations stay a
symmetry of the density (the reference applies them exactly). **Safe energies:** energies
above ``ENERGY_CAP`` kT (atoms nearly on top of each other) are reported as ``ENERGY_CAP``,
and non-finite forces as 0, so no method ever sees inf or NaN. ``hvp`` is a central finite
difference of forces.

Reference: replica-exchange Langevin MD in OpenMM (see :func:`remd_reference`).
"""

from __future__ import annotations

import math
import multiprocessing
import os
import time
from concurrent.futures import ProcessPoolExecutor
from functools import cached_property
from typing import Any

import numpy as np
import torch
from boltzbench.targets.particles import ParticleTarget

from boltzbench.protocols import MetricSpec
from boltzbench.registry import register_target

TEMPERATURE_K = 300.0
ENERGY_CAP = 1e9
#: φ = C(ACE)–N–CA–C and ψ = N–CA–C–N(NME), atom indices in openmmtools' topology
PHI_ATOMS = (4, 6, 8, 14)
PSI_ATOMS = (6, 8, 14, 16)


class MissingExtra(ImportError):
    """An optional dependency of a target is not installed."""


def _openmm():
    try:
        import openmm
        import openmm.unit as unit
        from openmmtools import testsystems
    except ImportError as exc:
        raise MissingExtra(
            "target 'aldp' needs OpenMM: pip install 'boltzbench[molecules]' "
            f"(openmm, openmmtools); import failed with: {exc}"
        ) from exc
    return openmm, unit, testsystems


def openmm_available() -> bool:
    """Whether the ``molecules`` extra is installed."""
    try:
        _openmm()
    except MissingExtra:
        return False
    return True


def dihedrals(positions: torch.Tensor, atoms: tuple[int, int, int, int]) -> torch.Tensor:
    """Dihedral angles (radians, in (−π, π]) of four atoms, positions [n, n_atoms, 3]."""
    p0, p1, p2, p3 = (positions[:, i] for i in atoms)
    b0, b1, b2 = p0 - p1, p2 - p1, p3 - p2
    b1n = b1 / b1.norm(dim=1, keepdim=True)
    v = b0 - (b0 * b1n).sum(1, keepdim=True) * b1n
    w = b2 - (b2 * b1n).sum(1, keepdim=True) * b1n
    x = (v * w).sum(1)
    y = (torch.cross(b1n, v, dim=1) * w).sum(1)
    return torch.atan2(y, x)


class _System:
    """One OpenMM Context (Reference platform: fastest for 22 atoms on a CPU) that evaluates
    batches of positions."""

    def __init__(self) -> None:
        openmm, unit, testsystems = _openmm()
        test = testsystems.AlanineDipeptideVacuum(constraints=None)
        system = test.system
        for i in reversed(range(system.getNumForces())):
            if type(system.getForce(i)).__name__ == "CMMotionRemover":
                system.removeForce(i)
        self.openmm, self.unit, self.system, self.topology = openmm, unit, system, test.topology
        pos = np.asarray(test.positions.value_in_unit(unit.nanometer), dtype=np.float64)
        self.start = pos - pos.mean(0)  # [22, 3] nm, centred
        self.kb = unit.MOLAR_GAS_CONSTANT_R.value_in_unit(unit.kilojoule_per_mole / unit.kelvin)
        self.kt = self.kb * TEMPERATURE_K  # kJ/mol
        self.context = openmm.Context(
            system,
            openmm.VerletIntegrator(0.001),
            openmm.Platform.getPlatformByName("Reference"),
        )

    def evaluate(self, positions: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Potential energies in kT [n] and forces in kT/nm [n, 22, 3] of positions
        [n, 22, 3] in nm, made safe (see the module docstring)."""
        n = positions.shape[0]
        energies = np.empty(n)
        forces = np.empty_like(positions)
        for i in range(n):
            self.context.setPositions(positions[i])
            state = self.context.getState(getEnergy=True, getForces=True)
            energies[i] = state.getPotentialEnergy()._value  # kJ/mol
            forces[i] = state.getForces(asNumpy=True)._value  # kJ/mol/nm
        energies /= self.kt
        forces /= self.kt
        bad = ~np.isfinite(energies) | (energies > ENERGY_CAP)
        energies[bad] = ENERGY_CAP
        forces[~np.isfinite(forces)] = 0.0
        return energies, forces


class _OpenMMEnergy(torch.autograd.Function):
    """E(x) with backward from OpenMM's forces (first derivatives only)."""

    @staticmethod
    def forward(ctx, x: torch.Tensor, target: AlanineDipeptide) -> torch.Tensor:
        energy, force = target._evaluate(x)
        ctx.save_for_backward(force)
        return energy

    @staticmethod
    def backward(ctx, grad_out: torch.Tensor):
        (force,) = ctx.saved_tensors
        return -force * grad_out[:, None], None


@register_target("aldp")
class AlanineDipeptide(ParticleTarget):
    """Alanine dipeptide in vacuum at 300 K (66-D Cartesian); see the module docstring."""

    name = "aldp"
    dim = 66
    n_particles = 22
    spatial_dim = 3
    init_std = 0.02
    com_std = 0.01
    permute = False  # atoms are not identical
    reflect = False  # a mirror image is the other enantiomer
    metric_spec = MetricSpec(n_reference=2000, mmd_bandwidth=1.9264, primary="rama_kl")
    box = ((-math.pi, math.pi), (-math.pi, math.pi))  # the Ramachandran plane

    def __init__(self) -> None:
        _openmm()  # fail at construction, with the install command, if OpenMM is missing

    @cached_property
    def _system(self) -> _System:
        return _System()

    @cached_property
    def offset(self) -> torch.Tensor:
        """The starting structure x_ref, flat [66] float64 nm (centroid 0)."""
        return torch.as_tensor(self._system.start.reshape(-1))

    def _evaluate(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        e, f = self._system.evaluate(self.positions(x.detach()).numpy())
        com = self.centroid(x.detach().double())
        e = e + (com**2).sum(1).numpy() / (2 * self.com_std**2)
        f = (
            f.reshape(x.shape[0], -1)
            - (com / (self.n_particles * self.com_std**2)).repeat(1, self.n_particles).numpy()
        )
        return torch.as_tensor(e).to(x.dtype), torch.as_tensor(f).to(x.dtype)

    def energy(self, x: torch.Tensor) -> torch.Tensor:
        return _OpenMMEnergy.apply(x, self)

    def score(self, x: torch.Tensor) -> torch.Tensor:
        return self._evaluate(x)[1]

    def energy_and_score(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return self._evaluate(x)

    def hvp(self, x: torch.Tensor, v: torch.Tensor, eps: float = 1e-5) -> torch.Tensor:
        """∇²E(x) v by a central difference of forces with step ``eps`` nm along v/|v|."""
        norm = v.double().norm(dim=1, keepdim=True).clamp_min(1e-30)
        u = (v.double() / norm).to(x.dtype)
        diff = self.score(x + eps * u) - self.score(x - eps * u)
        return (-diff / (2 * eps) * norm).to(x.dtype)

    def ramachandran(self, x: torch.Tensor) -> torch.Tensor:
        """Backbone dihedrals (φ, ψ) in radians, [n, 2]."""
        p = self.positions(x)
        return torch.stack([dihedrals(p, PHI_ATOMS), dihedrals(p, PSI_ATOMS)], dim=1)

    def generate_reference(self, n: int, seed: int) -> tuple[torch.Tensor, dict[str, Any]]:
        """Replica-exchange MD, see :func:`remd_reference`."""
        return remd_reference(self, n, seed)


#: replica-exchange settings of the default reference
REMD_TEMPERATURES = tuple(300.0 * (1000.0 / 300.0) ** (k / 7) for k in range(8))
REMD_RUNS = 4
REMD_TIMESTEP_PS = 0.001
REMD_STEPS_PER_EXCHANGE = 250  # 0.25 ps
REMD_EXCHANGES_PER_SAMPLE = 4  # a sample every 1 ps
REMD_BURN_IN_EXCHANGES = 400  # 100 ps
REMD_FRICTION_PER_PS = 1.0


def _remd_run(target: AlanineDipeptide, n: int, seed: int) -> tuple[np.ndarray, float]:
    """One replica-exchange run: n samples of the 300 K replica (positions [n, 22, 3] nm)
    and the mean acceptance of neighbour swaps."""
    sysw = target._system
    openmm, unit = sysw.openmm, sysw.unit
    temps = REMD_TEMPERATURES
    contexts, integrators = [], []
    for k, temp in enumerate(temps):
        integ = openmm.LangevinMiddleIntegrator(
            temp * unit.kelvin, REMD_FRICTION_PER_PS / unit.picosecond, REMD_TIMESTEP_PS
        )
        integ.setRandomNumberSeed(seed * 100 + k + 1)
        ctx = openmm.Context(sysw.system, integ, openmm.Platform.getPlatformByName("Reference"))
        ctx.setPositions(sysw.start)
        ctx.setVelocitiesToTemperature(temp * unit.kelvin, seed * 100 + k + 1)
        contexts.append(ctx)
        integrators.append(integ)
    beta = np.array([1.0 / (sysw.kb * t) for t in temps])
    rng = np.random.default_rng(seed)
    tried = taken = 0
    samples = []
    total = REMD_BURN_IN_EXCHANGES + n * REMD_EXCHANGES_PER_SAMPLE
    for step in range(total):
        for integ in integrators:
            integ.step(REMD_STEPS_PER_EXCHANGE)
        states = [
            c.getState(getEnergy=True, getPositions=True, getVelocities=True) for c in contexts
        ]
        u = np.array([s.getPotentialEnergy()._value for s in states])
        pos = [s.getPositions(asNumpy=True)._value for s in states]
        vel = [s.getVelocities(asNumpy=True)._value for s in states]
        for lo in range(step % 2, len(temps) - 1, 2):
            hi = lo + 1
            tried += 1
            if math.log(rng.random()) < (beta[lo] - beta[hi]) * (u[lo] - u[hi]):
                taken += 1
                pos[lo], pos[hi] = pos[hi], pos[lo]
                vel_lo = vel[hi] * math.sqrt(temps[lo] / temps[hi])
                vel_hi = vel[lo] * math.sqrt(temps[hi] / temps[lo])
                vel[lo], vel[hi] = vel_lo, vel_hi
                for k in (lo, hi):
                    contexts[k].setPositions(pos[k])
                    contexts[k].setVelocities(vel[k])
        done = step + 1 - REMD_BURN_IN_EXCHANGES
        if done > 0 and done % REMD_EXCHANGES_PER_SAMPLE == 0:
            samples.append(np.array(pos[0]))
    return np.stack(samples), taken / max(tried, 1)


def _remd_worker(args: tuple[int, int]) -> tuple[np.ndarray, float]:
    n, seed = args
    return _remd_run(AlanineDipeptide(), n, seed)


def remd_reference(
    target: AlanineDipeptide, n: int, seed: int
) -> tuple[torch.Tensor, dict[str, Any]]:
    """n samples at 300 K from ``REMD_RUNS`` independent replica-exchange runs (8
    temperatures 300–1000 K, Langevin middle integrator, 1 fs, friction 1/ps, swaps
    every 0.25 ps, 100 ps burn-in, a sample every 1 ps), run in parallel processes
    (one after another inside a daemon process, which may not start children);
    rotation and centroid drawn exactly. Checks:
    split R-hat < 1.01 and bulk ESS > n/10 over runs of the energy, cos/sin φ, cos/sin ψ."""
    from boltzbench.baselines.diagnostics import ess_rhat
    from boltzbench.targets.generated import convergence_checks

    started = time.time()
    per_run = math.ceil(n / REMD_RUNS)
    jobs = [(per_run, seed + r) for r in range(REMD_RUNS)]
    workers = max(1, min(REMD_RUNS, os.cpu_count() or 1))
    if multiprocessing.current_process().daemon or workers == 1:
        # a daemon (a cell's own process, a Dask worker) may not start children: the same
        # independent runs, one after another (each seeded alone, so the same numbers)
        results = [_remd_worker(job) for job in jobs]
    else:
        ctx = multiprocessing.get_context("spawn")
        with ProcessPoolExecutor(workers, mp_context=ctx) as pool:
            results = list(pool.map(_remd_worker, jobs))
    runs = [pos for pos, _ in results]
    rates = [rate for _, rate in results]
    stacked = np.stack(runs)  # [runs, per_run, 22, 3]
    flat = torch.as_tensor(stacked.reshape(-1, target.dim)) - target.offset
    flat = target.centre(flat)
    energies = target.energy(flat).reshape(REMD_RUNS, per_run)
    angles = target.ramachandran(flat).reshape(REMD_RUNS, per_run, 2)
    features = torch.cat(
        [energies[..., None], torch.cos(angles), torch.sin(angles)], dim=-1
    ).numpy()
    diag = ess_rhat(features)
    # interleave runs so that any prefix spreads over all of them
    samples = flat.reshape(REMD_RUNS, per_run, -1).transpose(0, 1).reshape(-1, target.dim)[:n]
    samples = target.symmetrize(samples, torch.Generator().manual_seed(seed + 1))
    info = {
        "method": "replica-exchange Langevin MD in OpenMM (boltzbench.targets.aldp)",
        "command": f"boltzbench.targets.aldp.remd_reference(n={n}, seed={seed})",
        "settings": {
            "temperatures_K": list(REMD_TEMPERATURES),
            "runs": REMD_RUNS,
            "timestep_ps": REMD_TIMESTEP_PS,
            "friction_per_ps": REMD_FRICTION_PER_PS,
            "steps_per_exchange": REMD_STEPS_PER_EXCHANGE,
            "exchanges_per_sample": REMD_EXCHANGES_PER_SAMPLE,
            "burn_in_exchanges": REMD_BURN_IN_EXCHANGES,
        },
        "swap_acceptance": float(np.mean(rates)),
        "seconds": time.time() - started,
        "r_hat_energy": diag["rhat"],
        "ess_energy": diag["ess_bulk"],
        "checks": convergence_checks(diag["rhat"], diag["ess_bulk"], n),
    }
    return samples.float(), info
