"""How many CPU threads a decoding loop uses.

A decoding step is ~150 small ops. With more than one thread every op that torch parallelises ends in
an OpenMP barrier, so an extra thread pays only when each matmul has enough rows to split *and* a core
is free to run it. Measured on the 2-core development machine while another job held one core (demo
preset, 5x8x8, top-k 100, `tools/bench_decode.py --threads-table`), tokens/s with 1 -> 2 threads:
raster batch 1: 170 -> 17; diagonal window 2 batch 1: 337 -> 12; batch 8 with classifier-free
guidance (16 rows): raster 303 -> 21, diagonal window 2 520 -> 51. Every barrier waits for a core
that another process holds.

So the default (`threads=None`) is: one thread per `ROWS_PER_THREAD` rows fed per step (batch rows
times the largest number of tokens a step feeds), never more than the cores the machine's load
average leaves free, nor more than `torch.get_num_threads()` (the caller's own limit). Pass
`threads=` to override. On a GPU the host threads barely matter and are left alone.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager

import torch

ROWS_PER_THREAD = 64  # below this a matmul of a small model is too short to split across threads


def free_cores() -> int:
    """This process's cores minus the 1-minute load average, at least 1. Conservative: the load may
    already count this process, but an oversubscribed core costs far more than an idle one."""
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else 0.0
    return max(1, cores - int(load + 0.5))


def auto_threads(rows: int) -> int:
    """Threads for decoding steps that feed up to `rows` rows (batch rows x tokens per step)."""
    return max(1, min(torch.get_num_threads(), free_cores(), rows // ROWS_PER_THREAD))


@contextmanager
def num_threads(threads: int | None) -> Iterator[None]:
    """Run the block with `threads` torch CPU threads (None: unchanged), then restore the setting."""
    before = torch.get_num_threads()
    if threads is None or threads == before:
        yield
        return
    torch.set_num_threads(threads)
    try:
        yield
    finally:
        torch.set_num_threads(before)
