"""Metrics: pure functions ``metric(samples, reference, target) -> float``.

Built-in: ``mean_error``, ``cov_error``, ``mmd`` (unbiased RBF MMD²), ``w2`` (exact),
``sliced_w2`` (these five on raw coordinates: n/a on particle systems and molecules),
``mode_mass_error`` (targets with modes), ``energy_w1``, ``energy_w2`` (clipped to the
reference's range) and ``high_energy_fraction`` (every target), ``distance_w2``,
``distance_tv`` and ``aligned_w2`` (particle targets), ``rama_kl``, ``rama_tv`` and
``torsion_w2`` (``aldp``), ``bond_w1`` and ``angle_w1`` (molecules that declare
bonds and angles: ``ethanol``). A metric that does not apply to a target returns None (shown
as n/a). Each carries a ``version`` that goes into every result row.

POT (``ot``) is imported inside the functions that use it: its import takes about 1.5 s
beyond torch (it pulls in scikit-learn), which every ``boltzbench`` process paid, the
commands that compute no metric included; the local executor's forkserver preloads it
for the cells (:mod:`boltzbench.run.warm`).
"""

from boltzbench.metrics import (  # noqa: F401  (registration)
    aligned,
    estimates,
    geometry,
    mmd,
    modes,
    moments,
    multiscale,
    particles,
    wasserstein,
)
from boltzbench.metrics.mmd import median_bandwidth, mmd2_unbiased
from boltzbench.metrics.modes import mode_fractions
from boltzbench.metrics.moments import cov_error_value, mean_error_value
from boltzbench.metrics.wasserstein import random_directions, sliced_w2_value, w2_exact

DEFAULT_METRICS: tuple[str, ...] = (
    "mmd_multi",
    "mmd_x0.1",
    "mmd_x0.3",
    "mean_error",
    "cov_error",
    "mmd",
    "w2",
    "sliced_w2",
    "mode_mass_error",
    "energy_w1",
    "energy_w2",
    "high_energy_fraction",
    "distance_w2",
    "distance_tv",
    "aligned_w2",
    "rama_kl",
    "rama_tv",
    "torsion_w2",
    "log_z_error",
    "elbo",
    "ess_fraction",
)

__all__ = [
    "DEFAULT_METRICS",
    "cov_error_value",
    "mean_error_value",
    "median_bandwidth",
    "mmd2_unbiased",
    "mode_fractions",
    "random_directions",
    "sliced_w2_value",
    "w2_exact",
]
