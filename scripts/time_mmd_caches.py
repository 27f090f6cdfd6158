"""What the MMD caches save: the four MMD metrics (`mmd`, `mmd_x0.1`, `mmd_x0.3`,
`mmd_multi`) on 10,000 `gmm4` draws against its 10,000-point reference, on one thread,
as a cell scored them before the caches (the reference's self-sums kept in memory only,
the samples' sums recomputed per metric), in a target's first cell (the reference's sums
computed and stored) and in every later cell (read back). Uses a temporary cache folder.

    python scripts/time_mmd_caches.py
"""

from __future__ import annotations

import os
import tempfile
import time

import torch


def main() -> int:
    os.environ["BOLTZBENCH_CACHE"] = tempfile.mkdtemp(prefix="mmd-caches-")
    torch.set_num_threads(1)
    import boltzbench.metrics.mmd as mmd

    from boltzbench.registry import METRICS, TARGETS

    target = TARGETS.get("gmm4")()
    ref = target.reference().samples
    x = target.sample(10_000, torch.Generator().manual_seed(1))
    names = ("mmd", "mmd_x0.1", "mmd_x0.3", "mmd_multi")

    def cell() -> tuple[float, list[float]]:
        mmd._SELF_SUMS.clear()  # a new cell is a new process
        mmd._SAMPLE_SUMS.clear()
        t0 = time.perf_counter()
        values = [METRICS.get(n)(x, ref, target) for n in names]
        return time.perf_counter() - t0, values

    first, v_first = cell()
    later, v_later = cell()
    remembered, rows = mmd._remembered, mmd.DISK_MIN_ROWS
    mmd._remembered, mmd.DISK_MIN_ROWS = (lambda key, compute: compute()), 10**12
    try:
        before, v_before = cell()
    finally:
        mmd._remembered, mmd.DISK_MIN_ROWS = remembered, rows
    print(
        f"MMD family, quick gmm4 cell, one thread: before the caches {before:.2f} s, "
        f"a target's first cell {first:.2f} s, later cells {later:.2f} s; "
        f"values identical: {v_before == v_first == v_later}"
    )
    return 0 if v_before == v_first == v_later else 1


if __name__ == "__main__":
    raise SystemExit(main())
