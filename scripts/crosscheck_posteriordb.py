"""Cross-check of the suite's reference generator against posteriordb's draws (issue 19).

    python scripts/crosscheck_posteriordb.py [--targets pdb_ark ...] [--out DIR] [--identity]
                                             [--thin N]

For each posteriordb target, :func:`boltzbench.targets.posteriordb_check.cross_check` runs the
generator behind ``logreg_cancer`` (``chain_reference``: MALA with a dense mass matrix
(d ≤ 50; diagonal above) adapted in windowed warm-up, 20 chains, 20 000 warm-up steps,
every 100th step kept, 5000 draws) and compares it with posteriordb's 10 000 draws:
``means_within_4_mcse`` and ``sds_within_10_percent``, per coordinate, plus the generator's
own convergence checks. One JSON record per target goes to ``DIR/<target>.json``, with the
wall time of each run.

``--identity`` also runs the generator as it was before the mass matrix (MALA with an
identity mass matrix, the same steps and seed) and records its comparison under
``"identity"``, for contrast.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
from pathlib import Path

NAMES = [
    "pdb_eight_schools",
    "pdb_ark",
    "pdb_blr",
    "pdb_gauss_mix",
    "pdb_gp_pois_regr",
    "pdb_diamonds",
]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--targets", nargs="*", default=NAMES)
    parser.add_argument("--out", type=Path, default=Path("results/posteriordb/crosscheck"))
    parser.add_argument(
        "--identity", action="store_true", help="also run the generator with an identity mass"
    )
    parser.add_argument("--seed", type=int, default=20260318)
    parser.add_argument(
        "--thin",
        type=int,
        default=100,
        help="steps between kept draws (100, logreg_cancer's; other values go to "
        "DIR/<target>-thin<N>.json)",
    )
    args = parser.parse_args()
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    import torch
    from boltzbench.targets.posteriordb_check import cross_check

    torch.set_num_threads(int(os.environ["OMP_NUM_THREADS"]))
    args.out.mkdir(parents=True, exist_ok=True)
    for name in args.targets:
        started = time.time()
        record: dict = {
            "target": name,
            "seed": args.seed,
            "command": f"cross_check({name!r}, seed={args.seed}, thin={args.thin})",
            "thin": args.thin,
            "torch_version": torch.__version__,
            "platform": platform.platform(),
            "threads": torch.get_num_threads(),
            "generator": cross_check(name, args.seed, thin=args.thin),
        }
        if args.identity:
            identity = {"mass_matrix": "identity"}
            record["identity"] = cross_check(name, args.seed, thin=args.thin, extra=identity)
        record["seconds"] = time.time() - started
        stem = name if args.thin == 100 else f"{name}-thin{args.thin}"
        (args.out / f"{stem}.json").write_text(json.dumps(record, indent=1) + "\n")
        print(json.dumps(record), flush=True)


if __name__ == "__main__":
    main()
