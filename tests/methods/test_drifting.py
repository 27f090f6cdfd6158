"""The drift field itself, on a small budget, and the drifting methods' contracts."""

import pytest
import torch
from boltzbench.methods.drift_fields import (
    curvature_drift,
    force_drift,
    is_local_drift,
    is_shared_drift,
    sampler_drift,
)
from boltzbench.methods.drifting import Drifting, DriftingConfig, DriftingForce

from boltzbench.counter import Counter, charging


def exact_smoothed_drift(target, x, sigma):
    """σ² ∇log π_σ(x) for a Gaussian π = N(μ, Σ): −σ² (Σ + σ² I)⁻¹ (x − μ)."""
    s = target.sigma + sigma**2 * torch.eye(2, dtype=torch.float64)
    return -(sigma**2) * (x.double() - target.mu) @ torch.linalg.inv(s)


def points(n=200, seed=0, scale=2.0):
    return scale * torch.randn(
        n, 2, generator=torch.Generator().manual_seed(seed), dtype=torch.float64
    )


@pytest.mark.parametrize("sigma", [0.3, 1.0])
def test_curvature_estimator_is_exact_for_gaussians(gaussian2d, sigma):
    counter = Counter(gaussian2d)
    x = points()
    v = curvature_drift(-counter.score(x), counter.hessian(x), sigma, floor=1e-6)
    assert torch.allclose(v, exact_smoothed_drift(gaussian2d, x, sigma), atol=1e-10)
    assert counter.counts.grad_evals_train == 200 and counter.counts.hvp_evals_train == 400


def test_curvature_clip_keeps_steps_bounded():
    # a strongly concave direction (H = −10 I): I + σ²H is indefinite at σ = 1
    g = torch.tensor([[1.0, 0.0]], dtype=torch.float64)
    h = -10 * torch.eye(2, dtype=torch.float64)[None]
    v = curvature_drift(g, h, 1.0, floor=0.1)
    assert torch.isfinite(v).all()
    assert v.norm() <= 1.0 * g.norm() / 0.1 + 1e-12
    assert (v * -g).sum() > 0  # still downhill


def test_local_is_estimator_converges_to_the_smoothed_score(gaussian2d):
    x, sigma = points(100), 0.7
    exact = exact_smoothed_drift(gaussian2d, x, sigma)
    errors = []
    for m in [8, 128, 2048]:
        counter = Counter(gaussian2d)
        gen = torch.Generator().manual_seed(1)
        v = is_local_drift(counter, x, sigma, m, gen)
        assert counter.counts.energy_evals_train == 100 * m
        errors.append(float(((v - exact).norm(dim=1) / exact.norm(dim=1)).median()))
    assert errors[0] > errors[1] > errors[2]
    assert errors[2] < 0.1  # median relative error; far-out points converge slowest


def test_shared_is_estimator_converges_with_the_batch(gaussian2d):
    sigma = 0.7
    errors = []
    for n in [64, 4096]:
        x = points(n, seed=2)
        counter = Counter(gaussian2d)
        v = is_shared_drift(counter, x, sigma, torch.Generator().manual_seed(3))
        assert counter.counts.energy_evals_train == n
        exact = exact_smoothed_drift(gaussian2d, x, sigma)
        errors.append(float((v - exact).norm(dim=1).mean() / exact.norm(dim=1).mean()))
    assert errors[1] < errors[0] and errors[1] < 0.1


def exact_batch(target, n, seed):
    g = torch.Generator().manual_seed(seed)
    z = torch.randn(n, 2, generator=g, dtype=torch.float64)
    return target.mu + z @ torch.linalg.cholesky(target.sigma).T


@pytest.mark.parametrize("estimator", ["curvature", "shared", "force"])
def test_drift_vanishes_at_the_target_and_shrinks_with_the_batch(gaussian2d, estimator):
    sigma = 0.5

    def total_drift(x, seed):
        counter = Counter(gaussian2d)
        if estimator == "curvature":
            plus = curvature_drift(-counter.score(x), counter.hessian(x), sigma, 1e-6)
        elif estimator == "shared":
            plus = is_shared_drift(counter, x, sigma, torch.Generator().manual_seed(seed))
        else:
            return force_drift(x, counter.score(x), sigma)
        return plus - sampler_drift(x, sigma)

    rms = lambda v: float(v.pow(2).sum(1).mean().sqrt())
    init = rms(total_drift(points(1000, seed=5, scale=gaussian2d.init_std), 0))
    sizes = {
        n: sum(rms(total_drift(exact_batch(gaussian2d, n, s), s)) for s in range(3)) / 3
        for n in [100, 3000]
    }
    assert sizes[100] < 0.5 * init
    assert sizes[3000] < 0.6 * sizes[100]
    assert sizes[3000] < 0.15 * init


def test_sampler_drift_is_stable_for_an_isolated_sample():
    x = torch.cat(
        [
            torch.randn(50, 2, generator=torch.Generator().manual_seed(0)),
            torch.tensor([[40.0, 0.0]]),
        ]
    ).double()
    v = sampler_drift(x, 0.5)
    assert v[-1].norm() < 1e-6  # self weight keeps it still instead of pushing it away
    v0 = sampler_drift(x, 0.5, self_weight=0.0)
    assert v0[-1].norm() > 30  # the unstable self-excluded form


SMALL = dict(steps=5, batch_size=64, hidden=16, layers=2, noise_dim=4)


@pytest.mark.parametrize(
    "cls, params, expected",
    [
        (Drifting, {"estimator": "is", "proposals": "shared"}, (5 * 64 * 3, 0, 0)),
        (
            Drifting,
            {"estimator": "is", "proposals": "local", "n_proposals": 4},
            (5 * 64 * 4 * 3, 0, 0),
        ),
        # curvature and force at the fine bandwidths 0.1 and 0.3, shared IS at 1.0
        (Drifting, {"estimator": "curvature"}, (5 * 64, 5 * 64, 5 * 64 * 2)),
        (DriftingForce, {}, (5 * 64, 5 * 64, 0)),
        (DriftingForce, {"bandwidths": (0.1, 0.3)}, (0, 5 * 64, 0)),
    ],
)
def test_every_evaluation_is_counted_in_train_and_sampling_is_free(cls, params, expected):
    from boltzbench.targets.gmm import GMM4

    counter = Counter(GMM4())
    method = cls(cls.Config(**SMALL, **params))
    method.fit(counter, seed=0)
    with charging(counter, "sample"):
        x = method.sample(500)
    c = counter.counts
    assert (c.energy_evals_train, c.grad_evals_train, c.hvp_evals_train) == expected
    assert (c.energy_evals_sample, c.grad_evals_sample, c.hvp_evals_sample) == (0, 0, 0)
    assert x.shape == (500, 2) and torch.isfinite(x).all()


def test_same_seed_same_samples():
    from boltzbench.targets.gmm import GMM4

    def run(seed):
        m = Drifting(DriftingConfig(**SMALL))
        m.fit(Counter(GMM4()), seed=seed)
        return m.sample(100)

    assert torch.equal(run(1), run(1))
    assert not torch.equal(run(1), run(2))


def test_bad_config_is_rejected():
    from boltzbench.targets.gmm import GMM4

    with pytest.raises(ValueError, match="estimator must be one of"):
        Drifting(DriftingConfig(estimator="magic")).fit(Counter(GMM4()), seed=0)


def test_short_training_moves_towards_the_target():
    from boltzbench.metrics import mmd2_unbiased
    from boltzbench.targets.gmm import GMM4

    t = GMM4()
    ref = t.reference().samples
    m = Drifting(DriftingConfig(steps=150, batch_size=256))
    counter = Counter(t)
    m.fit(counter, seed=0)
    before = Drifting(DriftingConfig(steps=0))
    before.fit(Counter(t), seed=0)
    bw = t.metric_spec.mmd_bandwidth
    assert mmd2_unbiased(m.sample(2000), ref, bw) < 0.3 * mmd2_unbiased(
        before.sample(2000), ref, bw
    )


def test_force_drift_ignores_samples_whose_score_is_not_finite():
    """A sample where the energy overflows (score inf or NaN) carries no force: the other
    rows' drift equals the drift over the finite samples alone, and no row is NaN."""
    g = torch.Generator().manual_seed(0)
    x = torch.randn(6, 3, generator=g)
    scores = torch.randn(6, 3, generator=g)
    bad = scores.clone()
    bad[2, 0] = float("inf")
    bad[4, 1] = float("nan")
    v = force_drift(x, bad, 0.8)
    assert torch.isfinite(v).all()
    keep = [0, 1, 3, 5]
    expected = force_drift(x[keep], scores[keep], 0.8)
    assert torch.allclose(v[keep], expected, atol=1e-6)
    # a non-finite row is pulled by its finite neighbours' forces and positions
    logits = -torch.cdist(x[2:3], x[keep]).pow(2) / (2 * 0.8**2)
    a = torch.softmax(logits, dim=1)
    assert torch.allclose(v[2], (0.8**2 * a @ scores[keep] - (a @ x[keep] - x[2]))[0], atol=1e-6)
    # all scores non-finite: no drift at all
    assert torch.equal(force_drift(x, torch.full_like(x, float("nan")), 0.8), torch.zeros_like(x))


def test_diagnostics_report_the_training_steps_and_batch():
    """train_steps is what the tier `untrained` reads: the steps the budget paid for."""
    from boltzbench.targets.gmm import GMM4

    config = DriftingConfig(**{**SMALL, "batch_size": 16})
    counter = Counter(GMM4(), budget=2_000)
    method = Drifting(config)
    with charging(counter, "train"):
        method.fit(counter, seed=0)
    d = method.diagnostics()
    # one sample costs 3 energies (shared IS at three bandwidths): 48 a step, all paid
    assert d["batch_size"] == 16
    assert counter.used == 48 * d["train_steps"]
    assert 2_000 - 2 * 48 < counter.used <= 2_000
