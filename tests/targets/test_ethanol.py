"""ethanol (GFN2-xTB through tblite): energies against tblite itself in kT, forces
against finite differences, safe energies, exact symmetries, the torsions, and the MD
reference machinery on a short run. Skipped, with the install command, without tblite."""

import math

import numpy as np
import pytest
import torch
from boltzbench.targets import ethanol as ethanol_module
from boltzbench.targets import ethanol_md
from boltzbench.targets.ethanol import MissingExtra, tblite_available
from extra_helpers import build_without

from boltzbench.registry import TARGETS

pytestmark = pytest.mark.skipif(
    not tblite_available(), reason="ethanol needs tblite: pip install 'boltzbench[molecules]'"
)


@pytest.fixture(scope="module")
def target():
    return TARGETS.get("ethanol")()


def _near_start(n: int, seed: int, std: float = 0.003) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return std * torch.randn(n, 27, generator=g, dtype=torch.float64)


def test_energy_equals_tblite_in_kt(target):
    from tblite.interface import Calculator

    x = target.centre(_near_start(2, 0))  # zero centroid: no restraint energy
    for row, e in zip(x, target.energy(x), strict=True):
        bohr = (row + target.offset).reshape(9, 3).numpy() / 0.0529177210903
        calc = Calculator("GFN2-xTB", np.array([6, 6, 8, 1, 1, 1, 1, 1, 1]), bohr)
        calc.set("verbosity", 0)
        hartree = calc.singlepoint().get("energy")
        kt = 0.0083144626 * 300 / 2625.499639  # k_B · 300 K in hartree
        assert float(e) == pytest.approx((hartree + 11.39) / kt, rel=1e-6)


def test_score_against_finite_differences(target):
    x = _near_start(2, 1)
    v = torch.randn(2, 27, generator=torch.Generator().manual_seed(2), dtype=torch.float64)
    h = 1e-5
    fd = (target.energy(x + h * v) - target.energy(x - h * v)) / (2 * h)
    assert torch.allclose(-(target.score(x) * v).sum(1), fd, rtol=1e-4)


def test_hvp_is_symmetric(target):
    x = _near_start(1, 3)
    g = torch.Generator().manual_seed(4)
    v, w = (torch.randn(1, 27, generator=g, dtype=torch.float64) for _ in range(2))
    assert float((w * target.hvp(x, v)).sum()) == pytest.approx(
        float((v * target.hvp(x, w)).sum()), rel=1e-3
    )


def test_unsafe_geometries_give_finite_capped_values(target):
    x = torch.zeros(3, 27, dtype=torch.float64)
    x[0] = 4.0 * target.offset  # atoms far apart: the SCF does not converge
    pos = target.offset.reshape(9, 3)
    x[1, 24:27] = pos[2] - pos[8] + 1e-4  # the hydroxyl H on the oxygen
    x[2] = float("nan")
    e, s = target.energy_and_score(x)
    assert torch.isfinite(e).all() and torch.isfinite(s).all()
    assert float(e[0]) == float(e[2]) == ethanol_module.ENERGY_CAP
    assert float(e[1]) > 1e3


def test_symmetries_leave_the_energy_unchanged(target):
    """Exchanging equivalent hydrogens, rotating and reflecting (about the centroid) are
    exact symmetries: ``symmetrize`` changes no internal energy."""
    x = target.centre(_near_start(4, 5, std=0.005))
    y = target.centre(target.symmetrize(x, torch.Generator().manual_seed(0)).double())
    assert not torch.allclose(x, y)
    assert torch.allclose(target.energy(x), target.energy(y), atol=1e-5)
    swapped = target.positions(x)[:, [0, 1, 2, 4, 5, 3, 7, 6, 8]]
    z = swapped.reshape(4, 27) - target.offset
    assert torch.allclose(target.energy(x), target.energy(z), atol=1e-5)


def test_torsions_of_the_starting_structure(target):
    """The start is trans (C–C–O–H = π) with methyl H 3 anti to the oxygen (H–C–C–O = π);
    a rotation of the hydroxyl H by θ about the C–O axis moves only the first torsion, by θ,
    and keeps every bond length."""
    angles = target.ramachandran(torch.zeros(1, 27, dtype=torch.float64))[0]
    assert torch.allclose(angles.abs(), torch.full((2,), math.pi, dtype=angles.dtype), atol=2e-3)
    p = target.offset.reshape(9, 3)
    q = ethanol_md._rotate(p, [8], 1, 2, 1.0)
    y = (q.reshape(1, 27) - target.offset).double()
    turned = target.ramachandran(y)[0]
    moved = abs(math.remainder(float(turned[0] - angles[0]), 2 * math.pi))
    assert moved == pytest.approx(1.0, abs=1e-6)
    assert float(turned[1]) == pytest.approx(float(angles[1]), abs=1e-9)
    bonds = target.bond_lengths(torch.zeros(1, 27, dtype=torch.float64))
    assert torch.allclose(target.bond_lengths(y), bonds, atol=1e-12)
    assert target.bond_angles(y).shape == (1, 13)


def test_missing_tblite_is_a_clear_error(monkeypatch):
    with pytest.raises(MissingExtra, match=r"pip install 'boltzbench\[molecules\]'"):
        build_without(monkeypatch, "tblite", "ethanol")


def test_short_md_reference(target, monkeypatch):
    """The reference machinery on a short run: shapes, provenance, an intact molecule."""
    monkeypatch.setitem(ethanol_md.SETTINGS, "runs", 2)
    monkeypatch.setitem(ethanol_md.SETTINGS, "burn_in_steps", 40)
    monkeypatch.setitem(ethanol_md.SETTINGS, "steps_per_sample", 10)
    samples, info = ethanol_md.md_reference(target, 8, seed=7)
    assert samples.shape == (8, 27) and samples.dtype == torch.float32
    assert set(info["checks"]) == {"r_hat_below_1_01", "ess_above_n_over_10"}
    assert 0.0 < info["rotation_acceptance"] < 1.0
    assert info["evaluations"] == 2 * (1 + 80 + 2 * 4)  # start, steps, 2 moves / 20 steps
    bonds = target.bond_lengths(samples)
    assert float(bonds.max()) < 0.17 and float(bonds.min()) > 0.08  # nm: nothing broke
    assert float(target.centroid(samples.double()).abs().max()) < 6 * target.com_std


def test_the_torsions_are_declared_slow_statistics(target):
    """A chain's cost per effective draw on ethanol is divided by the ESS of its torsions
    too (boltzbench.score.ess), not only of coordinates and energy."""
    from boltzbench.score.ess import declared_statistics

    x = _near_start(3, 8)
    stats = declared_statistics(target, x)
    assert stats["slow"].shape == (3, 4)
    angles = target.ramachandran(x)
    assert torch.allclose(stats["slow"][:, :2], torch.cos(angles))
