"""Particle systems: DW-4 (4 particles in 2-D) and LJ-13 (13 Lennard-Jones particles in 3-D).

A configuration is a flat vector x ∈ R^(n_particles · spatial_dim), particle i at
``x.reshape(n_particles, spatial_dim)[i]``. Both energies depend only on interparticle
distances (and, for LJ-13, on distances to the centre), so they are invariant under
translations, rotations, reflections and permutations of the particles.

**Centre of mass.** A translation-invariant energy has no normalisable Boltzmann density.
Every particle target here therefore adds a harmonic restraint on the centroid
x̄ = (1/n) Σ x_i:  E(x) = E_int(x − x̄) + ‖x̄‖² / (2 σ_com²). The density factorises into the
internal distribution (unchanged) times x̄ ~ N(0, σ_com² I), so reference sets draw the
centroid exactly and metrics of distances and energies are unaffected.

**Rotations and permutations** are left as symmetries of the density (it is proper over
them): raw-coordinate metrics (MMD, W2) see them, which is why the particle targets add
``energy_w2`` and ``distance_tv`` (:mod:`boltzbench.metrics.particles`), both invariant.
"""

from __future__ import annotations

import torch
from boltzbench.targets.base import BaseTarget
from boltzbench.targets.generated import chain_reference

from boltzbench.protocols import MetricSpec
from boltzbench.registry import register_target


def pair_sq_distances(x: torch.Tensor, n_particles: int, spatial_dim: int) -> torch.Tensor:
    """Squared distances of all unordered pairs i < j, [n, n_particles (n_particles−1)/2]."""
    p = x.reshape(x.shape[0], n_particles, spatial_dim)
    i, j = torch.triu_indices(n_particles, n_particles, offset=1)
    diff = p[:, i] - p[:, j]
    return (diff**2).sum(-1)


class ParticleTarget(BaseTarget):
    """Shared parts: the centroid restraint and distances. Subclasses set ``n_particles``,
    ``spatial_dim``, ``com_std`` and implement ``internal_energy`` (on centred x)."""

    n_particles: int = 0
    spatial_dim: int = 0
    com_std: float = 0.1
    permute: bool = True  # identical particles
    reflect: bool = True  # the energy is invariant under reflections

    def energy_and_score(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """E(x) [n] and −∇E(x) [n, d] from one autograd pass."""
        with torch.enable_grad():
            xg = x.detach().requires_grad_(True)
            e = self.energy(xg)
            (grad,) = torch.autograd.grad(e.sum(), xg)
        return e.detach(), -grad

    def centroid(self, x: torch.Tensor) -> torch.Tensor:
        """x̄ = mean particle position, [n, spatial_dim]."""
        return x.reshape(x.shape[0], self.n_particles, self.spatial_dim).mean(1)

    def centre(self, x: torch.Tensor) -> torch.Tensor:
        """x − x̄ (every particle shifted by the centroid), [n, d]."""
        c = self.centroid(x).repeat(1, self.n_particles)
        return x - c

    def internal_energy(self, x: torch.Tensor) -> torch.Tensor:
        """Translation-invariant energy in kT, [n]."""
        raise NotImplementedError

    def energy(self, x: torch.Tensor) -> torch.Tensor:
        com = (self.centroid(x) ** 2).sum(1) / (2 * self.com_std**2)
        return self.internal_energy(x) + com

    @property
    def offset(self) -> torch.Tensor:
        """Flat positions [d] (float64) that the coordinates are displacements from; zero
        unless a subclass measures x from a reference structure."""
        return torch.zeros(self.dim, dtype=torch.float64)

    def positions(self, x: torch.Tensor) -> torch.Tensor:
        """Particle positions x + offset, [n, n_particles, spatial_dim] (float64)."""
        return (x.double() + self.offset).reshape(x.shape[0], self.n_particles, self.spatial_dim)

    def distances(self, x: torch.Tensor) -> torch.Tensor:
        """All pair distances, [n, n_pairs] (float64)."""
        flat = self.positions(x).reshape(x.shape[0], self.dim)
        return pair_sq_distances(flat, self.n_particles, self.spatial_dim).sqrt()

    def generate_reference(self, n: int, seed: int):
        """Parallel tempering with ``reference_settings``, checked against the published
        values; the symmetries are then applied exactly (:meth:`symmetrize`)."""
        settings = self.reference_settings
        return chain_reference(self, n, seed, method="pt", published=self.published, **settings)

    def invariant_features(self, x: torch.Tensor) -> torch.Tensor:
        """Features invariant under every symmetry (for convergence checks): mean, smallest
        and largest pair distance, [n, 3]."""
        d = self.distances(x)
        return torch.stack([d.mean(1), d.min(1).values, d.max(1).values], dim=1)

    def symmetrize(self, x: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        """Apply the density's symmetries at random, exactly: a uniform random orthogonal
        map about the centroid (reflections only if ``reflect``), a uniform random
        permutation of the particles (if ``permute``), and the centroid redrawn from
        N(0, σ_com² I). The distribution is unchanged (the density is invariant and
        factorises), but a reference no longer depends on how well MCMC mixed rotations
        and relabellings."""
        n, k, s = x.shape[0], self.n_particles, self.spatial_dim
        p = self.positions(x)
        p = p - p.mean(1, keepdim=True)
        q, r = torch.linalg.qr(torch.randn(n, s, s, generator=generator, dtype=torch.float64))
        q = q * torch.sign(torch.diagonal(r, dim1=1, dim2=2))[:, None, :]  # Haar on O(s)
        if not self.reflect:
            flip = torch.linalg.det(q) < 0
            q[flip, :, 0] = -q[flip, :, 0]
        p = p @ q.transpose(1, 2)
        if self.permute:
            order = torch.argsort(torch.rand(n, k, generator=generator), dim=1)
            p = torch.gather(p, 1, order[..., None].expand(n, k, s))
        shift = self.com_std * torch.randn(n, 1, s, generator=generator, dtype=torch.float64)
        return ((p + shift).reshape(n, k * s) - self.offset).to(x.dtype)


@register_target("dw4")
class DW4(ParticleTarget):
    """DW-4 (bgflow, DEM, FAB): 4 particles in 2-D with the double-well pair potential

        E_int(x) = Σ_{i<j} 0.9 (d_ij − 4)⁴ − 4 (d_ij − 4)²,   temperature 1,

    the standard constants a = 0, b = −4, c = 0.9, d₀ = 4. Pair minima at d = 4 ± √(20/9)
    with −4.44 kT each, barrier 4.44 kT at d = 4. d_ij = sqrt(r² + 1e−12) so that the
    gradient stays finite when two particles coincide (changes no energy above 1e−6 kT).
    Centroid restraint σ_com = 0.1. Reference: parallel tempering (see
    :meth:`generate_reference`); published DEM test set: energy mean −22.45, sd 1.90, mean
    pair distance 3.970.
    """

    name = "dw4"
    dim = 8
    n_particles = 4
    spatial_dim = 2
    init_std = 2.0
    com_std = 0.1
    metric_spec = MetricSpec(mmd_bandwidth=7.4112)
    published = {"energy_mean": -22.45, "energy_sd": 1.90, "mean_distance": 3.970}

    def internal_energy(self, x: torch.Tensor) -> torch.Tensor:
        s = pair_sq_distances(x, self.n_particles, self.spatial_dim)
        u = (s + 1e-12).sqrt() - 4.0
        return (0.9 * u**4 - 4.0 * u**2).sum(1)

    #: parallel tempering (8 temperatures to T = 10), 32 chains, 4000 warm-up transitions,
    #: every 50th transition kept
    reference_settings = {
        "n_chains": 32,
        "warmup": 4000,
        "thin": 50,
        "extra": {"n_temps": 8, "t_max": 10.0},
    }


#: LJ pair energy is continued linearly in s = r² below this s (r = 0.8, 0.83 is the
#: smallest distance in the DEM test set); the pair energy there is 2 · 36.6 kT.
LJ_S_MIN = 0.64


def _lj_pair(s: torch.Tensor) -> torch.Tensor:
    """r⁻¹² − 2 r⁻⁶ (ε = 1, r_m = 1) as a function of s = r², continued below s = 0.64 by
    its tangent in s: finite and C¹ for overlapping particles, strongly repulsive."""
    s_safe = s.clamp(min=LJ_S_MIN)
    inv3 = s_safe**-3
    value = inv3**2 - 2 * inv3
    slope = -6 * s_safe**-7 + 6 * s_safe**-4  # d/ds (s⁻⁶ − 2 s⁻³)
    return torch.where(s < LJ_S_MIN, value + slope * (s - LJ_S_MIN), value)


@register_target("lj13")
class LJ13(ParticleTarget):
    """LJ-13 (DEM, PITA, Adjoint Sampling convention): 13 particles in 3-D,

        E_int(x) = 2 Σ_{i<j} (r_ij⁻¹² − 2 r_ij⁻⁶) + ½ Σ_i ‖x_i − x̄‖²,   temperature 1,

    i.e. the LJ term summed over ordered pairs (ε = 1, r_m = 1) plus the harmonic centre
    term of the standard benchmark. **Safe energies:** below r = 0.8 the pair term is
    continued by its tangent in r² (see :data:`LJ_S_MIN`), so overlapping particles give a
    large finite energy and a finite repulsive force instead of inf/NaN; at r ≥ 0.8 the
    energy is the exact LJ (Boltzmann weight of the modified region < e⁻⁷⁰). Centroid
    restraint σ_com = 0.1. Published DEM test set: energy mean −43.13, sd 7.02, mean pair
    distance 1.639.
    """

    name = "lj13"
    dim = 39
    n_particles = 13
    spatial_dim = 3
    init_std = 1.0
    com_std = 0.1
    metric_spec = MetricSpec(mmd_bandwidth=6.1051)
    published = {"energy_mean": -43.13, "energy_sd": 7.02, "mean_distance": 1.639}

    def internal_energy(self, x: torch.Tensor) -> torch.Tensor:
        s = pair_sq_distances(x, self.n_particles, self.spatial_dim)
        lj = 2 * _lj_pair(s).sum(1)
        harmonic = 0.5 * (self.centre(x) ** 2).sum(1)
        return lj + harmonic

    #: parallel tempering (8 temperatures to T = 4), 16 chains, 6000 warm-up transitions,
    #: every 200th transition kept
    reference_settings = {
        "n_chains": 16,
        "warmup": 6000,
        "thin": 200,
        "extra": {"n_temps": 8, "t_max": 4.0},
    }


__all__ = ["DW4", "LJ13", "ParticleTarget", "pair_sq_distances"]
