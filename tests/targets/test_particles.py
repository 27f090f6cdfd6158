"""dw4 and lj13: energies against hand values and independent loops, safe energies,
symmetries, and the generated DW-4 reference against the published DEM test set."""

import math

import numpy as np
import pytest
import torch
from boltzbench.metrics import median_bandwidth
from boltzbench.targets.particles import LJ_S_MIN

from boltzbench.registry import TARGETS
from boltzbench.testing import check_score_is_minus_energy_gradient


@pytest.fixture(params=["dw4", "lj13"])
def target(request):
    return TARGETS.get(request.param)()


def _config(target, seed: int, scale: float = 1.0) -> torch.Tensor:
    """Well-separated configurations: particles on a jittered lattice (no overlaps)."""
    g = torch.Generator().manual_seed(seed)
    k, s = target.n_particles, target.spatial_dim
    side = math.ceil(k ** (1 / s))
    grid = torch.cartesian_prod(*[torch.arange(side, dtype=torch.float64)] * s)[:k]
    if s == 1:
        grid = grid[:, None]
    x = scale * (grid + 0.05 * torch.randn(4, k, s, generator=g, dtype=torch.float64))
    return x.reshape(4, k * s)


def _loop_internal_energy(name: str, x: np.ndarray, k: int, s: int) -> np.ndarray:
    """Independent formula: explicit loops over pairs (ordered pairs for LJ)."""
    out = []
    for row in x:
        p = row.reshape(k, s)
        e = 0.0
        if name == "dw4":
            for i in range(k):
                for j in range(i + 1, k):
                    d = np.linalg.norm(p[i] - p[j])
                    e += 0.9 * (d - 4) ** 4 - 4 * (d - 4) ** 2
        else:
            for i in range(k):
                for j in range(k):
                    if i != j:
                        r = np.linalg.norm(p[i] - p[j])
                        e += r**-12 - 2 * r**-6
            e += 0.5 * ((p - p.mean(0)) ** 2).sum()
        out.append(e)
    return np.array(out)


def test_declares_particles(target):
    assert target.n_particles * target.spatial_dim == target.dim
    assert (target.n_particles, target.spatial_dim) in {(4, 2), (13, 3)}


def test_energy_against_independent_loops(target):
    x = _config(target, 0, scale=4.0 if target.name == "dw4" else 1.2)
    assert float(target.distances(x).min()) ** 2 > LJ_S_MIN  # the exact LJ region
    expected = _loop_internal_energy(target.name, x.numpy(), target.n_particles, target.spatial_dim)
    assert np.allclose(target.internal_energy(x).numpy(), expected, rtol=1e-9)
    com = (x.reshape(4, target.n_particles, -1).mean(1) ** 2).sum(1) / (2 * target.com_std**2)
    assert torch.allclose(target.energy(x), target.internal_energy(x) + com)


def test_dw4_square_by_hand():
    """A square of side 4: four pairs at the barrier top (0) and two diagonals at 4√2."""
    t = TARGETS.get("dw4")()
    x = torch.tensor([[-2.0, -2.0, 2.0, -2.0, 2.0, 2.0, -2.0, 2.0]], dtype=torch.float64)
    u = 4 * math.sqrt(2) - 4
    assert float(t.energy(x)) == pytest.approx(2 * (0.9 * u**4 - 4 * u**2), rel=1e-10)


def test_lj13_pair_at_the_minimum_and_the_safe_core():
    t = TARGETS.get("lj13")()
    k = t.n_particles
    far = 10.0 * torch.arange(k, dtype=torch.float64)[:, None] * torch.tensor([1.0, 0, 0])
    far = far - far.mean(0)
    x = far.reshape(1, -1).clone()
    x[0, 3:6] = x[0, 0:3] + torch.tensor([1.0, 0, 0], dtype=torch.float64)  # r = r_m
    e_pair = t.internal_energy(x) - t.internal_energy(far.reshape(1, -1))
    # two ordered pairs at the minimum (−1 each), up to the change of the harmonic term
    harm = 0.5 * ((t.centre(x) ** 2).sum() - (t.centre(far.reshape(1, -1)) ** 2).sum())
    assert float(e_pair - harm) == pytest.approx(-2.0, abs=1e-4)  # far pairs: ~1e-5
    # overlapping and coincident particles: finite energy, finite repulsive force
    for r in (0.5, 1e-3, 0.0):
        y = far.reshape(1, -1).clone()
        y[0, 3:6] = y[0, 0:3] + torch.tensor([r, 0, 0], dtype=torch.float64)
        e, s = t.energy_and_score(y)
        assert torch.isfinite(e).all() and torch.isfinite(s).all() and float(e) > 50
    # continuity of the pair term at the switch r² = LJ_S_MIN
    r0 = math.sqrt(LJ_S_MIN)
    vals = []
    for r in (r0 - 1e-7, r0 + 1e-7):
        y = far.reshape(1, -1).clone()
        y[0, 3:6] = y[0, 0:3] + torch.tensor([r, 0, 0], dtype=torch.float64)
        vals.append(float(t.internal_energy(y)))
    assert vals[0] == pytest.approx(vals[1], abs=1e-4)


def test_score_is_minus_energy_gradient(target):
    check_score_is_minus_energy_gradient(
        target, _config(target, 1, 4.0 if target.dim == 8 else 1.1)
    )


def test_energy_is_invariant_under_the_symmetries(target):
    """Rotation, reflection, permutation and translation leave the internal energy
    unchanged; ``symmetrize`` keeps the internal energy and redraws the centroid."""
    x = _config(target, 2, 4.0 if target.dim == 8 else 1.1)
    y = target.symmetrize(x, torch.Generator().manual_seed(3))
    assert not torch.allclose(x, y)
    assert torch.allclose(target.internal_energy(y), target.internal_energy(x), rtol=1e-9)
    assert torch.allclose(
        torch.sort(target.distances(y), 1).values, torch.sort(target.distances(x), 1).values
    )
    shifted = x + 5.0
    assert torch.allclose(target.internal_energy(shifted), target.internal_energy(x))


def test_symmetrize_draws_the_centroid_from_its_exact_law(target):
    x = _config(target, 4).repeat(2000, 1)
    c = target.centroid(target.symmetrize(x, torch.Generator().manual_seed(5)))
    n = c.shape[0]
    assert float(c.mean().abs()) < 5 * target.com_std / math.sqrt(n * c.shape[1])
    assert float(c.std()) == pytest.approx(target.com_std, rel=0.05)


def test_pair_distance_law_against_harmonic_springs():
    """Closed form: with u(d) = d²/2 the density exp(−½ Σ_{i<j} |x_i − x_j|²) is Gaussian;
    the graph Laplacian of K₄ is 4 on the centred subspace, so x_1 − x_0 ~ N(0, ½ I₂) and
    r is Rayleigh(σ² = ½): E r = √π / 2, E r² = 1."""
    from boltzbench.targets.particle_checks import pair_distance_law_4x2d

    r, p = pair_distance_law_4x2d(lambda d: 0.5 * d**2, h=0.1, dr=0.01, extent=6.0)
    dr = r[1] - r[0]
    assert (r * p).sum() * dr == pytest.approx(math.sqrt(math.pi) / 2, rel=1e-4)
    assert (r**2 * p).sum() * dr == pytest.approx(1.0, rel=1e-4)
    rayleigh = 2 * r * np.exp(-(r**2))
    assert np.abs(p - rayleigh).max() < 1e-3


def test_dw4_exact_statistics_by_quadrature():
    """The exact values the DW-4 reference is checked against: a coarse quadrature (h = 0.2)
    reproduces the fine one (h = 0.05) stored on the class."""
    t = TARGETS.get("dw4")()
    r, p = t.exact_pair_distance_law(h=0.2, dr=0.05)
    dr = r[1] - r[0]
    assert p.sum() * dr == pytest.approx(1.0)
    assert (r * p).sum() * dr == pytest.approx(t.exact_statistics["mean_distance"], abs=1e-4)
    energy = 6 * (t.pair_energy(r) * p).sum() * dr
    assert energy == pytest.approx(t.exact_statistics["energy_mean"], abs=1e-3)


def test_check_statistics_tolerance_follows_the_standard_error():
    """A statistic off by 3 standard errors passes, one off by 8 fails; the published
    comparison adds the published set's own error."""
    from boltzbench.targets.particle_checks import REFERENCE_TOL_SE, check_statistics

    t = TARGETS.get("dw4")()
    g = torch.Generator().manual_seed(11)
    x = t.symmetrize(_config(t, 8, 4.0).repeat(250, 1), g)
    x = x + 0.3 * torch.randn(x.shape, generator=g, dtype=x.dtype)
    info = {"ess_energy": 1000.0, "ess_coords_min": 1000.0}
    base = check_statistics(t, x, info)
    se = base["standard_errors"]["mean_distance"]
    assert se == pytest.approx(float(t.distances(x).mean(1).std()) / math.sqrt(1000), rel=1e-3)

    class Fake:
        def __init__(self, shift):
            self.published = {}
            self.exact_statistics = {"mean_distance": base["ours"]["mean_distance"] + shift}
            self.internal_energy, self.distances = t.internal_energy, t.distances

    assert check_statistics(Fake(3 * se), x, info)["checks"]["mean_distance_matches_exact"]
    assert not check_statistics(Fake(8 * se), x, info)["checks"]["mean_distance_matches_exact"]
    assert REFERENCE_TOL_SE == 5.0
    z = base["z_published"]["energy_mean"]
    se_both = math.hypot(
        base["standard_errors"]["energy_mean"],
        float(t.internal_energy(x.double()).std()) / math.sqrt(t.published["n"]),
    )
    assert z == pytest.approx((base["ours"]["energy_mean"] - t.published["energy_mean"]) / se_both)


def test_dw4_reference_passes_its_checks_and_agrees_with_the_exact_values():
    """Generated by parallel tempering (about a minute on 2 cores): R-hat and ESS of the
    energy and invariant features, energy mean and mean pair distance within 5 standard
    errors of the exact (quadrature) values, energy sd within 5 two-sample standard errors
    of DEM's test set; the published mean pair distance (3.970) lies far outside."""
    ref = TARGETS.get("dw4")().reference()
    prov = ref.provenance
    assert ref.samples.shape == (5000, 8)
    assert prov["checks"] and all(prov["checks"].values()), prov["checks"]
    assert {"energy_mean_matches_exact", "mean_distance_matches_exact"} <= set(prov["checks"])
    assert "energy_sd_matches_published" in prov["checks"]
    spec = TARGETS.get("dw4")().metric_spec
    # the frozen ℓ came from the reference generated on the machine that froze it; a
    # generated reference is reproducible on one machine, but long chains amplify the
    # last-bit float differences between CPUs (7.41 there, 7.36 on another), so this only
    # checks that ℓ is the median distance of such a reference
    assert median_bandwidth(ref.samples) == pytest.approx(spec.mmd_bandwidth, rel=0.02)
    comparison = prov["published_comparison"]
    assert abs(comparison["z_exact"]["mean_distance"]) < 5
    assert abs(comparison["z_exact"]["energy_mean"]) < 5
    # the published test set's mean pair distance is the outlier (about 10 standard errors)
    assert comparison["z_published"]["mean_distance"] > 5


def test_hvp_matches_finite_differences_of_the_score(target):
    x = _config(target, 6, 4.0 if target.dim == 8 else 1.2)
    v = torch.randn(x.shape, generator=torch.Generator().manual_seed(7), dtype=torch.float64)
    h = 1e-6
    fd = -(target.score(x + h * v) - target.score(x - h * v)) / (2 * h)
    assert torch.allclose(target.hvp(x, v), fd, rtol=1e-5, atol=1e-5)
