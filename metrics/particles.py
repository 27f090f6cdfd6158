"""Metrics that are invariant to the symmetries of particle systems (and, for the energy
histogram, meaningful for every target).

- ``energy_w2``: the W2 distance between the 1-D distributions of the energy E(x) (in kT)
  of the samples and of the reference (PITA/DEM's "E-W2", uncropped).
- ``distance_tv``: total variation between the histograms of all interparticle distances,
  pooled over pairs (particle targets only).
- ``rama_tv``: total variation between the Ramachandran (φ, ψ) histograms, 36 × 36 bins of
  10° on the torus (targets with backbone dihedrals, i.e. ``aldp``).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import ot
import torch

from boltzbench.registry import register_metric

#: bins of the pooled-distance histogram over [0, DISTANCE_RANGE × max reference distance]
DISTANCE_BINS = 100
DISTANCE_RANGE = 1.25
#: bins per angle of the Ramachandran histogram
RAMA_BINS = 36


def w2_1d(a: np.ndarray, b: np.ndarray) -> float:
    """Exact W2 between two 1-D empirical distributions with uniform weights (any sizes)."""
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    return float(np.sqrt(max(ot.emd2_1d(a, b), 0.0)))


@register_metric("energy_w2", version="1")
def energy_w2(samples: torch.Tensor, reference: torch.Tensor, target: Any) -> float:
    """W2 between the energies (kT) of the samples and of the reference."""
    e_s = target.energy(samples.double()).detach().numpy()
    e_r = target.energy(reference.double()).detach().numpy()
    return w2_1d(e_s, e_r)


def histogram_tv(a: np.ndarray, b: np.ndarray, edges: np.ndarray) -> float:
    """½ Σ |p − q| between normalised histograms of ``a`` and ``b`` on ``edges``, with one
    extra bin on each side for values outside the edges."""
    full = np.concatenate([[-np.inf], edges, [np.inf]])
    p = np.histogram(a, bins=full)[0] / max(len(a), 1)
    q = np.histogram(b, bins=full)[0] / max(len(b), 1)
    return float(0.5 * np.abs(p - q).sum())


@register_metric("distance_tv", version="1")
def distance_tv(samples: torch.Tensor, reference: torch.Tensor, target: Any) -> float | None:
    """Total variation between pooled interparticle-distance histograms (DISTANCE_BINS bins
    up to DISTANCE_RANGE × the largest reference distance); None for non-particle targets."""
    if getattr(target, "n_particles", None) is None or not hasattr(target, "distances"):
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
