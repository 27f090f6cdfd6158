"""References for targets without an exact sampler: long, seeded MCMC with checked
convergence, recorded in the style of posteriordb (the command, the seed, the sampler's
settings, R-hat and ESS of the energy and of a few coordinates, and named checks that must
all be true)."""

from __future__ import annotations

from typing import Any

import torch

from boltzbench.counter import Counter, charging

#: thresholds of the named checks
RHAT_MAX = 1.01


def mala_reference(
    target: Any, n: int, seed: int, n_chains: int, warmup: int, thin: int, n_coords: int = 5
) -> tuple[torch.Tensor, dict[str, Any]]:
    """n draws of the suite's MALA (step size tuned in warm-up) from the broad start, and a
    provenance record with diagnostics and checks:

    - ``r_hat_below_1_01``: rank-normalised split R-hat of the energy and of the first
      ``n_coords`` coordinates all below 1.01;
    - ``ess_above_n_over_10``: their bulk ESS all above n/10.
    """
    from boltzbench.baselines.diagnostics import ess_rhat
    from boltzbench.baselines.mala import MALA, MALAConfig

    config = MALAConfig(n_chains=n_chains, warmup=warmup, thin=thin, snapshots=False)
    counter = Counter(target)
    method = MALA(config)
    with charging(counter, "train"):
        method.fit(counter, seed=seed)
    with charging(counter, "sample"):
        samples = method.sample(n)
    draws = method.draws.double()  # [chains, rounds, d]
    energies = target.energy(draws.reshape(-1, target.dim)).reshape(draws.shape[:2])
    coords = draws[..., : min(n_coords, target.dim)]
    diag_e = ess_rhat(energies[..., None].numpy())
    diag_x = ess_rhat(coords.numpy())
    rhat = max(diag_e["rhat"], diag_x["rhat"])
    ess = min(diag_e["ess_bulk"], diag_x["ess_bulk"])
    info = {
        "method": "MALA (boltzbench.baselines.mala), dual-averaging step toward 0.574",
        "command": f"boltzbench.targets.generated.mala_reference(n={n}, seed={seed}, "
        f"n_chains={n_chains}, warmup={warmup}, thin={thin})",
        "settings": {"n_chains": n_chains, "warmup": warmup, "thin": thin},
        "evaluations": counter.counts.as_dict(),
        "acceptance": method.diagnostics().get("acceptance_sample"),
        "r_hat_energy": diag_e["rhat"],
        "ess_energy": diag_e["ess_bulk"],
        "r_hat_coords_max": diag_x["rhat"],
        "ess_coords_min": diag_x["ess_bulk"],
        "checks": {"r_hat_below_1_01": rhat < RHAT_MAX, "ess_above_n_over_10": ess > n / 10},
    }
    return samples, info
