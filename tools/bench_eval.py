"""Evaluation speed on 17x64x64 Shapes clips: the pixel evaluator and the Fréchet features.

Goal: the evaluator (reader + temporal metrics + per-frame checks) at >= 200 videos/s. On a shared
machine wall-clock rates swing with the load, so videos per CPU-second of this process are shown
too: for the single-threaded evaluator that is the rate of one idle core.
"""

from __future__ import annotations

import time

from vidtok.shapes.world import sample_clip
from vidtok.eval.distribution import shapes_real_set
from vidtok.shapes.evaluate import evaluate_videos
from vidtok.eval.frechet import frechet_distance
from vidtok.eval.random_features import hand_features, random_cnn_features
from vidtok.shapes.reader import read_video_attributes

N = 256
GOAL_VIDEOS_PER_S = 200


def _rate(fn, n: int) -> dict:
    """Wall-clock videos/s, and videos per CPU-second of this process (what an idle core would do)."""
    fn()  # warm-up (caches, thread pools)
    wall, cpu = time.perf_counter(), time.process_time()
    fn()
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    return {"videos/s": n / wall, "videos/CPU-s": n / cpu}


def run() -> list[dict]:
    clips = [sample_clip("test-iid", i) for i in range(N)]
    videos = [v for v, _, _ in clips]
    items = [(v, a.caption, "test-iid") for v, a, _ in clips]
    full = _rate(lambda: evaluate_videos(items, keep_items=False), N)
    rows = [
        {"what": "evaluate_videos (read + judge + temporal + per-frame)", **full,
         "goal": f">= {GOAL_VIDEOS_PER_S}", "met (per CPU-s)": full["videos/CPU-s"] >= GOAL_VIDEOS_PER_S},
        {"what": "  read_video_attributes alone", **_rate(lambda: [read_video_attributes(v) for v in videos], N)},
        {"what": "random-CNN features (240-d), batch 32", **_rate(lambda: random_cnn_features(videos), N)},
        {"what": "hand features (75-d)", **_rate(lambda: hand_features(videos), N)},
    ]
    fa, fb = random_cnn_features(videos), random_cnn_features(shapes_real_set("test-iid", N, replica=1))
    start = time.perf_counter()
    floor = frechet_distance(fa, fb)
    rows.append({"what": f"Fréchet distance, {N} vs {N} random-CNN features (floor {floor:.3g})",
                 "videos/s": 2 * N / (time.perf_counter() - start)})
    return rows


if __name__ == "__main__":
    from vidtok.eval.table import format_table

    print(format_table(run()))
