"""The reference of ``ethanol``: Langevin MD (BAOAB, :mod:`boltzbench.baselines.md`) with
exact Metropolis torsion moves, in independent runs, symmetrized.

Why torsion moves. GFN2-xTB's barriers are about 2 kT for the hydroxyl rotor and 5–6 kT
for the methyl rotor at 300 K; with MD alone a methyl hop takes tens of ps (10⁵ steps at
0.5 fs, about 20 CPU-minutes each), so a reference with hundreds of hops would take days.
Every ``ROTATION_EVERY`` steps each run therefore proposes to rotate the hydroxyl H about
the C–O axis and the three methyl H about the C–C axis by a uniform random angle,
accepted with probability min(1, exp(−ΔE)). The rotation is an isometry of the moved atoms'
coordinates (Jacobian 1) and the angle's law is symmetric, so the move keeps the
Boltzmann distribution of the positions; the velocities are left as they are, which keeps
the joint law of positions and velocities (it factorises). What the moves do not do —
relax bonds and angles — the MD does.

Settings, in :data:`SETTINGS`: runs, step, friction, burn-in, steps between samples.
Checks: split R-hat < 1.01 and bulk ESS > n/10 over runs of the energy and of cos/sin of
both torsions; the provenance also states the integrated autocorrelation times of the
torsions (in ps) and how many hydroxyl transitions (trans ↔ gauche crossings of
|C–C–O–H| = 2π/3) and methyl hops the runs made.
"""

from __future__ import annotations

import math
import time
from typing import Any

import numpy as np
import torch
from boltzbench.baselines.md import Dynamics, baoab_step

SETTINGS: dict[str, Any] = {
    "runs": 4,
    "timestep_ps": 0.0005,
    "friction_per_ps": 20.0,
    "burn_in_steps": 2000,  # 1 ps
    "steps_per_sample": 100,  # 50 fs
    "rotation_every": 20,  # a hydroxyl and a methyl move every 10 fs
}


def _rotate(p: torch.Tensor, atoms: list[int], a: int, b: int, angle: float) -> torch.Tensor:
    """Positions [9, 3] with ``atoms`` rotated by ``angle`` about the axis from atom a to b
    (through b), by Rodrigues' formula."""
    k = p[b] - p[a]
    k = k / k.norm()
    q = p.clone()
    r = p[atoms] - p[b]
    cos, sin = math.cos(angle), math.sin(angle)
    rotated = (
        r * cos + torch.cross(k.expand_as(r), r, dim=1) * sin + k * (r @ k)[:, None] * (1 - cos)
    )
    q[atoms] = p[b] + rotated
    return q


#: (moved atoms, axis from, axis through): the hydroxyl H about C–O, the methyl H about C–C
ROTORS = (([8], 1, 2), ([3, 4, 5], 1, 0))


def _torsion_moves(target, x, e, s, gen) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, int]:
    """One Metropolis rotation per rotor on a single configuration x [1, 27] (energy e [1],
    score s [1, 27]); returns the new state and the number of moves accepted."""
    taken = 0
    for atoms, a, b in ROTORS:
        angle = float((2 * torch.rand(1, generator=gen, dtype=torch.float64) - 1) * math.pi)
        p = (x.double() + target.offset).reshape(9, 3)
        y = (_rotate(p, atoms, a, b, angle).reshape(1, -1) - target.offset).to(x.dtype)
        ey, sy = target.energy_and_score(y)
        log_u = math.log(float(torch.rand(1, generator=gen, dtype=torch.float64)))
        if log_u < float(e - ey):
            x, e, s = y, ey, sy
            taken += 1
    return x, e, s, taken


def md_run(target, n: int, seed: int) -> tuple[np.ndarray, dict[str, float]]:
    """One run: n configurations [n, 27] (flat, nm from the offset) a sample every
    ``steps_per_sample`` steps after the burn-in, and its counts."""
    st = SETTINGS
    gen = torch.Generator().manual_seed(seed)
    dyn = Dynamics(target.masses, target.kt_kj_per_mol, st["timestep_ps"], st["friction_per_ps"])
    x = torch.zeros(1, target.dim, dtype=torch.float64)
    v = dyn.velocities(1, gen, torch.float64)
    e, s = target.energy_and_score(x)
    last = {"e": e}

    def score_fn(y: torch.Tensor) -> torch.Tensor:
        last["e"], score = target.energy_and_score(y)  # one evaluation gives both
        return score

    steps = st["burn_in_steps"] + n * st["steps_per_sample"]
    out, tried, taken, evals = [], 0, 0, 1
    for i in range(1, steps + 1):
        x, v, s = baoab_step(x, v, s, score_fn, dyn, gen)
        e, evals = last["e"], evals + 1
        if i % st["rotation_every"] == 0:
            x, e, s, k = _torsion_moves(target, x, e, s, gen)
            tried, taken, evals = tried + len(ROTORS), taken + k, evals + len(ROTORS)
        if i > st["burn_in_steps"] and (i - st["burn_in_steps"]) % st["steps_per_sample"] == 0:
            out.append(x[0].numpy().copy())
    return np.stack(out), {"rotations_tried": tried, "rotations_taken": taken, "evals": evals}


def autocorrelation_time(series: np.ndarray) -> float:
    """Integrated autocorrelation time (in samples) of a 1-D series, Geyer's initial
    positive sequence."""
    y = series - series.mean()
    n = len(y)
    f = np.fft.rfft(y, 2 * n)
    acf = np.fft.irfft(f * np.conj(f))[:n]
    acf = acf / acf[0]
    tau, k = 1.0, 1
    while k + 1 < n and acf[k] + acf[k + 1] > 0:
        tau += 2 * (acf[k] + acf[k + 1])
        k += 2
    return float(tau)


def crossings(angles: np.ndarray, hydroxyl: bool) -> int:
    """Transitions in a sampled torsion series (radians): hydroxyl trans ↔ gauche across
    |φ| = 2π/3 (trans beyond), or methyl hops between the three 2π/3 sectors."""
    if hydroxyl:
        state = (np.abs(angles) > 2 * math.pi / 3).astype(int)
    else:
        state = np.floor((angles + math.pi) / (2 * math.pi / 3)).astype(int) % 3
    return int((np.diff(state) != 0).sum())


def md_reference(target, n: int, seed: int) -> tuple[torch.Tensor, dict[str, Any]]:
    """n samples at 300 K from ``SETTINGS["runs"]`` independent runs (one after another),
    interleaved so that any prefix spreads over all runs, then symmetrized; checked and
    described as in the module docstring."""
    from boltzbench.baselines.diagnostics import ess_rhat
    from boltzbench.targets.generated import convergence_checks

    started = time.time()
    runs = SETTINGS["runs"]
    per_run = math.ceil(n / runs)
    results = [md_run(target, per_run, seed + r) for r in range(runs)]
    flat = torch.as_tensor(np.stack([r[0] for r in results]).reshape(-1, target.dim))
    energies = target.energy(flat).reshape(runs, per_run)
    angles = target.torsions(flat).reshape(runs, per_run, 2)
    features = torch.cat([energies[..., None], torch.cos(angles), torch.sin(angles)], -1)
    diag = ess_rhat(features.numpy())
    sample_ps = SETTINGS["steps_per_sample"] * SETTINGS["timestep_ps"]
    ang = angles.numpy()
    tau = {
        name: float(np.mean([autocorrelation_time(np.cos(ang[r, :, j])) for r in range(runs)]))
        * sample_ps
        for j, name in enumerate(("hydroxyl", "methyl"))
    }
    samples = flat.reshape(runs, per_run, -1).transpose(0, 1).reshape(-1, target.dim)[:n]
    samples = target.symmetrize(samples.float(), torch.Generator().manual_seed(seed + 1))
    info = {
        "method": "Langevin MD (BAOAB) with Metropolis torsion moves "
        "(boltzbench.targets.ethanol_md)",
        "command": f"boltzbench.targets.ethanol_md.md_reference(n={n}, seed={seed})",
        "settings": dict(SETTINGS),
        "seconds": time.time() - started,
        "evaluations": int(sum(r[1]["evals"] for r in results)),
        "rotation_acceptance": sum(r[1]["rotations_taken"] for r in results)
        / max(1, sum(r[1]["rotations_tried"] for r in results)),
        "autocorrelation_ps": tau,
        "hydroxyl_transitions": sum(crossings(ang[r, :, 0], True) for r in range(runs)),
        "methyl_hops": sum(crossings(ang[r, :, 1], False) for r in range(runs)),
        "r_hat_energy": diag["rhat"],
        "ess_energy": diag["ess_bulk"],
        "checks": convergence_checks(diag["rhat"], diag["ess_bulk"], n),
    }
    return samples, info
