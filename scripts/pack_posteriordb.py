"""Pack six posteriordb posteriors into the compact files that ship with the pdb_* targets.

    python scripts/pack_posteriordb.py [--source ../shared/posteriordb]

For each posterior it reads posteriordb's data (``data/*.json.zip``), reference draws
(``draws/*.json.zip``, one list entry per chain) and diagnostics (``info/*.info.json``),
maps the draws to Stan's unconstrained space (the coordinates of
:mod:`boltzbench.targets.posteriordb`) and writes ``targets/data/posteriordb/<posterior>.npz``:

- the data arrays the model needs (float64, as published);
- ``draws`` [chains, draws, d] float32, the mapped reference draws in chain order;
- ``names`` [d], the unconstrained coordinates' names;
- ``info``, a JSON string: the posterior, posteriordb's sampler settings, its diagnostics
  summary and named checks, the source commit and the largest round-trip error of the
  mapping (constrained → unconstrained → constrained, float64).

It also copies posteriordb's ``LICENCE.md`` (BSD-3) and ``SOURCE_COMMIT``. Rerunning it on
the same source rewrites the same arrays.
"""

from __future__ import annotations

import argparse
import json
import shutil
import zipfile
from collections.abc import Callable
from pathlib import Path

import numpy as np
from scipy import linalg, special

REPO = Path(__file__).resolve().parents[1]
OUT = REPO / "targets" / "data" / "posteriordb"
GP_JITTER = 1e-10  # the model's diagonal jitter (gp_pois_regr.stan)


def _read_zip_json(path: Path):
    with zipfile.ZipFile(path) as z:
        return json.loads(z.read(z.namelist()[0]))


def _draws(source: Path, posterior: str) -> tuple[dict[str, np.ndarray], list[str]]:
    """Constrained draws: name → [chains, draws] float64, in posteriordb's column order."""
    chains = _read_zip_json(source / "draws" / f"{posterior}.json.zip")
    names = list(chains[0])
    return {k: np.array([c[k] for c in chains], dtype=np.float64) for k in names}, names


def _stack(draws: dict[str, np.ndarray], names: list[str]) -> np.ndarray:
    return np.stack([draws[k] for k in names], axis=-1)


def _vec(name: str, n: int) -> list[str]:
    return [f"{name}[{i + 1}]" for i in range(n)]


# each packer: (source, posterior) -> (data arrays, unconstrained draws [c, m, d], names,
# round-trip error)
def _eight_schools(source: Path, posterior: str):
    data = _read_zip_json(source / "data" / "eight_schools.json.zip")
    arrays = {"y": np.array(data["y"], float), "sigma": np.array(data["sigma"], float)}
    d, _ = _draws(source, posterior)
    theta = _stack(d, _vec("theta", 8))
    mu, tau = d["mu"][..., None], d["tau"][..., None]
    theta_trans = (theta - mu) / tau  # the draws hold theta = mu + tau * theta_trans
    u = np.concatenate([theta_trans, mu, np.log(tau)], axis=-1)
    back = u[..., :8] * np.exp(u[..., 9:10]) + u[..., 8:9]
    names = _vec("theta_trans", 8) + ["mu", "log_tau"]
    return arrays, u, names, float(np.abs(back - theta).max())


def _diamonds(source: Path, posterior: str):
    data = _read_zip_json(source / "data" / "diamonds.json.zip")
    x = np.array(data["X"], dtype=np.float64)
    assert np.all(x[:, 0] == 1.0) and data["prior_only"] == 0
    arrays = {"X": x[:, 1:], "Y": np.array(data["Y"], dtype=np.float64)}
    d, _ = _draws(source, posterior)
    b = _stack(d, _vec("b", 24))
    u = np.concatenate([b, d["Intercept"][..., None], np.log(d["sigma"])[..., None]], -1)
    back = np.exp(u[..., -1])
    names = _vec("b", 24) + ["Intercept", "log_sigma"]
    return arrays, u, names, float(np.abs(back - d["sigma"]).max())


def _ark(source: Path, posterior: str):
    data = _read_zip_json(source / "data" / "arK.json.zip")
    assert data["K"] == 5
    arrays = {"y": np.array(data["y"], dtype=np.float64)}
    d, _ = _draws(source, posterior)
    u = np.concatenate(
        [d["alpha"][..., None], _stack(d, _vec("beta", 5)), np.log(d["sigma"])[..., None]], -1
    )
    back = np.exp(u[..., -1])
    names = ["alpha"] + _vec("beta", 5) + ["log_sigma"]
    return arrays, u, names, float(np.abs(back - d["sigma"]).max())


def _blr(source: Path, posterior: str):
    data = _read_zip_json(source / "data" / "sblrc.json.zip")
    arrays = {"X": np.array(data["X"], dtype=np.float64), "y": np.array(data["y"], float)}
    d, _ = _draws(source, posterior)
    u = np.concatenate([_stack(d, _vec("beta", 5)), np.log(d["sigma"])[..., None]], -1)
    back = np.exp(u[..., -1])
    names = _vec("beta", 5) + ["log_sigma"]
    return arrays, u, names, float(np.abs(back - d["sigma"]).max())


def _gp_chol(x: np.ndarray, rho: float, alpha: float) -> np.ndarray:
    k = alpha**2 * np.exp(-0.5 * (x[:, None] - x[None, :]) ** 2 / rho**2)
    return np.linalg.cholesky(k + GP_JITTER * np.eye(len(x)))


def _gp_pois_regr(source: Path, posterior: str):
    data = _read_zip_json(source / "data" / "gp_pois_regr.json.zip")
    x = np.array(data["x"], dtype=np.float64)
    arrays = {"x": x, "k": np.array(data["k"], dtype=np.float64)}
    d, _ = _draws(source, posterior)
    f = _stack(d, _vec("f", len(x)))
    f_tilde = np.empty_like(f)
    err = 0.0
    for c, m in np.ndindex(f.shape[:2]):
        chol = _gp_chol(x, d["rho"][c, m], d["alpha"][c, m])
        # the draws hold f = L(rho, alpha) f_tilde: invert it
        f_tilde[c, m] = linalg.solve_triangular(chol, f[c, m], lower=True)
        err = max(err, float(np.abs(chol @ f_tilde[c, m] - f[c, m]).max()))
    u = np.concatenate([np.log(d["rho"])[..., None], np.log(d["alpha"])[..., None], f_tilde], -1)
    names = ["log_rho", "log_alpha"] + _vec("f_tilde", len(x))
    return arrays, u, names, err


def _gauss_mix(source: Path, posterior: str):
    data = _read_zip_json(source / "data" / "low_dim_gauss_mix.json.zip")
    arrays = {"y": np.array(data["y"], dtype=np.float64)}
    d, _ = _draws(source, posterior)
    mu1, mu2 = d["mu[1]"], d["mu[2]"]
    assert np.all(mu2 > mu1)
    u = np.stack(
        [
            mu1,
            np.log(mu2 - mu1),  # Stan's ordered transform
            np.log(d["sigma[1]"]),
            np.log(d["sigma[2]"]),
            special.logit(d["theta"]),
        ],
        axis=-1,
    )
    back = np.stack([u[..., 0] + np.exp(u[..., 1]), special.expit(u[..., 4])], -1)
    err = float(np.abs(back - np.stack([mu2, d["theta"]], -1)).max())
    names = ["mu[1]", "log(mu[2]-mu[1])", "log_sigma[1]", "log_sigma[2]", "logit_theta"]
    return arrays, u, names, err


PACKERS: dict[str, Callable] = {
    "eight_schools-eight_schools_noncentered": _eight_schools,
    "diamonds-diamonds": _diamonds,
    "arK-arK": _ark,
    "sblrc-blr": _blr,
    "gp_pois_regr-gp_pois_regr": _gp_pois_regr,
    "low_dim_gauss_mix-low_dim_gauss_mix": _gauss_mix,
}


def pack(source: Path, out: Path = OUT) -> None:
    out.mkdir(parents=True, exist_ok=True)
    commit = (source / "SOURCE_COMMIT").read_text().strip()
    for posterior, packer in PACKERS.items():
        arrays, u, names, err = packer(source, posterior)
        info_src = json.loads((source / "info" / f"{posterior}.info.json").read_text())
        diag = info_src["diagnostics"]
        info = {
            "posterior": posterior,
            "source": "posteriordb (https://github.com/stan-dev/posteriordb)",
            "source_commit": commit,
            "inference": info_src["inference"],
            "nchains": diag["nchains"],
            "ndraws": diag["ndraws"],
            "r_hat_max": max(diag["r_hat"]),
            "ess_bulk_min": min(diag["effective_sample_size_bulk"]),
            "ess_tail_min": min(diag["effective_sample_size_tail"]),
            "divergent_transitions": sum(diag["divergent_transitions"]),
            "posteriordb_checks": info_src["checks_made"],
            "mapping_round_trip_error": err,
        }
        assert np.isfinite(u).all(), posterior
        np.savez_compressed(
            out / f"{posterior}.npz",
            draws=u.astype(np.float32),
            names=np.array(names),
            info=np.array(json.dumps(info, sort_keys=True)),
            **arrays,
        )
        size = (out / f"{posterior}.npz").stat().st_size
        print(f"{posterior}: draws {u.shape}, round trip {err:.2g}, {size / 1024:.0f} KiB")
    shutil.copyfile(source / "LICENCE.md", out / "LICENCE.md")
    shutil.copyfile(source / "SOURCE_COMMIT", out / "SOURCE_COMMIT")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--source",
        type=Path,
        default=REPO.parent / "shared" / "posteriordb",
        help="a posteriordb extract with data/, draws/, info/, LICENCE.md, SOURCE_COMMIT",
    )
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args()
    pack(args.source, args.out)


if __name__ == "__main__":
    main()
