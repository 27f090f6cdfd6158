"""Methods under study: the drifting one-step samplers.

Built-in: ``drifting`` (IS or curvature target-side estimator) and ``drifting_force``
(force-guided attraction).
"""

from boltzbench.methods import drifting  # noqa: F401  (registration)
from boltzbench.methods.drifting import Drifting, DriftingConfig, DriftingForce

__all__ = ["Drifting", "DriftingConfig", "DriftingForce"]
