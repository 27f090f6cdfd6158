"""Langevin MD (``md``): BAOAB's configurational law is exact for a harmonic energy (the
closed form the test checks, in reduced and in physical units), it conserves energy
without friction, and it costs one gradient per trajectory and step."""

import math

import pytest
import torch
from boltzbench.baselines.md import Dynamics, MDConfig, MolecularDynamics, baoab_step

from boltzbench.counter import Counter, charging
from boltzbench.testing import CorrelatedGaussian


class _Molecule(CorrelatedGaussian):
    """A Gaussian that declares masses and k_B T, so MD runs in physical units."""

    kt_kj_per_mol = 2.494

    def __init__(self) -> None:
        super().__init__(dim=4, eigenvalues=(1e-4, 4e-4), centred=True, init_std=0.02)
        self.masses = torch.tensor([1.0, 1.0, 12.0, 16.0], dtype=torch.float64)


def _run(method, target, n, budget=None):
    counter = Counter(target, budget=budget, n_samples=n)
    with charging(counter, "train"):
        method.fit(counter, seed=0)
    with charging(counter, "sample"):
        x = method.sample(n)
    return x, counter


@pytest.mark.parametrize("molecule", [False, True])
def test_harmonic_covariance_is_exact(molecule):
    """BAOAB samples a Gaussian's configurations without discretisation bias (Leimkuhler
    & Matthews 2013) even at a coarse step: the sample covariance matches Σ within its
    Monte Carlo error (400 trajectories × 50 draws, thinned)."""
    target = _Molecule() if molecule else CorrelatedGaussian(dim=4, centred=True)
    config = MDConfig(n_chains=400, warmup=300, thin=10, reduced_step=0.3, timestep=0.002)
    x, _ = _run(MolecularDynamics(config), target, 400 * 50)
    cov = torch.cov(x.double().T)
    scale = torch.diag(target.cov).sqrt()
    err = (cov - target.cov) / (scale[:, None] * scale[None, :])
    assert float(err.abs().max()) < 0.05


def test_one_gradient_per_trajectory_and_step():
    target = CorrelatedGaussian(dim=3, centred=True)
    method = MolecularDynamics(MDConfig(n_chains=10, warmup=7, thin=3))
    _, counter = _run(method, target, 20)
    c = counter.counts
    assert c.grad_evals_train == 10 * (1 + 7)  # the start, then one per step
    assert c.grad_evals_sample == 10 * 2 * 3  # two rounds of three steps
    assert c.energy_evals_train == c.energy_evals_sample == 0


def test_energy_is_conserved_without_friction():
    """With γ = 0 BAOAB is velocity Verlet: the total energy drifts by O(Δt²) only."""
    target = CorrelatedGaussian(dim=4, centred=True)
    dyn = Dynamics(torch.ones(4, dtype=torch.float64), 1.0, 0.02, 0.0)
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(8, 4, generator=gen, dtype=torch.float64)
    v = dyn.velocities(8, gen, torch.float64)
    s = target.score(x)
    h0 = target.energy(x) + 0.5 * (v * v).sum(1)
    for _ in range(500):
        x, v, s = baoab_step(x, v, s, target.score, dyn, gen)
    h1 = target.energy(x) + 0.5 * (v * v).sum(1)
    assert float((h1 - h0).abs().max()) < 1e-3


def test_bad_settings_are_refused():
    target = CorrelatedGaussian(dim=2, centred=True)
    with pytest.raises(ValueError, match="invalid MD settings"):
        _run(MolecularDynamics(MDConfig(n_chains=2, warmup=1, friction=-1.0)), target, 2)
    assert math.isfinite(MDConfig().timestep)


def test_a_quartic_energy_from_far_out_stays_finite():
    """many_well's x⁴ from 3 init_std out: unclipped kicks overflow in a few steps."""
    from boltzbench.registry import TARGETS

    target = TARGETS.get("many_well")()
    method = MolecularDynamics(MDConfig(n_chains=20, warmup=50, thin=2))
    x, _ = _run(method, target, 40)
    assert torch.isfinite(x).all()
