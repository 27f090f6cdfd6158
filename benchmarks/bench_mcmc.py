"""MCMC efficiency benchmarks (asv ``track_*``; also runnable as a script).

ESS per gradient evaluation on the 10-D correlated Gaussian of the tests (eigenvalues of
the covariance 0.5 … 3): the quantity by which HMC should beat MALA. The ESS is the bulk
ESS (ArviZ) of the production draws, minimum over dimensions.

    python -m benchmarks.bench_mcmc      # prints both numbers
"""

from __future__ import annotations

import torch

from boltzbench.counter import Counter, charging


class Gaussian10D:
    name = "gauss10d"
    dim = 10
    init_std = 3.0

    def __init__(self) -> None:
        g = torch.Generator().manual_seed(7)
        q, _ = torch.linalg.qr(torch.randn(10, 10, generator=g, dtype=torch.float64))
        cov = q @ torch.diag(torch.linspace(0.5, 3.0, 10, dtype=torch.float64)) @ q.T
        self.prec = torch.linalg.inv(cov)

    def energy(self, x):
        return (0.5 * (x.double() @ self.prec * x.double()).sum(1)).to(x.dtype)

    def score(self, x):
        return (-(x.double() @ self.prec)).to(x.dtype)

    def energy_and_score(self, x):
        return self.energy(x), self.score(x)


def ess_per_gradient(method_name: str, seed: int = 0) -> float:
    """Bulk ESS of the production draws divided by the production gradient evaluations."""
    from boltzbench.baselines.hmc import HMC, HMCConfig
    from boltzbench.baselines.mala import MALA, MALAConfig

    method = (
        HMC(HMCConfig(n_chains=100, warmup=200, thin=1))
        if method_name == "hmc"
        else MALA(MALAConfig(n_chains=100, warmup=1000, thin=10))
    )
    counter = Counter(Gaussian10D())
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
