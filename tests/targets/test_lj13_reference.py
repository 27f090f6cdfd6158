"""The machinery of scripts/lj13_halves.py (do independent lj13 references agree?): the
generator's draw order that its chain-wise standard errors rely on, its standard errors on
chains with a known autocorrelation, and its energy_w2 on precomputed energies."""

import importlib.util
from pathlib import Path

import numpy as np
import pytest
import torch

from boltzbench.registry import METRICS, TARGETS

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def halves():
    spec = importlib.util.spec_from_file_location("lj13_halves", REPO / "scripts/lj13_halves.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_reference_draws_are_ordered_round_by_round(halves):
    """chain_reference returns the pt sampler's draws round by round (n_chains per round):
    per_chain must recover each chain's sequence, or the chain-means errors are wrong."""
    from boltzbench.counter import Counter
    from boltzbench.driver import run_method
    from boltzbench.protocols import build_method
    from boltzbench.registry import METHODS

    target = TARGETS.get("lj13")()
    settings = {"n_chains": 4, "warmup": 5, "thin": 2, "n_temps": 2, "t_max": 2.0}
    sampler, _ = build_method(METHODS.get("pt"), {**settings, "snapshots": False})
    samples = run_method(sampler, Counter(target), seed=3, n=18).samples  # last round cut
    draws = sampler.draws  # [chains, rounds, d]
    for k in (0, 7, 38):
        chains = halves.per_chain(samples[:, k].numpy(), 4)
        assert chains.shape == (4, 4)
        np.testing.assert_array_equal(chains, draws[:, :4, k].numpy())


def test_standard_errors_on_autocorrelated_chains(halves):
    """16 AR(1) chains with ρ = 0.6 (integrated autocorrelation time (1 + ρ)/(1 − ρ) = 4):
    both standard errors of the mean are near the exact one, sqrt(τ/n) for unit variance,
    and the ESS near n/4; a z-score over 400 such pairs of runs has unit spread."""
    rng = np.random.default_rng(0)
    rho, chains, rounds = 0.6, 16, 400
    tau = (1 + rho) / (1 - rho)
    exact = np.sqrt(tau / (chains * rounds))

    runs = 801
    x = np.empty((runs, rounds, chains))
    x[:, 0] = rng.standard_normal((runs, chains))
    for t in range(1, rounds):
        x[:, t] = rho * x[:, t - 1] + np.sqrt(1 - rho**2) * rng.standard_normal((runs, chains))
    draws = x.reshape(runs, -1)  # round by round, as the generator orders its draws
    first = halves.mean_with_errors(draws[-1], chains)
    assert first["se_ess"] == pytest.approx(exact, rel=0.15)
    assert first["se_chains"] == pytest.approx(exact, rel=0.4)  # 15 degrees of freedom
    assert first["ess"] == pytest.approx(chains * rounds / tau, rel=0.3)
    z = []
    for r in range(0, runs - 1, 2):
        a, b = (
            halves.mean_with_errors(draws[r], chains),
            halves.mean_with_errors(draws[r + 1], chains),
        )
        z.append((a["value"] - b["value"]) / np.hypot(a["se_ess"], b["se_ess"]))
    assert np.std(z) == pytest.approx(1.0, abs=0.12)


def test_energy_w2_on_energies_is_the_metric(halves):
    from boltzbench.metrics.particles import energies

    target = TARGETS.get("lj13")()
    g = torch.Generator().manual_seed(0)
    a = 1.3 * torch.randn(300, 39, generator=g, dtype=torch.float64)
    b = 1.3 * torch.randn(500, 39, generator=g, dtype=torch.float64)
    expected = METRICS.get("energy_w2")(a, b, target)
    got = halves.energy_w2_arrays(energies(a, target), energies(b, target))
    assert got == pytest.approx(expected, rel=1e-12)
    # as noise_floors: the mean over the floor run's first disjoint sets (two of 200 in 500)
    floor = halves.suite_floor(energies(b, target), energies(a, target), 200, 5)
    metric = METRICS.get("energy_w2")
    expected = (metric(b[:200], a, target) + metric(b[200:400], a, target)) / 2
    assert floor == pytest.approx(expected, rel=1e-12)
