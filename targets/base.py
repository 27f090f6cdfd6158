"""The base class that built-in targets share (the protocol is in boltzbench.protocols)."""

from __future__ import annotations

import torch
from boltzbench.targets.reference import Reference, get_reference

from boltzbench.guard import check
from boltzbench.protocols import MetricSpec


class BaseTarget:
    """Defaults for the Target protocol.

    Subclasses set ``name``, ``dim``, ``box``, ``init_std`` and ``metric_spec`` and
    implement ``energy``; they override ``score`` when an analytic gradient is cheap
    (the default uses autograd) and ``sample`` when an exact sampler exists.

    Attributes:
        log_Z: log ∫ exp(-E(x)) dx for the energy as written, or None if unknown.
        box: ((x_lo, x_hi), (y_lo, y_hi)) plotting limits for 2-D views.
        init_std: scale of the broad initial distribution N(0, init_std² I) that every
            method starting from noise uses.
        reference_version: bump when the reference-generating code changes.
    """

    name: str = ""
    dim: int = 0
    log_Z: float | None = None
    box: tuple[tuple[float, float], tuple[float, float]] | None = None
    init_std: float = 1.0
    n_particles: int | None = None
    spatial_dim: int | None = None
    metric_spec: MetricSpec = MetricSpec()
    reference_version: int = 1
    mode_masses: tuple[float, ...] | None = None  # exact mass per mode, with mode_of()

    def __new__(cls, *args, **kwargs):
        # a method must not build its own, uncounted copy of a target (boltzbench.guard)
        check(f"building a {cls.__name__} target")
        return super().__new__(cls)

    def energy(self, x: torch.Tensor) -> torch.Tensor:
        """Energy E(x) in kT for x of shape [n, d]; returns [n]."""
        raise NotImplementedError

    def score(self, x: torch.Tensor) -> torch.Tensor:
        """Score -∇E(x), shape [n, d] (autograd unless overridden)."""
        with torch.enable_grad():
            x = x.detach().requires_grad_(True)
            (grad,) = torch.autograd.grad(self.energy(x).sum(), x)
        return -grad

    def energy_and_score(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Both E(x) [n] and -∇E(x) [n, d]."""
        return self.energy(x), self.score(x)

    def hvp(self, x: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
        """Hessian-vector products ∇²E(x_i) v_i, shape [n, d]: by differentiating an
        analytic score (which must be written in differentiable torch operations), or by
        double backward through the energy when the score is the autograd default."""
        with torch.enable_grad():
            x = x.detach().requires_grad_(True)
            if type(self).score is BaseTarget.score:
                (grad,) = torch.autograd.grad(self.energy(x).sum(), x, create_graph=True)
                (hv,) = torch.autograd.grad((grad * v).sum(), x)
                return hv
            (hv,) = torch.autograd.grad((self.score(x) * v).sum(), x)
        return -hv

    def sample(self, n: int, generator: torch.Generator) -> torch.Tensor | None:
        """Exact samples [n, d], or None where no exact sampler exists."""
        return None

    @property
    def mean(self) -> torch.Tensor | None:
        """Exact mean [d] (float64), or None if unknown."""
        return None

    @property
    def cov(self) -> torch.Tensor | None:
        """Exact covariance [d, d] (float64), or None if unknown."""
        return None

    def reference(self) -> Reference:
        """The frozen, cached reference set (see :mod:`boltzbench.targets.reference`)."""
        return get_reference(self)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(name={self.name!r}, dim={self.dim})"
