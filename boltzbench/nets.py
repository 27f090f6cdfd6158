"""Small network builders and autograd helpers shared by the neural samplers."""

from __future__ import annotations

import torch
from torch import nn


def mlp(in_dim: int, hidden: int, layers: int, out_dim: int) -> nn.Sequential:
    """``layers`` hidden Linear+SiLU blocks of width ``hidden``, then a Linear output."""
    mods: list[nn.Module] = []
    width = in_dim
    for _ in range(layers):
        mods += [nn.Linear(width, hidden), nn.SiLU()]
        width = hidden
    mods.append(nn.Linear(width, out_dim))
    return nn.Sequential(*mods)


def rademacher(like: torch.Tensor, gen: torch.Generator | None) -> torch.Tensor:
    """Independent ±1 entries with the shape and dtype of ``like``."""
    return torch.randint(0, 2, like.shape, generator=gen).to(like.dtype) * 2 - 1


def jacobian_rows(out: torch.Tensor, x: torch.Tensor, create_graph: bool = False) -> torch.Tensor:
    """Row-wise Jacobians ∂out_i/∂x_i, [n, d_out, d] (d_out backward passes), for a map whose
    rows are independent (out_i depends on x_i only)."""
    rows = [
        torch.autograd.grad(out[:, i].sum(), x, retain_graph=True, create_graph=create_graph)[0]
        for i in range(out.shape[1])
    ]
    return torch.stack(rows, dim=1)


def hutchinson_trace(
    out: torch.Tensor, x: torch.Tensor, gen: torch.Generator | None, create_graph: bool = False
) -> torch.Tensor:
    """tr ∂out_i/∂x_i per row by Hutchinson's estimator with one Rademacher probe ε
    (unbiased: E[εᵀ J ε] = tr J), [n]."""
    eps = rademacher(x, gen)
    (g,) = torch.autograd.grad((out * eps).sum(), x, retain_graph=True, create_graph=create_graph)
    return (g * eps).sum(1)
