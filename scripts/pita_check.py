"""PITA with the budgeted suites' config (``SMALL_PITA``) under the full suite's budgets.

One thread. For each (target, seed): the final correction's normalised ESS, distinct
double-well sign patterns (many_well), budget used and wall time. No reference samples
are used. Usage:

    OMP_NUM_THREADS=1 python scripts/pita_check.py [--targets dw4 many_well lj13]
        [--seeds 0 1] [--set key=value ...] [--verbose]
"""

from __future__ import annotations

import argparse
import ast
import json
import time

import torch
from well_patterns import distinct_patterns  # scripts/ is on sys.path when run as a script

from boltzbench.counter import Counter
from boltzbench.driver import run_method
from boltzbench.protocols import build_method
from boltzbench.registry import METHODS, TARGETS
from boltzbench.run.suites import SMALL_PITA, get_suite

N_SAMPLES = 2000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--targets", nargs="+", default=["dw4", "many_well", "lj13"])
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1])
    parser.add_argument("--set", nargs="*", default=[], help="config overrides key=value")
    parser.add_argument("--verbose", action="store_true", help="print all diagnostics")
    args = parser.parse_args()
    torch.set_num_threads(1)
    overrides = {}
    for item in args.set:
        key, value = item.split("=", 1)
        try:
            overrides[key] = ast.literal_eval(value)
        except (ValueError, SyntaxError):
            overrides[key] = value
    config = {**SMALL_PITA, **overrides}
    suite = get_suite("full")
    print("config", config)
    print("target     seed  ess_final  ess_1step  patterns  used/budget  seconds")
    for name in args.targets:
        budget = suite.budget_for(name)
        for seed in args.seeds:
            target = TARGETS.get(name)()
            counter = Counter(target, budget=budget, n_samples=N_SAMPLES)
            method, _ = build_method(METHODS.get("pita"), config)
            start = time.perf_counter()
            run = run_method(method, counter, seed=seed, n=N_SAMPLES)
            seconds = time.perf_counter() - start
            d = method.diagnostics()
            patterns = (
                distinct_patterns(run.samples.numpy()) if target.name == "many_well" else None
            )
            print(
                f"{name:10s} {seed:4d}  {d.get('ess_fraction_final', float('nan')):9.3f}"
                f"  {d.get('ess_fraction_oneshot', float('nan')):9.3f}"
                f"  {patterns if patterns is not None else '-':>8}"
                f"  {counter.used / budget:11.3f}  {seconds:7.1f}",
                flush=True,
            )
            if args.verbose:
                print(json.dumps({k: round(v, 4) for k, v in d.items()}), flush=True)


if __name__ == "__main__":
    main()
