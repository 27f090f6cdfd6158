"""The posteriordb targets: each log density against an independent numpy/scipy version of
the Stan model, posteriordb's draws against the density (Stein identities), the shipped
reference and its held-out half, and the cross-check's comparison rule."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from boltzbench.metrics import median_bandwidth
from boltzbench.targets.posteriordb_base import DATA, REFERENCE_CHAINS
from boltzbench.targets.posteriordb_check import compare_draws
from scipy import linalg, special, stats

from boltzbench.guard import SealedError, sealed
from boltzbench.registry import TARGETS
from boltzbench.run.suites import POSTERIORDB_TARGETS
from boltzbench.testing import check_score_is_minus_energy_gradient, check_target

NAMES = list(POSTERIORDB_TARGETS)
DIMS = {
    "pdb_eight_schools": 10,
    "pdb_diamonds": 26,
    "pdb_ark": 7,
    "pdb_blr": 6,
    "pdb_gp_pois_regr": 13,
    "pdb_gauss_mix": 5,
}
LOG2 = np.log(2.0)


# independent log densities: constrained parameters from u by numpy, densities by scipy,
# one point at a time, following the Stan programs line by line --------------------------
def _eight_schools(u, d):
    theta_trans, mu, tau = u[:8], u[8], np.exp(u[9])
    theta = theta_trans * tau + mu
    return (
        stats.norm.logpdf(theta_trans).sum()
        + stats.norm.logpdf(d["y"], theta, d["sigma"]).sum()
        + stats.norm.logpdf(mu, 0, 5)
        + stats.halfcauchy.logpdf(tau, scale=5)
        + u[9]
    )


def _diamonds(u, d):
    x, y = d["X"], d["Y"]
    xc = x - x.mean(0)
    b, intercept, sigma = u[:24], u[24], np.exp(u[25])
    return (
        stats.norm.logpdf(b, 0, 1).sum()
        + stats.t.logpdf(intercept, 3, 8, 10)
        + stats.t.logpdf(sigma, 3, 0, 10)
        - stats.t.logsf(0, 3, 0, 10)
        + stats.norm.logpdf(y, intercept + xc @ b, sigma).sum()
        + u[25]
    )


def _ark(u, d):
    y, k = d["y"], 5
    alpha, beta, sigma = u[0], u[1:6], np.exp(u[6])
    lp = stats.norm.logpdf(alpha, 0, 10) + stats.norm.logpdf(beta, 0, 10).sum()
    lp += stats.halfcauchy.logpdf(sigma, scale=2.5)
    for t in range(k, len(y)):
        mu = alpha + sum(beta[j] * y[t - j - 1] for j in range(k))
        lp += stats.norm.logpdf(y[t], mu, sigma)
    return lp + u[6]


def _blr(u, d):
    beta, sigma = u[:5], np.exp(u[5])
    return (
        stats.norm.logpdf(beta, 0, 10).sum()
        + stats.halfnorm.logpdf(sigma, scale=10)
        + stats.norm.logpdf(d["y"], d["X"] @ beta, sigma).sum()
        + u[5]
    )


def _gp_pois_regr(u, d):
    x, k = d["x"], d["k"]
    rho, alpha, f_tilde = np.exp(u[0]), np.exp(u[1]), u[2:]
    cov = alpha**2 * np.exp(-((x[:, None] - x[None, :]) ** 2) / (2 * rho**2))
    f = linalg.cholesky(cov + 1e-10 * np.eye(len(x)), lower=True) @ f_tilde
    return (
        stats.gamma.logpdf(rho, 25, scale=1 / 4)
        + stats.halfnorm.logpdf(alpha, scale=2)
        + stats.norm.logpdf(f_tilde).sum()
        + stats.poisson.logpmf(k, np.exp(f)).sum()
        + u[0]
        + u[1]
    )


def _gauss_mix(u, d):
    mu = np.array([u[0], u[0] + np.exp(u[1])])
    sigma = np.exp(u[2:4])
    theta = special.expit(u[4])
    mix = np.logaddexp(
        np.log(theta) + stats.norm.logpdf(d["y"], mu[0], sigma[0]),
        np.log1p(-theta) + stats.norm.logpdf(d["y"], mu[1], sigma[1]),
    )
    return (
        stats.halfnorm.logpdf(sigma, scale=2).sum()
        + stats.norm.logpdf(mu, 0, 2).sum()
        + stats.beta.logpdf(theta, 5, 5)
        + mix.sum()
        + u[1]  # ordered
        + u[2]
        + u[3]
        + np.log(theta * (1 - theta))  # logit
    )


INDEPENDENT = {
    "pdb_eight_schools": _eight_schools,
    "pdb_diamonds": _diamonds,
    "pdb_ark": _ark,
    "pdb_blr": _blr,
    "pdb_gp_pois_regr": _gp_pois_regr,
    "pdb_gauss_mix": _gauss_mix,
}


@pytest.fixture(scope="module", params=NAMES)
def target(request):
    return TARGETS.get(request.param)()


def _data(target) -> dict[str, np.ndarray]:
    with np.load(DATA / f"{target.posterior}.npz") as z:
        return {k: z[k] for k in z.files if k not in ("draws", "names", "info")}


def test_log_density_matches_an_independent_scipy_model(target):
    """Equal up to one constant per model at posterior draws, perturbed draws and points of
    the broad start N(0, init_std² I)."""
    g = np.random.default_rng(0)
    draws = target.draws().reshape(-1, target.dim).double().numpy()
    near = draws[g.choice(len(draws), 8, replace=False)]
    jitter = near + 2 * draws.std(0) * g.standard_normal(near.shape)
    broad = target.init_std * g.standard_normal((8, target.dim))
    u = np.concatenate([near, jitter, broad])
    ours = -target.energy(torch.from_numpy(u)).numpy()
    data = _data(target)
    theirs = np.array([INDEPENDENT[target.name](row, data) for row in u])
    diff = ours - theirs
    assert np.all(np.isfinite(ours))
    tol = 1e-8 * np.maximum(1.0, np.abs(theirs))
    assert np.all(np.abs(diff - diff[0]) < tol), diff - diff[0]


def test_shapes_dtypes_score_and_conformance(target):
    assert target.dim == DIMS[target.name] == len(target.coordinate_names)
    x = target.draws()[0, :16]
    e, s = target.energy(x), target.score(x)
    assert e.shape == (16,) and e.dtype == torch.float32
    assert s.shape == (16, target.dim) and s.dtype == torch.float32
    check_score_is_minus_energy_gradient(target, x)
    check_target(target, n=256)
    # Hessian-vector products (used by curvature-aware methods) are finite at the broad start
    g = torch.Generator().manual_seed(2)
    x0 = target.init_std * torch.randn(256, target.dim, generator=g)
    assert torch.isfinite(target.hvp(x0, torch.randn(256, target.dim, generator=g))).all()


def test_posteriordb_draws_satisfy_stein_identities_of_the_density(target):
    """Under p, E[∇log p] = 0 and E[(u_i − ū_i) ∂_i log p] = −1 for every coordinate: a wrong
    mapping of the draws, transform or log-Jacobian shows as a many-sigma violation (the
    10 000 draws are nearly independent: posteriordb's lag-1 autocorrelations < 0.05)."""
    u = target.draws().reshape(-1, target.dim).double()
    s = target.score(u)
    n = u.shape[0]
    z_mean = s.mean(0) / (s.std(0) / n**0.5)
    prod = (u - u.mean(0)) * s
    z_prod = (prod.mean(0) + 1) / (prod.std(0) / n**0.5)
    assert z_mean.abs().max() < 4.5 and z_prod.abs().max() < 4.5


def test_reference_is_posteriordb_half_with_provenance(target):
    ref = target.reference()
    prov = ref.provenance
    n = target.metric_spec.n_reference
    assert ref.samples.shape == (n, target.dim) and ref.samples.dtype == torch.float32
    assert prov["kind"] == "posteriordb" and prov["n"] == n
    assert all(prov["checks"].values()) and prov["r_hat_max"] < 1.01
    assert prov["halves"] == {"reference": "chains 1-5", "floor": "chains 6-10"}
    assert prov["source_commit"] == (DATA / "SOURCE_COMMIT").read_text().strip()
    assert median_bandwidth(ref.samples) == pytest.approx(
        target.metric_spec.mmd_bandwidth, rel=1e-3
    )
    # round by round: the first rows come from the first REFERENCE_CHAINS chains in turn
    draws = target.draws()
    assert torch.equal(ref.samples[:REFERENCE_CHAINS], draws[:REFERENCE_CHAINS, 0])


def test_floor_draws_are_the_other_half(target):
    ref = target.reference().samples
    held_out = target.floor_draws()
    assert held_out.shape == (5000, target.dim)
    assert torch.equal(held_out[:5], target.draws()[REFERENCE_CHAINS:, 0])
    ref_rows = {tuple(r) for r in ref.numpy().tolist()}
    assert not any(tuple(r) in ref_rows for r in held_out.numpy().tolist())


def test_fingerprint_is_declared_and_stable(target):
    from boltzbench.fingerprint import fingerprint

    before = fingerprint(target)
    target.energy(torch.zeros(2, target.dim))  # fills lazily cached data
    assert fingerprint(target) == before and len(target.content_hash) == 64


def test_reference_and_draws_are_shut_while_a_method_runs():
    target = TARGETS.get("pdb_blr")()
    with sealed():
        for call in (target.reference, target.draws, target.floor_draws):
            with pytest.raises(SealedError):
                call()


def test_gp_energy_is_inf_where_stan_rejects_and_finite_scores_elsewhere():
    target = TARGETS.get("pdb_gp_pois_regr")()
    u = torch.zeros(3, 13, dtype=torch.float64)
    u[:, 0] = 2.0
    u[1, :2] = torch.tensor([4.0, 9.0])  # ρ ≈ 55, α ≈ 8000: K + 1e-10 I not PD in float64
    e = target.energy(u)
    assert torch.isfinite(e[[0, 2]]).all() and e[1] == torch.inf
    s = target.score(u)
    assert torch.isfinite(s[[0, 2]]).all()


def test_cross_check_rule_passes_two_halves_and_catches_a_shift():
    target = TARGETS.get("pdb_ark")()
    draws = target.draws().double().numpy()
    same = compare_draws(draws[:5], draws[5:])
    assert same["means_within_4_mcse"] and same["sds_within_10_percent"]
    shifted = draws[:5].copy()
    shifted[..., 1] += 0.1 * draws[..., 1].std()
    wider = draws[:5].copy()
    wider[..., 2] *= 1.2
    assert not compare_draws(shifted, draws[5:])["means_within_4_mcse"]
    assert not compare_draws(wider, draws[5:])["sds_within_10_percent"]


def test_shipped_files_carry_the_licence():
    assert "BSD 3-Clause" in (DATA / "LICENCE.md").read_text()
    assert len((DATA / "SOURCE_COMMIT").read_text().split()[0]) == 40
    assert sorted(p.stem for p in DATA.glob("*.npz")) == sorted(
        TARGETS.get(n).posterior for n in NAMES
    )


SOURCE = Path(__file__).resolve().parents[2].parent / "shared" / "posteriordb"


@pytest.mark.skipif(not SOURCE.is_dir(), reason="the posteriordb extract is not here")
def test_pack_script_reproduces_the_shipped_files(tmp_path):
    import importlib.util

    path = Path(__file__).resolve().parents[2] / "scripts" / "pack_posteriordb.py"
    spec = importlib.util.spec_from_file_location("pack_posteriordb", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    module.pack(SOURCE, tmp_path)
    for shipped in DATA.glob("*.npz"):
        with np.load(shipped) as a, np.load(tmp_path / shipped.name) as b:
            assert a.files == b.files
            for k in a.files:
                assert np.array_equal(a[k], b[k]), (shipped.name, k)
