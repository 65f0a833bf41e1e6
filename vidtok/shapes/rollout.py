"""Quality against frame index: where along a (long) rollout does a generated video go wrong?

For every frame of a video, given its caption, four checks read from pixels (through a
``ShapesReading``), then averaged over videos frame by frame (``FrameQualityCurve``), so a plot
shows error accumulation:

- ``presence``: the object is found in the frame;
- ``colour``: its median colour's nearest palette entry is the caption's colour;
- ``size``: its area is on the caption's side of the geometric mean of the small and large
  areas of the caption's shape (the renderer's own stamps at the video's side);
- ``motion`` (from frame 1): the centroid step from the previous frame is the caption's step
  (direction x speed, rounded as the renderer rounds) within ``MOTION_TOLERANCE`` px at 64 px;
- ``all``: colour, size and (from frame 1) motion together.

A check on a frame where the object is absent counts as failed (except ``motion`` at frame 0,
which is undefined and left out of the average).
"""

from __future__ import annotations

import functools

import numpy as np

from vidtok.shapes.world import COLOURS, REFERENCE_SIZE, ShapesAttributes, centre_track, radius_px, shape_stamp
from vidtok.shapes.reader import ShapesReading

FRAME_CHECKS: tuple[str, ...] = ("presence", "colour", "size", "motion", "all")
MOTION_TOLERANCE = 0.5  # px at 64 px, per axis: half the slow step, so a frozen object fails
_PALETTE_NAMES = tuple(COLOURS)
_PALETTE = np.array([COLOURS[c] for c in _PALETTE_NAMES], dtype=np.float64)


@functools.lru_cache(maxsize=4096)
def _expected(target: ShapesAttributes, frames: int, side: int) -> tuple[int, float, np.ndarray]:
    """(palette index of the colour, large/small area cut, caption's step per frame (T-1, 2)) for a caption."""
    small, large = (int(shape_stamp(target.shape, radius_px(s, side), side).sum()) for s in ("small", "large"))
    # the caption's step between consecutive frames, exactly as the renderer rounds it
    steps = np.diff(centre_track(target, (0, 0), frames, side).astype(np.float64), axis=0)
    steps = (steps + side / 2) % side - side / 2
    steps.flags.writeable = False
    return _PALETTE_NAMES.index(target.colour), float(np.sqrt(small * large)), steps


def frame_checks(reading: ShapesReading, target: ShapesAttributes) -> dict[str, np.ndarray]:
    """Per-frame checks of one read video against its caption: {check: float (T,) of 0/1, NaN = undefined}."""
    side, present = reading.side, reading.present
    frames = len(present)
    colour_index, area_cut, expected = _expected(target, frames, side)

    colours = np.nan_to_num(reading.colours, nan=-1e3)
    nearest = np.argmin(((colours[:, None, :] - _PALETTE[None]) ** 2).sum(-1), axis=1)
    colour = present & (nearest == colour_index)
    size = present & ((reading.areas >= area_cut) == (target.size == "large"))

    steps = np.diff(reading.track, axis=0)
    tolerance = MOTION_TOLERANCE * side / REFERENCE_SIZE
    with np.errstate(invalid="ignore"):
        ok = (np.abs(steps - expected) <= tolerance + 1e-9).all(1)
    motion = np.full(frames, np.nan)
    motion[1:] = ok & present[1:] & present[:-1]

    every = (colour & size).astype(np.float64)
    every[1:] *= motion[1:]
    return {
        "presence": present.astype(np.float64),
        "colour": colour.astype(np.float64),
        "size": size.astype(np.float64),
        "motion": motion,
        "all": every,
    }


class FrameQualityCurve:
    """Per-frame check rates averaged over videos of any lengths (frame t averages the videos that have it)."""

    def __init__(self) -> None:
        self.sums: dict[str, np.ndarray] = {k: np.zeros(0) for k in FRAME_CHECKS}
        self.counts: dict[str, np.ndarray] = {k: np.zeros(0) for k in FRAME_CHECKS}

    def add(self, checks: dict[str, np.ndarray]) -> None:
        for key in FRAME_CHECKS:
            values = checks[key]
            if len(values) > len(self.sums[key]):
                grow = len(values) - len(self.sums[key])
                self.sums[key] = np.concatenate([self.sums[key], np.zeros(grow)])
                self.counts[key] = np.concatenate([self.counts[key], np.zeros(grow)])
            defined = ~np.isnan(values)
            self.sums[key][: len(values)] += np.where(defined, values, 0)
            self.counts[key][: len(values)] += defined

    def compute(self) -> dict[str, list[float | None]]:
        """{check: per-frame rate (None where no video defines it)} plus "videos": videos per frame."""
        out: dict[str, list] = {}
        for key in FRAME_CHECKS:
            with np.errstate(invalid="ignore", divide="ignore"):
                rate = self.sums[key] / self.counts[key]
            out[key] = [None if np.isnan(r) else float(r) for r in rate]
        out["videos"] = [int(c) for c in self.counts["presence"]]
        return out
