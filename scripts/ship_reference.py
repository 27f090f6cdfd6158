"""Generate a target's reference set and its floor set and ship them in the repository
(``targets/data/<target>/``, see boltzbench/targets/shipped.py).

    python scripts/ship_reference.py ethanol          # both sets, one process each

The reference uses the target's MetricSpec (n_reference, reference_seed); the floor set is
the independent second run the noise floors draw (seed + FLOOR_SEED_OFFSET). A set that
fails its convergence checks is not shipped (exit 1). Existing shipped files are replaced.
"""

from __future__ import annotations

import argparse
import multiprocessing
import sys
import time
from concurrent.futures import ProcessPoolExecutor


def _generate(args: tuple[str, int, int]):
    name, n, seed = args
    from boltzbench.targets.shipped import shipped_path

    from boltzbench.registry import TARGETS

    target = TARGETS.get(name)()
    for suffix in (".npz", ".json"):  # regenerate, never reuse what is shipped
        shipped_path(name, n, seed).with_suffix(suffix).unlink(missing_ok=True)
    samples, info = target.generate_reference(n, seed)
    return samples, info


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("target")
    parser.add_argument("--jobs", type=int, default=2)
    args = parser.parse_args(argv)
    from boltzbench.targets.shipped import ship

    from boltzbench.registry import TARGETS
    from boltzbench.score.floors import FLOOR_SEED_OFFSET

    target = TARGETS.get(args.target)()
    spec = target.metric_spec
    seeds = [spec.reference_seed, spec.reference_seed + FLOOR_SEED_OFFSET]
    jobs = [(args.target, spec.n_reference, s) for s in seeds]
    started = time.time()
    ctx = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max(1, args.jobs), mp_context=ctx) as pool:
        results = list(pool.map(_generate, jobs))
    failed = False
    for (_, n, seed), (samples, info) in zip(jobs, results, strict=True):
        bad = [k for k, ok in info.get("checks", {}).items() if not ok]
        if bad:
            print(f"{args.target} seed {seed}: failed {', '.join(bad)}; not shipped")
            failed = True
            continue
        path = ship(target, samples, info, n, seed)
        print(f"{args.target} seed {seed}: {path} ({info.get('seconds', 0):.0f} s)")
    print(f"done in {time.time() - started:.0f} s")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
