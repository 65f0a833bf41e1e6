"""Frame by frame: is every frame of a Shapes video clean? ("Frame by frame: a clean video", shapes.md).

The video-level reader (``vidtok.shapes.reader``) reads medians over frames and drops stray pixels, so it
forgives what a viewer sees at once. This one reads every frame on its own, as the spec says:

- foreground = brightest channel > 60; its 4-connected components are found on the torus (an object
  straddling an edge is one component), and those of at least 3 pixels count;
- a frame is clean when it holds exactly one such component (else ``no_object`` / ``extra_object``),
  whose median colour is nearest to the caption's palette entry (``colour``), whose area is within
  50% of the renderer's own area for the caption's shape and size (``area``), and whose centre moved
  from the previous frame's by the caption's step, within 1.5 px per axis, the short way round the
  torus (``motion``; not judged on frame 0 or after a frame without an object);
- a video is clean when all of its frames are.

Geometry (the motion tolerance) scales with the side like the rest of the spec; the 3-pixel minimum
does not (a stricter reading on larger canvases). Each frame's "object", when it has several
components, is the largest, so motion and colour are still read on the frames around a stray blob.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np

from vidtok.shapes.world import COLOURS, REFERENCE_SIZE, ShapesAttributes, centre_track, radius_px, shape_stamp

THRESHOLD = 60  # a pixel is foreground when its brightest channel exceeds this
MIN_PIXELS = 3  # smaller components are not read as objects
AREA_TOLERANCE = 0.5  # relative to the renderer's area of the caption's shape and size
MOTION_TOLERANCE = 1.5  # px per axis at 64 px
FAIL_REASONS: tuple[str, ...] = ("no_object", "extra_object", "colour", "area", "motion")
_PALETTE_NAMES = tuple(COLOURS)
_PALETTE = np.array([COLOURS[c] for c in _PALETTE_NAMES], dtype=np.float64)


@dataclass
class FrameObjects:
    """What each frame holds: counts of components, and the largest one's area, centre and colour.

    Arrays have length T; ``centres`` are (x, y) modulo the side, NaN where a frame has no component.
    """

    components: np.ndarray  # (T,) int, components of at least MIN_PIXELS
    areas: np.ndarray  # (T,) int, pixels of the largest component (0 when none)
    centres: np.ndarray  # (T, 2) float
    colours: np.ndarray  # (T, 3) float, per-channel median colour of the largest component
    side: int


def torus_components(mask: np.ndarray) -> np.ndarray:
    """4-connected component labels (T, S, S) of a boolean (T, S, S) mask on the torus; 0 = background.

    Each foreground pixel starts with its own label and takes the smallest label among itself and its
    four torus neighbours until nothing changes, so labels are the smallest flat index + 1 of a component.
    """
    t, h, w = mask.shape
    big = h * w + 1
    labels = np.where(mask, np.arange(1, h * w + 1).reshape(1, h, w), big)
    while True:
        low = labels
        for axis in (1, 2):
            low = np.minimum(low, np.minimum(np.roll(labels, 1, axis=axis), np.roll(labels, -1, axis=axis)))
        low = np.where(mask, low, big)
        if np.array_equal(low, labels):
            break
        labels = low
    return np.where(mask, labels, 0)


def read_frame_objects(video: np.ndarray) -> FrameObjects:
    """Components and the largest component's area, centre and colour in every frame of uint8 (T, S, S, 3)."""
    video = np.asarray(video)
    if video.dtype != np.uint8 or video.ndim != 4 or video.shape[-1] != 3 or video.shape[1] != video.shape[2]:
        raise ValueError(f"expected a square uint8 video shaped (T, S, S, 3), got {video.shape} {video.dtype}")
    frames, side = video.shape[0], video.shape[1]
    mask = video.max(axis=-1) > THRESHOLD
    labels = torus_components(mask)
    components = np.zeros(frames, dtype=np.int64)
    areas = np.zeros(frames, dtype=np.int64)
    centres = np.full((frames, 2), np.nan)
    colours = np.full((frames, 3), np.nan)
    for f in range(frames):
        ids, counts = np.unique(labels[f][mask[f]], return_counts=True)
        components[f] = int((counts >= MIN_PIXELS).sum())
        if not ids.size:
            continue
        best = ids[np.argmax(counts)]
        ys, xs = np.nonzero(labels[f] == best)
        areas[f] = ys.size
        colours[f] = np.median(video[f, ys, xs].astype(np.float64), axis=0)
        # the centre as one pixel plus the mean short-way offset from it (objects span < half the side)
        ref = np.array([xs[0], ys[0]], dtype=np.float64)
        off = (np.stack([xs, ys], axis=1) - ref + side / 2) % side - side / 2
        centres[f] = (ref + off.mean(0)) % side
    return FrameObjects(components, areas, centres, colours, side)


@functools.lru_cache(maxsize=4096)
def _expected(target: ShapesAttributes, frames: int, side: int) -> tuple[int, int, np.ndarray]:
    """(palette index, renderer's area, caption's step between consecutive frames (T-1, 2)) for a caption."""
    area = int(shape_stamp(target.shape, radius_px(target.size, side), side).sum())
    steps = np.diff(centre_track(target, (0, 0), frames, side).astype(np.float64), axis=0)
    steps = (steps + side / 2) % side - side / 2
    steps.flags.writeable = False
    return _PALETTE_NAMES.index(target.colour), area, steps


def frame_failures(objects: FrameObjects, target: ShapesAttributes) -> dict[str, np.ndarray]:
    """Why each frame fails: {reason: bool (T,)} for every reason in ``FAIL_REASONS``, plus "clean"."""
    frames, side = len(objects.components), objects.side
    colour_index, area, steps = _expected(target, frames, side)
    has = objects.areas > 0
    nearest = np.argmin(((np.nan_to_num(objects.colours, nan=-1e3)[:, None] - _PALETTE[None]) ** 2).sum(-1), axis=1)
    out = {
        "no_object": objects.components == 0,
        "extra_object": objects.components > 1,
        "colour": has & (nearest != colour_index),
        "area": has & (np.abs(objects.areas - area) > AREA_TOLERANCE * area),
    }
    moved = (np.diff(objects.centres, axis=0) + side / 2) % side - side / 2
    tolerance = MOTION_TOLERANCE * side / REFERENCE_SIZE
    with np.errstate(invalid="ignore"):
        wrong = (np.abs(moved - steps) > tolerance + 1e-9).any(1) & has[1:] & has[:-1]
    out["motion"] = np.concatenate([[False], wrong])
    out["clean"] = ~np.logical_or.reduce([out[r] for r in FAIL_REASONS])
    return out


def judge_frames(video: np.ndarray, caption: str | ShapesAttributes) -> dict[str, np.ndarray]:
    """``frame_failures`` of a uint8 (T, S, S, 3) video against its caption."""
    target = caption if isinstance(caption, ShapesAttributes) else ShapesAttributes.from_caption(caption)
    return frame_failures(read_frame_objects(video), target)


def judge_switch_frames(video: np.ndarray, first: str | ShapesAttributes, then: str | ShapesAttributes,
                        switch: int) -> dict[str, np.ndarray]:
    """A clip whose caption changes at frame ``switch``, judged as two clips (shapes.md, "Prompt changes
    mid-video"): frames 0 .. switch-1 against ``first``, frames switch .. T-1 against ``then``."""
    if not 1 <= switch < len(video):
        raise ValueError(f"switch={switch}: must split the {len(video)}-frame video in two")
    a, b = judge_frames(video[:switch], first), judge_frames(video[switch:], then)
    return {k: np.concatenate([a[k], b[k]]) for k in a}


def is_clean(video: np.ndarray, caption: str | ShapesAttributes) -> bool:
    """True when every frame of the video is clean against its caption."""
    return bool(judge_frames(video, caption)["clean"].all())


class CleanTally:
    """Clean videos, clean frames and failure reasons by frame index, summed over videos of any lengths."""

    def __init__(self) -> None:
        self.videos = self.clean_videos = 0
        self.frames = np.zeros(0, dtype=np.int64)
        self.counts: dict[str, np.ndarray] = {k: np.zeros(0, dtype=np.int64) for k in ("clean", *FAIL_REASONS)}

    def add(self, failures: dict[str, np.ndarray]) -> None:
        n = len(failures["clean"])
        if n > len(self.frames):
            grow = n - len(self.frames)
            self.frames = np.concatenate([self.frames, np.zeros(grow, dtype=np.int64)])
            self.counts = {k: np.concatenate([v, np.zeros(grow, dtype=np.int64)]) for k, v in self.counts.items()}
        self.videos += 1
        self.clean_videos += int(failures["clean"].all())
        self.frames[:n] += 1
        for key in self.counts:
            self.counts[key][:n] += failures[key]

    def summary(self) -> dict:
        """JSON-ready figures: share of clean videos (with its standard error), per-frame clean rate,
        failed frames by reason (in all and by frame index). None where no video was added."""
        n, frames = self.videos, int(self.frames.sum())
        rate = self.clean_videos / n if n else None
        failed = frames - int(self.counts["clean"].sum())
        return {
            "videos": n,
            "clean_videos": rate,
            "clean_videos_se": float(np.sqrt(rate * (1 - rate) / n)) if n else None,
            "clean_frames": int(self.counts["clean"].sum()) / frames if frames else None,
            "failed_frames": failed,
            "failed_by_reason": {r: int(self.counts[r].sum()) for r in FAIL_REASONS},
            "by_frame": {
                "frames": self.frames.tolist(),
                "clean": self.counts["clean"].tolist(),
                **{r: self.counts[r].tolist() for r in FAIL_REASONS},
            },
        }
