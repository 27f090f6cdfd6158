"""PITA's buffers on one target: where its data at T₀ and each rung's particles sit.

Fits ``pita`` with the budgeted suites' config (``SMALL_PITA``; ``--set key=value``
overrides) under a budget with 2000 samples and prints, for each temperature's buffer,
its size, the root-mean-square distance from the reference mean in reference standard
deviations (z-rms; a sample of the target tempered to T has about √T), the energy
quantiles and the largest ‖x‖; then the same for the returned samples, with PITA's ESS
and refusal diagnostics. docs/methods.md quotes

    python scripts/pita_buffers.py pdb_blr --seed 1

One thread; about two minutes a run.
"""

from __future__ import annotations

import argparse
import ast

import numpy as np
import torch
from boltzbench.baselines.pita import PITA, PITAConfig

from boltzbench.counter import Counter, charging
from boltzbench.registry import TARGETS
from boltzbench.run.suites import SMALL_PITA


def _row(x: torch.Tensor, e: torch.Tensor, mu: torch.Tensor, sd: torch.Tensor) -> str:
    z = (x.double() - mu) / sd
    q = np.quantile(e.double().numpy(), [0.1, 0.5, 0.9])
    return (
        f"n {len(x):5d}  z-rms {float(z.pow(2).mean().sqrt()):10.3g}  "
        f"E q10/50/90 {q[0]:.4g} / {q[1]:.4g} / {q[2]:.4g}  "
        f"max |x| {float(x.norm(dim=1).max()):.3g}"
    )


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("target")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--budget", type=float, default=3e5)
    p.add_argument("--set", nargs="*", default=[], metavar="KEY=VALUE")
    a = p.parse_args()
    torch.set_num_threads(1)
    params = {k: ast.literal_eval(v) for k, v in (s.split("=", 1) for s in a.set)}
    target = TARGETS.get(a.target)()
    ref = torch.as_tensor(target.reference().samples).double()
    mu, sd = ref.mean(0), ref.std(0)
    counter = Counter(target, budget=a.budget, n_samples=2000)
    m = PITA(PITAConfig(**{**SMALL_PITA, **params}))
    with charging(counter, "train"):
        m.fit(counter, seed=a.seed)
    print(f"reference     {_row(ref, target.energy(ref.float()), mu, sd)}")
    for t, (x, e, _) in zip(m.temps, m.buffers, strict=False):
        print(f"buffer T {t:5.3g} {_row(x, e, mu, sd)}")
    with charging(counter, "sample"):
        x = m.sample(2000)
    print(f"samples T 1   {_row(x, target.energy(x), mu, sd)}")
    keys = ("ess_fraction_oneshot", "unique_fraction", "fk_refused_steps", "buffer_fallbacks")
    d = m.diagnostics()
    print({k: round(d[k], 4) for k in keys if k in d})


if __name__ == "__main__":
    main()
