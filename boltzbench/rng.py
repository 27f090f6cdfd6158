"""Seeded random streams on the device methods run on."""

from __future__ import annotations

import torch


def generator(seed: int) -> torch.Generator:
    """A ``torch.Generator`` seeded with ``seed`` on the current default device (the CPU
    unless a cell runs under ``--device cuda``), so ``torch.randn(..., generator=g)``
    works without naming a device. On the CPU the stream is the one
    ``torch.Generator().manual_seed(seed)`` gives."""
    return torch.Generator(device=torch.get_default_device()).manual_seed(int(seed))
