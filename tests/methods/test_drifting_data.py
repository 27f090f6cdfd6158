"""Dataset-trained drifting: the dataset is MD at τ T (its variance on a Gaussian is τ Σ,
in closed form), its force labels are the target's score at T, every evaluation is the
dataset's (training evaluates nothing) and a budget pays for the dataset alone."""

import pytest
import torch
from boltzbench.methods.drifting_data import DriftingData, DriftingForceData

from boltzbench.counter import Counter, charging
from boltzbench.testing import CorrelatedGaussian

SMALL = {"steps": 3, "batch_size": 16, "hidden": 16, "layers": 2, "data_batch": 64}


def _fit(cls, target, budget=None, **kw):
    method = cls(cls.Config(**{**SMALL, **kw}))
    counter = Counter(target, budget=budget, n_samples=10)
    with charging(counter, "train"):
        method.fit(counter, seed=0)
    return method, counter


def test_the_dataset_is_md_at_the_raised_temperature_with_labels_at_the_target_s():
    target = CorrelatedGaussian(dim=3, centred=True, init_std=1.0)
    method, counter = _fit(
        DriftingForceData, target, data_chains=200, data_warmup=300, data_thin=20, data_size=4000
    )
    tau = method.config.data_temperature
    cov = torch.cov(method.data.double().T)
    assert torch.allclose(cov, tau * target.cov, atol=0.12 * tau * float(target.cov.max()))
    assert torch.allclose(method.labels, target.score(method.data), rtol=1e-4, atol=1e-5)
    rounds = 4000 // 200
    assert counter.counts.grad_evals_train == 200 * (1 + 300 + rounds * 20)
    assert counter.counts.energy_evals_train == 0  # MD and training need no energy values


@pytest.mark.parametrize("cls", [DriftingForceData, DriftingData])
def test_a_budget_pays_for_the_dataset_and_training_runs_its_steps(cls):
    target = CorrelatedGaussian(dim=2, centred=True, init_std=1.0)
    method, counter = _fit(cls, target, budget=20_000, data_chains=10, data_size=100)
    assert 0.9 * 20_000 <= counter.used <= 20_000
    assert len(method.history) == SMALL["steps"]
    assert method.data_frames == 100 and method.data_warmup_steps <= 2000
    assert cls is DriftingData or method.config.forces


def test_a_budget_too_small_for_one_frame_per_trajectory_fails_up_front():
    from boltzbench.counter import BudgetExceeded

    target = CorrelatedGaussian(dim=2, centred=True)
    with pytest.raises(BudgetExceeded, match="cannot pay"):
        _fit(DriftingData, target, budget=50, data_chains=10, data_size=100)
