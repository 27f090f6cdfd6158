"""Effective sample size and resampling (baselines/weights.py)."""

from __future__ import annotations

import math

import pytest
import torch
from boltzbench.baselines.weights import ess


def test_ess_of_equal_weights_is_n_at_any_offset():
    """Equal weights give ESS n, however large the common log-weight: unshifted, an offset
    of 1e17 left rounding errors of its ulp in the exponent (ESS fraction 2e10 on funnel)."""
    for offset in (0.0, -700.0, 1e5, 1e17, 1e300):
        assert ess(torch.full((4000,), offset, dtype=torch.float64)) == pytest.approx(4000)


def test_ess_matches_the_kish_formula_and_stays_in_1_n():
    gen = torch.Generator().manual_seed(0)
    log_w = 3 * torch.randn(500, generator=gen, dtype=torch.float64)
    w = log_w.exp()
    assert ess(log_w) == pytest.approx(float(w.sum() ** 2 / (w**2).sum()), rel=1e-12)
    assert ess(log_w + 1e5) == pytest.approx(ess(log_w), rel=1e-9)
    spiky = torch.cat([torch.tensor([1e17]), torch.zeros(999)]).double()
    assert ess(spiky) == pytest.approx(1.0)
    assert 1.0 <= ess(log_w) <= 500


def test_ess_with_infinite_weights():
    assert ess(torch.tensor([-math.inf, 0.0, 0.0])) == pytest.approx(2.0)
    assert ess(torch.full((3,), -math.inf)) == 0.0
    assert ess(torch.tensor([math.inf, 0.0])) == 1.0
    assert ess(torch.tensor([math.nan, 0.0, 0.0])) == pytest.approx(2.0)  # NaN: weight zero
    assert ess(torch.tensor([])) == 0.0
