"""Cross-check of the suite's reference generator against posteriordb's draws: run the
generator on a posteriordb target and compare means (within Monte-Carlo standard errors) and
standard deviations (relative error) per coordinate (``scripts/crosscheck_posteriordb.py``).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

#: the cross-check's tolerances: means within this many combined Monte-Carlo standard
#: errors, standard deviations within this relative error, per coordinate
CROSS_MEAN_MCSE = 4.0
CROSS_SD_RTOL = 0.10


# cross-check of the suite's reference generator --------------------------------------------
def _moments_and_mcse(draws: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per coordinate of draws [chains, m, d]: mean, sd and the Monte-Carlo standard error
    of the mean (sd / sqrt(ESS of the mean), ArviZ)."""
    import warnings

    import arviz as az

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ess = az.ess(az.convert_to_dataset({"x": draws}), method="mean")["x"].values
    flat = draws.reshape(-1, draws.shape[-1])
    sd = flat.std(0, ddof=1)
    return flat.mean(0), sd, sd / np.sqrt(ess)


def compare_draws(ours: np.ndarray, theirs: np.ndarray) -> dict[str, bool | float]:
    """Named checks of draws [chains, m, d] against posteriordb's draws [chains', m', d]:
    ``means_within_4_mcse`` (|Δmean| < 4 √(MCSE_ours² + MCSE_theirs²) in every coordinate),
    ``sds_within_10_percent`` (|sd_ours / sd_theirs − 1| < 0.1 in every coordinate), with
    the worst values ``max_mean_z`` and ``max_sd_rel_error``."""
    m1, s1, e1 = _moments_and_mcse(np.asarray(ours, dtype=np.float64))
    m2, s2, e2 = _moments_and_mcse(np.asarray(theirs, dtype=np.float64))
    z = np.abs(m1 - m2) / np.sqrt(e1**2 + e2**2)
    rel = np.abs(s1 / s2 - 1)
    return {
        "means_within_4_mcse": bool(np.all(z < CROSS_MEAN_MCSE)),
        "sds_within_10_percent": bool(np.all(rel < CROSS_SD_RTOL)),
        "max_mean_z": float(z.max()),
        "argmax_mean_z": int(z.argmax()),
        "max_sd_rel_error": float(rel.max()),
        "argmax_sd_rel_error": int(rel.argmax()),
    }


def cross_check(name: str, seed: int = 20260318, **settings: Any) -> dict[str, bool | float]:
    """Run the suite's reference generator (:func:`~boltzbench.targets.generated.chain_reference`
    with ``logreg_cancer``'s settings, MALA with the mass matrix it picks for the dimension,
    20 chains, 20000 warm-up steps, every 100th kept; ``settings`` override them, e.g.
    ``extra={"mass_matrix": "identity"}``) on the posteriordb target ``name`` and compare its
    chains with all 10 000 posteriordb draws (:func:`compare_draws`). The generator's own
    convergence checks and diagnostics are included, prefixed ``generator_``."""
    from boltzbench.targets.generated import chain_reference

    from boltzbench.registry import TARGETS

    target = TARGETS.get(name)()
    n = settings.pop("n", target.metric_spec.n_reference)
    config = {"method": "mala", "n_chains": 20, "warmup": 20000, "thin": 100, **settings}
    samples, info = chain_reference(target, n, seed, **config)
    # samples are ordered round by round: back to [chains, rounds, d]
    chains = config["n_chains"]
    if n % chains:
        raise ValueError(f"n = {n} must be a multiple of n_chains = {chains}")
    ours = samples.reshape(-1, chains, target.dim).transpose(0, 1).numpy()
    out: dict[str, bool | float] = {}
    for k, v in info["checks"].items():
        out[f"generator_{k}"] = bool(v)
    for k in ("r_hat_energy", "r_hat_coords_max", "ess_energy", "ess_coords_min", "seconds"):
        out[f"generator_{k}"] = float(info[k])
    diagnostics = info.get("sampler_diagnostics", {})
    out["generator_mass_matrix"] = info["settings"].get("mass_matrix", "identity")
    for k in (
        "step_size",
        "acceptance_sample",
        "frozen_fraction",
        "acceptance_chain_min",
        "mass_matrix_condition",
    ):
        v = diagnostics.get(k)
        out[f"generator_{k}"] = math.nan if v is None else float(v)
    out.update(compare_draws(ours, target.draws().numpy()))
    return out
