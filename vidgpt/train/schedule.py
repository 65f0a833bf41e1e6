"""Learning-rate schedule: linear warm-up, then cosine decay to a floor, stepped once per optimizer step."""

from __future__ import annotations

import math


def warmup_cosine(step: int, warmup_steps: int, total_steps: int, min_ratio: float = 0.1) -> float:
    """LR multiplier at optimizer step `step` (0-based).

    Warm-up: (step + 1) / warmup_steps for the first `warmup_steps` steps (so step 0 already learns);
    then a half cosine from 1 down to `min_ratio` at `total_steps`, and `min_ratio` beyond it.
    """
    if warmup_steps < 0 or total_steps < 1 or not 0.0 <= min_ratio <= 1.0:
        raise ValueError(
            f"warmup_cosine: need warmup_steps >= 0, total_steps >= 1, 0 <= min_ratio <= 1; "
            f"got {warmup_steps}, {total_steps}, {min_ratio}"
        )
    if step < warmup_steps:
        return (step + 1) / warmup_steps
    decay_steps = max(1, total_steps - warmup_steps)
    progress = min(1.0, (step - warmup_steps) / decay_steps)
    return min_ratio + (1.0 - min_ratio) * 0.5 * (1.0 + math.cos(math.pi * progress))
