"""Shipped references: written and read back bit-identically with their provenance, and
refused (None: regenerate) once the target's energy function changes."""

import torch
from boltzbench.targets import shipped

from boltzbench.testing import CorrelatedGaussian


def test_a_shipped_reference_is_used_only_while_the_energy_is_unchanged(tmp_path, monkeypatch):
    monkeypatch.setattr(shipped, "DATA", tmp_path / "targets" / "data")
    target = CorrelatedGaussian(dim=3)
    samples = torch.randn(10, 3, generator=torch.Generator().manual_seed(0))
    path = shipped.ship(target, samples, {"command": "test", "checks": {"ok": True}}, 10, 5)
    assert path == tmp_path / "targets" / "data" / target.name / "reference-n10-s5.npz"
    loaded, info = shipped.load_shipped(target, 10, 5)
    assert torch.equal(loaded, samples) and info["command"] == "test"
    assert shipped.load_shipped(target, 10, 6) is None  # another seed: nothing shipped
    target.mu = target.mu + 0.1  # the energy function changed
    assert shipped.load_shipped(target, 10, 5) is None
