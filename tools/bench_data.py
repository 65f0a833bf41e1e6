"""Data-loading speed: mp4 decode, FolderDataset clips, LavfiDataset clips, one process each.

Training must never wait for data: compare clips/s here with the trainer's clips/s (a 2-worker
DataLoader roughly doubles these figures when cores are free).
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

import torch

from vidtok.data.folder import FolderDataset
from vidtok.data.lavfi import DEFAULT_SOURCES, LavfiDataset, render_source
from vidtok.io import read_video, write_video

CLIP = 17


def _timed(fn, seconds: float = 2.0) -> tuple[int, float]:
    """Call ``fn`` repeatedly for about ``seconds``; return (calls, elapsed)."""
    calls, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        fn(calls)
        calls += 1
    return calls, time.perf_counter() - start


def run(videos: int = 4, frames: int = 96, seconds: float = 2.0) -> list[dict]:
    """Rows: full-file mp4 decode frames/s and FolderDataset clips/s at 64 and 128 px; LavfiDataset clips/s.

    Measured with one torch thread, as inside a DataLoader worker (torch sets 1 there): with more,
    the small tensor ops of each item pay thread start-up and, on a busy machine, wait for cores.
    """
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        return _run(videos, frames, seconds)
    finally:
        torch.set_num_threads(threads)


def _run(videos: int, frames: int, seconds: float) -> list[dict]:
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for size in (64, 128):
            folder = Path(tmp) / f"mp4_{size}"
            for i in range(videos):
                source = DEFAULT_SOURCES[i % len(DEFAULT_SOURCES)]
                write_video(folder / f"{i}.mp4", render_source(source, frames, size, variant=i), fps=8)
            paths = sorted(folder.glob("*.mp4"))
            calls, elapsed = _timed(lambda k, paths=paths: read_video(paths[k % len(paths)]), seconds)
            rows.append(
                {"what": f"read_video whole mp4 {size}x{size}", "rate": calls * frames / elapsed, "unit": "frames/s"}
            )
            dataset = FolderDataset(folder, frames=CLIP, size=64, length=10**6)
            calls, elapsed = _timed(lambda k, dataset=dataset: dataset[k], seconds)
            rows.append(
                {"what": f"FolderDataset {size}px mp4 -> {CLIP}x64x64 clip", "rate": calls / elapsed, "unit": "clips/s"}
            )

    warm = LavfiDataset(frames=CLIP, size=64, length=10**6, variants=2)
    start = time.perf_counter()
    for source in warm.sources:  # first touch renders every (source, variant) stream
        for variant in range(warm.variants):
            warm._stream(source, variant)
    render = time.perf_counter() - start
    streams = len(warm.sources) * warm.variants
    rows.append(
        {
            "what": f"Lavfi render 1 stream ({warm.stream_frames} frames, 64px)",
            "rate": streams / render,
            "unit": "streams/s",
        }
    )
    calls, elapsed = _timed(lambda k: warm[k], seconds)
    rows.append(
        {"what": f"LavfiDataset {CLIP}x64x64 clip (streams cached)", "rate": calls / elapsed, "unit": "clips/s"}
    )
    cold = LavfiDataset(frames=CLIP, size=64, length=10**6)  # 8 sources x 16 variants: mostly renders at first
    calls, elapsed = _timed(lambda k: cold[k], seconds)
    rows.append({"what": f"LavfiDataset {CLIP}x64x64 clip (cold cache)", "rate": calls / elapsed, "unit": "clips/s"})
    return rows


if __name__ == "__main__":
    for row in run():
        print(row)
