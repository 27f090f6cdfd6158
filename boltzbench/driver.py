"""The one place a method is driven: seal, fit, sample, validate.

:func:`run_method` is what a cell, the conformance kit (:mod:`boltzbench.testing`) and
reference generation (:mod:`boltzbench.targets.generated`) all call, so that every method
is run the same way: ``fit`` charged to ``train``, ``sample(n)`` to ``sample``, both under
:func:`boltzbench.guard.sealed` (no route to the target but the counter) and on the given
torch device, the output checked to be ``n`` finite float samples of the target's
dimension, and no evaluation allowed to bypass the counter.
"""

from __future__ import annotations

import contextlib
import time
from dataclasses import dataclass
from typing import Any

import torch

from boltzbench.counter import Counter, charging
from boltzbench.guard import sealed


class InvalidSamples(ValueError):
    """The method returned something that is not n finite float samples of dimension d."""


class UncountedEvaluations(RuntimeError):
    """The counted target was evaluated other than through the counter."""


@dataclass(frozen=True)
class MethodRun:
    """What :func:`run_method` returns.

    Attributes:
        samples: [n, d] float32 CPU tensor, detached, all finite.
        train_seconds, sample_seconds: wall-clock seconds of ``fit`` and ``sample``.
        started: ``time.perf_counter()`` when ``fit`` began (a snapshot's ``clock`` minus
            this is its wall seconds into the run).
    """

    samples: torch.Tensor
    train_seconds: float
    sample_seconds: float
    started: float = 0.0


def validate_samples(samples: Any, n: int, dim: int) -> torch.Tensor:
    """Check a method's output; return it as a detached float32 CPU tensor [n, dim].
    Raises :class:`InvalidSamples` naming what is wrong."""
    if not isinstance(samples, torch.Tensor):
        raise InvalidSamples(f"sample() returned {type(samples).__name__}, not a torch.Tensor")
    if not samples.is_floating_point():
        raise InvalidSamples(f"sample() returned dtype {samples.dtype}, not a float dtype")
    if tuple(samples.shape) != (n, dim):
        raise InvalidSamples(f"sample() returned shape {tuple(samples.shape)}, expected {(n, dim)}")
    samples = samples.detach().to("cpu", torch.float32)
    bad = int((~torch.isfinite(samples)).any(dim=1).sum())
    if bad:
        raise InvalidSamples(f"{bad} of {n} samples contain NaN or inf")
    return samples


def run_method(
    method: Any, counter: Counter, seed: int, n: int, device: str | torch.device = "cpu"
) -> MethodRun:
    """Fit ``method`` through ``counter`` with ``seed`` and draw ``n`` samples.

    Raises what the method raises (``BudgetExceeded`` from the counter, ``SealedError``
    for a shut route, anything else), :class:`InvalidSamples` for a bad output and
    :class:`UncountedEvaluations` when evaluations bypassed the counter.
    """
    device = torch.device(device)
    torch.manual_seed(seed)  # for methods that (against advice) use the global RNG
    # the method's tensors on the device (the target stays on the CPU, behind the counter);
    # on the CPU, the default, no device context: it intercepts every torch call (a
    # TorchFunctionMode), which cost a third of OSDS's training time
    on_device = torch.device(device) if device.type != "cpu" else contextlib.nullcontext()
    with on_device, sealed():
        t0 = started = time.perf_counter()
        with charging(counter, "train"):
            method.fit(counter, seed=seed)
        _synchronize(device)
        train_seconds = time.perf_counter() - t0
        t0 = time.perf_counter()
        with charging(counter, "sample"):
            raw = method.sample(n)
        _synchronize(device)
        sample_seconds = time.perf_counter() - t0
    samples = validate_samples(raw, n, counter.dim)
    bypassed = counter.uncounted()
    if bypassed:
        raise UncountedEvaluations(
            "evaluations bypassed the counter: "
            + ", ".join(f"{v} {k}" for k, v in bypassed.items())
        )
    return MethodRun(samples, train_seconds, sample_seconds, started)


def _synchronize(device: torch.device) -> None:
    """Wait for queued GPU work, so that the timings measure it."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)
