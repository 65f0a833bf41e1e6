"""Sampling schedules as plain data.

A schedule is a list of steps; a step is a list of raster indices (frame, row, column order) into the
(t, h, w) code grid, all produced by one forward pass. Any schedule that produces every position
exactly once is valid: the sampling loop makes each token see exactly the already-generated tokens
that precede it in raster order, whatever the schedule.
"""

from __future__ import annotations

from collections.abc import Sequence

Schedule = list[list[int]]


def _check_grid(t: int, h: int, w: int) -> None:
    if min(t, h, w) < 1:
        raise ValueError(f"grid (t, h, w) must be positive, got ({t}, {h}, {w})")


def raster_schedule(t: int, h: int, w: int) -> Schedule:
    """One token per step, in raster order."""
    _check_grid(t, h, w)
    return [[i] for i in range(t * h * w)]


def diagonal_schedule(t: int, h: int, w: int, window: int = 1, frame_window: int | None = None,
                      first_window: int | None = None) -> Schedule:
    """Row r+1 starts once row r has `window` tokens; each row then advances one token per step.

    window=1 gives anti-diagonals, window >= w gives raster order. A frame's first row starts once the
    previous frame's last row has `frame_window` tokens: None (the default) is `window`, the rows numbered
    across frames as if the video were one tall image; `w` or more waits for the whole previous frame. A
    larger frame_window lets the next frame's first rows see more of the previous frame, for a few more
    steps: (t - 1) * ((h - 1) * window + frame_window) + (h - 1) * window + w (window, frame_window <= w).
    `first_window` is the window inside the first frame (None: `window`; `w` or more: raster order there),
    where the picture is set: a larger one costs (h - 1) * (first_window - window) more steps.
    """
    _check_grid(t, h, w)
    if window < 1:
        raise ValueError(f"window must be >= 1, got {window}")
    if frame_window is not None and frame_window < 1:
        raise ValueError(f"frame_window must be >= 1 (or None: the window), got {frame_window}")
    if first_window is not None and first_window < 1:
        raise ValueError(f"first_window must be >= 1 (or None: the window), got {first_window}")
    window = min(window, w)
    first = window if first_window is None else min(first_window, w)
    lag = min(window if frame_window is None else frame_window, w)
    frame_steps = (h - 1) * window + lag  # from a frame's first step to the next frame's
    steps: dict[int, list[int]] = {}
    for f in range(t):
        frame_start = 0 if f == 0 else (h - 1) * first + lag + (f - 1) * frame_steps
        for r in range(h):
            start = frame_start + r * (first if f == 0 else window)
            for c in range(w):
                steps.setdefault(start + c, []).append((f * h + r) * w + c)
    return [sorted(steps[k]) for k in sorted(steps)]


def make_schedule(name: str, t: int, h: int, w: int, window: int = 1, frame_window: int | None = None,
                  first_window: int | None = None) -> Schedule:
    """Schedule by name: "raster" or "diagonal"."""
    if name == "raster":
        return raster_schedule(t, h, w)
    if name == "diagonal":
        return diagonal_schedule(t, h, w, window, frame_window, first_window)
    raise ValueError(f"unknown schedule {name!r}; choose 'raster' or 'diagonal'")


def step_of(schedule: Sequence[Sequence[int]], num_codes: int, known: int = 0) -> list[int]:
    """Step index of every position: -1 for the `known` prefix, 0.. for the schedule's steps (known
    positions in the schedule are skipped). ValueError unless each position appears exactly once."""
    steps = [-1] * known + [None] * (num_codes - known)
    k = 0
    for step in schedule:
        fresh = [int(p) for p in step if int(p) >= known or int(p) < 0]
        if not fresh:
            continue
        for p in fresh:
            if not 0 <= p < num_codes:
                raise ValueError(f"schedule step {k} has position {p} outside the grid [0, {num_codes})")
            if steps[p] is not None:
                raise ValueError(f"schedule produces position {p} twice (steps {steps[p]} and {k})")
            steps[p] = k
        k += 1
    missing = [p for p, s in enumerate(steps) if s is None]
    if missing:
        raise ValueError(f"schedule never produces {len(missing)} position(s), first {missing[:5]}")
    return steps
