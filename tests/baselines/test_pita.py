"""PITA's pieces: Feynman–Kac annealing with an exact model, the divergence estimator,
resampling, the ladder rule, the symmetry augmentation, budget use and wall-time training,
and the method on gmm4 / double_well / a 10-D correlated Gaussian."""

import math

import boltzbench.baselines.pita as pita_module
import boltzbench.baselines.pita_model as pita_model
import pytest
import torch
from boltzbench.baselines.mala import MALA, MALAConfig
from boltzbench.baselines.pita import PAPER_CONFIG, PITA, PITAConfig
from boltzbench.baselines.pita_anneal import _corrector, divergence, fk_anneal, resample
from boltzbench.baselines.pita_ladder import next_temperature, rungs_left, tempering_ess
from boltzbench.baselines.pita_model import transform_particles
from boltzbench.baselines.weights import systematic_resample

from boltzbench.counter import Counter, charging
from boltzbench.registry import TARGETS
from boltzbench.testing import CorrelatedGaussian


@pytest.mark.parametrize("resample_mode", ["always", "ess"])
def test_fk_annealing_of_an_exact_gaussian_model_reaches_the_colder_gaussian(resample_mode):
    """An exact model of N(0, T0 I) under a VE process (p_σ = N(0, (T0 + σ²) I)) annealed
    with γ = T0/T1 gives weighted particles of N(0, T1 I): the weighted mean and second
    moment agree within Monte-Carlo error (computed from the weights' ESS)."""
    t0, t1, d, n = 4.0, 1.0, 2, 4000

    def score(y, sigma):
        return -y / (t0 + sigma**2)

    def energy(y, sigma):
        return (y * y).sum(1) / (2 * (t0 + sigma.squeeze(1) ** 2))

    gen = torch.Generator().manual_seed(0)
    y, log_a = fk_anneal(score, energy, n, d, t0 / t1, 0.01, 5.0, 200, gen, resample=resample_mode)
    w = torch.softmax(log_a.double(), 0)
    n_eff = 1.0 / float((w**2).sum())
    mean = (w[:, None] * y.double()).sum(0)
    second = (w[:, None] * y.double() ** 2).sum(0)
    assert (mean.abs() < 4.5 * math.sqrt(t1 / n_eff)).all(), mean
    # var of y² under N(0, t1) is 2 t1²
    assert ((second - t1).abs() < 4.5 * math.sqrt(2 * t1**2 / n_eff)).all(), second
    assert n_eff > 0.2 * n


def test_the_weights_carry_the_correction():
    """With a wrong score (that of N(0, 1) instead of N(0, 4); the drift is then wrong,
    the energy right) and no resampling, the unweighted particles miss N(0, 1)
    while the weighted ones hit it: the Feynman–Kac weights correct any drift."""
    t0 = 4.0

    def wrong_score(y, sigma):
        return -y / (1.0 + sigma**2)

    def energy(y, sigma):
        return (y * y).sum(1) / (2 * (t0 + sigma.squeeze(1) ** 2))

    gen = torch.Generator().manual_seed(0)
    y, log_a = fk_anneal(wrong_score, energy, 4000, 2, 4.0, 0.01, 5.0, 200, gen, "never")
    unweighted = float(y.double().pow(2).mean())
    w = torch.softmax(log_a.double(), 0)
    weighted = float((w[:, None] * y.double() ** 2).sum(0).mean())
    assert abs(unweighted - 1.0) > 0.25  # 0.69
    assert abs(weighted - 1.0) < 0.05  # 0.99


def test_an_unstable_step_is_refused_rather_than_dropping_every_particle():
    """Three Euler steps from σ = 5 to 0.01 at γ = 4 are unstable (the first multiplies y
    by about 1 − 8.9), so in 10-D every particle leaves the radius: the step is refused
    for all (positions and weights kept) and the annealing still returns finite particles
    with finite weights, where dropping them would leave none."""
    t0 = 4.0

    def score(y, sigma):
        return -y / (t0 + sigma**2)

    def energy(y, sigma):
        return (y * y).sum(1) / (2 * (t0 + sigma.squeeze(1) ** 2))

    gen = torch.Generator().manual_seed(0)
    record = {}
    y, log_a = fk_anneal(
        score, energy, 200, 10, t0, 0.01, 5.0, 3, gen, "never", radius=4.0, record=record
    )
    assert record["refused_steps"] >= 1
    assert torch.isfinite(y).all() and torch.isfinite(log_a).any()
    # with enough steps nothing is refused
    record = {}
    fk_anneal(score, energy, 200, 10, t0, 0.01, 5.0, 100, gen, "never", radius=4.0, record=record)
    assert "refused_steps" not in record


def test_divergence_exact_and_hutchinson_match_the_trace():
    a = torch.tensor([[1.0, 2.0, 0.0], [0.5, -1.0, 3.0], [0.0, 1.0, 2.5]])

    def field(y):
        return torch.tanh(y) @ a.T + y**2

    y = torch.randn(64, 3, generator=torch.Generator().manual_seed(0))
    jac = torch.func.vmap(torch.func.jacrev(lambda v: field(v[None])[0]))(y)
    exact = jac.diagonal(dim1=1, dim2=2).sum(1)
    _, div = divergence(field, y, exact_max_dim=10)
    assert torch.allclose(div, exact, atol=1e-5)
    gen = torch.Generator().manual_seed(1)
    estimates = torch.stack([divergence(field, y, gen, exact_max_dim=0)[1] for _ in range(4000)])
    se = estimates.std(0) / math.sqrt(4000)
    assert ((estimates.mean(0) - exact).abs() < 5 * se + 1e-6).all()


@pytest.mark.parametrize("m", [20, 7, 45])
def test_systematic_resampling_is_unbiased(m):
    """Expected counts m·w_k, for m equal to, fewer or more than the weights."""
    gen = torch.Generator().manual_seed(3)
    log_w = torch.randn(20, generator=gen, dtype=torch.float64)
    reps = 4000
    counts = torch.zeros(20, dtype=torch.float64)
    for _ in range(reps):
        idx = resample(log_w, m, gen) if m != 20 else systematic_resample(log_w, gen)
        counts += idx.bincount(minlength=20).double()
    expected = m * torch.softmax(log_w, 0)
    # each count is within floor/ceil of its expectation, so its s.d. is at most 1/2
    assert ((counts / reps - expected).abs() < 5 * 0.5 / math.sqrt(reps)).all()


# ----------------------------------------------------------------------------- ladder
def test_the_ladder_rule_hits_its_ess_and_stops_at_one():
    """The next rung gives tempering weights of exactly the asked ESS; a stricter
    criterion gives a smaller step; T = 1 once the whole way keeps the ESS."""
    gen = torch.Generator().manual_seed(0)
    e = 5.0 * (torch.randn(4000, 10, generator=gen, dtype=torch.float64) ** 2).sum(1)
    t1 = next_temperature(e, 10.0, 0.3)
    assert 1.0 < t1 < 10.0
    assert abs(tempering_ess(e, 10.0, t1) - 0.3) < 1e-3
    assert next_temperature(e, 10.0, 0.6) > t1  # stricter: closer to T₀
    assert next_temperature(e, 1.05, 0.3) == 1.0
    assert next_temperature(torch.zeros(100), 10.0, 0.5) == 1.0  # flat energies: one step
    assert rungs_left(1.0, 1.5) == 0 and rungs_left(2.25, 1.5) == 2


def test_the_ladder_is_finer_for_larger_systems():
    """Energy fluctuations grow with the dimension (heat capacity ∝ d), so at the same
    criterion a 32-D Gaussian takes smaller steps than a 2-D one."""
    gen = torch.Generator().manual_seed(1)
    steps = {}
    for d in (2, 32):
        e = 0.5 * 10.0 * (torch.randn(4000, d, generator=gen, dtype=torch.float64) ** 2).sum(1)
        steps[d] = 10.0 / next_temperature(e, 10.0, 0.3)
    assert 1.0 < steps[32] < steps[2]


# ------------------------------------------------------------------------- symmetries
class _Tilted:
    """Two particles in 2-D with an energy that is neither rotation- nor permutation-
    invariant (a particle target by shape only)."""

    name, dim, n_particles, spatial_dim, init_std = "tilted", 4, 2, 2, 1.0

    def energy(self, x):
        return 0.5 * (x * x).sum(1) + 2.0 * x[:, 0]

    def score(self, x):
        g = x.clone()
        g[:, 0] += 2.0
        return -g

    def energy_and_score(self, x):
        return self.energy(x), self.score(x)


def _symmetries(target, seed=0):
    counter = Counter(target)
    m = PITA(PITAConfig(symmetry_checks=6))
    m.target, m.gen = counter, torch.Generator().manual_seed(seed)
    x = torch.randn(32, target.dim, generator=m.gen)
    m.buffers = [(x, *counter.energy_and_score(x))]
    before = counter.counts.energy_evals_train
    found = m._find_symmetries()
    return found, counter.counts.energy_evals_train - before


def test_rotations_and_permutations_are_used_where_the_energy_is_invariant():
    dw4 = TARGETS.get("dw4")()
    found, evals = _symmetries(dw4)
    assert found == (True, True)
    assert evals == 2 * 6  # counted: two checks on six configurations
    assert _symmetries(_Tilted())[0] == (False, False)
    assert _symmetries(TARGETS.get("gmm4")())[1] == 0  # not a particle system: no checks


def test_the_augmentation_moves_positions_and_forces_together():
    """A rotated/permuted configuration keeps its energy, and its force is the rotated/
    permuted force."""
    dw4 = TARGETS.get("dw4")()
    gen = torch.Generator().manual_seed(2)
    x = 2.0 * torch.randn(16, dw4.dim, generator=gen, dtype=torch.float64)
    e, s = dw4.energy_and_score(x)
    xt, st = transform_particles((x, s), 4, 2, gen, rotate=True, permute=True)
    et, s_at = dw4.energy_and_score(xt)
    assert not torch.allclose(xt, x)
    assert torch.allclose(et, e, rtol=1e-6, atol=1e-6)
    assert torch.allclose(st, s_at, rtol=1e-5, atol=1e-5)


# ----------------------------------------------------------------------------- method
# small enough for one thread (about 10 s a run), large enough for mode masses within 0.05
SMALL = dict(
    ladder="geometric",
    n_temps=4,
    data_chains=100,
    data_warmup=200,
    data_size=1000,
    buffer_size=1000,
    batch_size=256,
    train_steps=250,
    anneal_steps=50,
)


class _MALAFromOneMode(MALA):
    def _initial(self, n):
        return torch.tensor([1.0, 1.0]) + 0.1 * torch.randn(n, 2, generator=self.gen)


def test_pita_recovers_gmm4_mode_masses_and_charges_every_stage():
    target = TARGETS.get("gmm4")()
    counter = Counter(target)
    m = PITA(PITAConfig(**SMALL))
    with charging(counter, "train"):
        m.fit(counter, seed=0)
    with charging(counter, "sample"):
        x = m.sample(2000)
    masses = target.mode_of(x.double()).bincount(minlength=4).double() / len(x)
    assert (masses - 0.25).abs().max() < 0.05, masses
    c = counter.counts
    d = m.diagnostics()
    assert d["evals_training"] == 0
    assert d["evals_data"] + d["evals_annealing"] == c.energy_evals_train + c.grad_evals_train
    assert d["evals_sampling"] == c.energy_evals_sample + c.grad_evals_sample > 0
    assert d["ess_fraction_final"] == d["ess_fraction"] > 0.05
    assert d["n_temperatures"] == 4 and d["train_steps"] == 3 * 250
    # MALA started in one mode at T = 1 stays there
    stuck = _MALAFromOneMode(MALAConfig(n_chains=100, warmup=300))
    stuck.fit(Counter(target), seed=0)
    xs = stuck.sample(2000)
    stuck_masses = target.mode_of(xs.double()).bincount(minlength=4).double() / len(xs)
    assert (stuck_masses - 0.25).abs().max() > 0.5


def test_pita_recovers_the_double_well_masses():
    target = TARGETS.get("double_well")()
    counter = Counter(target)
    m = PITA(PITAConfig(**SMALL))
    m.fit(counter, seed=0)
    x = m.sample(2000)
    assert abs(float((x[:, 0] > 0).double().mean()) - target.mode_masses[1]) < 0.05


def test_pita_keeps_its_effective_sample_size_on_a_10d_correlated_gaussian():
    """No collapse in 10-D: the final correction keeps more than a tenth of the particles
    effective, in one step (the network's energy is right to about 1 kT) and after the
    bridge, and the samples have the target's moments."""
    target = CorrelatedGaussian(dim=10)
    counter = Counter(target)
    config = PITAConfig(
        t_max=4.0,
        data_chains=128,
        data_warmup=150,
        data_size=2000,
        buffer_size=1000,
        batch_size=256,
        train_steps=300,
        anneal_steps=50,
        relax_steps=5,
        sample_particles=1,
    )
    m = PITA(config)
    m.fit(counter, seed=0)
    x = m.sample(2000).double()
    d = m.diagnostics()
    assert d["ess_fraction_final"] >= 0.1, d
    assert d["ess_fraction_oneshot_min"] >= 0.1, d
    assert d["unique_fraction"] >= 0.1, d
    assert (x.mean(0) - target.mu).abs().max() < 0.25
    assert (torch.cov(x.T) - target.cov).abs().max() < 0.5


def test_pita_spends_its_budget_without_crossing_it():
    target = TARGETS.get("double_well")()
    budget = 60_000
    counter = Counter(target, budget=budget, n_samples=500)
    m = PITA(PITAConfig(**{**SMALL, "ladder": "ess", "train_steps": 50}))
    with charging(counter, "train"):
        m.fit(counter, seed=0)
    with charging(counter, "sample"):
        x = m.sample(500)
    assert x.shape == (500, 2)
    assert 0.9 * budget <= counter.used <= budget


class _FakeClock:
    """``time`` for pita and pita_model (whose training loop reads the clock):
    perf_counter advances 10 ms a call, whatever the machine's load (a real clock made this
    test depend on the CI machine's speed)."""

    def __init__(self) -> None:
        self.now = 0.0

    def perf_counter(self) -> float:
        self.now += 0.01
        return self.now


def test_train_seconds_sets_the_number_of_steps(monkeypatch):
    """Without ``train_steps`` each phase trains for its share of ``train_seconds`` (the
    first phase twice a later one's; at least ``min_train_steps``)."""
    target = TARGETS.get("gmm4")()
    clock = _FakeClock()  # one clock, as when fit and the training loop shared a module
    monkeypatch.setattr(pita_module, "time", clock)
    monkeypatch.setattr(pita_model, "time", clock)

    def steps(seconds):
        cfg = {
            **SMALL,
            "buffer_size": 300,
            "anneal_steps": 10,
            "train_steps": None,
            "train_seconds": seconds,
            "min_train_steps": 5,
        }
        m = PITA(PITAConfig(**cfg))
        m.fit(Counter(target), seed=0)
        return m.train_steps_done

    assert steps(0.0) == [5, 5, 5]
    first, second, third = steps(2.0)  # 1 s, then 0.5 s and 0.5 s: one check per step
    assert 95 <= first <= 100 and 45 <= second <= 50 and 45 <= third <= 50


def test_the_paper_configuration_is_valid():
    config = PITAConfig(**PAPER_CONFIG)
    config.validate()
    assert config.temperatures == (4.0, 3.0, 2.0, 1.5, 1.2, 1.0)
    with pytest.raises(ValueError):
        PITAConfig(ladder="fixed", temperatures=(4.0, 5.0, 1.0)).validate()


def _bimodal_product(p: float = 0.7, m: float = 2.0, s2: float = 0.09):
    """An exact VE-noised model of a product of 1-D two-component mixtures
    p N(m, s2) + (1 − p) N(−m, s2) per coordinate: (score, energy) at noise σ."""

    def parts(y, sigma):
        v = s2 + sigma.reshape(-1, 1) ** 2
        right = math.log(p) - (y - m) ** 2 / (2 * v)
        left = math.log(1 - p) - (y + m) ** 2 / (2 * v)
        return v, right, left

    def energy(y, sigma):
        v, right, left = parts(y, sigma)
        return -(torch.logaddexp(right, left) - 0.5 * torch.log(v)).sum(1)

    def score(y, sigma):
        v, right, left = parts(y, sigma)
        r = torch.sigmoid(right - left)
        return (r * (m - y) - (1 - r) * (m + y)) / v

    return score, energy


def test_corrector_moves_carry_the_tilt_into_the_particles_and_keep_the_weights_valid():
    """Annealing an exact model of 8 independent two-well coordinates (right-well share 0.7)
    by γ = 1.5 (exact share 0.7^γ / (0.7^γ + 0.3^γ) = 0.781): without moves the unweighted
    particles keep too few in the right well and the weights carry the rest; with MALA
    moves on the intermediate densities the particles themselves are close to the tilted
    share, the weighted share stays right, and the weights are more even (higher ESS)."""
    score, energy = _bimodal_product()
    gamma, d, n = 1.5, 8, 1000
    exact = 0.7**gamma / (0.7**gamma + 0.3**gamma)
    out = {}
    for steps in (0, 2):
        gen = torch.Generator().manual_seed(1)
        record: dict = {}
        y, log_a = fk_anneal(
            score,
            energy,
            n,
            d,
            gamma,
            0.01,
            5.0,
            100,
            gen,
            "never",
            prior_var=25 + 4.09,
            record=record,
            corrector_steps=steps,
        )
        w = torch.softmax(log_a.double(), 0)
        right = (y > 0).double()
        out[steps] = (
            float(right.mean()),
            float((w[:, None] * right).sum(0).mean()),
            1.0 / float((w**2).sum()) / n,
        )
        if steps:
            rates = record["corrector_accept"]
            assert len(rates) == 100 * steps and 0.3 < sum(rates) / len(rates) < 0.8
    (plain, plain_w, plain_ess), (moved, moved_w, moved_ess) = out[0], out[2]
    assert abs(moved - exact) < 0.02 < abs(plain - exact), (plain, moved, exact)
    assert abs(moved_w - exact) < 0.03 and abs(plain_w - exact) < 0.03
    assert moved_ess > plain_ess + 0.1, (plain_ess, moved_ess)


def test_corrector_moves_leave_the_intermediate_density_invariant_and_respect_the_ball():
    """Started from exact draws of exp(−γU(·, σ)) = N(0, (1 + σ²)/γ I) (U of an exact
    model of N(0, I) under the VE process), 40 moves keep the variance to within Monte-
    Carlo error (dropping the proposal's correction in the MH test, i.e. a biased
    Langevin kernel, shifts it by several per cent at this step size); particles with
    weight zero stay put; proposals outside the ball are refused, particles outside it
    are not moved."""
    gamma, sigma, d, n = 2.0, 0.5, 4, 4000
    var = (1 + sigma**2) / gamma

    def energy(y, s):
        return (y * y).sum(1) / (2 * (1 + s.squeeze(1) ** 2))

    gen = torch.Generator().manual_seed(3)
    y0 = math.sqrt(var) * torch.randn(n, d, generator=gen)
    alive = torch.ones(n, dtype=torch.bool)
    alive[:100] = False
    record: dict = {}
    y, log_c = _corrector(energy, y0, sigma, gamma, var, math.log(1.0), 40, gen, record, alive)
    assert torch.equal(y[:100], y0[:100])
    moved = y[100:]
    assert (moved != y0[100:]).any(1).double().mean() > 0.95
    v = moved.double().var(0).mean()
    # var of the sample variance of N(0, var) over (n − 100) d draws: 2 var² / (n d)
    assert abs(float(v) - var) < 4 * var * math.sqrt(2 / ((n - 100) * d)), (float(v), var)
    assert 0.4 < sum(record["corrector_accept"]) / 40 < 0.75
    # a ball of squared radius 2 d var: no accepted proposal leaves it
    inside = (y0 * y0).sum(1) <= 2 * d * var
    z, _ = _corrector(
        energy, y0[inside], sigma, gamma, var, math.log(1.0), 20, gen, None, bound=2 * d * var
    )
    assert ((z * z).sum(1) <= 2 * d * var).all()
    # particles already outside the ball stay put (a move into it could not be undone, so
    # moving them would push mass into the ball); those inside never leave it
    z, _ = _corrector(
        energy, y0, sigma, gamma, var, math.log(1.0), 20, gen, None, bound=2 * d * var
    )
    assert torch.equal(z[~inside], y0[~inside])
    assert ((z[inside] * z[inside]).sum(1) <= 2 * d * var).all()
    assert (z[inside] != y0[inside]).any(1).double().mean() > 0.9
