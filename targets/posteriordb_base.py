"""The shared base of the posteriordb targets: the shipped data, the reference and floor
draws, the fingerprint, and the log-density building blocks (float64, broadcasting).

See :mod:`boltzbench.targets.posteriordb` for the six posteriors and their coordinates, and
:mod:`boltzbench.targets.posteriordb_check` for the cross-check of our reference generator
against posteriordb's draws.
"""

from __future__ import annotations

import hashlib
import json
import math
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np
import torch
from boltzbench.targets.base import BaseTarget
from boltzbench.targets.reference import Reference

from boltzbench.guard import check

DATA = Path(__file__).resolve().parent / "data" / "posteriordb"
#: chains of posteriordb's draws that form the reference set; the others are for floors
REFERENCE_CHAINS = 5
GP_JITTER = 1e-10  # gp_pois_regr.stan's diagonal jitter
_LOG_2PI = math.log(2 * math.pi)


# log densities, float64, broadcasting -----------------------------------------------------
def _normal(x: torch.Tensor, loc: Any, scale: Any) -> torch.Tensor:
    scale = torch.as_tensor(scale, dtype=torch.float64)
    return -0.5 * ((x - loc) / scale) ** 2 - torch.log(scale) - 0.5 * _LOG_2PI


def _normal_log_scale(x: torch.Tensor, loc: Any, log_scale: torch.Tensor) -> torch.Tensor:
    return -0.5 * ((x - loc) * torch.exp(-log_scale)) ** 2 - log_scale - 0.5 * _LOG_2PI


def _cauchy(x: torch.Tensor, scale: float) -> torch.Tensor:
    return -math.log(math.pi * scale) - torch.log1p((x / scale) ** 2)


def _student_t(x: torch.Tensor, nu: float, loc: float, scale: float) -> torch.Tensor:
    c = math.lgamma((nu + 1) / 2) - math.lgamma(nu / 2) - 0.5 * math.log(nu * math.pi)
    return c - math.log(scale) - (nu + 1) / 2 * torch.log1p(((x - loc) / scale) ** 2 / nu)


class PosteriorDBTarget(BaseTarget):
    """A posteriordb posterior on Stan's unconstrained space (see the module docstring).

    Subclasses set ``posterior`` (posteriordb's name, also the shipped file's) and
    ``mapping`` (how the draws became unconstrained coordinates), and implement
    :meth:`log_density` in float64.
    """

    posterior: str = ""
    mapping: str = ""
    reference_kind = "posteriordb"

    @cached_property
    def _file(self) -> dict[str, np.ndarray]:
        path = DATA / f"{self.posterior}.npz"
        with np.load(path, allow_pickle=False) as z:
            arrays = {k: z[k] for k in z.files}
        arrays["sha256"] = np.array(hashlib.sha256(path.read_bytes()).hexdigest())
        return arrays

    def _array(self, key: str) -> torch.Tensor:
        return torch.as_tensor(self._file[key], dtype=torch.float64)

    @cached_property
    def info(self) -> dict[str, Any]:
        """posteriordb's settings, diagnostics and checks, as packed."""
        return json.loads(str(self._file["info"]))

    @property
    def coordinate_names(self) -> list[str]:
        """Names of the unconstrained coordinates, e.g. ``log_tau``."""
        return [str(s) for s in self._file["names"]]

    def log_density(self, u: torch.Tensor) -> torch.Tensor:
        """log p(u) [n] (unconstrained, with log-Jacobian) for u [n, d] float64."""
        raise NotImplementedError

    def energy(self, x: torch.Tensor) -> torch.Tensor:
        return (-self.log_density(x.to(torch.float64))).to(x.dtype)

    # posteriordb's draws --------------------------------------------------------------
    def draws(self) -> torch.Tensor:
        """All posteriordb draws on the unconstrained space, [chains, draws, d] float32.
        Not available while a method runs."""
        check(f"the posteriordb draws of {self.name!r}")
        return torch.from_numpy(self._file["draws"].copy())

    @staticmethod
    def _round_by_round(chains: torch.Tensor) -> torch.Tensor:
        # [c, m, d] -> [m * c, d], so that any prefix spreads over all chains
        return chains.transpose(0, 1).reshape(-1, chains.shape[-1]).contiguous()

    def reference(self) -> Reference:
        """posteriordb's chains 1–5 (5000 draws, round by round), mapped to the
        unconstrained space; provenance kind ``"posteriordb"``."""
        check(f"the reference set of {self.name!r}")
        return self._reference

    @cached_property
    def _reference(self) -> Reference:
        n = self.metric_spec.n_reference
        chains = self.draws()[:REFERENCE_CHAINS]
        if n > chains.shape[0] * chains.shape[1]:
            raise ValueError(f"{self.name}: n_reference {n} exceeds the {REFERENCE_CHAINS} chains")
        samples = self._round_by_round(chains)[:n]
        energies = self.energy(samples.double())
        info = self.info
        checks = {k: bool(v) for k, v in info["posteriordb_checks"].items()}
        checks["energy_finite_at_all_draws"] = bool(torch.isfinite(energies).all())
        checks["mapping_round_trip_below_1e_8"] = info["mapping_round_trip_error"] < 1e-8
        sampler = info["inference"]
        return Reference(
            samples,
            {
                "kind": "posteriordb",
                "method": (
                    f"posteriordb reference draws of {self.posterior} "
                    f"({sampler['method']}, {info['nchains']} chains; chains 1-"
                    f"{REFERENCE_CHAINS} here)"
                ),
                "target": self.name,
                "posterior": self.posterior,
                "n": n,
                "source": info["source"],
                "source_commit": info["source_commit"],
                "licence": "BSD-3-Clause (targets/data/posteriordb/LICENCE.md)",
                "inference": sampler,
                "r_hat_max": info["r_hat_max"],
                "ess_bulk_min": info["ess_bulk_min"],
                "ess_tail_min": info["ess_tail_min"],
                "divergent_transitions": info["divergent_transitions"],
                "mapping": self.mapping,
                "coordinates": self.coordinate_names,
                "halves": {
                    "reference": f"chains 1-{REFERENCE_CHAINS}",
                    "floor": f"chains {REFERENCE_CHAINS + 1}-{info['nchains']}",
                },
                "reference_version": self.reference_version,
                "file_sha256": str(self._file["sha256"]),
                "sha256": hashlib.sha256(samples.numpy().tobytes()).hexdigest(),
                "checks": checks,
            },
        )

    def floor_draws(self) -> torch.Tensor:
        """The held-out half, chains 6–10 (5000 draws [5000, d], round by round): draws
        independent of the reference, which :mod:`boltzbench.floors` cuts into disjoint sets
        for noise floors. Not available while a method runs."""
        check(f"the held-out posteriordb draws of {self.name!r}")
        return self._round_by_round(self.draws()[REFERENCE_CHAINS:])

    @cached_property
    def content_hash(self) -> str:
        """What the target's definition fingerprint is keyed on: the shipped file and the
        source of the classes that define the density (stable across lazily cached data)."""
        import inspect

        sources = [
            inspect.getsource(k) for k in type(self).__mro__ if issubclass(k, PosteriorDBTarget)
        ]
        blob = json.dumps([self.name, str(self._file["sha256"]), sources])
        return hashlib.sha256(blob.encode()).hexdigest()
