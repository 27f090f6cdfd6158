"""boltzbench: a comparative benchmark suite for samplers of Boltzmann distributions.

Public entry points: :func:`register_method`, :func:`register_target`,
:func:`register_metric`, :class:`Counter`, :class:`BudgetExceeded`, :class:`MetricSpec`.
"""

from boltzbench.counter import BudgetExceeded, Counter, Counts
from boltzbench.protocols import MetricSpec
from boltzbench.registry import (
    METHODS,
    METRICS,
    TARGETS,
    register_method,
    register_metric,
    register_target,
)

__version__ = "0.1.0"

__all__ = [
    "BudgetExceeded",
    "Counter",
    "Counts",
    "MetricSpec",
    "METHODS",
    "METRICS",
    "TARGETS",
    "register_method",
    "register_metric",
    "register_target",
    "__version__",
]
