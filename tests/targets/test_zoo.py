"""The zoo targets beyond the three 2-D ones: gmm40, funnel, many_well."""

import math

import numpy as np
import pytest
import torch
from boltzbench.metrics import median_bandwidth
from boltzbench.targets.double_well import DoubleWell
from scipy import stats

from boltzbench.registry import TARGETS
from boltzbench.testing import check_score_is_minus_energy_gradient

ZOO = ["gmm40", "funnel", "many_well"]


@pytest.fixture(params=ZOO)
def target(request):
    return TARGETS.get(request.param)()


def test_score_is_minus_energy_gradient(target):
    check_score_is_minus_energy_gradient(
        target, target.sample(64, torch.Generator().manual_seed(1))
    )


def test_shapes_dtypes_and_seeding(target):
    a = target.sample(10, torch.Generator().manual_seed(4))
    b = target.sample(10, torch.Generator().manual_seed(4))
    assert a.shape == (10, target.dim) and a.dtype == torch.float32 and torch.equal(a, b)
    assert target.energy(a).shape == (10,) and target.score(a).shape == (10, target.dim)


def test_frozen_bandwidth_matches_reference(target):
    ref = target.reference()
    assert ref.samples.shape == (target.metric_spec.n_reference, target.dim)
    assert median_bandwidth(ref.samples) == pytest.approx(
        target.metric_spec.mmd_bandwidth, rel=1e-3
    )


@pytest.mark.parametrize("name", ["gmm40", "many_well"])
def test_exact_sampler_matches_analytic_moments(name):
    target = TARGETS.get(name)()
    n = 200_000
    x = target.sample(n, torch.Generator().manual_seed(7)).to(torch.float64)
    cov = target.cov
    assert torch.all((x.mean(0) - target.mean).abs() < 5 * torch.sqrt(torch.diag(cov) / n))
    tol = 18 * torch.sqrt((torch.outer(torch.diag(cov), torch.diag(cov)) + cov**2) / n)
    assert torch.all((torch.cov(x.T) - cov).abs() < tol)


def test_gmm40_means_are_the_published_ones():
    """The first rows of the FAB/DEM means (torch seed 0), as listed in the research notes."""
    t = TARGETS.get("gmm40")()
    published = torch.tensor(
        [[-0.2995, 21.4577], [-32.9218, -29.4376], [-15.4062, 10.7263], [-0.7925, 31.7156]],
        dtype=torch.float64,
    )
    assert torch.allclose(t.means[:4], published, atol=1e-4)
    assert torch.allclose(
        t.means[-1], torch.tensor([3.6797, -25.0242], dtype=torch.float64), atol=1e-4
    )
    assert t.std == pytest.approx(1.31326, abs=1e-5)


def test_gmm40_energy_against_scipy_mixture():
    t = TARGETS.get("gmm40")()
    x = torch.tensor([[0.0, 0.0], [-0.3, 21.0], [40.0, -40.0]], dtype=torch.float64)
    comps = np.stack(
        [
            stats.multivariate_normal(m, t.std**2 * np.eye(2)).logpdf(x.numpy())
            for m in t.means.numpy()
        ]
    )
    expected = -(np.logaddexp.reduce(comps, axis=0) - math.log(40))
    assert np.allclose(t.energy(x).numpy(), expected, rtol=1e-10)


def test_funnel_energy_is_the_normalised_log_density():
    t = TARGETS.get("funnel")()
    x = t.sample(20, torch.Generator().manual_seed(2)).to(torch.float64)
    x0, rest = x[:, 0].numpy(), x[:, 1:].numpy()
    logp = stats.norm(0, 3).logpdf(x0) + stats.norm(0, np.exp(x0 / 2)[:, None]).logpdf(rest).sum(1)
    assert np.allclose(-t.energy(x).numpy(), logp, rtol=1e-10)


def test_funnel_sampler_has_the_right_scales():
    """x₀ ~ N(0, 9) and x_i e^{−x₀/2} ~ N(0, 1) (the raw x_i variance is too heavy-tailed to
    test directly); the analytic covariance is diag(9, e^{4.5}, …)."""
    t = TARGETS.get("funnel")()
    n = 200_000
    x = t.sample(n, torch.Generator().manual_seed(5)).to(torch.float64)
    assert abs(float(x[:, 0].mean())) < 5 * 3 / math.sqrt(n)
    assert float(x[:, 0].var()) == pytest.approx(9.0, abs=5 * 9 * math.sqrt(2 / n))
    z = x[:, 1:] * torch.exp(-0.5 * x[:, :1])
    assert torch.allclose(z.var(0), torch.ones(9, dtype=torch.float64), atol=5 * math.sqrt(2 / n))
    assert torch.allclose(
        torch.diag(t.cov)[1:], torch.full((9,), math.exp(4.5), dtype=torch.float64)
    )


def test_many_well_is_sixteen_double_wells():
    t = TARGETS.get("many_well")()
    dw = DoubleWell()
    x = t.sample(30, torch.Generator().manual_seed(6))
    pairs = x.reshape(30, 16, 2)
    expected = torch.stack([dw.energy(pairs[:, k]) for k in range(16)], 1).sum(1)
    assert torch.allclose(t.energy(x), expected)
    assert t.log_Z == pytest.approx(16 * 10.29348, abs=2e-4)
    assert t.log_Z == pytest.approx(164.6957, abs=1e-3)
