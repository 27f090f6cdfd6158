"""Importance weights shared by the weighted samplers (SMC, PITA, OSDS): effective sample
size and systematic resampling."""

from __future__ import annotations

import torch


def systematic_resample(log_w: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
    """Indices [n] drawn by systematic resampling from normalised weights softmax(log_w)."""
    n = log_w.shape[0]
    w = torch.softmax(log_w.double(), 0)
    cdf = torch.cumsum(w, 0)
    cdf[-1] = 1.0
    u = (torch.rand(1, generator=gen, dtype=torch.float64) + torch.arange(n)) / n
    return torch.searchsorted(cdf, u).clamp(max=n - 1)


def ess(log_w: torch.Tensor) -> float:
    """Kish effective sample size (Σw)²/Σw² of unnormalised log-weights [n], in [1, n]
    (NaN counts as weight zero; 0 when no weight is finite, 1 when one is +inf).

    The log-weights are shifted by their maximum first: unshifted, log-weights near 1e17
    (PITA's final correction on ``funnel``, where γU − E/T reached that size) left rounding
    errors of the order of their ulp (≈ 16) in 2·logsumexp(w) − logsumexp(2w), and the
    exponent reported ESS fractions of 2e10."""
    log_w = torch.nan_to_num(log_w.double(), nan=-torch.inf, posinf=torch.inf, neginf=-torch.inf)
    top = log_w.max() if log_w.numel() else torch.tensor(-torch.inf)
    if not torch.isfinite(top):
        return 0.0 if top == -torch.inf else 1.0
    log_w = log_w - top
    return float(torch.exp(2 * torch.logsumexp(log_w, 0) - torch.logsumexp(2 * log_w, 0)))
