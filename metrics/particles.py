"""Metrics that are invariant to the symmetries of particle systems (and, for the energy
distribution, meaningful for every target).

Energies are E(x) in kT from ``target.energy`` on float64 samples; a non-finite energy
(overlapping atoms, overflow) counts as :data:`ENERGY_CAP`, so one bad sample cannot make
a metric NaN.

- ``energy_w1``: W1 between the 1-D energy distributions of samples and reference
  (uncropped, so it still grows with the mass and the height of high-energy outliers).
- ``energy_w2``: W2 between the energy distributions after clipping both to the
  reference's range [q₀.₀₀₁ − IQR, q₀.₉₉₉ + IQR] (quantiles and interquartile range of the
  reference energies): an outlier adds at most its share of (range edge − typical
  energy)², so a few exploded samples no longer outweigh a collapse. Version 2
  (version 1 was uncropped, PITA/DEM's "E-W2").
- ``high_energy_fraction``: the fraction of samples above that upper edge
  q₀.₉₉₉ + IQR (about 0.001 or less for exact samples), lower is better.
- ``distance_w2``: exact 1-D W2 between all interparticle distances of the samples and of
  the reference, pooled over pairs (particle targets only).
- ``distance_tv``: total variation between the histograms of those pooled distances.
- ``rama_tv``: total variation between the Ramachandran (φ, ψ) histograms, 36 × 36 bins of
  10° on the torus (targets with backbone dihedrals, i.e. ``aldp``).

:func:`raw_coordinates_apply` is the rule by which the raw-coordinate metrics
(``mean_error``, ``cov_error``, ``mmd``, ``w2``, ``sliced_w2``) are n/a on particle systems
and molecules: their references are symmetrised by random rotations (and permutations),
so the raw mean is ≈ 0 and the covariance is the rotational spread, whatever the samples.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from boltzbench.registry import register_metric

#: bins of the pooled-distance histogram over [0, DISTANCE_RANGE × max reference distance]
DISTANCE_BINS = 100
DISTANCE_RANGE = 1.25
#: bins per angle of the Ramachandran histogram
RAMA_BINS = 36
#: energies (kT) above this, or not finite, count as this value
ENERGY_CAP = 1e12
#: the outlier rule of ``energy_w2`` and ``high_energy_fraction``: the reference's
#: [ENERGY_QUANTILE, 1 − ENERGY_QUANTILE] quantile range widened by its IQR on each side
ENERGY_QUANTILE = 0.001


def raw_coordinates_apply(target: Any) -> bool:
    """False for particle systems and molecules (``n_particles`` set, or backbone dihedrals
    ``ramachandran``), whose raw coordinates carry the random rotations and permutations
    of a symmetrised reference rather than information: there the raw-coordinate metrics
    return None (n/a)."""
    return getattr(target, "n_particles", None) is None and not hasattr(target, "ramachandran")


def w2_1d(a: np.ndarray, b: np.ndarray) -> float:
    """Exact W2 between two 1-D empirical distributions with uniform weights (any sizes)."""
    import ot  # on first use (see boltzbench.metrics)

    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    return float(np.sqrt(max(ot.emd2_1d(a, b), 0.0)))


def energies(x: torch.Tensor, target: Any) -> np.ndarray:
    """E(x) in kT as a float64 array [n], non-finite and huge values set to ENERGY_CAP."""
    e = target.energy(x.double()).detach().cpu().numpy().astype(np.float64)
    return np.where(np.isfinite(e), np.minimum(e, ENERGY_CAP), ENERGY_CAP)


def energy_range(e_ref: np.ndarray) -> tuple[float, float]:
    """The outlier rule: [q_lo − IQR, q_hi + IQR] of the reference energies, q_lo and q_hi
    their ENERGY_QUANTILE and 1 − ENERGY_QUANTILE quantiles."""
    q_lo, q1, q3, q_hi = np.quantile(e_ref, [ENERGY_QUANTILE, 0.25, 0.75, 1 - ENERGY_QUANTILE])
    iqr = q3 - q1
    return float(q_lo - iqr), float(q_hi + iqr)


@register_metric("energy_w1", version="1")
def energy_w1(samples: torch.Tensor, reference: torch.Tensor, target: Any) -> float:
    """W1 between the energies (kT) of the samples and of the reference, uncropped."""
    import ot  # on first use (see boltzbench.metrics)

    return float(ot.wasserstein_1d(energies(samples, target), energies(reference, target), p=1))


@register_metric("energy_w2", version="2")
def energy_w2(samples: torch.Tensor, reference: torch.Tensor, target: Any) -> float:
    """W2 between the energies (kT) of samples and reference, both clipped to the
    reference's range [q₀.₀₀₁ − IQR, q₀.₉₉₉ + IQR] (:func:`energy_range`)."""
    e_s, e_r = energies(samples, target), energies(reference, target)
    lo, hi = energy_range(e_r)
    return w2_1d(np.clip(e_s, lo, hi), np.clip(e_r, lo, hi))


@register_metric("high_energy_fraction", version="1")
def high_energy_fraction(samples: torch.Tensor, reference: torch.Tensor, target: Any) -> float:
    """Fraction of samples whose energy exceeds the reference's q₀.₉₉₉ + IQR (the upper edge
    of :func:`energy_range`); non-finite energies count as above."""
    _, hi = energy_range(energies(reference, target))
    return float(np.mean(energies(samples, target) > hi))


def histogram_tv(a: np.ndarray, b: np.ndarray, edges: np.ndarray) -> float:
    """½ Σ |p − q| between normalised histograms of ``a`` and ``b`` on ``edges``, with one
    extra bin on each side for values outside the edges."""
    full = np.concatenate([[-np.inf], edges, [np.inf]])
    p = np.histogram(a, bins=full)[0] / max(len(a), 1)
    q = np.histogram(b, bins=full)[0] / max(len(b), 1)
    return float(0.5 * np.abs(p - q).sum())


def is_particle_system(target: Any) -> bool:
    """A target with ``n_particles`` and pair ``distances``."""
    return getattr(target, "n_particles", None) is not None and hasattr(target, "distances")


@register_metric("distance_w2", version="1")
def distance_w2(samples: torch.Tensor, reference: torch.Tensor, target: Any) -> float | None:
    """Exact 1-D W2 between the pooled interparticle distances of samples and reference
    (every pair of every configuration, uniform weights); None for non-particle targets."""
    if not is_particle_system(target):
        return None
    d_s = target.distances(samples.double()).numpy().ravel()
    d_r = target.distances(reference.double()).numpy().ravel()
    return w2_1d(d_s, d_r)


@register_metric("distance_tv", version="1")
def distance_tv(samples: torch.Tensor, reference: torch.Tensor, target: Any) -> float | None:
    """Total variation between pooled interparticle-distance histograms (DISTANCE_BINS bins
    up to DISTANCE_RANGE × the largest reference distance); None for non-particle targets."""
    if not is_particle_system(target):
        return None
    d_s = target.distances(samples.double()).numpy().ravel()
    d_r = target.distances(reference.double()).numpy().ravel()
    edges = np.linspace(0.0, DISTANCE_RANGE * d_r.max(), DISTANCE_BINS + 1)
    return histogram_tv(d_s, d_r, edges)


def ramachandran_histogram(angles: np.ndarray, bins: int = RAMA_BINS) -> np.ndarray:
    """Normalised 2-D histogram [bins, bins] of (φ, ψ) in radians on [−π, π)²."""
    wrapped = (np.asarray(angles, dtype=np.float64) + np.pi) % (2 * np.pi) - np.pi
    edges = np.linspace(-np.pi, np.pi, bins + 1)
    h = np.histogram2d(wrapped[:, 0], wrapped[:, 1], bins=[edges, edges])[0]
    return h / max(len(wrapped), 1)


@register_metric("rama_tv", version="1")
def rama_tv(samples: torch.Tensor, reference: torch.Tensor, target: Any) -> float | None:
    """½ Σ |p − q| between the Ramachandran histograms of samples and reference; None for
    targets without backbone dihedrals (``ramachandran``)."""
    if not hasattr(target, "ramachandran"):
        return None
    p = ramachandran_histogram(target.ramachandran(samples).numpy())
    q = ramachandran_histogram(target.ramachandran(reference).numpy())
    return float(0.5 * np.abs(p - q).sum())
