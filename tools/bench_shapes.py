"""Shapes world throughput: rendering clips and reading them back, one process.

``per_s`` is wall-clock; ``per_cpu_s`` divides by the process's CPU time, which stays meaningful
when other jobs share the cores (it counts every thread, so it is per core-second).
"""

from __future__ import annotations

import time

import torch

from vidtok.shapes.world import ALL_SPLIT, ShapesDataset, sample_clip
from vidtok.shapes.reader import judge, read_video_attributes
from vidtok.shapes.temporal import temporal_metrics


def _row(what: str, unit: str, goal: str, fn, items) -> dict:
    wall, cpu = time.perf_counter(), time.process_time()
    for item in items:
        fn(item)
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    return {"what": what, "unit": unit, "per_s": len(items) / wall, "per_cpu_s": len(items) / cpu, "goal": goal}


def run() -> list[dict]:
    """Rows: clips rendered, dataset items, reader and evaluator videos, per second (17 x 64 x 64)."""
    n = 2000
    clips = [sample_clip(ALL_SPLIT, i) for i in range(n)]
    dataset = ShapesDataset(ALL_SPLIT, length=n)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # as in a DataLoader worker; intra-op threads only add overhead at this size
    try:
        item = _row("ShapesDataset item (1 torch thread)", "items", "", dataset.__getitem__, range(n))
    finally:
        torch.set_num_threads(threads)
    return [
        _row("render sample_clip 17x64x64", "clips", ">= 500", lambda i: sample_clip(ALL_SPLIT, i), range(n)),
        item,
        _row("read_video_attributes", "videos", ">= 200", lambda c: read_video_attributes(c[0]), clips),
        _row("judge (read + compare)", "videos", ">= 200", lambda c: judge(c[0], c[1]), clips),
        _row("temporal_metrics (incl. read)", "videos", "", lambda c: temporal_metrics(c[0]), clips[:500]),
    ]
