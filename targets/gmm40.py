"""GMM-40: the 40-mode 2-D Gaussian mixture of FAB / DEM / PITA."""

from __future__ import annotations

import torch
from boltzbench.targets.gmm import IsotropicGMM

from boltzbench.protocols import MetricSpec
from boltzbench.registry import register_target

#: std per dimension of every component: softplus(1) (FAB's log_var_scaling = 1).
GMM40_STD = float(torch.nn.functional.softplus(torch.tensor(1.0)))


def gmm40_means() -> torch.Tensor:
    """The 40 means, [40, 2]: torch.manual_seed(0) then (rand(40, 2) − 0.5) · 2 · 40, as the
    FAB code builds them (torch's CPU generator is fixed, so this is reproducible); drawn
    from a private generator so the global RNG is untouched."""
    g = torch.Generator().manual_seed(0)
    return ((torch.rand(40, 2, generator=g) - 0.5) * 2 * 40).to(torch.float64)


@register_target("gmm40")
class GMM40(IsotropicGMM):
    """2-D, 40 equal modes with means uniform in [−40, 40]² (torch seed 0) and std
    softplus(1) = 1.3133 per dimension; normalised, log Z = 0. Exact sampler, mean and
    covariance; init_std = 40 (the box the means live in). No ``mode_mass_error``: some
    means lie closer than one std to each other (for example (−27.7, −20.7) and
    (−28.9, −20.6)), so "the mode a sample is in" is not well defined."""

    name = "gmm40"
    box = ((-50.0, 50.0), (-50.0, 50.0))
    init_std = 40.0
    metric_spec = MetricSpec(mmd_bandwidth=39.6101)

    def __init__(self) -> None:
        super().__init__(gmm40_means(), GMM40_STD)
