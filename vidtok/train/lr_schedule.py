"""Learning-rate schedule of both stages: linear warm-up, then a half cosine down to a floor.

The cosine's progress is either optimizer steps or training wall-clock time: on a shared CPU the step
rate varies several-fold, and a step-based cosine cut short by a time limit never anneals.
"""

from __future__ import annotations

import math


def warmup_cosine(step: int, warmup_steps: int, progress: float, min_ratio: float = 0.1) -> float:
    """LR multiplier at optimizer step `step` (0-based), `progress` (0 to 1) along the cosine.

    Warm-up: (step + 1) / warmup_steps for the first `warmup_steps` steps (so step 0 already learns), times
    a half cosine from 1 at progress 0 down to `min_ratio` at progress 1 (and beyond).
    """
    if warmup_steps < 0 or not 0.0 <= min_ratio <= 1.0 or not math.isfinite(progress):
        raise ValueError(f"warmup_cosine: need warmup_steps >= 0, 0 <= min_ratio <= 1 and a finite progress; "
                         f"got {warmup_steps}, {min_ratio}, {progress}")
    warm = min(1.0, (step + 1) / warmup_steps) if warmup_steps else 1.0
    progress = min(1.0, max(0.0, progress))
    return warm * (min_ratio + (1.0 - min_ratio) * 0.5 * (1.0 + math.cos(math.pi * progress)))


def step_progress(step: int, warmup_steps: int, total_steps: int) -> float:
    """Progress along the cosine of a step-based schedule: it starts when the warm-up ends."""
    if total_steps < 1:
        raise ValueError(f"warmup_cosine: need total_steps >= 1, got {total_steps}")
    return (step - warmup_steps) / max(1, total_steps - warmup_steps)
