"""The symmetry-aware metrics (energy_w1/w2, high_energy_fraction, distance_w2/tv,
aligned_w2, rama_kl/tv, torsion_w2) against closed forms, invariances and independent
computations; a collapse scores worse than an independent draw on each; the raw-coordinate
metrics are n/a on particle systems and molecules."""

import itertools
import math

import numpy as np
import pytest
import scipy.stats
import torch
from boltzbench.metrics import aligned
from boltzbench.metrics.moments import cov_error_value, mean_error_value
from boltzbench.metrics.particles import (
    energy_range,
    histogram_tv,
    ramachandran_histogram,
    w2_1d,
)
from boltzbench.targets.aldp import dihedrals
from scipy.optimize import linear_sum_assignment
from scipy.spatial.transform import Rotation

from boltzbench.registry import METRICS, TARGETS


class FirstCoordinate:
    """A stand-in target whose energy is the first coordinate, so that energy_w2 is the
    W2 of the first marginals."""

    name = "first"
    dim = 1

    def energy(self, x):
        return x[:, 0]


def test_energy_w2_gaussian_closed_form():
    """W2(N(0, 1), N(1, 2²)) = sqrt(1² + (2 − 1)²) = √2."""
    g = torch.Generator().manual_seed(0)
    a = torch.randn(200_000, 1, generator=g, dtype=torch.float64)
    b = 1 + 2 * torch.randn(150_000, 1, generator=g, dtype=torch.float64)
    value = METRICS.get("energy_w2")(a, b, FirstCoordinate())
    assert value == pytest.approx(math.sqrt(2), abs=0.01)


def test_w2_1d_equal_sizes_is_the_sorted_matching():
    rng = np.random.default_rng(1)
    a, b = rng.normal(size=300), rng.gamma(2.0, size=300)
    assert w2_1d(a, b) == pytest.approx(np.sqrt(np.mean((np.sort(a) - np.sort(b)) ** 2)))
    assert w2_1d(a, a[::-1]) == pytest.approx(0.0, abs=1e-12)


def test_energy_w2_on_a_real_target_is_zero_for_identical_sets():
    t = TARGETS.get("gmm4")()
    x = t.sample(500, torch.Generator().manual_seed(2))
    assert METRICS.get("energy_w2")(x, x.flip(0), t) == pytest.approx(0.0, abs=1e-9)


def test_histogram_tv_against_a_hand_count():
    edges = np.array([0.0, 1.0, 2.0])
    # a: bins (−inf,0)=0, [0,1)=2, [1,2)=1, [2,inf)=1 of 4; b: 1, 1, 2, 0 of 4
    a = np.array([0.1, 0.5, 1.5, 3.0])
    b = np.array([-1.0, 0.2, 1.2, 1.7])
    expected = 0.5 * (abs(0 - 0.25) + abs(0.5 - 0.25) + abs(0.25 - 0.5) + abs(0.25 - 0))
    assert histogram_tv(a, b, edges) == pytest.approx(expected)
    assert histogram_tv(a, a, edges) == 0.0
    assert histogram_tv(np.array([0.5]), np.array([1.5]), edges) == pytest.approx(1.0)


def test_distance_tv_is_invariant_and_not_applicable_elsewhere():
    t = TARGETS.get("dw4")()
    g = torch.Generator().manual_seed(3)
    x = 2.0 * torch.randn(400, 8, generator=g)
    y = t.symmetrize(x, g)
    assert METRICS.get("distance_tv")(y, x, t) == pytest.approx(0.0, abs=1e-9)
    assert METRICS.get("distance_tv")(x, 3 * x, t) > 0.5
    assert METRICS.get("distance_tv")(x[:, :2], x[:, :2], TARGETS.get("gmm4")()) is None
    assert METRICS.get("rama_tv")(x, x, t) is None


def test_dihedral_sign_convention_by_hand():
    """p0 = x̂, p1 = 0, p2 = ẑ, p3 = ẑ + (cos θ, sin θ, 0): the dihedral is θ (IUPAC)."""
    for theta in (-2.5, -math.pi / 2, 0.3, math.pi / 2, 3.0):
        p = torch.tensor(
            [[[1.0, 0, 0], [0, 0, 0], [0, 0, 1], [math.cos(theta), math.sin(theta), 1]]],
            dtype=torch.float64,
        )
        assert float(dihedrals(p, (0, 1, 2, 3))) == pytest.approx(theta, abs=1e-12)


def test_ramachandran_histogram_wraps_and_normalises():
    angles = np.array([[math.pi, -math.pi], [-math.pi + 1e-9, math.pi - 1e-9], [0.0, 0.0]])
    h = ramachandran_histogram(angles, bins=4)
    assert h.sum() == pytest.approx(1.0)
    assert h[0, 0] == pytest.approx(1 / 3) and h[0, 3] == pytest.approx(1 / 3)
    assert h[2, 2] == pytest.approx(1 / 3)


# --- stand-ins and synthetic particle sets -------------------------------------------


class Torsions:
    """A stand-in molecule whose (φ, ψ) are its first two coordinates."""

    name = "torsions"
    dim = 2
    n_particles = None

    def ramachandran(self, x):
        return x[:, :2].double()

    def energy(self, x):
        return (1 - torch.cos(x[:, 0])) + (1 - torch.cos(x[:, 1]))


class Chiral:
    """A stand-in molecule: 5 distinct atoms in 3-D, no reflections (like ``aldp``)."""

    name = "chiral"
    dim = 15
    n_particles = 5
    spatial_dim = 3
    permute = False
    reflect = False


def _dw4_like(n: int, seed: int) -> torch.Tensor:
    """DW-4 configurations near two shapes (a square of side 2.6, a rhombus), jittered
    and symmetrised: a cheap two-mode stand-in for the reference."""
    t = TARGETS.get("dw4")()
    g = torch.Generator().manual_seed(seed)
    square = torch.tensor([[0, 0], [2.6, 0], [2.6, 2.6], [0, 2.6]], dtype=torch.float64)
    rhombus = torch.tensor([[0, 0], [5.4, 0], [2.7, 2.2], [2.7, -2.2]], dtype=torch.float64)
    base = torch.where(
        (torch.rand(n, generator=g) < 0.5)[:, None, None], square[None], rhombus[None]
    )
    x = base + 0.15 * torch.randn(n, 4, 2, generator=g, dtype=torch.float64)
    return t.symmetrize(x.reshape(n, 8), g).float()


def _rotate_permute(p: np.ndarray, seed: int, reflect: bool, permute: bool) -> np.ndarray:
    """Each configuration of p [n, k, 3] rotated (and mirrored, permuted) at random."""
    rng = np.random.default_rng(seed)
    r = Rotation.random(len(p), random_state=seed).as_matrix()
    if reflect:
        r[:, :, 0] *= -1
    q = np.einsum("nab,npb->npa", r, p)
    if permute:
        q = np.stack([c[rng.permutation(len(c))] for c in q])
    return q


# --- aligned_w2 -------------------------------------------------------------------------


def test_aligned_w2_is_zero_against_a_rotated_permuted_copy_on_dw4():
    t = TARGETS.get("dw4")()
    x = _dw4_like(150, 0)
    y = t.symmetrize(x, torch.Generator().manual_seed(1))  # rotations, reflections, relabels
    assert METRICS.get("aligned_w2")(y, x, t) == pytest.approx(0.0, abs=1e-4)
    g = torch.Generator().manual_seed(2)
    perturbed = x + 0.3 * torch.randn(x.shape, generator=g)
    assert METRICS.get("aligned_w2")(perturbed, x, t) > 0.2


def test_aligned_costs_brute_force_matches_a_direct_search_in_2d():
    """DW-4's exact cost against an independent search: all 24 relabellings × a fine grid
    of angles × reflection."""
    rng = np.random.default_rng(3)
    x = rng.normal(size=(3, 4, 2)) * 2
    y = rng.normal(size=(3, 4, 2)) * 2
    x, y = x - x.mean(1, keepdims=True), y - y.mean(1, keepdims=True)
    cost = aligned.aligned_costs(x, y, permute=True, reflect=True)
    theta = np.linspace(0, 2 * np.pi, 20000, endpoint=False)
    rot = np.stack([[np.cos(theta), -np.sin(theta)], [np.sin(theta), np.cos(theta)]], -1)
    rot = rot.transpose(1, 0, 2)  # [T, 2, 2]
    for i in range(3):
        for j in range(3):
            best = np.inf
            for perm in itertools.permutations(range(4)):
                for mirror in (1.0, -1.0):
                    yj = y[j][list(perm)] * np.array([mirror, 1.0])
                    moved = np.einsum("tab,pb->tpa", rot, yj)
                    best = min(best, float(((x[i] - moved) ** 2).sum((-1, -2)).min()))
            assert cost[i, j] == pytest.approx(best, rel=1e-5, abs=1e-6)


def test_aligned_w2_search_on_lj13_recovers_copies():
    """13 identical particles (the search path): rotated, mirrored and relabelled copies
    cost 0; the search never beats the exact cost of a known correspondence."""
    t = TARGETS.get("lj13")()
    rng = np.random.default_rng(4)
    p = rng.normal(size=(60, 13, 3))
    p -= p.mean(1, keepdims=True)
    q = _rotate_permute(p, 5, reflect=True, permute=True)
    x = torch.tensor(p.reshape(60, 39), dtype=torch.float32)
    y = torch.tensor(q.reshape(60, 39), dtype=torch.float32)
    assert METRICS.get("aligned_w2")(y, x, t) == pytest.approx(0.0, abs=1e-3)
    cost = aligned.aligned_costs(p, q, permute=True, reflect=True)
    assert np.diag(cost).max() < 1e-8 and cost.min() >= 0
    # against plain Kabsch with the identity correspondence (an upper bound it must meet)
    kabsch = aligned.aligned_costs(p, p[::-1], permute=False, reflect=True)
    assert (aligned.aligned_costs(p, p[::-1], permute=True, reflect=True) <= kabsch + 1e-9).all()
    noisy = x + 0.3 * torch.randn(x.shape, generator=torch.Generator().manual_seed(6))
    assert METRICS.get("aligned_w2")(noisy, x, t) > 0.5


def test_aligned_w2_respects_chirality_and_distinct_atoms():
    """Without reflections or relabelling (``aldp``-like): a rotated copy costs 0, a mirror
    image or a relabelled copy does not."""
    t = Chiral()
    rng = np.random.default_rng(7)
    p = rng.normal(size=(40, 5, 3))
    p -= p.mean(1, keepdims=True)
    x = torch.tensor(p.reshape(40, 15))

    def moved(reflect: bool, permute: bool) -> torch.Tensor:
        q = _rotate_permute(p, 8, reflect=reflect, permute=permute)
        return torch.tensor(q.reshape(40, 15))

    assert METRICS.get("aligned_w2")(moved(False, False), x, t) == pytest.approx(0, abs=1e-6)
    assert METRICS.get("aligned_w2")(moved(True, False), x, t) > 0.3
    assert METRICS.get("aligned_w2")(moved(False, True), x, t) > 0.3


def test_assignment_fast_path_is_optimal():
    rng = np.random.default_rng(9)
    cost = rng.random((200, 6, 6))
    cost[:100] += 10 * (1 - np.eye(6))  # a clear diagonal: the fast path
    cols = aligned._assign(cost.copy())
    for c, chosen in zip(cost, cols, strict=True):
        rows, best = linear_sum_assignment(c)
        assert c[rows, chosen].sum() == pytest.approx(c[rows, best].sum())


def test_aligned_w2_estimator_names_the_subsample():
    est = METRICS.get("aligned_w2").estimator
    assert est(2000, 5000, TARGETS.get("dw4")()).startswith("subsample: 500 of 2000")
    assert est(2000, 5000, TARGETS.get("lj13")()).startswith("subsample: 250 of 2000")
    assert est(100, 200, TARGETS.get("dw4")()) == "exact"


# --- distances and energies ---------------------------------------------------------------


def test_distance_w2_closed_forms():
    """0 for identical and for symmetrised sets; scaling every configuration by c moves
    each sorted distance d to c·d, so W2 = |c − 1| · sqrt(mean d²)."""
    t = TARGETS.get("dw4")()
    x = _dw4_like(300, 10).double()
    assert METRICS.get("distance_w2")(x, x.flip(0), t) == pytest.approx(0.0, abs=1e-12)
    y = t.symmetrize(x, torch.Generator().manual_seed(11))
    assert METRICS.get("distance_w2")(y, x, t) == pytest.approx(0.0, abs=1e-5)
    c = 1.1
    d = t.distances(x).numpy().ravel()
    expected = (c - 1) * np.sqrt(np.mean(d**2))
    assert METRICS.get("distance_w2")(c * x, x, t) == pytest.approx(expected, rel=1e-9)
    assert METRICS.get("distance_w2")(x[:, :2], x[:, :2], TARGETS.get("gmm4")()) is None


def test_energy_w1_against_scipy():
    t = TARGETS.get("dw4")()
    x, y = _dw4_like(300, 12), _dw4_like(500, 13)
    e_x = t.energy(x.double()).numpy()
    e_y = t.energy(y.double()).numpy()
    expected = scipy.stats.wasserstein_distance(e_x, e_y)
    assert METRICS.get("energy_w1")(x, y, t) == pytest.approx(expected, rel=1e-9)


def test_energy_w2_clips_outliers_and_high_energy_fraction_counts_them():
    """Reference energies N(0, 1) (FirstCoordinate); samples: exact draws with 2 % replaced
    by energies of 1e6 and one NaN. The uncropped W2 would be ≈ 1e6 · √0.02; the clipped
    W2 equals the W2 of the clipped values, and high_energy_fraction is the planted
    fraction."""
    g = torch.Generator().manual_seed(14)
    ref = torch.randn(20_000, 1, generator=g, dtype=torch.float64)
    x = torch.randn(5_000, 1, generator=g, dtype=torch.float64)
    x[:100] = 1e6
    x[100] = float("nan")
    target = FirstCoordinate()
    lo, hi = energy_range(ref[:, 0].numpy())
    q = np.quantile(ref[:, 0].numpy(), [0.001, 0.25, 0.75, 0.999])
    assert hi == pytest.approx(q[3] + q[2] - q[1]) and lo == pytest.approx(q[0] - q[2] + q[1])
    e_x = np.nan_to_num(x[:, 0].numpy(), nan=1e12)
    expected = w2_1d(np.clip(e_x, lo, hi), np.clip(ref[:, 0].numpy(), lo, hi))
    value = METRICS.get("energy_w2")(x, ref, target)
    assert value == pytest.approx(expected, rel=1e-9)
    assert value < 1.0  # bounded by the clip: √0.02 · (hi − typical) ≈ 0.7
    frac = METRICS.get("high_energy_fraction")(x, ref, target)
    assert frac == pytest.approx(101 / 5000, abs=2 / 5000)  # plus exact draws above hi
    assert METRICS.get("high_energy_fraction")(ref[:5000], ref, target) < 0.003
    assert np.isfinite(METRICS.get("energy_w1")(x, ref, target))


# --- Ramachandran --------------------------------------------------------------------------


def _torsion_set(n: int, seed: int) -> torch.Tensor:
    """Two clusters on the torus, one straddling the ±π seam."""
    g = torch.Generator().manual_seed(seed)
    centres = torch.tensor([[-1.4, 2.6], [3.0, -3.0]], dtype=torch.float64)
    pick = (torch.rand(n, generator=g) < 0.7).long()
    x = centres[pick] + 0.3 * torch.randn(n, 2, generator=g, dtype=torch.float64)
    return (x + math.pi) % (2 * math.pi) - math.pi


def test_rama_kl_is_nonnegative_and_zero_for_identical_sets():
    t = Torsions()
    x, y = _torsion_set(2000, 15), _torsion_set(2000, 16)
    assert METRICS.get("rama_kl")(x, x.flip(0), t) == pytest.approx(0.0, abs=1e-12)
    assert METRICS.get("rama_kl")(x + 2 * math.pi, x, t) == pytest.approx(0.0, abs=1e-12)
    independent = METRICS.get("rama_kl")(y, x, t)
    assert 0 < independent < 0.2
    assert METRICS.get("rama_kl")(x[:, [1, 0]], x, t) > 1.0
    p = aligned.smoothed_ramachandran(x.numpy())
    assert p.sum() == pytest.approx(1.0) and (p > 0).all()
    assert METRICS.get("rama_kl")(x, x, TARGETS.get("gmm4")()) is None


def test_torsion_w2_is_periodic_and_a_shift_costs_its_length():
    t = Torsions()
    x = _torsion_set(400, 17)
    assert METRICS.get("torsion_w2")(x, x.flip(0), t) == pytest.approx(0.0, abs=1e-9)
    shifted = x + torch.tensor([2 * math.pi, -4 * math.pi], dtype=torch.float64)
    assert METRICS.get("torsion_w2")(shifted, x, t) == pytest.approx(0.0, abs=1e-6)
    # a small translation of every point costs its length (the identity coupling is
    # optimal for a translation, also across the seam)
    v = torch.tensor([0.2, -0.15], dtype=torch.float64)
    assert METRICS.get("torsion_w2")(x + v, x, t) == pytest.approx(0.25, rel=1e-6)
    # geodesic across the seam: π − 0.05 and −π + 0.05 are 0.1 apart
    a = torch.tensor([[math.pi - 0.05, 0.0]], dtype=torch.float64)
    b = torch.tensor([[-math.pi + 0.05, 0.0]], dtype=torch.float64)
    assert METRICS.get("torsion_w2")(a, b, t) == pytest.approx(0.1, rel=1e-9)
    assert METRICS.get("torsion_w2")(x, x, TARGETS.get("gmm4")()) is None


# --- a collapse against an independent draw ---------------------------------------------


def test_a_collapse_scores_clearly_worse_than_an_independent_draw():
    """n copies of the lowest-energy reference configuration against an independent draw
    of the same law, on every symmetry-aware metric."""
    t = TARGETS.get("dw4")()
    ref, draw = _dw4_like(400, 20), _dw4_like(400, 21)
    collapse = ref[int(t.energy(ref.double()).argmin())].repeat(400, 1)
    for name in ("aligned_w2", "distance_w2", "distance_tv", "energy_w1", "energy_w2"):
        good = METRICS.get(name)(draw, ref, t)
        bad = METRICS.get(name)(collapse, ref, t)
        assert bad > 3 * good, (name, good, bad)
    rt = Torsions()
    tref, tdraw = _torsion_set(2000, 22), _torsion_set(2000, 23)
    tcollapse = tref[:1].repeat(2000, 1)
    for name in ("rama_kl", "rama_tv", "torsion_w2"):
        good = METRICS.get(name)(tdraw, tref, rt)
        bad = METRICS.get(name)(tcollapse, tref, rt)
        assert bad > 3 * good, (name, good, bad)


# --- raw-coordinate metrics -----------------------------------------------------------------


RAW = ("mean_error", "cov_error", "mmd", "w2", "sliced_w2")


@pytest.mark.parametrize("name", ["dw4", "lj13"])
def test_raw_coordinate_metrics_are_not_applicable_on_particle_targets(name):
    t = TARGETS.get(name)()
    x = torch.randn(50, t.dim, generator=torch.Generator().manual_seed(24))
    for metric in RAW:
        assert METRICS.get(metric)(x, x, t) is None, metric
    assert all(METRICS.get(metric)(x[:, :2], x[:, :2], Torsions()) is None for metric in RAW)


def test_raw_coordinate_metrics_unchanged_elsewhere():
    t = TARGETS.get("gmm4")()
    g = torch.Generator().manual_seed(25)
    x, y = t.sample(300, g), t.sample(400, g)
    mu, sigma = y.double().mean(0), torch.cov(y.double().T)
    if getattr(t, "mean", None) is not None:
        mu = torch.as_tensor(t.mean, dtype=torch.float64)
    if getattr(t, "cov", None) is not None:
        sigma = torch.as_tensor(t.cov, dtype=torch.float64)
    assert METRICS.get("mean_error")(x, y, t) == pytest.approx(mean_error_value(x, mu))
    assert METRICS.get("cov_error")(x, y, t) == pytest.approx(cov_error_value(x, sigma))
    for metric in ("mmd", "w2", "sliced_w2"):
        assert METRICS.get(metric)(x, y, t) is not None
