"""Do ethanol's two shipped MD sets agree? Statistics of each, with standard errors from
the effective sample size of its 4 runs, and the z-score of their difference.

    .venv/bin/python scripts/ethanol_halves.py

The two sets are the reference (seed ``reference_seed``) and the floors' independent set
(``reference_seed + FLOOR_SEED_OFFSET``) in ``targets/data/ethanol/``, written by
``scripts/ship_reference.py ethanol``. Each holds 4 interleaved runs (sample i from run
i mod 4). Every statistic is invariant under the symmetries the sets were randomised by
(rotations, reflections, exchange of equivalent H): energy, the trans fraction of the
hydroxyl torsion (|C–C–O–H| > 2π/3), cos 3φ of the methyl torsion, three bond lengths and
the C–C–O angle. Also prints each set's provenance: evaluations, seconds, autocorrelation
times and transitions.
"""

from __future__ import annotations

import json
import math

import arviz
import numpy as np
import torch
from boltzbench.targets.shipped import shipped_path

from boltzbench.registry import TARGETS
from boltzbench.score.floors import FLOOR_SEED_OFFSET

RUNS = 4


def statistics(target, x: torch.Tensor) -> dict[str, np.ndarray]:
    """Per-sample statistics [n] of configurations x [n, 27]."""
    x = x.double()
    tors = target.torsions(x)
    bonds = target.bond_lengths(x)
    return {
        "energy (kT)": target.energy(x).numpy(),
        "trans fraction": (tors[:, 0].abs() > 2 * math.pi / 3).double().numpy(),
        "cos 3φ methyl": torch.cos(3 * tors[:, 1]).numpy(),
        "C–C (nm)": bonds[:, 0].numpy(),
        "C–O (nm)": bonds[:, 1].numpy(),
        "O–H (nm)": bonds[:, 7].numpy(),
        "C–C–O (rad)": target.bond_angles(x)[:, 6].numpy(),
    }


def mean_se(values: np.ndarray) -> tuple[float, float]:
    """Mean and its standard error from the ESS of the [runs, draws] array."""
    chains = values.reshape(-1, RUNS).T  # sample i came from run i mod RUNS
    ess = float(arviz.ess(chains, method="mean"))
    return float(values.mean()), float(values.std(ddof=1) / math.sqrt(max(ess, 1.0)))


def main() -> None:
    target = TARGETS.get("ethanol")()
    spec = target.metric_spec
    seeds = (spec.reference_seed, spec.reference_seed + FLOOR_SEED_OFFSET)
    sets = []
    for seed in seeds:
        path = shipped_path("ethanol", spec.n_reference, seed)
        with np.load(path) as data:
            x = torch.from_numpy(data["samples"])
        info = json.loads(path.with_suffix(".json").read_text())
        keys = ("evaluations", "seconds", "autocorrelation_ps", "hydroxyl_transitions")
        print(f"seed {seed}:", {k: info[k] for k in keys + ("methyl_hops", "ess_energy")})
        sets.append(statistics(target, x))
    print("| statistic | reference | floor set | z |")
    print("|---|---|---|---|")
    for name in sets[0]:
        (a, sa), (b, sb) = mean_se(sets[0][name]), mean_se(sets[1][name])
        z = (a - b) / math.sqrt(sa**2 + sb**2)
        print(f"| {name} | {a:.5g} ± {sa:.2g} | {b:.5g} ± {sb:.2g} | {z:+.2f} |")


if __name__ == "__main__":
    main()
