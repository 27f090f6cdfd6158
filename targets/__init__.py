"""Targets: energies in kT, scores, exact samplers, frozen references and metric specs.

Built-in: ``gmm4``, ``double_well``, ``banana`` (all 2-D, exact samplers, known log Z).
"""

from boltzbench.targets import banana, double_well, gmm  # noqa: F401  (registration)
from boltzbench.targets.base import BaseTarget
from boltzbench.targets.reference import Reference, get_reference

__all__ = ["BaseTarget", "Reference", "get_reference"]
