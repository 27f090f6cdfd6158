"""The particle targets' reference checks: energy and pair-distance statistics of a
generated reference compared with exact values (DW-4's pair-distance law by quadrature,
:func:`pair_distance_law_4x2d`) or the published DEM test set, within
:data:`REFERENCE_TOL_SE` standard errors of the difference.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np
import torch

REFERENCE_TOL_SE = 5.0


def reference_statistics(target: Any, samples: torch.Tensor) -> dict[str, np.ndarray]:
    """Per-configuration internal energy and mean pair distance (float64 arrays [n])."""
    x = samples.double()
    return {
        "energy": target.internal_energy(x).detach().numpy(),
        "mean_distance": target.distances(x).mean(1).numpy(),
    }


def _se_of_mean(values: np.ndarray, n: float) -> float:
    return float(np.std(values, ddof=1) / math.sqrt(n))


def _se_of_sd(values: np.ndarray, n: float) -> float:
    """Large-sample standard error of a standard deviation: s · sqrt((κ + 2) / (4n)) with κ
    the excess kurtosis (s / sqrt(2n) for a normal law)."""
    z = (values - values.mean()) / values.std()
    kurt = float(np.mean(z**4) - 3.0)
    return float(np.std(values, ddof=1) * math.sqrt(max(kurt + 2.0, 0.5) / (4 * n)))


def check_statistics(target: Any, samples: torch.Tensor, info: dict[str, Any]) -> dict[str, Any]:
    """Energy mean and sd and mean pair distance of a generated particle reference against
    ``target.exact_statistics`` (where given) or ``target.published`` (with its size ``n``).

    The standard error of our value uses the effective sample size min(n, ESS) from the
    chain (``info["ess_energy"]`` for the energy, ``info["ess_coords_min"]``, the smallest ESS
    of the invariant features, for the distance); against a published value the published
    set's own error is added in quadrature, treating its ``n`` configurations as
    independent (an optimistic assumption for MCMC draws, so the band is if anything
    tight). Check ``<stat>_matches_exact`` / ``<stat>_matches_published``: |difference| <
    :data:`REFERENCE_TOL_SE` standard errors. Returns ``{"ours", "published", "exact",
    "z_published", "z_exact", "tolerance_se", "checks"}``; the z-scores against the
    published set are recorded even where an exact value decides the check.
    """
    stats = reference_statistics(target, samples)
    n = samples.shape[0]
    n_energy = min(n, float(info.get("ess_energy") or n))
    n_distance = min(n, float(info.get("ess_coords_min") or n))
    ours = {
        "energy_mean": float(stats["energy"].mean()),
        "energy_sd": float(np.std(stats["energy"], ddof=1)),
        "mean_distance": float(stats["mean_distance"].mean()),
    }
    se_ours = {
        "energy_mean": _se_of_mean(stats["energy"], n_energy),
        "energy_sd": _se_of_sd(stats["energy"], n_energy),
        "mean_distance": _se_of_mean(stats["mean_distance"], n_distance),
    }
    published = dict(getattr(target, "published", None) or {})
    exact = dict(getattr(target, "exact_statistics", None) or {})
    n_pub = float(published.get("n", 0)) or None
    se_pub = {}
    if n_pub:
        se_pub = {
            "energy_mean": _se_of_mean(stats["energy"], n_pub),
            "energy_sd": _se_of_sd(stats["energy"], n_pub),
            "mean_distance": _se_of_mean(stats["mean_distance"], n_pub),
        }
    z_published, z_exact, checks = {}, {}, {}
    for key, value in ours.items():
        if key in published and key in se_pub:
            se = math.hypot(se_ours[key], se_pub[key])
            z_published[key] = (value - published[key]) / se
        if key in exact:
            z_exact[key] = (value - exact[key]) / se_ours[key]
            checks[f"{key}_matches_exact"] = abs(z_exact[key]) < REFERENCE_TOL_SE
        elif key in z_published:
            checks[f"{key}_matches_published"] = abs(z_published[key]) < REFERENCE_TOL_SE
    return {
        "ours": ours,
        "standard_errors": se_ours,
        "published": published,
        "exact": exact,
        "z_published": z_published,
        "z_exact": z_exact,
        "tolerance_se": REFERENCE_TOL_SE,
        "checks": checks,
    }


def pair_distance_law_4x2d(
    pair_energy: Callable[[np.ndarray], np.ndarray],
    h: float = 0.1,
    dr: float = 0.02,
    extent: float = 8.0,
) -> tuple[np.ndarray, np.ndarray]:
    """The exact law of one pair distance r = |x_1 − x_0| for four identical particles in
    2-D with density ∝ exp(−Σ_{i<j} u(d_ij)), by quadrature (no sampling).

    Fixing x_0 at the origin and x_1 at (r, 0) (translation and rotation; the polar Jacobian
    gives the factor r), p(r) ∝ r e^{−u(r)} ∫∫ f_r(a) f_r(b) e^{−u(|a − b|)} d²a d²b with
    f_r(a) = e^{−u(|a|) − u(|a − (r, 0)|)}: a 2-D convolution per r, done by FFT on an
    h-spaced grid over [−extent, extent]² (u must make the weight negligible beyond
    ``extent``). By exchangeability every pair has this law, so E[mean pair distance] =
    E[r] and E[Σ_{i<j} u] = 6 E[u(r)].

    Returns:
        r [k] (spacing ``dr``) and the density p [k] on it (Σ p · dr = 1).
    """
    from scipy.signal import fftconvolve

    grid = np.arange(-extent, extent + h / 2, h)
    gx, gy = np.meshgrid(grid, grid, indexing="ij")
    offsets = np.arange(-(len(grid) - 1), len(grid)) * h
    ox, oy = np.meshgrid(offsets, offsets, indexing="ij")

    def weight(d: np.ndarray) -> np.ndarray:
        return np.exp(-np.minimum(pair_energy(d), 700.0))

    kernel = weight(np.hypot(ox, oy))
    to_origin = weight(np.hypot(gx, gy))
    r = np.arange(dr, extent, dr)
    log_w = np.empty_like(r)
    for k, rk in enumerate(r):
        f = to_origin * weight(np.hypot(gx - rk, gy))
        inner = float((f * fftconvolve(f, kernel, mode="same")).sum()) * h**4
        log_w[k] = math.log(max(inner, 1e-300)) - float(pair_energy(np.array(rk))) + math.log(rk)
    p = np.exp(log_w - log_w.max())
    return r, p / (p.sum() * dr)
