"""MCMC efficiency benchmarks (asv ``track_*``; also runnable as a script).

ESS per gradient evaluation on the 10-D correlated Gaussian of the tests (eigenvalues of
the covariance 0.5 … 3): the quantity by which HMC should beat MALA. The ESS is the bulk
ESS (ArviZ) of the production draws, minimum over dimensions.

    python -m benchmarks.bench_mcmc      # prints both numbers
"""

from __future__ import annotations

from boltzbench.counter import Counter, charging
from boltzbench.testing import CorrelatedGaussian


def ess_per_gradient(method_name: str, seed: int = 0) -> float:
    """Bulk ESS of the production draws divided by the production gradient evaluations."""
    from boltzbench.baselines.hmc import HMC, HMCConfig
    from boltzbench.baselines.mala import MALA, MALAConfig

    method = (
        HMC(HMCConfig(n_chains=100, warmup=200, thin=1))
        if method_name == "hmc"
        else MALA(MALAConfig(n_chains=100, warmup=1000, thin=10))
    )
    counter = Counter(CorrelatedGaussian(dim=10, centred=True))
    with charging(counter, "train"):
        method.fit(counter, seed=seed)
    with charging(counter, "sample"):
        method.sample(4000)
    ess = method.diagnostics()["ess_bulk"]
    return ess / counter.counts.grad_evals_sample


def track_ess_per_gradient_hmc() -> float:
    return ess_per_gradient("hmc")


def track_ess_per_gradient_mala() -> float:
    return ess_per_gradient("mala")


track_ess_per_gradient_hmc.unit = "ESS/gradient"  # type: ignore[attr-defined]
track_ess_per_gradient_mala.unit = "ESS/gradient"  # type: ignore[attr-defined]


if __name__ == "__main__":
    for name in ("mala", "hmc"):
        print(f"{name}: bulk ESS per production gradient = {ess_per_gradient(name):.4f}")
