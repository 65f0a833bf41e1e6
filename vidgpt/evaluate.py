"""Evaluate a generator on the Shapes world: prompt following per split, temporal quality, speed.

The prompts of a split are its combinations' captions, cycled; each schedule asked for generates
the same prompts with the same seeds, so raster and diagonal are compared on equal terms.
"""

from __future__ import annotations

import time
from typing import Any, Sequence

import numpy as np

from vidgpt.model.generation import WHOLE_FRAMES, GenerationConfig
from vidtok.shapes.world import split_combinations, spread_indices
from vidtok.eval.distribution import frechet_report, shapes_real_set
from vidtok.shapes.evaluate import evaluate_videos

EVAL_SPLITS = ("test-iid", "test-comp-shape-colour", "test-comp-colour-direction")


def sampling_label(options: dict[str, Any]) -> str:
    """A sampling setting's name in tables and reports: "raster", "diagonal w=1", "diagonal w=1 fw=4"
    (frame_window 4), "diagonal w=1 fw=4 first w=8" (first_window 8), "diagonal w=1 whole frames"
    (frame_window of the grid's width or more), ..."""
    if options["schedule"] == "raster":
        return "raster"
    window, frame_window = options.get("window", 1), options.get("frame_window")
    name = f"diagonal w={window}"
    if frame_window is not None and frame_window >= WHOLE_FRAMES:
        name += " whole frames"
    elif frame_window is not None and frame_window != window:
        name += f" fw={frame_window}"
    first = options.get("first_window")
    if first is not None and first >= WHOLE_FRAMES:
        name += " first raster"
    elif first is not None and first != window:
        name += f" first w={first}"
    if not options.get("replace_standins", True):
        name += " keep-standins"
    return name


def split_prompts(split: str, count: int) -> list[str]:
    """``count`` captions of ``split``, spread over its combinations (see shapes.spread_indices)."""
    combos = split_combinations(split)
    return [combos[i % len(combos)].caption for i in spread_indices(split, count)]


def generate_split_videos(
    generator: Any, splits: Sequence[str], per_split: int, options: dict[str, Any], batch_size: int = 16,
    seed: int = 0, progress: bool = True,
) -> tuple[list[tuple[np.ndarray, str, str]], dict[str, float]]:
    """(video, caption, split) items for every split, and the generation speed."""
    from tqdm import tqdm  # noqa: PLC0415

    items, seconds, tokens = [], 0.0, 0
    grid = generator.gpt.config.grid
    jobs = [(split, p) for split in splits for p in split_prompts(split, per_split)]
    bar = tqdm(total=len(jobs), desc=f"generate ({options.get('schedule', 'raster')})", unit="video",
               disable=not progress)
    for start in range(0, len(jobs), batch_size):
        chunk = jobs[start:start + batch_size]
        t0 = time.perf_counter()
        result = generator.generate([p for _, p in chunk], seed=seed + start, **options)
        seconds += time.perf_counter() - t0
        tokens += int(np.prod(result.codes.shape))
        items += [(v, p, s) for (s, p), v in zip(chunk, result.videos)]
        bar.update(len(chunk))
    bar.close()
    speed = {"videos_per_s": len(items) / seconds, "tokens_per_s": tokens / seconds,
             "seconds": seconds, "grid": list(grid)}
    return items, speed


def evaluate_generator(
    generator: Any, splits: Sequence[str] = EVAL_SPLITS, per_split: int = 48,
    schedules: Sequence[dict[str, Any]] = ({"schedule": "raster"},), batch_size: int = 16, seed: int = 0,
    frechet: bool = False, i3d_path: str | None = None, progress: bool = True,
) -> dict[str, dict]:
    """{schedule label: evaluate_videos result with a "speed" entry} for each sampling setting.

    ``frechet`` adds Fréchet distances of the generated videos to real test-iid clips, next to the
    real-vs-real floor (``i3d_path``: also real FVD).
    """
    results = {}
    for options in schedules:
        # the model's settings where none are given: the report records the numbers it sampled with
        given = {k: v for k, v in options.items() if k in GenerationConfig.__dataclass_fields__}
        options = {**options, **generator.settings(**given).to_dict()}
        label = sampling_label(options)
        items, speed = generate_split_videos(generator, splits, per_split, options, batch_size, seed, progress)
        result = evaluate_videos(items, size=(generator.gpt.config.tokenizer or {}).get("height", 64))
        # a report says how its videos were sampled, and in which precision
        result["sampling"] = {**options, "seed": seed, "dtype": generator.dtype_name}
        result["speed"] = speed
        if frechet:
            result["frechet"] = frechet_to_real([v for v, _, _ in items], i3d_path)
        results[label] = result
    return results


def frechet_to_real(videos: Sequence[np.ndarray], i3d_path: str | None = None) -> dict:
    """Fréchet distances of ``videos`` to as many real test-iid clips, with a disjoint real set as the floor."""
    frames, size = videos[0].shape[0], videos[0].shape[1]
    real = shapes_real_set("test-iid", len(videos), frames=frames, size=size)
    reference = shapes_real_set("test-iid", len(videos), frames=frames, size=size, replica=1)
    return frechet_report(real, videos, reference, i3d_path=i3d_path)
