"""Do independent lj13 references agree? Their statistics, their floor, the ideal floor.

    BOLTZBENCH_CACHE=/tmp/lj13cache python scripts/lj13_halves.py [--runs K] [--n N]
        [--settings JSON] [--sample-n 2000] [--boot 200] [--out FILE]

Runs (or reads from the cache) K independent lj13 references of N draws each, by the
suite's generator (``chain_reference``, parallel tempering with ``LJ13.reference_settings``
unless ``--settings`` overrides them). The first two runs use the suite's two seeds: the
reference's (``reference_seed``) and that of the set the noise floor is computed from
(``reference_seed + FLOOR_SEED_OFFSET``); at the target's own settings and N = 5000 they
are the suite's own pair, read (or generated) through :func:`get_reference`. Further runs
use seeds ``reference_seed + 1, 2, …``; they, and every run under other settings, are
cached under ``$BOLTZBENCH_CACHE/lj13_halves``. One run of 5000 at the settings of
2026-03 took about 2 minutes on one core.

For each run: mean and sd of the internal energy and the mean pair distance, with
standard errors from the chains' effective sample size (arviz ``ess(method="mean")`` of
the [chains, rounds] array; the sd's from the bulk ESS) and, as a check on those, from
the spread of the 16 chain means (batch means, 15 degrees of freedom). Then the z-score of
the difference of every pair of runs and a χ² of all runs about their weighted mean.

Floors (``energy_w2``, clipped as the metric clips): the suite's floor (the mean over the
floor run's disjoint sets of ``--sample-n`` draws of their ``energy_w2`` against the
reference run, as :func:`boltzbench.score.floors.noise_floors` does) for every ordered
pair of runs; and the *independent-draw floor*, by a bootstrap that treats the pooled
runs' energies as the true law: the mean ``energy_w2`` between ``--sample-n`` and N iid
draws from the pool (an exact sampler against an exact reference), and between
``--sample-n`` iid draws from the pool of the other runs and each actual run (an exact
sampler against that MCMC reference).

Last, the comparison with DEM's test set (−43.13, 7.02, 1.639; its 10 000 configurations
treated as independent) and the inverse temperature β that importance reweighting of the
pooled runs needs to reach DEM's mean energy, with the sd and mean distance it predicts.
"""

from __future__ import annotations

import argparse
import hashlib
import itertools
import json
import math
import os
import time
from pathlib import Path

import numpy as np

PUBLISHED = {"energy_mean": -43.13, "energy_sd": 7.02, "mean_distance": 1.639, "n": 10_000}


def _run_key(target, settings: dict, n: int, seed: int) -> str:
    """Cache key of a run: its settings, size and seed, and the energy (the fingerprint's
    probe, not the class source, so that runs survive an edit of ``reference_settings``)."""
    from boltzbench.fingerprint import probe

    energy = [None if v is None else float(f"{v:.10g}") for v in probe(target)]
    blob = json.dumps(
        {"settings": settings, "n": n, "seed": seed, "energy": energy}, sort_keys=True
    )
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


def run_reference(target, n: int, seed: int, settings: dict, default: bool):
    """(samples [n, d] float32, info, seconds, cached) of one independent run: through
    :func:`get_reference` (the suite's own cache) for the suite's two seeds at the target's
    own settings and size, else ``chain_reference`` cached under ``lj13_halves``."""
    import torch
    from boltzbench.targets.generated import chain_reference
    from boltzbench.targets.reference import get_reference

    from boltzbench.files import cache_dir
    from boltzbench.score.floors import FLOOR_SEED_OFFSET

    spec = target.metric_spec
    suite_seeds = (spec.reference_seed, spec.reference_seed + FLOOR_SEED_OFFSET)
    started = time.time()
    if default and n == spec.n_reference and seed in suite_seeds:
        ref = get_reference(target, seed=seed)
        info = ref.provenance
        return ref.samples, info, float(info.get("seconds", 0.0)), time.time() - started < 5
    folder = cache_dir() / "lj13_halves"
    key = _run_key(target, settings, n, seed)
    npy, meta = folder / f"lj13-{key}.npy", folder / f"lj13-{key}.json"
    if npy.is_file() and meta.is_file():
        info = json.loads(meta.read_text())
        return torch.from_numpy(np.load(npy)), info, float(info["seconds"]), True
    samples, info = chain_reference(target, n, seed, method="pt", **settings)
    folder.mkdir(parents=True, exist_ok=True)
    np.save(npy, samples.detach().float().numpy())
    keep = {k: v for k, v in info.items() if k != "sampler_diagnostics"}
    keep["sampler_diagnostics"] = {
        k: v for k, v in info["sampler_diagnostics"].items() if isinstance(v, float)
    }
    meta.write_text(json.dumps(keep, indent=1, default=float))
    return samples.float(), keep, float(info["seconds"]), False


def per_chain(values: np.ndarray, n_chains: int) -> np.ndarray:
    """[chains, rounds] from the draws' order (round by round, ``n_chains`` per round),
    dropping a last incomplete round."""
    rounds = len(values) // n_chains
    return values[: rounds * n_chains].reshape(rounds, n_chains).T


def mean_with_errors(values: np.ndarray, n_chains: int) -> dict:
    """Mean of draws in the generator's order, its standard error from the ESS (arviz
    ``ess(method="mean")`` of the [chains, rounds] array, capped at the number of draws) and
    from the spread of the chain means (n_chains − 1 degrees of freedom), and the ESS."""
    import arviz as az

    chains = per_chain(values, n_chains)
    ess = float(az.ess(chains, method="mean"))
    sd = float(np.std(values, ddof=1))
    return {
        "value": float(values.mean()),
        "se_ess": sd / math.sqrt(min(len(values), ess)),
        "se_chains": float(chains.mean(1).std(ddof=1) / math.sqrt(n_chains)),
        "ess": ess,
    }


def run_statistics(target, samples, n_chains: int) -> dict:
    """Energy mean and sd, mean pair distance, and their standard errors (ESS, batch)."""
    import arviz as az
    from boltzbench.targets.particle_checks import _se_of_sd, reference_statistics

    stats = reference_statistics(target, samples)
    energy = stats["energy"]
    ess_bulk = float(az.ess(per_chain(energy, n_chains), method="bulk"))
    n_eff = min(len(energy), ess_bulk)
    sd = float(np.std(energy, ddof=1))
    return {
        "energy_mean": mean_with_errors(energy, n_chains),
        "energy_sd": {"value": sd, "se_ess": _se_of_sd(energy, n_eff), "ess": ess_bulk},
        "mean_distance": mean_with_errors(stats["mean_distance"], n_chains),
    }


def energy_w2_arrays(e_samples: np.ndarray, e_reference: np.ndarray) -> float:
    """``energy_w2`` on precomputed energies (both clipped to the reference's range)."""
    from boltzbench.metrics.particles import energy_range, w2_1d

    lo, hi = energy_range(e_reference)
    return w2_1d(np.clip(e_samples, lo, hi), np.clip(e_reference, lo, hi))


def suite_floor(e_floor_run: np.ndarray, e_reference: np.ndarray, n: int, repeats: int) -> float:
    """As ``noise_floors``: mean over the floor run's first disjoint sets of n draws."""
    k = min(repeats, len(e_floor_run) // n)
    return float(
        np.mean([energy_w2_arrays(e_floor_run[r * n : (r + 1) * n], e_reference) for r in range(k)])
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=2, help="independent runs (default 2)")
    parser.add_argument("--n", type=int, default=5000, help="draws per run (default 5000)")
    parser.add_argument(
        "--settings",
        type=json.loads,
        default=None,
        help="JSON overriding LJ13.reference_settings, e.g. '{\"thin\": 800}' (keys "
        "n_chains, warmup, thin at the top level, others go to extra)",
    )
    parser.add_argument("--sample-n", type=int, default=2000, help="a method's sample size")
    parser.add_argument("--boot", type=int, default=200, help="bootstrap repetitions")
    parser.add_argument("--out", type=Path, default=None, help="write the report as JSON")
    args = parser.parse_args()
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    import torch

    torch.set_num_threads(int(os.environ["OMP_NUM_THREADS"]))
    from boltzbench.metrics.particles import energies

    from boltzbench.registry import TARGETS
    from boltzbench.score.floors import FLOOR_SEED_OFFSET

    target = TARGETS.get("lj13")()
    spec = target.metric_spec
    base = target.reference_settings
    settings = {k: v for k, v in base.items() if k != "extra"}
    settings["extra"] = dict(base.get("extra") or {})
    default = not args.settings
    for k, v in (args.settings or {}).items():
        (settings if k in ("n_chains", "warmup", "thin") else settings["extra"])[k] = v
    # the suite's reference and floor seeds first, then reference_seed + 1, 2, ...
    seeds = [spec.reference_seed, spec.reference_seed + FLOOR_SEED_OFFSET]
    seeds = (seeds + [spec.reference_seed + r for r in range(1, args.runs)])[: args.runs]
    print(f"lj13, n = {args.n} per run, settings {json.dumps(settings)}")

    runs = []
    for seed in seeds:
        samples, info, seconds, cached = run_reference(target, args.n, seed, settings, default)
        stats = run_statistics(target, samples, settings["n_chains"])
        e = energies(samples, target)  # full energy (with the centroid term), as the metric
        runs.append(
            {
                "seed": seed,
                "seconds": seconds,
                "stats": stats,
                "e": e,
                "samples": samples,
                "generator_ess_energy": info.get("ess_energy"),
                "r_hat_energy": info.get("r_hat_energy"),
            }
        )
        s = stats
        print(
            f"seed {seed}: {seconds:6.0f} s{' (cached)' if cached else ''}  "
            f"E {s['energy_mean']['value']:.3f} ± {s['energy_mean']['se_ess']:.3f} "
            f"(chains ± {s['energy_mean']['se_chains']:.3f}, ESS {s['energy_mean']['ess']:.0f})  "
            f"sd {s['energy_sd']['value']:.3f} ± {s['energy_sd']['se_ess']:.3f}  "
            f"dist {s['mean_distance']['value']:.4f} ± {s['mean_distance']['se_ess']:.4f} "
            f"(chains ± {s['mean_distance']['se_chains']:.4f}, ESS "
            f"{s['mean_distance']['ess']:.0f})"
        )

    report: dict = {"settings": settings, "n": args.n, "runs": [], "pairs": [], "chi2": {}}
    for r in runs:
        report["runs"].append(
            {k: r[k] for k in ("seed", "seconds", "stats", "generator_ess_energy", "r_hat_energy")}
        )
    keys = ("energy_mean", "energy_sd", "mean_distance")
    print("\npairs: z of the difference (ESS standard errors; chain-means ones for means)")
    for a, b in itertools.combinations(range(len(runs)), 2):
        row = {"runs": [runs[a]["seed"], runs[b]["seed"]]}
        text = []
        for key in keys:
            sa, sb = runs[a]["stats"][key], runs[b]["stats"][key]
            z = (sa["value"] - sb["value"]) / math.hypot(sa["se_ess"], sb["se_ess"])
            row[f"z_{key}"] = z
            text.append(f"{key} {z:+.2f}")
            if "se_chains" in sa:
                zc = (sa["value"] - sb["value"]) / math.hypot(sa["se_chains"], sb["se_chains"])
                row[f"z_chains_{key}"] = zc
                text[-1] += f" ({zc:+.2f})"
        report["pairs"].append(row)
        print(f"  {runs[a]['seed']} vs {runs[b]['seed']}: " + ", ".join(text))
    if len(runs) > 2:
        from scipy.stats import chi2

        print("χ² of the runs about their weighted mean (ESS standard errors):")
        for key in keys:
            v = np.array([r["stats"][key]["value"] for r in runs])
            se = np.array([r["stats"][key]["se_ess"] for r in runs])
            w = 1 / se**2
            m = float((w * v).sum() / w.sum())
            c2 = float((((v - m) / se) ** 2).sum())
            p = float(chi2.sf(c2, len(runs) - 1))
            ratio = float(np.std(v, ddof=1) / np.sqrt(np.mean(se**2)))
            report["chi2"][key] = {
                "mean": m,
                "chi2": c2,
                "dof": len(runs) - 1,
                "p": p,
                "sd_of_runs_over_se": ratio,
            }
            print(
                f"  {key}: mean {m:.4f}, χ² {c2:.2f} on {len(runs) - 1} dof (p = {p:.3f}),"
                f" spread of runs / typical SE = {ratio:.2f}"
            )

    # floors
    rng = np.random.default_rng(0)
    m = args.sample_n
    suite = {}
    for a, b in itertools.permutations(range(len(runs)), 2):
        suite[(a, b)] = suite_floor(runs[b]["e"], runs[a]["e"], m, spec.floor_repeats)
    pool = np.concatenate([r["e"] for r in runs])
    ideal = float(
        np.mean(
            [
                energy_w2_arrays(rng.choice(pool, m), rng.choice(pool, args.n))
                for _ in range(args.boot)
            ]
        )
    )
    against = []
    for i, r in enumerate(runs):
        others = np.concatenate([q["e"] for j, q in enumerate(runs) if j != i])
        against.append(
            float(
                np.mean([energy_w2_arrays(rng.choice(others, m), r["e"]) for _ in range(args.boot)])
            )
        )
    print(f"\nenergy_w2 floors at n = {m} (reference n = {args.n}):")
    for (a, b), v in suite.items():
        print(f"  suite floor, reference {runs[a]['seed']}, floor run {runs[b]['seed']}: {v:.3f}")
    print(
        f"  independent-draw floor (iid {m} vs iid {args.n} from the pool of "
        f"{len(pool)}, {args.boot} bootstraps): {ideal:.3f}"
    )
    for r, v in zip(runs, against, strict=True):
        print(f"  iid {m} from the other runs against run {r['seed']}: {v:.3f}")
    report["floors"] = {
        "suite": [
            {"reference": runs[a]["seed"], "floor_run": runs[b]["seed"], "energy_w2": v}
            for (a, b), v in suite.items()
        ],
        "independent_draws": ideal,
        "iid_against_run": {str(r["seed"]): v for r, v in zip(runs, against, strict=True)},
        "sample_n": m,
        "bootstraps": args.boot,
    }

    # DEM
    from boltzbench.targets.particle_checks import reference_statistics

    allx = torch.cat([r["samples"] for r in runs])
    st = reference_statistics(target, allx)
    e_int, dist = st["energy"], st["mean_distance"]
    se = {
        k: math.sqrt(np.mean([r["stats"][k]["se_ess"] ** 2 for r in runs]) / len(runs))
        for k in keys
    }
    pooled = {
        "energy_mean": float(e_int.mean()),
        "energy_sd": float(e_int.std(ddof=1)),
        "mean_distance": float(dist.mean()),
    }
    print("\npooled runs against DEM's test set (its n = 10 000 taken as independent):")
    z_dem = {}
    for key, vals in (("energy_mean", e_int), ("energy_sd", e_int), ("mean_distance", dist)):
        if key == "energy_sd":
            from boltzbench.targets.particle_checks import _se_of_sd

            se_pub = _se_of_sd(vals, PUBLISHED["n"])
        else:
            se_pub = float(np.std(vals, ddof=1) / math.sqrt(PUBLISHED["n"]))
        z = (PUBLISHED[key] - pooled[key]) / math.hypot(se[key], se_pub)
        z_dem[key] = z
        print(
            f"  {key}: ours {pooled[key]:.4f} ± {se[key]:.4f}, DEM {PUBLISHED[key]} "
            f"(± {se_pub:.4f}), z = {z:+.2f}"
        )
    # reweight to the inverse temperature that gives DEM's mean energy
    from scipy.optimize import brentq

    def reweighted(dbeta: float) -> tuple[float, float, float]:
        logw = -dbeta * e_int
        w = np.exp(logw - logw.max())
        w /= w.sum()
        mean = float((w * e_int).sum())
        return mean, float(np.sqrt((w * (e_int - mean) ** 2).sum())), float((w * dist).sum())

    dbeta = brentq(lambda b: reweighted(b)[0] - PUBLISHED["energy_mean"], -0.2, 0.2)
    mean_b, sd_b, dist_b = reweighted(dbeta)
    print(
        f"  reweighted to β = {1 + dbeta:.4f} (T = {1 / (1 + dbeta):.4f}): energy mean "
        f"{mean_b:.3f}, sd {sd_b:.3f}, mean distance {dist_b:.4f} (DEM 7.02, 1.639)"
    )
    report["pooled"] = pooled
    report["pooled_se"] = se
    report["z_dem_minus_ours"] = z_dem
    report["dem_beta_fit"] = {"beta": 1 + dbeta, "energy_sd": sd_b, "mean_distance": dist_b}
    if args.out:
        args.out.write_text(json.dumps(report, indent=1))


if __name__ == "__main__":
    main()
