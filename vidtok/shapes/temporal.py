"""Temporal quality of a Shapes clip, read from pixels (the spec's "temporal quality").

Every metric is 0 (presence: 1) on a real clip whose speed is a whole number of pixels per frame
(any canvas side that is a multiple of 64); lower is better otherwise. Lengths are in pixels of a
64 px canvas so that numbers compare across canvas sizes; colours and flicker in uint8 levels.
"""

from __future__ import annotations

import numpy as np

from vidtok.shapes.world import REFERENCE_SIZE
from vidtok.shapes.reader import ShapesReading, read_video_attributes

TEMPORAL_METRICS: tuple[str, ...] = ("presence", "area_cv", "colour_std", "jerk", "flicker")


def temporal_metrics(video: np.ndarray, reading: ShapesReading | None = None) -> dict[str, float]:
    """Temporal quality of a uint8 (T, S, S, 3) Shapes video.

    - ``presence``: fraction of frames in which the object is found;
    - ``area_cv``: coefficient of variation (std / mean) of its area over those frames;
    - ``colour_std``: std over frames of its per-frame median colour, averaged over RGB;
    - ``jerk``: mean absolute second difference of the unwrapped centroid (Euclidean, over
      consecutive frame triples where the object is present);
    - ``flicker``: mean absolute difference between each frame and the previous one moved by the
      object's own whole-pixel motion (torus roll): what motion does not explain, e.g. brightness
      pulses, a flashing background, an object that changes between frames.

    Undefined metrics (no object, too few frames) are NaN. Pass ``reading`` to reuse a
    ``read_video_attributes`` result.
    """
    if reading is None:
        reading = read_video_attributes(video)
    video = np.asarray(video)
    scale = REFERENCE_SIZE / reading.side
    present = reading.present
    nan = float("nan")

    areas = reading.areas[present].astype(np.float64)
    area_cv = float(areas.std() / areas.mean()) if areas.size else nan
    colour_std = float(reading.colours[present].std(0).mean()) if present.any() else nan

    second = reading.track[2:] - 2 * reading.track[1:-1] + reading.track[:-2]  # NaN where any frame absent
    # rounded to a micro-pixel: centroids are divisions, and their float noise is not motion
    second = np.round(second[~np.isnan(second).any(1)], 6)
    jerk = float(np.linalg.norm(second, axis=1).mean() * scale) if len(second) else nan

    flicker = nan
    if video.shape[0] >= 2:
        steps = np.diff(reading.track, axis=0)
        # whole-pixel motion compensation; none across a frame without the object
        steps = np.where(np.isnan(steps), 0, np.floor(steps + 0.5)).astype(np.int64)
        frames = video.astype(np.int16)
        moved = np.empty_like(frames[:-1])
        # one roll per distinct step (an object moves steadily, so there are one or two), not per frame
        for step in np.unique(steps, axis=0):
            t = (steps == step).all(1)
            moved[t] = np.roll(frames[:-1][t], (int(step[1]), int(step[0])), axis=(1, 2))
        flicker = float(np.abs(frames[1:] - moved).mean())

    return {
        "presence": float(present.mean()),
        "area_cv": area_cv,
        "colour_std": colour_std,
        "jerk": jerk,
        "flicker": flicker,
    }
