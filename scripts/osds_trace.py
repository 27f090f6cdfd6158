"""OSDS along its training: the quality of the k-step flows of the same model.

Trains ``osds`` without a budget on one target and, every EVERY iterations, samples 2000
points from fixed prior draws with k = 1, 2, 4, 8 and 32 probability-flow steps of the
EMA model, printing their MMD_multi against the target's reference and the mean
self-distillation state loss since the last snapshot (one JSON line per snapshot).

    python scripts/osds_trace.py TARGET ITERS EVERY ['{"batch_size": 128, "seed": 0}']

docs/methods.md quotes ``python scripts/osds_trace.py double_well 1000 100
'{"batch_size": 128}'`` (and with 8 paths): the one-step map's quality does not settle.
"""

from __future__ import annotations

import json
import sys

import boltzbench.metrics  # noqa: F401  (registration)
import torch
from boltzbench.baselines.osds import OSDS, OSDSConfig
from boltzbench.metrics.multiscale import mmd_multi

from boltzbench.counter import Counter
from boltzbench.registry import TARGETS
from boltzbench.rng import generator


def main(argv: list[str]) -> None:
    name, iters, every = argv[0], int(argv[1]), int(argv[2])
    params = json.loads(argv[3]) if len(argv) > 3 else {}
    seed = int(params.pop("seed", 0))
    torch.set_num_threads(1)
    target = TARGETS.get(name)()
    ref = torch.as_tensor(target.reference().samples)[:2000]
    m = OSDS(OSDSConfig(iters=iters, **params))
    opt = m.start(Counter(target), seed)
    x0 = m.sigma0 * torch.randn(2000, m.dim, generator=generator(1234))
    state: list[float] = []
    for it in range(iters + 1):  # OSDS.fit's loop, with snapshots
        if it % every == 0:
            row: dict = {"it": it}
            for k in (1, 2, 4, 8, 32):
                x, _, _ = m.flow(x0, k, n_weighted=0)
                row[f"k{k}"] = round(mmd_multi(x[torch.isfinite(x).all(1)], ref, target), 3)
            row["state"] = round(sum(state) / len(state), 4) if state else None
            print(json.dumps(row), flush=True)
            state = []
        if it == iters:
            break
        parts = m.iteration(opt, it)
        state.append(float(parts["state"].detach()))


if __name__ == "__main__":
    main(sys.argv[1:])
