"""aldp (alanine dipeptide through OpenMM): energies against OpenMM itself, forces against
finite differences, safe energies, dihedrals against mdtraj, and the replica-exchange
reference machinery on a short run. Skipped, with the install command, without OpenMM."""

import math

import numpy as np
import pytest
import torch
from boltzbench.targets import aldp as aldp_module
from boltzbench.targets.aldp import MissingExtra, openmm_available
from extra_helpers import build_without

from boltzbench.registry import TARGETS

pytestmark = pytest.mark.skipif(
    not openmm_available(),
    reason="aldp needs OpenMM: pip install 'boltzbench[molecules]'",
)


@pytest.fixture(scope="module")
def target():
    return TARGETS.get("aldp")()


def _near_start(n: int, seed: int, std: float = 0.003) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return std * torch.randn(n, 66, generator=g, dtype=torch.float64)


def test_energy_equals_openmm_in_kt(target):
    import openmm
    import openmm.unit as unit
    from openmmtools import testsystems

    test = testsystems.AlanineDipeptideVacuum(constraints=None)
    reference = openmm.Platform.getPlatformByName("Reference")  # double precision
    ctx = openmm.Context(test.system, openmm.VerletIntegrator(0.001), reference)
    x = _near_start(3, 0)
    x = target.centre(x)  # zero centroid: no restraint energy
    kt = unit.MOLAR_GAS_CONSTANT_R * 300 * unit.kelvin
    for row, e in zip(x, target.energy(x), strict=True):
        pos = (row + target.offset).reshape(22, 3).numpy()
        ctx.setPositions(pos)
        u = ctx.getState(getEnergy=True).getPotentialEnergy()
        assert float(e) == pytest.approx(u / kt, rel=1e-8)


def test_score_against_finite_differences_and_autograd(target):
    x = _near_start(2, 1)
    v = torch.randn(2, 66, generator=torch.Generator().manual_seed(2), dtype=torch.float64)
    h = 1e-6
    fd = (target.energy(x + h * v) - target.energy(x - h * v)) / (2 * h)
    assert torch.allclose(-(target.score(x) * v).sum(1), fd, rtol=1e-5)
    xr = x.clone().requires_grad_(True)
    (grad,) = torch.autograd.grad(target.energy(xr).sum(), xr)
    assert torch.allclose(grad, -target.score(x))


def test_hvp_is_symmetric(target):
    x = _near_start(1, 3)
    g = torch.Generator().manual_seed(4)
    v, w = (torch.randn(1, 66, generator=g, dtype=torch.float64) for _ in range(2))
    assert float((w * target.hvp(x, v)).sum()) == pytest.approx(
        float((v * target.hvp(x, w)).sum()), rel=1e-4
    )


def test_overlapping_atoms_give_finite_values(target):
    x = torch.zeros(2, 66, dtype=torch.float64)
    pos = target.offset.reshape(22, 3)
    x[0, 3 * 5 : 3 * 5 + 3] = pos[15] - pos[5]  # the two carbonyl oxygens on top of each other
    x[1] = -target.offset  # every atom at the origin
    e, s = target.energy_and_score(x)
    assert torch.isfinite(e).all() and torch.isfinite(s).all()
    assert float(e[0]) > 1e3 and float(e[1]) <= aldp_module.ENERGY_CAP


def test_dihedrals_match_mdtraj(target):
    import mdtraj

    x = _near_start(4, 5, std=0.02)
    traj = mdtraj.Trajectory(
        target.positions(x).numpy(), mdtraj.Topology.from_openmm(target._system.topology)
    )
    _, phi = mdtraj.compute_phi(traj)
    _, psi = mdtraj.compute_psi(traj)
    rama = target.ramachandran(x).numpy()
    assert np.allclose(rama[:, 0], phi[:, 0], atol=1e-5)
    assert np.allclose(rama[:, 1], psi[:, 0], atol=1e-5)


def test_missing_openmm_is_a_clear_error(monkeypatch):
    with pytest.raises(MissingExtra, match=r"pip install 'boltzbench\[molecules\]'"):
        build_without(monkeypatch, "openmm", "aldp")


def test_short_replica_exchange_run(target, monkeypatch):
    """The reference machinery on a short run: shapes, provenance, and a 300 K sample that
    stays in the β/C7eq/C5 region of the Ramachandran plane (φ < 0)."""
    monkeypatch.setattr(aldp_module, "REMD_RUNS", 2)
    monkeypatch.setattr(aldp_module, "REMD_BURN_IN_EXCHANGES", 8)
    monkeypatch.setattr(aldp_module, "REMD_EXCHANGES_PER_SAMPLE", 2)
    samples, info = aldp_module.remd_reference(target, 20, seed=7)
    assert samples.shape == (20, 66) and samples.dtype == torch.float32
    assert set(info["checks"]) == {"r_hat_below_1_01", "ess_above_n_over_10"}
    assert 0.0 < info["swap_acceptance"] < 1.0
    assert torch.isfinite(target.energy(samples)).all()
    phi = target.ramachandran(samples)[:, 0]
    assert float((phi < 0).double().mean()) > 0.8
    # the centroid was redrawn from N(0, σ_com²)
    assert float(target.centroid(samples.double()).abs().max()) < 6 * target.com_std
    assert math.isfinite(info["r_hat_energy"])


def _short_remd(module) -> None:
    module.REMD_RUNS = 2
    module.REMD_BURN_IN_EXCHANGES = 4
    module.REMD_EXCHANGES_PER_SAMPLE = 2


def _reference_in_child(queue) -> None:
    """Runs in a spawned daemon process (as a cell does)."""
    try:
        _short_remd(aldp_module)
        queue.put(aldp_module.remd_reference(TARGETS.get("aldp")(), 12, seed=3)[0].numpy())
    except Exception as exc:  # the parent's assertion shows what went wrong
        queue.put(repr(exc))


def test_reference_is_generated_inside_a_daemon_process(target, monkeypatch):
    """A cell's own process is a daemon and may not start workers: the replica-exchange
    reference (a curve snapshot's floor may need one) then runs its independent runs one
    after another, with the same numbers as the one-worker path."""
    import multiprocessing

    for name in ("REMD_RUNS", "REMD_BURN_IN_EXCHANGES", "REMD_EXCHANGES_PER_SAMPLE"):
        monkeypatch.setattr(aldp_module, name, getattr(aldp_module, name))
    _short_remd(aldp_module)
    monkeypatch.setattr(aldp_module.os, "cpu_count", lambda: 1)
    expected = aldp_module.remd_reference(target, 12, seed=3)[0].numpy()
    ctx = multiprocessing.get_context("spawn")
    queue = ctx.Queue()
    child = ctx.Process(target=_reference_in_child, args=(queue,), daemon=True)
    child.start()
    got = queue.get(timeout=240)
    child.join(30)
    assert not isinstance(got, str), got
    np.testing.assert_array_equal(got, expected)
