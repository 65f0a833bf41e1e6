"""Read a Shapes caption back from pixels ("Judging a video from pixels" in shapes.md).

The reader is built to survive reconstructions, not just clean renders:

1. foreground = pixels whose brightest channel is at least ``threshold`` (palette colours all
   have a channel >= 200, black is 0, so the cut sits halfway and tolerates noise and blur);
   isolated foreground pixels (no 8-neighbour) are dropped as noise;
2. the object is found per frame at the peak of a torus box filter of the foreground (the densest
   small-object-sized spot), so scattered spurious pixels cannot pull it away; everything is then
   measured in a window around it, in torus offsets, so an object straddling an edge is whole;
3. colour = median foreground colour -> nearest palette entry; shape and size = the template
   (3 shapes x 2 sizes, the renderer's own stamps) with the best mean IoU over frames, each
   template placed on the measured centroid; direction and speed = least-squares slope of the
   centroid track unwrapped around the torus, in px/frame at 64 px.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass

import numpy as np

from vidtok.data.shapes import (
    COLOURS,
    DIRECTIONS,
    MIN_SIZE,
    REFERENCE_SIZE,
    SHAPES,
    SIZES,
    SPEEDS,
    ShapesAttributes,
    radius_px,
    shape_stamp,
)

FACTORS: tuple[str, ...] = ("shape", "colour", "size", "direction", "speed")
_PALETTE_NAMES = tuple(COLOURS)
_PALETTE = np.array([COLOURS[c] for c in _PALETTE_NAMES], dtype=np.float64)
_TEMPLATES = tuple((shape, size) for shape in SHAPES for size in SIZES)


@dataclass
class ShapesReading:
    """What the pixels say. A factor is None when it cannot be read (no object, no motion, ...).

    Per-frame arrays have length T; centroids and the unwrapped ``track`` are (x, y) in pixels of
    the given canvas, NaN where the object is absent. ``velocity`` is (vx, vy) in px/frame at 64 px.
    """

    shape: str | None
    colour: str | None
    size: str | None
    direction: str | None
    speed: str | None
    present: np.ndarray  # (T,) bool
    centroids: np.ndarray  # (T, 2) float, modulo the side
    track: np.ndarray  # (T, 2) float, unwrapped around the torus
    areas: np.ndarray  # (T,) int, foreground pixels of the object
    colours: np.ndarray  # (T, 3) float, median object colour per frame
    velocity: tuple[float, float] | None
    template_iou: float  # mean IoU of the chosen shape/size template (0 when none)
    side: int

    @property
    def attributes(self) -> ShapesAttributes | None:
        """All five factors as ``ShapesAttributes``, or None if any could not be read."""
        values = [getattr(self, f) for f in FACTORS]
        return None if None in values else ShapesAttributes(*values)


def _check_video(video: np.ndarray) -> np.ndarray:
    video = np.asarray(video)
    if video.dtype != np.uint8 or video.ndim != 4 or video.shape[-1] != 3:
        raise ValueError(f"expected a uint8 video shaped (T, H, W, 3), got {video.shape} {video.dtype}")
    if video.shape[1] != video.shape[2] or video.shape[1] < MIN_SIZE or video.shape[0] < 1:
        raise ValueError(f"Shapes videos are square with side >= {MIN_SIZE} and >= 1 frame, got {video.shape}")
    return video


def _torus_box_sum(fg: np.ndarray, half: int) -> np.ndarray:
    """Sum of ``fg`` (T, S, S) over the (2 half + 1)^2 box around every pixel, wrapping round."""
    k = 2 * half + 1
    p = np.pad(fg.astype(np.int32), ((0, 0), (half, half), (half, half)), mode="wrap")
    c = np.cumsum(p, axis=1)
    rows = c[:, k - 1 :] - np.concatenate([np.zeros_like(c[:, :1]), c[:, : -k]], axis=1)
    c = np.cumsum(rows, axis=2)
    return c[:, :, k - 1 :] - np.concatenate([np.zeros_like(c[:, :, :1]), c[:, :, : -k]], axis=2)


def _patch(arr: np.ndarray, anchor: np.ndarray, half: int) -> tuple[np.ndarray, np.ndarray]:
    """Gather the (T, P, P, ...) window of ``arr`` (T, S, S, ...) centred on integer ``anchor`` (T, 2) (x, y).

    Returns the patch and the offsets (P,) of its rows/columns from the anchor.
    """
    side = arr.shape[1]
    off = np.arange(-half, half + 1)
    rows = (anchor[:, 1:2] + off[None, :]) % side  # (T, P)
    cols = (anchor[:, 0:1] + off[None, :]) % side
    t = np.arange(arr.shape[0])[:, None, None]
    return arr[t, rows[:, :, None], cols[:, None, :]], off


def _centroid(mask: np.ndarray, anchor: np.ndarray, off: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Area (T,) and centroid (T, 2) as anchor + mean offset (unreduced: may leave [0, S))."""
    area = mask.sum((1, 2))
    safe = np.maximum(area, 1)
    mx = (mask.sum(1) * off[None, :]).sum(1) / safe
    my = (mask.sum(2) * off[None, :]).sum(1) / safe
    return area, anchor + np.stack([mx, my], axis=1)


@functools.lru_cache(maxsize=None)
def _templates(side: int) -> tuple[np.ndarray, np.ndarray]:
    """The stamps (n, S, S) of every (shape, size) and their centroids (n, 2) (x, y) relative to the centre."""
    stamps = np.stack([shape_stamp(shape, radius_px(size, side), side) for shape, size in _TEMPLATES])
    off = np.arange(side) - side // 2
    area = stamps.sum((1, 2))
    tc = np.stack([(stamps.sum(1) * off).sum(1) / area, (stamps.sum(2) * off).sum(1) / area], axis=1)
    return stamps, tc


def _template_scores(
    mask: np.ndarray, centroid: np.ndarray, anchor: np.ndarray, off: np.ndarray, side: int
) -> np.ndarray:
    """IoU (n_templates, T) of each stamp placed so that its centroid sits on the measured one."""
    stamps, tc = _templates(side)
    # template centre relative to the patch anchor, per template and frame: (n, T, 2)
    shift = np.floor(centroid[None] - tc[:, None] + 0.5).astype(np.int64) - anchor[None]
    rows = (off - shift[..., 1:2] + side // 2) % side  # (n, T, P)
    cols = (off - shift[..., 0:1] + side // 2) % side
    k = np.arange(len(stamps))[:, None, None, None]
    tpl = stamps[k, rows[..., :, None], cols[..., None, :]]  # (n, T, P, P)
    inter = (tpl & mask).sum((2, 3))
    union = (tpl | mask).sum((2, 3))
    return inter / np.maximum(union, 1)


def _unwrap(centroids: np.ndarray, present: np.ndarray, side: int) -> np.ndarray:
    """Unwrap the centroid track around the torus: each step taken the short way."""
    track = np.full_like(centroids, np.nan)
    idx = np.flatnonzero(present)
    if idx.size:
        steps = np.diff(centroids[idx], axis=0)
        steps = (steps + side / 2) % side - side / 2
        track[idx] = centroids[idx[0]] + np.concatenate([np.zeros((1, 2)), np.cumsum(steps, axis=0)])
    return track


def _motion(track: np.ndarray, present: np.ndarray, side: int) -> tuple[tuple[float, float] | None, str | None, str | None]:
    idx = np.flatnonzero(present)
    if idx.size < 2:
        return None, None, None
    t = idx.astype(np.float64)
    tc = t - t.mean()
    v = (tc[:, None] * (track[idx] - track[idx].mean(0))).sum(0) / (tc * tc).sum()
    v64 = v * REFERENCE_SIZE / side
    vx, vy = float(v64[0]), float(v64[1])
    main, other = (vx, vy) if abs(vx) >= abs(vy) else (vy, vx)
    lo, hi = 0.5 * min(SPEEDS.values()), 1.5 * max(SPEEDS.values())
    if not lo <= abs(main) <= hi or abs(other) >= lo:
        return (vx, vy), None, None
    unit = (int(np.sign(vx)), 0) if abs(vx) >= abs(vy) else (0, int(np.sign(vy)))
    direction = next(name for name, d in DIRECTIONS.items() if d == unit)
    speed = min(SPEEDS, key=lambda name: abs(SPEEDS[name] - abs(main)))
    return (vx, vy), direction, speed


def read_video_attributes(video: np.ndarray, threshold: int = 100, min_iou: float = 0.5) -> ShapesReading:
    """Read the five Shapes attributes of a uint8 (T, S, S, 3) video from its pixels.

    ``threshold``: brightest-channel level from which a pixel is foreground. ``min_iou``: the best
    shape/size template must reach this mean IoU, otherwise shape and size are None.
    """
    video = _check_video(video)
    frames, side = video.shape[0], video.shape[1]
    fg = video.max(-1) >= threshold
    neighbours = sum(
        np.roll(fg, (dy, dx), axis=(1, 2)).astype(np.uint8)
        for dy in (-1, 0, 1)
        for dx in (-1, 0, 1)
        if dy or dx
    )
    fg &= neighbours > 0

    r_small, r_large = radius_px("small", side), radius_px("large", side)
    density = _torus_box_sum(fg, r_small).reshape(frames, -1)
    peak = np.argmax(density, axis=1)
    anchor = np.stack([peak % side, peak // side], axis=1)
    # pass 1: a wide window around the densest spot; pass 2: a tight one around its centroid
    wide, off = _patch(fg, anchor, min(2 * r_large, (side - 1) // 2))
    _, centroid = _centroid(wide, anchor, off)
    anchor = np.floor(centroid + 0.5).astype(np.int64)
    half = min(math.ceil(1.5 * r_large) + 2, (side - 1) // 2)
    mask, off = _patch(fg, anchor, half)
    area, centroid = _centroid(mask, anchor, off)

    min_area = 0.25 * shape_stamp("triangle", r_small, side).sum()
    present = area >= min_area
    centroids = np.where(present[:, None], centroid % side, np.nan)
    colours = np.full((frames, 3), np.nan)
    pixels, _ = _patch(video, anchor, half)  # (T, P, P, 3)
    for t in np.flatnonzero(present):
        colours[t] = np.median(pixels[t][mask[t]], axis=0)

    shape = size = colour = None
    template_iou = 0.0
    if present.any():
        all_pixels = pixels[present][mask[present]]
        median = np.median(all_pixels, axis=0)
        colour = _PALETTE_NAMES[int(np.argmin(((_PALETTE - median) ** 2).sum(1)))]
        scores = _template_scores(mask[present], centroid[present], anchor[present], off, side).mean(1)
        best = int(np.argmax(scores))
        template_iou = float(scores[best])
        if template_iou >= min_iou:
            shape, size = _TEMPLATES[best]

    track = _unwrap(centroids, present, side)
    velocity, direction, speed = _motion(track, present, side)
    return ShapesReading(
        shape=shape,
        colour=colour,
        size=size,
        direction=direction,
        speed=speed,
        present=present,
        centroids=centroids,
        track=track,
        areas=area.astype(np.int64),
        colours=colours,
        velocity=velocity,
        template_iou=template_iou,
        side=side,
    )


def judge(video: np.ndarray, caption: str | ShapesAttributes, **reader_kwargs) -> dict[str, bool]:
    """Does the video follow its caption? Per-factor booleans plus "all"."""
    target = caption if isinstance(caption, ShapesAttributes) else ShapesAttributes.from_caption(caption)
    reading = read_video_attributes(video, **reader_kwargs)
    verdict = {f: getattr(reading, f) == getattr(target, f) for f in FACTORS}
    verdict["all"] = all(verdict.values())
    return verdict


def accuracy(videos, captions, **reader_kwargs) -> dict[str, float]:
    """Per-factor and all-factor accuracy of videos (iterable of uint8 (T, S, S, 3)) against their captions."""
    verdicts = [judge(v, c, **reader_kwargs) for v, c in zip(videos, captions, strict=True)]
    if not verdicts:
        raise ValueError("accuracy needs at least one video")
    return {key: float(np.mean([v[key] for v in verdicts])) for key in (*FACTORS, "all")}
