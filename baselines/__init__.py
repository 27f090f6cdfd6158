"""Baselines: MCMC/Langevin samplers (and, later, annealed and distilled diffusion samplers).

Built-in: ``ula``, ``mala``, ``hmc``, ``pt`` (parallel tempering), ``smc`` (adaptive
tempering SMC with a log Z estimate), ``pita`` (progressive inference-time annealing of
diffusion models) and ``osds`` (self-distilled one-step diffusion sampler); shared
machinery in :mod:`.mcmc`.
"""

from boltzbench.baselines import hmc, mala, osds, pita, pt, smc, ula  # noqa: F401
from boltzbench.baselines.hmc import HMC, HMCConfig
from boltzbench.baselines.mala import MALA, MALAConfig
from boltzbench.baselines.osds import OSDS, OSDSConfig
from boltzbench.baselines.pita import PITA, PITAConfig
from boltzbench.baselines.pt import ParallelTempering, PTConfig
from boltzbench.baselines.smc import SMC, SMCConfig
from boltzbench.baselines.ula import ULA, ULAConfig

__all__ = [
    "HMC",
    "HMCConfig",
    "MALA",
    "MALAConfig",
    "OSDS",
    "OSDSConfig",
    "PITA",
    "PITAConfig",
    "PTConfig",
    "ParallelTempering",
    "SMC",
    "SMCConfig",
    "ULA",
    "ULAConfig",
]
