"""bond_w1 and angle_w1: closed forms on a molecule-like stand-in (a shift of every bond
by δ scores δ; equal sets score 0; sorted differences for equal sizes) and None where a
target declares no geometry."""

import numpy as np
import pytest
import torch

from boltzbench.registry import METRICS


class _Rods:
    """Stand-in: x [n, 2] read as two bond lengths and their sum as one angle."""

    def bond_lengths(self, x):
        return x[:, :2]

    def bond_angles(self, x):
        return x[:, :1] + x[:, 1:]


def test_a_shift_of_every_bond_scores_the_shift():
    g = torch.Generator().manual_seed(0)
    ref = 0.1 + 0.01 * torch.randn(500, 2, generator=g, dtype=torch.float64)
    assert METRICS.get("bond_w1")(ref + 0.005, ref, _Rods()) == pytest.approx(0.005, rel=1e-9)
    assert METRICS.get("angle_w1")(ref + 0.005, ref, _Rods()) == pytest.approx(0.01, rel=1e-9)
    assert METRICS.get("bond_w1")(ref, ref, _Rods()) == 0.0


def test_equal_sizes_give_the_mean_sorted_difference():
    g = torch.Generator().manual_seed(1)
    a = torch.randn(300, 2, generator=g, dtype=torch.float64)
    b = 1.5 * torch.randn(300, 2, generator=g, dtype=torch.float64)
    expected = np.mean(
        [np.abs(np.sort(a[:, j].numpy()) - np.sort(b[:, j].numpy())).mean() for j in range(2)]
    )
    assert METRICS.get("bond_w1")(a, b, _Rods()) == pytest.approx(expected, rel=1e-9)


def test_none_without_geometry():
    x = torch.zeros(4, 2)
    assert METRICS.get("bond_w1")(x, x, object()) is None
    assert METRICS.get("angle_w1")(x, x, object()) is None
