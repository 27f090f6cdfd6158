"""References for targets without an exact sampler: long, seeded MCMC with checked
convergence, recorded in the style of posteriordb (the command, the seed, the sampler's
settings, R-hat and ESS of the energy and of a few coordinates, and named checks that must
all be true)."""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from boltzbench.counter import Counter
from boltzbench.driver import run_method
from boltzbench.protocols import build_method
from boltzbench.registry import METHODS

#: thresholds of the named checks
RHAT_MAX = 1.01
#: published comparisons: our reference's energy mean must lie within this many published
#: standard deviations of the published mean, its sd and mean pair distance within these
#: relative tolerances (the published sets are MCMC samples too).
PUBLISHED_MEAN_TOL_SD = 0.15
PUBLISHED_SD_RTOL = 0.15
PUBLISHED_DISTANCE_RTOL = 0.03


def convergence_checks(rhat: float, ess: float, n: int) -> dict[str, bool]:
    """The named checks every generated reference must pass: R-hat below RHAT_MAX and
    bulk ESS above n/10."""
    return {"r_hat_below_1_01": rhat < RHAT_MAX, "ess_above_n_over_10": ess > n / 10}


#: registered chain methods that may generate a reference (they keep ``draws``)
REFERENCE_SAMPLERS = ("mala", "pt")
#: ``mala`` references adapt a mass matrix in warm-up: dense up to this dimension
#: (O(d²) per chain step, and a d × d covariance that the pooled warm-up draws estimate
#: well), diagonal above
DENSE_MASS_MAX_DIM = 50


def reference_mass_matrix(dim: int) -> str:
    """The mass matrix a ``mala`` reference adapts for a target of dimension ``dim``:
    ``"dense"`` up to :data:`DENSE_MASS_MAX_DIM`, else ``"diagonal"``."""
    return "dense" if dim <= DENSE_MASS_MAX_DIM else "diagonal"


def chain_reference(
    target: Any,
    n: int,
    seed: int,
    *,
    method: str,
    n_chains: int,
    warmup: int,
    thin: int,
    extra: dict[str, Any] | None = None,
    n_coords: int = 5,
    published: dict[str, float] | None = None,
) -> tuple[torch.Tensor, dict[str, Any]]:
    """n draws of the suite's ``mala`` or ``pt`` (step sizes tuned in warm-up, then frozen)
    from the broad start, and a provenance record with diagnostics and checks.

    ``mala`` adapts a mass matrix in windowed warm-up (Stan's scheme, see
    :mod:`boltzbench.baselines.mala`), ``"dense"`` for d ≤ :data:`DENSE_MASS_MAX_DIM` and
    ``"diagonal"`` above (:func:`reference_mass_matrix`; ``extra={"mass_matrix": ...}``
    overrides it): with an identity mass matrix one step size must suit every direction,
    and on posteriors whose scales differ 100–500× the wide directions do not mix within
    the warm-up (posteriordb cross-check, ``docs/targets.md``). The checks:

    - ``r_hat_below_1_01``: rank-normalised split R-hat of the energy and of the first
      ``n_coords`` coordinates all below 1.01 (for targets with symmetries, of their
      ``invariant_features`` instead: the symmetries are then applied exactly by
      ``target.symmetrize``, so coordinates need not mix over them);
    - ``ess_above_n_over_10``: their bulk ESS all above n/10;
    - with ``published`` (keys ``energy_mean``, ``energy_sd``, ``mean_distance``), the
      comparison with a published reference set: ``energy_mean_matches_published`` (within
      :data:`PUBLISHED_MEAN_TOL_SD` published sd), ``energy_sd_matches_published`` and
      ``mean_distance_matches_published`` (relative tolerances above).

    """
    import time

    from boltzbench.baselines.diagnostics import ess_rhat

    if method not in REFERENCE_SAMPLERS:
        raise ValueError(
            f"unknown reference sampler {method!r}; known: {', '.join(REFERENCE_SAMPLERS)}"
        )
    settings = {"n_chains": n_chains, "warmup": warmup, "thin": thin, **(extra or {})}
    if method == "mala":
        settings.setdefault("mass_matrix", reference_mass_matrix(target.dim))
    cls = METHODS.get(method)
    sampler, _ = build_method(cls, {**settings, "snapshots": False})
    module, cls_name = cls.__module__, cls.__name__
    started = time.time()
    counter = Counter(target)
    samples = run_method(sampler, counter, seed, n).samples
    draws = sampler.draws.double()  # [chains, rounds, d]
    flat = draws.reshape(-1, target.dim)
    energies = target.energy(flat).reshape(draws.shape[:2])
    if hasattr(target, "invariant_features"):
        features = target.invariant_features(flat)
        coords = features.reshape(*draws.shape[:2], features.shape[1])
    else:
        coords = flat.reshape(draws.shape)[..., : min(n_coords, target.dim)]
    diag_e = ess_rhat(energies[..., None].numpy())
    diag_x = ess_rhat(coords.numpy())
    rhat = max(diag_e["rhat"], diag_x["rhat"])
    ess = min(diag_e["ess_bulk"], diag_x["ess_bulk"])
    args = ", ".join(f"{k}={v!r}" for k, v in settings.items())
    info: dict[str, Any] = {
        "method": f"{cls_name} ({module}), step sizes"
        + (f" and a {settings['mass_matrix']} mass matrix" if "mass_matrix" in settings else "")
        + " tuned in warm-up then frozen",
        "command": f"boltzbench.targets.generated.chain_reference(target={target.name!r}, "
        f"n={n}, seed={seed}, method={method!r}, {args})",
        "settings": {"sampler": method, **settings},
        "evaluations": counter.counts.as_dict(),
        "seconds": time.time() - started,
        "acceptance": sampler.diagnostics().get("acceptance_sample"),
        "sampler_diagnostics": sampler.diagnostics(),
        "r_hat_energy": diag_e["rhat"],
        "ess_energy": diag_e["ess_bulk"],
        "r_hat_coords_max": diag_x["rhat"],
        "ess_coords_min": diag_x["ess_bulk"],
        "checks": convergence_checks(rhat, ess, n),
    }
    if hasattr(target, "symmetrize"):
        samples = target.symmetrize(samples, torch.Generator().manual_seed(seed + 1))
    if published:
        comparison = compare_with_published(target, samples, published)
        info["checks"].update(comparison.pop("checks"))
        info["published_comparison"] = comparison
    return samples, info


def compare_with_published(
    target: Any, samples: torch.Tensor, published: dict[str, float]
) -> dict[str, Any]:
    """Energy mean and sd, and mean pair distance of ``samples`` beside the published values,
    with named checks: ``{"ours": ..., "published": ..., "checks": {name: bool}}``."""
    x = samples.double()
    # published sets are centroid-free: compare the internal energy where there is one
    energy = getattr(target, "internal_energy", target.energy)
    e = energy(x).detach().numpy()
    ours = {"energy_mean": float(np.mean(e)), "energy_sd": float(np.std(e, ddof=1))}
    if hasattr(target, "distances"):
        ours["mean_distance"] = float(target.distances(x).mean())
    checks = {}
    if "energy_mean" in published:
        tol = PUBLISHED_MEAN_TOL_SD * published["energy_sd"]
        checks["energy_mean_matches_published"] = (
            abs(ours["energy_mean"] - published["energy_mean"]) < tol
        )
        checks["energy_sd_matches_published"] = (
            abs(ours["energy_sd"] / published["energy_sd"] - 1) < PUBLISHED_SD_RTOL
        )
    if "mean_distance" in published and "mean_distance" in ours:
        checks["mean_distance_matches_published"] = (
            abs(ours["mean_distance"] / published["mean_distance"] - 1) < PUBLISHED_DISTANCE_RTOL
        )
    return {"ours": ours, "published": dict(published), "checks": checks}
