"""Methods under study: the drifting one-step samplers (``drifting`` with the IS or the
curvature target-side estimator, ``drifting_force`` with force-guided attraction).

A new sampler under study goes here, a reference point to compare it with goes in
``baselines/``. Every module of this package is imported (and so registers its methods)
when the package is: adding a method is one file plus its suite entry.
"""

import importlib
import pkgutil

for _module in pkgutil.iter_modules(__path__):
    importlib.import_module(f"{__name__}.{_module.name}")
