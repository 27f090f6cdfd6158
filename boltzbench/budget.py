"""Sizing a method's work to an evaluation budget.

A cell's budget B counts ``energy evaluations + grad_cost × (gradients + Hessian-vector
products)`` over training and sampling (``grad_cost`` = 1 in every suite: one gradient is
charged as one energy evaluation, the usual convention of the sampler literature where an
energy and its force come from one pass). The counter enforces B: an evaluation past it
raises ``BudgetExceeded`` and fails the cell. Built-in methods read ``counter.budget``,
``counter.remaining`` and ``counter.n_samples`` (what ``sample`` will be asked for) and
size their own loops with these helpers so that they use the budget without crossing it.
"""

from __future__ import annotations

import math
from typing import Any

#: fraction of the budget a method keeps unspent against the variation of per-step costs
MARGIN = 0.02


def has_budget(counter: Any) -> bool:
    """Whether the cell runs under a budget."""
    return getattr(counter, "budget", None) is not None


def affordable(counter: Any, unit_cost: float, reserve: float = 0.0) -> int:
    """How many more units of work, each costing ``unit_cost`` budget units, fit in what is
    left after keeping ``reserve`` units (and a :data:`MARGIN` of the budget) aside; a very
    large number without a budget."""
    if not has_budget(counter) or unit_cost <= 0:
        return 2**62
    left = counter.remaining - reserve - MARGIN * counter.budget
    return max(0, math.floor(left / unit_cost))
