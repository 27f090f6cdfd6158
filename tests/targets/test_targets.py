import math

import numpy as np
import pytest
import torch
from boltzbench.metrics import median_bandwidth
from boltzbench.targets.double_well import DoubleWell
from scipy import integrate

from boltzbench.registry import TARGETS
from boltzbench.testing import check_score_is_minus_energy_gradient

NAMES = ["gmm4", "double_well", "banana"]


@pytest.fixture(params=NAMES)
def target(request):
    return TARGETS.get(request.param)()


def test_exact_sampler_matches_analytic_moments(target):
    n = 200_000
    x = target.sample(n, torch.Generator().manual_seed(7)).to(torch.float64)
    assert x.shape == (n, target.dim)
    cov = target.cov
    se_mean = torch.sqrt(torch.diag(cov) / n)
    assert torch.all((x.mean(0) - target.mean).abs() < 5 * se_mean)
    emp = torch.cov(x.T)
    # standard error of a covariance entry ≲ sqrt((Σii Σjj + Σij²) · kurtosis / n); allow 6σ·3
    tol = 18 * torch.sqrt((torch.outer(torch.diag(cov), torch.diag(cov)) + cov**2) / n)
    assert torch.all((emp - cov).abs() < tol)


def test_score_is_minus_energy_gradient(target):
    check_score_is_minus_energy_gradient(
        target, target.sample(64, torch.Generator().manual_seed(1))
    )


def test_log_z_by_quadrature(target):
    (x0, x1), (y0, y1) = {
        "gmm4": ((-4, 4), (-4, 4)),
        "double_well": ((-4, 4), (-9, 9)),
        "banana": ((-80, 80), (-30, 220)),
    }[target.name]

    def density(y, x):
        pt = torch.tensor([[x, y]], dtype=torch.float64)
        return math.exp(-float(target.energy(pt)))

    if target.name == "banana":  # integrate x2 analytically-shifted for accuracy
        shift = lambda x: 0.03 * (x * x - 100)
        z, _ = integrate.dblquad(
            lambda y, x: density(y + shift(x), x), x0, x1, -12, 12, epsrel=1e-8
        )
    else:
        z, _ = integrate.dblquad(density, x0, x1, y0, y1, epsrel=1e-8)
    assert math.log(z) == pytest.approx(target.log_Z, abs=1e-5)


def test_double_well_published_constants():
    t = DoubleWell()
    assert t.log_Z == pytest.approx(10.29348, abs=1e-5)
    assert t.right_well_mass == pytest.approx(0.8443, abs=1e-4)
    x = t.sample(100_000, torch.Generator().manual_seed(3))
    frac = float((x[:, 0] > 0).double().mean())
    assert frac == pytest.approx(0.8443, abs=4 * math.sqrt(0.8443 * 0.1557 / 100_000))


def test_double_well_rejection_bound_holds():
    from boltzbench.targets import double_well as dw

    t = DoubleWell()
    grid = np.linspace(-8, 8, 400_001)
    log_ratio = -dw._e1(grid) - np.log(dw._proposal_pdf(grid))
    assert log_ratio.max() < t._log_bound


def test_frozen_bandwidth_matches_reference(target):
    ref = target.reference()
    assert ref.samples.shape == (target.metric_spec.n_reference, target.dim)
    assert median_bandwidth(ref.samples) == pytest.approx(
        target.metric_spec.mmd_bandwidth, rel=1e-3
    )


def test_reference_is_cached_and_checked(target, tmp_path, monkeypatch):
    monkeypatch.setenv("BOLTZBENCH_CACHE", str(tmp_path))
    first = target.reference()
    assert first.provenance["seed"] == target.metric_spec.reference_seed
    files = list((tmp_path / "references").glob("*.npy"))
    assert len(files) == 1
    # corrupt the cached array: the hash check must catch it and regenerate
    arr = np.load(files[0])
    arr[0, 0] += 1.0
    np.save(files[0], arr)
    again = target.reference()
    assert torch.equal(again.samples, first.samples)


def test_samplers_are_seeded(target):
    a = target.sample(100, torch.Generator().manual_seed(5))
    b = target.sample(100, torch.Generator().manual_seed(5))
    c = target.sample(100, torch.Generator().manual_seed(6))
    assert torch.equal(a, b) and not torch.equal(a, c)
