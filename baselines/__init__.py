"""Baselines: MCMC/Langevin samplers (and, later, annealed and distilled diffusion samplers).

Built-in: ``mala`` (fixed step size).
"""

from boltzbench.baselines import mala  # noqa: F401  (registration)
from boltzbench.baselines.mala import MALA, MALAConfig

__all__ = ["MALA", "MALAConfig"]
