import pytest
import torch
from boltzbench.targets.gmm import GMM4

from boltzbench.counter import BudgetExceeded, CostModel, Counter, charging


def test_batch_of_100_twice_is_charged_200():
    c = Counter(GMM4())
    x = torch.zeros(100, 2)
    c.energy(x)
    c.energy(x)
    assert c.counts.energy_evals_train == 200
    assert c.counts.grad_evals_train == 0


def test_gradients_counted_separately():
    c = Counter(GMM4())
    x = torch.zeros(7, 2)
    c.score(x)
    assert (c.counts.energy_evals_train, c.counts.grad_evals_train) == (0, 7)
    c.energy_and_score(x)
    assert (c.counts.energy_evals_train, c.counts.grad_evals_train) == (7, 14)


def test_phases_counted_separately():
    c = Counter(GMM4())
    x = torch.zeros(5, 2)
    c.energy(x)
    with charging(c, "sample"):
        assert c.phase == "sample"
        c.energy(x)
        c.energy(x)
        c.score(x)
    assert c.phase == "train"
    counts = c.counts
    assert counts.energy_evals_train == 5
    assert counts.energy_evals_sample == 10
    assert counts.grad_evals_sample == 5
    with pytest.raises(ValueError, match="unknown phase"):
        with charging(c, "warmup"):
            pass


def test_budget_stops_before_evaluating():
    c = Counter(GMM4(), budget=250)
    x = torch.zeros(100, 2)
    c.energy(x)
    c.score(x)
    with pytest.raises(BudgetExceeded, match="budget of 250"):
        c.energy(x)
    assert c.used == 200  # the refused call charged nothing
    c.energy(x[:50])
    assert c.remaining == 0


def test_cost_model_factors():
    c = Counter(GMM4(), budget=100, cost=CostModel(energy=1, grad=3, hvp=5))
    c.score(torch.zeros(30, 2))
    assert c.used == 90
    with pytest.raises(BudgetExceeded):
        c.score(torch.zeros(4, 2))


def test_energy_and_score_row_costs_one_gradient():
    """One pass gives both: a joint row is charged c_G, not c_E + c_G."""
    c = Counter(GMM4(), cost=CostModel(energy=1, grad=1, hvp=2))
    x = torch.zeros(10, 2)
    c.energy_and_score(x)
    assert c.used == 10
    counts = c.counts
    assert counts.energy_evals_train == 10 and counts.grad_evals_train == 10
    c.energy(x)
    c.hvp(x, torch.ones_like(x))
    assert c.used == 10 + 10 + 20 == c.counts.total_cost
    assert c.counts.target_seconds > 0 and c.counts.target_seconds_sample == 0


def test_target_seconds_are_split_by_phase():
    """Seconds inside the target are charged to the phase they were spent in, and the two
    phases add up to the total."""
    from boltzbench.counter import charging

    c = Counter(GMM4())
    x = torch.zeros(2000, 2)
    c.energy_and_score(x)
    with charging(c, "sample"):
        c.score(x)
    counts = c.counts
    assert counts.target_seconds_train > 0 and counts.target_seconds_sample > 0
    total = counts.target_seconds_train + counts.target_seconds_sample
    assert abs(total - counts.target_seconds) < 1e-12


def test_cost_model_parse():
    assert CostModel.parse("energy=1,grad=2,hvp=4") == CostModel(1.0, 2.0, 4.0)
    assert CostModel.parse("hvp=3") == CostModel(hvp=3.0)
    for bad in ("energy", "foo=1", "grad=x", "hvp=-1"):
        with pytest.raises(ValueError):
            CostModel.parse(bad)


def test_values_match_target_and_are_detached():
    t = GMM4()
    c = Counter(t)
    x = torch.randn(10, 2, requires_grad=True)
    e = c.energy(x)
    assert torch.allclose(e, t.energy(x.detach()))
    assert not e.requires_grad  # no uncounted gradients by back-propagation
    assert torch.allclose(c.score(x), t.score(x.detach()))


def test_no_attribute_leads_to_the_raw_target():
    t = GMM4()
    c = Counter(t)
    assert not hasattr(c, "__dict__")
    for name in dir(c):
        try:
            value = getattr(c, name)
        except AttributeError:
            continue
        assert value is not t
        assert getattr(value, "__self__", None) is not t
    with pytest.raises(TypeError):
        import pickle

        pickle.dumps(c)


def test_shape_is_checked():
    c = Counter(GMM4())
    with pytest.raises(ValueError, match=r"shape \[n, 2\]"):
        c.energy(torch.zeros(3))
    with pytest.raises(ValueError):
        c.score(torch.zeros(3, 5))
    assert c.used == 0
