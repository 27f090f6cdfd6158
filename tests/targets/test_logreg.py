"""logreg_cancer: the energy against an independent formula, and its generated reference
(checked MCMC) against the Laplace approximation at the MAP."""

import numpy as np
import pytest
import torch
from boltzbench.targets.reference import ReferenceCheckError, get_reference
from scipy import optimize, special
from sklearn.datasets import load_breast_cancer

from boltzbench.protocols import MetricSpec
from boltzbench.registry import TARGETS


@pytest.fixture(scope="module")
def target():
    return TARGETS.get("logreg_cancer")()


def test_energy_against_scipy(target):
    features, labels = load_breast_cancer(return_X_y=True)
    x = (features - features.mean(0)) / features.std(0, ddof=1)
    x = np.hstack([np.ones((len(x), 1)), x])
    theta = 0.3 * np.random.default_rng(0).standard_normal((5, 31))
    z = theta @ x.T
    loglik = (labels * special.log_expit(z) + (1 - labels) * special.log_expit(-z)).sum(1)
    logprior = -0.5 * (theta**2).sum(1) - 15.5 * np.log(2 * np.pi)
    energy = target.energy(torch.tensor(theta)).numpy()
    assert np.allclose(energy, -(loglik + logprior), rtol=1e-10)


def test_score_is_minus_energy_gradient(target):
    theta = (0.3 * torch.randn(8, 31, generator=torch.Generator().manual_seed(1))).double()
    theta.requires_grad_(True)
    (grad,) = torch.autograd.grad(target.energy(theta).sum(), theta)
    assert torch.allclose(target.score(theta.detach()), -grad, rtol=1e-8, atol=1e-10)


def test_generated_reference_passes_its_checks_and_agrees_with_laplace(target):
    ref = target.reference()
    prov = ref.provenance
    assert all(prov["checks"].values()) and prov["r_hat_coords_max"] < 1.01
    assert (
        "chain_reference" in prov["command"]
        and "mala" in prov["command"]
        and prov["seed"] == 20260318
    )
    samples = ref.samples.double().numpy()
    assert samples.shape == (5000, 31)

    def f(th):
        return float(target.energy(torch.tensor(th[None])))

    def g(th):
        return -target.score(torch.tensor(th[None]))[0].numpy()

    mode = optimize.minimize(f, np.zeros(31), jac=g, method="L-BFGS-B", options={"gtol": 1e-10}).x
    hess = torch.autograd.functional.hessian(
        lambda th: target.energy(th[None])[0], torch.tensor(mode)
    )
    laplace_sd = np.sqrt(np.diag(np.linalg.inv(hess.numpy())))
    # a 569-case posterior is close to Gaussian: the mean lies within a fraction of a
    # standard deviation of the MAP (0.37 measured) and the spreads agree (0.94-1.04)
    assert np.all(np.abs(samples.mean(0) - mode) < 0.6 * laplace_sd)
    assert np.all(np.abs(samples.std(0) / laplace_sd - 1) < 0.15)


class _Unconverged:
    name = "unconverged"
    dim = 1
    reference_version = 1
    metric_spec = MetricSpec(n_reference=10)

    def sample(self, n, generator):
        return None

    def generate_reference(self, n, seed):
        info = {"r_hat_energy": 1.3, "checks": {"r_hat_below_1_01": False, "ess_ok": True}}
        return torch.zeros(n, 1), info


def test_a_reference_that_fails_a_check_is_refused_and_not_cached(tmp_path, monkeypatch):
    monkeypatch.setenv("BOLTZBENCH_CACHE", str(tmp_path))
    with pytest.raises(ReferenceCheckError, match="r_hat_below_1_01 .*r_hat_energy=1.3"):
        get_reference(_Unconverged())
    assert not list(tmp_path.rglob("*.npy"))
