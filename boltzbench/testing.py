"""Helpers for testing samplers and targets: small targets with known answers, and checks.

:class:`CorrelatedGaussian` is N(μ, Σ) with a fixed, non-diagonal covariance; it follows
the target protocol (``energy``, ``score``, ``energy_and_score``, ``dim``, ``init_std``),
so it can be wrapped in a :class:`boltzbench.counter.Counter` and handed to any method.
"""

from __future__ import annotations

import math
from typing import Any

import torch


class CorrelatedGaussian:
    """N(μ, Σ) in ``dim`` dimensions: Σ = Q diag(linspace(lo, hi)) Qᵀ with Q a random
    rotation from ``seed``, μ = linspace(−1, 1) (or zero with ``centred``).

    E(x) = ½ (x − μ)ᵀ Σ⁻¹ (x − μ), so log Z = (d/2) log 2π + ½ log det Σ.
    """

    name = "correlated_gaussian"

    def __init__(
        self,
        dim: int = 10,
        eigenvalues: tuple[float, float] = (0.5, 3.0),
        seed: int = 7,
        centred: bool = False,
        init_std: float = 3.0,
    ) -> None:
        self.dim = dim
        self.init_std = init_std
        g = torch.Generator().manual_seed(seed)
        q, _ = torch.linalg.qr(torch.randn(dim, dim, generator=g, dtype=torch.float64))
        lo, hi = eigenvalues
        self.cov = q @ torch.diag(torch.linspace(lo, hi, dim, dtype=torch.float64)) @ q.T
        self.prec = torch.linalg.inv(self.cov)
        self.mu = (
            torch.zeros(dim, dtype=torch.float64)
            if centred
            else torch.linspace(-1.0, 1.0, dim, dtype=torch.float64)
        )
        self.log_Z = 0.5 * dim * math.log(2 * math.pi) + 0.5 * float(torch.logdet(self.cov))

    def energy(self, x: torch.Tensor) -> torch.Tensor:
        d = x.double() - self.mu
        return (0.5 * (d @ self.prec * d).sum(1)).to(x.dtype)

    def score(self, x: torch.Tensor) -> torch.Tensor:
        return (-(x.double() - self.mu) @ self.prec).to(x.dtype)

    def energy_and_score(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return self.energy(x), self.score(x)


def check_score_is_minus_energy_gradient(target, x: torch.Tensor) -> None:
    """Assert ``target.score(x)`` equals −∇E(x) by autograd (float64, rtol 1e-6)."""
    x = x.detach().to(torch.float64).requires_grad_(True)
    (grad,) = torch.autograd.grad(target.energy(x).sum(), x)
    score = target.score(x.detach())
    if not torch.allclose(score, -grad, rtol=1e-6, atol=1e-8):
        worst = float((score + grad).abs().max())
        raise AssertionError(f"score differs from −∇E by up to {worst:.3g}")


# --------------------------------------------------------------------------------------
# Conformance kit for plugin authors: pytest-ready checks of a method and of a target.


class TargetCheckError(ValueError):
    """A target's energy or score is not finite where it should be."""


def check_target(target: Any, n: int = 256, seed: int = 0) -> None:
    """Probe ``target`` at n points of its broad initial distribution N(0, init_std² I):
    energies must have shape [n] and be finite or +inf (a hard wall), scores shape [n, d]
    and finite wherever the energy is. Raises :class:`TargetCheckError` with a one-line
    reason naming the first bad point."""
    name = getattr(target, "name", type(target).__name__)
    g = torch.Generator().manual_seed(seed)
    x = float(getattr(target, "init_std", 1.0)) * torch.randn(n, int(target.dim), generator=g)
    e = _probe(name, "energy", target.energy, x)
    if tuple(e.shape) != (n,):
        raise TargetCheckError(
            f"target {name!r}: energy returned shape {tuple(e.shape)}, expected ({n},)"
        )
    bad = torch.isnan(e) | (e == -math.inf)
    finite = torch.isfinite(e)
    s = _probe(name, "score", target.score, x)
    if tuple(s.shape) != tuple(x.shape):
        raise TargetCheckError(
            f"target {name!r}: score returned shape {tuple(s.shape)}, expected {tuple(x.shape)}"
        )
    bad_score = finite & ~torch.isfinite(s).all(1)
    for what, mask in (("energy", bad), ("score", bad_score)):
        if mask.any():
            i = int(mask.nonzero()[0])
            point = ", ".join(f"{v:.3g}" for v in x[i, :4].tolist())
            more = ", ..." if x.shape[1] > 4 else ""
            raise TargetCheckError(
                f"target {name!r}: {what} is NaN or -inf at {int(mask.sum())} of {n} probe "
                f"points from N(0, init_std² I), e.g. x = [{point}{more}]"
            )


def _probe(name: str, what: str, fn: Any, x: torch.Tensor) -> torch.Tensor:
    """``fn(x)``, its exceptions turned into a one-line :class:`TargetCheckError`."""
    try:
        return fn(x)
    except Exception as exc:
        if what == "score" and "does not require grad" in str(exc):
            raise TargetCheckError(
                f"target {name!r}: its energy does not depend on x (autograd finds no "
                "gradient); a constant energy has no proper Boltzmann density"
            ) from None
        line = (str(exc).strip().splitlines() or [""])[0][:200]
        raise TargetCheckError(
            f"target {name!r}: {what} raised {type(exc).__name__}: {line}"
        ) from None


#: what :func:`check_method` checks, in order
CONFORMANCE_CHECKS: tuple[str, ...] = (
    "shapes_and_dtype",
    "budget",
    "counting",
    "determinism",
    "seeding",
)


def _fit_and_sample(
    method: str, params: dict[str, Any], target: str, seed: int, n: int, budget: int | None
) -> tuple[Any, Any, BaseException | None]:
    """Run a method as a cell would (:func:`boltzbench.driver.run_method`: sealed, counted,
    both phases, validated): (samples, counter, the exception it raised or None)."""
    from boltzbench.counter import Counter
    from boltzbench.driver import run_method
    from boltzbench.protocols import build_method
    from boltzbench.registry import METHODS, TARGETS

    instance, _ = build_method(METHODS.get(method), dict(params))
    counter = Counter(TARGETS.get(target)(), budget=budget, n_samples=n)
    try:
        return run_method(instance, counter, seed, n).samples, counter, None
    except Exception as exc:  # reported by the check it breaks
        return None, counter, exc


def check_method(
    method: str,
    *,
    params: dict[str, Any] | None = None,
    target: str = "gmm4",
    n: int = 256,
    budget: int | None = 50_000,
    seed: int = 0,
    checks: tuple[str, ...] = CONFORMANCE_CHECKS,
) -> None:
    """The plugin conformance kit: run the registered ``method`` (with config overrides
    ``params``) on ``target`` as the runner would, and assert what the suite relies on.

    - ``shapes_and_dtype``: ``sample(n)`` returns a floating tensor [n, d], all finite.
    - ``budget``: it completes under ``budget`` evaluations (energy values + gradients +
      HVPs) without the counter stopping it: it sizes its work to ``counter.remaining``.
    - ``counting``: it evaluates the energy, only through the counter (no evaluation
      bypassed it, no shut route was tried: see :mod:`boltzbench.guard`).
    - ``determinism``: the same seed gives bit-identical samples and counts.
    - ``seeding``: another seed gives other samples.

    Raises AssertionError naming the first check that fails. Use it in a plugin's tests::

        from boltzbench.testing import check_method

        def test_my_sampler_conforms():
            check_method("my_sampler", params={"steps": 50})
    """
    from boltzbench.counter import BudgetExceeded
    from boltzbench.driver import InvalidSamples, UncountedEvaluations
    from boltzbench.guard import SealedError

    params = params or {}
    unknown = [c for c in checks if c not in CONFORMANCE_CHECKS]
    if unknown:
        raise ValueError(f"unknown checks {unknown}; known: {', '.join(CONFORMANCE_CHECKS)}")
    samples, counter, error = _fit_and_sample(method, params, target, seed, n, budget)
    where = f"{method} on {target} (seed {seed}, budget {budget})"
    if "budget" in checks and isinstance(error, BudgetExceeded):
        raise AssertionError(f"budget: {where} ran past its budget: {error}")
    if "counting" in checks and isinstance(error, SealedError | UncountedEvaluations):
        raise AssertionError(f"counting: {where} reached around the counter: {error}")
    if "shapes_and_dtype" in checks and isinstance(error, InvalidSamples):
        raise AssertionError(f"shapes_and_dtype: {where}: {error}") from None
    if error is not None:
        raise AssertionError(f"{where} raised {type(error).__name__}: {error}") from error
    if "counting" in checks and counter.used == 0:
        raise AssertionError(f"counting: {where} never evaluated the energy")
    if "determinism" in checks:
        again, counter2, error2 = _fit_and_sample(method, params, target, seed, n, budget)
        if error2 is not None or not torch.equal(samples, again):
            raise AssertionError(f"determinism: {where} gave other samples on a second run")
        first, second = counter.counts.as_dict(), counter2.counts.as_dict()
        for timing in [k for k in first if k.startswith("target_seconds")]:  # wall clock
            first.pop(timing), second.pop(timing)
        if first != second:
            raise AssertionError(f"determinism: {where} counted {second} then {first}")
    if "seeding" in checks:
        other, _, error3 = _fit_and_sample(method, params, target, seed + 1, n, budget)
        if error3 is None and torch.equal(samples, other):
            raise AssertionError(f"seeding: {where} gave the same samples for seed {seed + 1}")
