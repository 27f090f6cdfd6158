"""Effective sample sizes of a chain method's production draws over the target's declared
statistics: what a chain's cost per effective draw (:mod:`boltzbench.costs`) is divided by.
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np
import torch


def declared_statistics(target: Any, x: torch.Tensor) -> dict[str, torch.Tensor]:
    """The statistics whose effective sample size a chain's cost is divided by, each
    [n, k]: ``coordinates`` (x itself), ``energy`` (E(x), [n, 1]), for a target with
    ``mode_of`` (the index of each row's mode) ``modes`` (one-hot indicators, [n, modes]),
    and for one with ``slow_statistics`` (a molecule's torsions) ``slow`` ([n, k])."""
    x = x.double()
    stats = {"coordinates": x, "energy": target.energy(x).reshape(-1, 1).double()}
    slow = getattr(target, "slow_statistics", None)
    if callable(slow):
        stats["slow"] = slow(x).double()
    mode_of = getattr(target, "mode_of", None)
    if callable(mode_of):
        index = mode_of(x).long()
        stats["modes"] = torch.nn.functional.one_hot(index, int(index.max()) + 1).double()
    return stats


def bulk_ess(draws: np.ndarray) -> np.ndarray:
    """ArviZ's bulk ESS (rank-normalised, split chains; Vehtari et al. 2021) of each
    column of ``draws`` [chains, rounds, k] -> [k]; NaN for a column that never varies."""
    import arviz as az

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # constant columns, more chains than draws
        ess = az.ess(az.convert_to_dataset({"s": draws}), method="bulk")["s"].values
    return np.asarray(ess, dtype=float).reshape(draws.shape[2])


def chain_means_ess(draws: np.ndarray) -> np.ndarray:
    """ESS of each column of ``draws`` [chains, rounds, k] from the spread of the chains'
    means (independent chains): chains · var(all draws) / var(chain means), capped at the
    number of draws. Used for mode indicators, whose ties defeat rank normalisation: chains
    that never leave their mode give ESS = chains (the mode shares are then known from the
    chains' allocation alone), and so does a column that never varies (every chain in one
    mode). NaN with fewer than 2 chains."""
    chains, rounds, k = draws.shape
    if chains < 2:  # one chain's mean has no spread to compare with
        return np.full(k, np.nan)
    total = draws.reshape(chains * rounds, -1).var(axis=0, ddof=1)
    between = draws.mean(axis=1).var(axis=0, ddof=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        ess = np.where(between > 0, chains * total / between, float(chains * rounds))
    # a column that never varies (every chain in one mode) is known from the chains alone
    return np.where(total > 0, np.minimum(ess, chains * rounds), float(chains))


def chain_ess(target: Any, draws: torch.Tensor) -> dict[str, float]:
    """The smallest ESS of each declared statistic group over the chains ``draws``
    [chains, rounds, d] (:func:`bulk_ess`; :func:`chain_means_ess` for mode indicators),
    and ``min`` over the groups (in draws; capped at the number of
    draws). Empty with fewer than 4 rounds (too few to split a chain)."""
    chains, rounds, dim = draws.shape
    if rounds < 4:
        return {}
    flat = draws.reshape(chains * rounds, dim)
    out: dict[str, float] = {}
    for name, values in declared_statistics(target, flat).items():
        per = values.reshape(chains, rounds, -1).numpy()
        ess = chain_means_ess(per) if name == "modes" else bulk_ess(per)
        ess = ess[np.isfinite(ess)]
        if ess.size:
            out[name] = float(min(ess.min(), chains * rounds))
    if out:
        out["min"] = min(out.values())
    return out


def stored_chain_ess(target: Any, record: dict[str, Any], samples: torch.Tensor) -> None:
    """For a chain record scored before cells kept their chains (no ``chain_shape``):
    rebuild the chains from its stored samples, which chain methods return round by round
    (row r·chains + c is chain c's r-th draw), with the chain count from its diagnostics
    (``n_chains``) or config, keep the full rounds, and store ``ess`` and ``chain_shape``
    as a cell would (``ess_from_samples`` marks it). Nothing for other records."""
    if record.get("chain_shape") or "ess_bulk" not in record.get("diagnostics", {}):
        return
    chains = record["diagnostics"].get("n_chains") or record.get("config", {}).get("n_chains")
    if not chains:
        return
    chains = int(chains)
    rounds = samples.shape[0] // chains
    if rounds < 4:
        return
    draws = samples[: rounds * chains].reshape(rounds, chains, -1).transpose(0, 1)
    record["ess"] = chain_ess(target, draws.double())
    record["chain_shape"] = [chains, rounds]
    record["ess_from_samples"] = True
