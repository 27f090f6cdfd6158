"""Convergence diagnostics of MCMC draws, computed by ArviZ."""

from __future__ import annotations

import warnings

import numpy as np


def ess_rhat(draws: np.ndarray) -> dict[str, float]:
    """Bulk effective sample size and rank-normalised split R-hat (Vehtari et al. 2021).

    Args:
        draws: [chains, draws, d].

    Returns:
        ``ess_bulk`` (the minimum over dimensions, in draws) and ``rhat`` (the maximum over
        dimensions); empty when there are fewer than 4 draws per chain (too few to split).
    """
    if draws.ndim != 3:
        raise ValueError(f"draws must be [chains, draws, d], got shape {draws.shape}")
    if draws.shape[1] < 4:
        return {}
    import arviz as az

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "more chains than draws" is expected here
        ds = az.convert_to_dataset({"x": draws})
        ess = az.ess(ds, method="bulk")["x"].values
        rhat = az.rhat(ds)["x"].values
    return {"ess_bulk": float(np.min(ess)), "rhat": float(np.max(rhat))}
