import math

import numpy as np
import ot
import pytest
import torch
from boltzbench.metrics import (
    cov_error_value,
    mean_error_value,
    mmd2_unbiased,
    random_directions,
    sliced_w2_value,
    w2_exact,
)
from scipy.optimize import linear_sum_assignment

from boltzbench.registry import METRICS


def gauss(n, d, mean=0.0, std=1.0, seed=0):
    g = torch.Generator().manual_seed(seed)
    return mean + std * torch.randn(n, d, generator=g, dtype=torch.float64)


def mmd2_gaussians(mu1, s1, mu2, s2, ell, d):
    """Closed form MMD² between N(mu1, s1² I) and N(mu2, s2² I) with an RBF kernel."""

    def ek(ma, sa, mb, sb):
        v = ell**2 + sa**2 + sb**2
        return (ell**2 / v) ** (d / 2) * math.exp(-np.sum((ma - mb) ** 2) / (2 * v))

    return ek(mu1, s1, mu1, s1) + ek(mu2, s2, mu2, s2) - 2 * ek(mu1, s1, mu2, s2)


def test_all_metrics_registered_with_versions():
    for name in ["mean_error", "cov_error", "mmd", "w2", "sliced_w2"]:
        fn = METRICS.get(name)
        assert isinstance(fn.version, str) and fn.version


def test_mmd_matches_gaussian_closed_form():
    d, ell = 2, 1.5
    mu2 = np.array([0.5, -0.3])
    exact = mmd2_gaussians(np.zeros(d), 1.0, mu2, 0.8, ell, d)
    estimates = [
        mmd2_unbiased(
            gauss(3000, d, seed=s), gauss(3000, d, torch.tensor(mu2), 0.8, seed=100 + s), ell
        )
        for s in range(5)
    ]
    assert np.mean(estimates) == pytest.approx(exact, rel=0.05)


def test_mmd_is_unbiased_under_the_null():
    # E[MMD²_u] = 0 when both sides come from the same law; the biased V-statistic is > 0
    values = [
        mmd2_unbiased(gauss(200, 2, seed=s), gauss(200, 2, seed=500 + s), 1.0) for s in range(40)
    ]
    se = np.std(values) / math.sqrt(len(values))
    assert abs(np.mean(values)) < 4 * se


def test_mmd_matches_explicit_double_loop():
    x, y = gauss(40, 3, seed=1), gauss(30, 3, 0.4, seed=2)
    ell = 0.9
    k = lambda a, b: math.exp(-float(((a - b) ** 2).sum()) / (2 * ell**2))
    n, m = len(x), len(y)
    kxx = sum(k(x[i], x[j]) for i in range(n) for j in range(n) if i != j) / (n * (n - 1))
    kyy = sum(k(y[i], y[j]) for i in range(m) for j in range(m) if i != j) / (m * (m - 1))
    kxy = sum(k(x[i], y[j]) for i in range(n) for j in range(m)) / (n * m)
    assert mmd2_unbiased(x, y, ell) == pytest.approx(kxx + kyy - 2 * kxy, rel=1e-10)


@pytest.mark.parametrize("dim", [2, 39])
def test_mmd_tiling_gives_the_dense_value(dim):
    # sizes that are not multiples of the tile, and n != m; the dense value uses whole
    # kernel matrices from torch.cdist (an independent route to the distances)
    x, y = gauss(3001, dim, seed=3), gauss(2500, dim, 0.1, seed=4)
    ell = 0.8 * math.sqrt(dim)
    n, m = len(x), len(y)

    def dense_sum(a, b):
        return float(torch.exp(-(torch.cdist(a, b) ** 2) / (2 * ell**2)).sum())

    dense = (
        (dense_sum(x, x) - n) / (n * (n - 1))
        + (dense_sum(y, y) - m) / (m * (m - 1))
        - 2 * dense_sum(x, y) / (n * m)
    )
    assert abs(dense) > 1e-4  # a value whose relative error means something
    assert mmd2_unbiased(x, y, ell) == pytest.approx(dense, rel=1e-6)


def test_w2_translation_is_exact():
    x = gauss(300, 2, seed=5)
    shift = torch.tensor([0.7, -1.1], dtype=torch.float64)
    assert w2_exact(x, x + shift) == pytest.approx(float(torch.linalg.norm(shift)), rel=1e-9)
    assert w2_exact(x, x) == pytest.approx(0.0, abs=1e-7)  # sqrt of round-off


def test_w2_matches_assignment_solver():
    x, y = gauss(150, 3, seed=6), gauss(150, 3, 0.5, 1.3, seed=7)
    cost = torch.cdist(x, y).numpy() ** 2
    rows, cols = linear_sum_assignment(cost)
    assert w2_exact(x, y) == pytest.approx(math.sqrt(cost[rows, cols].mean()), rel=1e-9)


def test_w2_gaussian_closed_form_large_n():
    # W2(N(0, I), N(m, s² I)) = sqrt(|m|² + d (1 - s)²); 1-D so that n = 2000 is accurate
    x, y = gauss(2000, 1, seed=8), gauss(2000, 1, 2.0, 1.5, seed=9)
    assert w2_exact(x, y) == pytest.approx(math.sqrt(4.0 + 0.25), rel=0.03)


def test_w2_nonconvergence_is_an_error(monkeypatch):
    from boltzbench.metrics import wasserstein

    monkeypatch.setattr(wasserstein, "W2_ITER_MAX", 3)
    with pytest.raises(wasserstein.W2NotConverged):
        w2_exact(gauss(200, 2, seed=1), gauss(200, 2, 1.0, seed=2))


def test_sliced_w2_gaussian_closed_form():
    # equal isotropic Gaussians shifted by m: SW2² = E_θ (θ·m)² = |m|² / d
    d, m = 3, torch.tensor([1.0, 2.0, -2.0], dtype=torch.float64)
    dirs = random_directions(2000, d, 0)
    x = gauss(20000, d, seed=10)
    exact = math.sqrt(float(m @ m) / d)
    assert sliced_w2_value(x, x + m, dirs) == pytest.approx(exact, rel=0.03)


def test_sliced_w2_matches_pot():
    x, y = gauss(500, 2, seed=11), gauss(500, 2, 0.3, 1.2, seed=12)
    dirs = random_directions(50, 2, 3)
    ours = sliced_w2_value(x, y, dirs)
    theirs = ot.sliced_wasserstein_distance(
        x.numpy(), y.numpy(), n_projections=50, p=2, projections=dirs.numpy().T
    )
    assert ours == pytest.approx(float(theirs), rel=1e-8)


def test_sliced_w2_unequal_sizes_matches_pot():
    x, y = gauss(300, 2, seed=13), gauss(470, 2, 0.5, seed=14)
    dirs = random_directions(20, 2, 4)
    theirs = ot.sliced_wasserstein_distance(
        x.numpy(), y.numpy(), n_projections=20, p=2, projections=dirs.numpy().T
    )
    assert sliced_w2_value(x, y, dirs) == pytest.approx(float(theirs), rel=1e-6)


def test_mean_and_cov_error_closed_form():
    x = torch.tensor([[1.0, 0.0], [3.0, 2.0], [2.0, 4.0]], dtype=torch.float64)
    # mean (2, 2); unbiased covariance [[1, 1], [1, 4]]
    assert mean_error_value(x, torch.tensor([2.0, 2.0], dtype=torch.float64)) == 0.0
    assert mean_error_value(x, torch.tensor([5.0, 6.0], dtype=torch.float64)) == 5.0
    sigma = torch.tensor([[1.0, 1.0], [1.0, 4.0]], dtype=torch.float64)
    assert cov_error_value(x, sigma) == pytest.approx(0.0, abs=1e-12)
    assert cov_error_value(x, torch.zeros(2, 2, dtype=torch.float64)) == pytest.approx(
        math.sqrt(1 + 1 + 1 + 16)
    )


def test_metrics_are_permutation_invariant():
    from boltzbench.targets.gmm import GMM4

    t = GMM4()
    ref = t.reference().samples
    x = t.sample(500, torch.Generator().manual_seed(0))
    perm = torch.randperm(500, generator=torch.Generator().manual_seed(1))
    for name in ["mean_error", "cov_error", "mmd", "w2", "sliced_w2"]:
        fn = METRICS.get(name)
        assert fn(x, ref, t) == pytest.approx(fn(x[perm], ref, t), rel=1e-6, abs=1e-12)


def test_mode_mass_error_closed_form():
    from boltzbench.metrics.modes import mode_mass_error
    from boltzbench.targets.double_well import DoubleWell
    from boltzbench.targets.gmm import GMM4

    t = GMM4()
    x = torch.tensor([[1.0, 1.0]] * 5 + [[-1.0, 1.0]] * 3 + [[1.0, -1.0]] * 2, dtype=torch.float64)
    # quadrant fractions: (+,+) 0.5, (−,+) 0.3, (+,−) 0.2, (−,−) 0 → max |f − 0.25| = 0.25
    assert mode_mass_error(x, x, t) == pytest.approx(0.25)
    dw = DoubleWell()
    y = torch.tensor([[1.7, 0.0]] * 9 + [[-1.7, 0.0]], dtype=torch.float64)
    assert mode_mass_error(y, y, dw) == pytest.approx(abs(0.9 - dw.right_well_mass))


def test_mode_mass_error_is_not_applicable_without_modes():
    from boltzbench.metrics.modes import mode_mass_error
    from boltzbench.targets.banana import Banana

    assert mode_mass_error(gauss(10, 2), gauss(10, 2), Banana()) is None


def test_the_ranked_ess_is_the_one_before_any_bridge():
    """A resampling method's ESS after its bridge (1.0: every sample from one ancestor,
    rejuvenated) is not what is ranked: the one-shot ESS before it is."""
    from boltzbench.metrics.estimates import ess_fraction

    after_bridge = {"ess_fraction": 1.0, "ess_fraction_oneshot": 0.0003}
    assert ess_fraction(after_bridge, None) == 0.0003
    assert ess_fraction({"ess_fraction": 0.4}, None) == 0.4  # no bridge: as reported
    assert ess_fraction({}, None) is None


def test_mmd_sums_are_computed_once_per_sample_set_and_bandwidth(monkeypatch):
    """mmd, mmd_x0.1, mmd_x0.3 and mmd_multi share their sums: each (samples, bandwidth)
    sum is computed once, and the remembered value is bit-identical to a fresh one."""
    from boltzbench.metrics import mmd as mmd_module

    from boltzbench.registry import METRICS, TARGETS

    target = TARGETS.get("gmm4")()
    g = torch.Generator().manual_seed(5)
    x, ref = target.sample(300, g), target.sample(1500, g)
    names = ("mmd", "mmd_x0.1", "mmd_x0.3", "mmd_multi")
    mmd_module._SAMPLE_SUMS.clear()
    calls = []
    real = mmd_module._kernel_sum
    monkeypatch.setattr(mmd_module, "_kernel_sum", lambda *a: calls.append(a[2]) or real(*a))
    first = [METRICS.get(n)(x, ref, target) for n in names]
    assert len(calls) == len(set(calls)) == 3  # three bandwidths, each summed once
    mmd_module._SAMPLE_SUMS.clear()
    mmd_module._SELF_SUMS.clear()
    assert [METRICS.get(n)(x, ref, target) for n in names] == first


def test_the_reference_self_sum_is_kept_on_disk_exactly(monkeypatch, tmp_path):
    """A large reference's kernel self-sum is computed once per cache folder: a new
    process (memory cleared) reads the same float; a damaged entry is recomputed."""
    from boltzbench.metrics import mmd as mmd_module

    monkeypatch.setenv("BOLTZBENCH_CACHE", str(tmp_path))
    g = torch.Generator().manual_seed(2)
    ref = torch.randn(mmd_module.DISK_MIN_ROWS, 2, generator=g, dtype=torch.float64)
    calls = []
    real = mmd_module._kernel_self_sum
    monkeypatch.setattr(mmd_module, "_kernel_self_sum", lambda *a: calls.append(1) or real(*a))
    mmd_module._SELF_SUMS.clear()
    first = mmd_module._self_sum(ref, 0.7)
    files = list((tmp_path / "kernel_sums").glob("*.json"))
    assert len(calls) == 1 and len(files) == 1
    mmd_module._SELF_SUMS.clear()  # as in a new cell's process
    assert mmd_module._self_sum(ref, 0.7) == first and len(calls) == 1
    files[0].write_text("{broken")
    mmd_module._SELF_SUMS.clear()
    assert mmd_module._self_sum(ref, 0.7) == first and len(calls) == 2
    assert first == real(ref, 0.7)
