"""The multi-scale MMD keeps only the bandwidths at which the kernel sees the reference."""

import torch
from boltzbench.metrics.mmd import median_bandwidth
from boltzbench.metrics.multiscale import MIN_KBAR, mean_kernel, mmd_multi, multi_scales


class _Plain:
    """A stand-in target with raw coordinates and no frozen bandwidth."""

    class metric_spec:  # noqa: N801
        mmd_bandwidth = None

    n_particles = None


def _gauss(n: int, d: int, seed: int) -> torch.Tensor:
    return torch.randn(n, d, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)


def test_mean_kernel_matches_a_direct_double_sum():
    y = _gauss(50, 3, 0)
    d2 = torch.cdist(y, y) ** 2
    direct = torch.exp(-d2 / (2 * 0.7**2)).sum() - 50
    assert abs(mean_kernel(y, 0.7) - float(direct) / (50 * 49)) < 1e-12


def test_two_dimensional_references_keep_every_scale():
    y = _gauss(2000, 2, 1)
    assert multi_scales(y, median_bandwidth(y)) == [0.1, 0.3, 1.0]


def test_a_few_repeated_draws_do_not_swamp_the_score_in_high_dimension():
    """In d = 31 the kernel at 0.1ℓ is nearly a delta (K̄ ≪ MIN_KBAR): there one repeated
    draw would add about 1/(n(n−1)K̄) to the relative MMD². That scale is left out, so exact
    draws with five states repeated score like exact draws."""
    y = _gauss(2000, 31, 2)
    ell = median_bandwidth(y)
    assert mean_kernel(y, 0.1 * ell) < MIN_KBAR
    assert multi_scales(y, ell) == [0.3, 1.0]
    x = _gauss(2000, 31, 3)
    repeated = x.clone()
    repeated[1:6] = repeated[0]
    exact, dup = mmd_multi(x, y, _Plain()), mmd_multi(repeated, y, _Plain())
    assert abs(dup - exact) < 0.01
    assert dup < 0.05
