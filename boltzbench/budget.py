"""Sizing a method's work to an evaluation budget.

A cell's budget B bounds its total cost over training and sampling under the counter's
:class:`~boltzbench.counter.CostModel`: c_E per energy value alone, c_G per gradient (with
or without the energy at the same row: one pass gives both), c_H per Hessian-vector
product (defaults 1, 1, 2). The counter enforces B: an evaluation past it
raises ``BudgetExceeded`` and fails the cell. Built-in methods read ``counter.budget``,
``counter.remaining`` and ``counter.n_samples`` (what ``sample`` will be asked for) and
size their own loops with these helpers so that they use the budget without crossing it.
"""

from __future__ import annotations

import math
from typing import Any

from boltzbench.counter import DEFAULT_COST

#: fraction of the budget a method keeps unspent against the variation of per-step costs
MARGIN = 0.02


def has_budget(counter: Any) -> bool:
    """Whether the cell runs under a budget."""
    return getattr(counter, "budget", None) is not None


def unit_cost(counter: Any, energy: int = 0, grad: int = 0, hvp: int = 0) -> float:
    """Budget units of ``energy`` energy-only rows, ``grad`` gradient rows (energies at the
    same rows included) and ``hvp`` Hessian-vector products under the counter's cost
    model (the default model for objects without one)."""
    return getattr(counter, "cost", DEFAULT_COST).row_cost(energy, grad, hvp)


def affordable(counter: Any, unit_cost: float, reserve: float = 0.0) -> int:
    """How many more units of work, each costing ``unit_cost`` budget units, fit in what is
    left after keeping ``reserve`` units (and a :data:`MARGIN` of the budget) aside; a very
    large number without a budget."""
    if not has_budget(counter) or unit_cost <= 0:
        return 2**62
    left = counter.remaining - reserve - MARGIN * counter.budget
    return max(0, math.floor(left / unit_cost))
