"""A collapse cannot win: on every built-in target, the primary metric ranks a method that
returns n copies of one low-energy configuration below independent draws from the target
(part of its reference set, both scored against the rest), and exact draws with a tenth of
them moved into the gaps between modes are told apart from exact draws."""

import os

import numpy as np
import pytest
import torch
from conftest import PLUGINS

from boltzbench.counter import Counter
from boltzbench.driver import run_method
from boltzbench.protocols import build_method, primary_metric
from boltzbench.registry import METHODS, METRICS, TARGETS, load_plugin
from boltzbench.report.ranks import interval, shared_ranks
from boltzbench.report.tables import lower_is_better

#: generated references that take minutes to build are checked when BOLTZBENCH_SLOW=1
SLOW = {"lj13", "aldp", "ethanol"}


def _targets() -> list[str]:
    builtin = [
        n for n in TARGETS.names() if TARGETS.get(n).__module__.startswith("boltzbench.targets")
    ]
    return sorted(builtin)


@pytest.mark.parametrize("name", _targets())
def test_a_collapse_ranks_last_on_the_primary_metric(name):
    if name in SLOW and not os.environ.get("BOLTZBENCH_SLOW"):
        pytest.skip("its reference takes minutes to generate; run with BOLTZBENCH_SLOW=1")
    try:
        target = TARGETS.get(name)()
    except ImportError as exc:
        pytest.skip(str(exc))
    load_plugin(str(PLUGINS / "collapse.py"))
    metric = METRICS.get(primary_metric(target))
    # independent draws from the target: the first n of its reference set, scored (like
    # the collapse) against the rest of it
    full = target.reference().samples
    n = min(1000, full.shape[0] // 3)
    exact, reference = full[:n], full[n:]
    method, _ = build_method(METHODS.get("test_collapse"))
    collapsed = run_method(method, Counter(target), seed=0, n=n).samples
    values = {
        "collapse": float(metric(collapsed, reference, target)),
        "exact": float(metric(exact, reference, target)),
    }
    lower = lower_is_better(metric.metric_name)
    ranks = shared_ranks(list(values.values()), [np.nan] * 2, [np.nan] * 2, [False, False], lower)
    assert list(ranks) == [2, 1], (name, metric.metric_name, values)


def test_mass_in_the_gaps_is_seen_by_the_primary_metric():
    target = TARGETS.get("gmm4")()
    metric = METRICS.get(primary_metric(target))
    reference = target.reference().samples
    clean, gapped = [], []
    for seed in range(5):
        g = torch.Generator().manual_seed(100 + seed)
        x = target.sample(2000, g)
        y = x.clone()
        means = target.means.float()
        i = torch.randint(0, 4, (200,), generator=g)
        j = torch.where(i % 2 == 0, i + 1, i - 1)  # a neighbouring mode
        y[:200] = 0.5 * (means[i] + means[j]) + 0.3 * target.std * torch.randn(200, 2, generator=g)
        clean.append(metric(x, reference, target))
        gapped.append(metric(y, reference, target))
    _, _, clean_high, _ = interval(np.array(clean))
    _, gap_low, _, _ = interval(np.array(gapped))
    assert clean_high < gap_low, (clean, gapped)
