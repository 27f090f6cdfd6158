"""energy_w2, distance_tv and rama_tv against closed forms and independent computations."""

import math

import numpy as np
import pytest
import torch
from boltzbench.metrics.particles import (
    histogram_tv,
    ramachandran_histogram,
    w2_1d,
)
from boltzbench.targets.aldp import dihedrals

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
