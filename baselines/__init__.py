"""Baselines: the reference points the methods under study are compared with.

Built-in: ``ula``, ``mala``, ``hmc``, ``pt`` (parallel tempering), ``smc`` (adaptive
tempering SMC with a log Z estimate), ``nuts``, ``pita`` (progressive inference-time
annealing of diffusion models) and ``osds`` (self-distilled one-step diffusion sampler);
shared machinery in :mod:`.mcmc`, :mod:`.weights` and :mod:`.diagnostics`.

Every module of this package is imported (and so registers its methods) when the package
is: adding a baseline is one file plus its suite entry.
"""

import importlib
import pkgutil

for _module in pkgutil.iter_modules(__path__):
    importlib.import_module(f"{__name__}.{_module.name}")
