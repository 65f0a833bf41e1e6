"""Read a Shapes caption back from pixels ("Judging a video from pixels" in shapes.md).

The reader is built to survive reconstructions, not just clean renders:

1. foreground = pixels whose brightest channel is at least ``threshold`` (palette colours all
   have a channel >= 200, black is 0, so the cut sits halfway and tolerates noise and blur);
   isolated foreground pixels (no 8-neighbour) are dropped as noise;
2. the object's rough centre in each frame is, per axis, the peak of a torus box filter over the
   foreground count of every row / column (the densest band, so scattered spurious pixels cannot
   win), refined by the mean in a window around it; the object is then everything foreground in
   a 2D window around that centre, measured in torus offsets, so an object straddling an edge is
   whole; a frame has the object when that is at least a quarter of the smallest stamp;
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

from vidtok.shapes.world import (
    COLOURS,
    DIRECTIONS,
    MIN_SIZE,
    REFERENCE_SIZE,
    SHAPES,
    SIZES,
    SPEEDS,
    ShapesAttributes,
    radius_px,
    round_half_away,
    shape_stamp,
    speed_px,
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


def _locate_axis(profile: np.ndarray, box_half: int, window_half: int) -> np.ndarray:
    """Object centre (T,) along one axis from the foreground count per row or column (T, S).

    The peak of a torus box filter picks the densest band (so stray pixels elsewhere cannot win);
    the centre is the profile's mean offset in a window around that peak.
    """
    side = profile.shape[1]
    k = 2 * box_half + 1
    c = np.cumsum(np.concatenate([profile[:, -box_half - 1 :], profile, profile[:, :box_half]], axis=1), axis=1)
    peak = np.argmax(c[:, k:] - c[:, :-k], axis=1)  # box sum centred on each of the S positions
    off = np.arange(-window_half, window_half + 1)
    window = np.take_along_axis(profile, (peak[:, None] + off) % side, axis=1)
    return peak + (window * off).sum(1) / np.maximum(window.sum(1), 1)


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


def _grouped_median(values: np.ndarray, group: np.ndarray, groups: int) -> np.ndarray:
    """Per-group median (groups, C) of uint8 ``values`` (N, C); ``group`` (N,) sorted ascending. NaN when empty."""
    counts = np.bincount(group, minlength=groups)
    starts = np.cumsum(counts) - counts
    keyed = np.sort(group[:, None].astype(np.int32) * 256 + values, axis=0) % 256  # sorts within each group
    out = np.full((groups, values.shape[1]), np.nan)
    has = counts > 0
    lo, hi = starts[has] + (counts[has] - 1) // 2, starts[has] + counts[has] // 2
    out[has] = (keyed[lo] + keyed[hi]) / 2.0
    return out


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
    stamps.flags.writeable = tc.flags.writeable = False
    return stamps, tc


def _template_scores(
    t: np.ndarray, offsets: np.ndarray, area: np.ndarray, centroid: np.ndarray, anchor: np.ndarray, side: int
) -> np.ndarray:
    """IoU (n_templates, T) of each stamp placed so that its centroid sits on the measured one.

    The object is given as a pixel list: frame ``t`` (N,) and (x, y) ``offsets`` (N, 2) from the
    frame's ``anchor``; intersections are counted by looking every pixel up in the stamps.
    """
    stamps, tc = _templates(side)
    n, frames = len(stamps), len(area)
    # template centre relative to the anchor, per template and frame: (n, T, 2)
    shift = np.floor(centroid[None] - tc[:, None] + 0.5).astype(np.int64) - anchor[None]
    rel = (offsets[None] - shift[:, t] + side // 2) % side  # (n, N, 2)
    inside = stamps[np.arange(n)[:, None], rel[..., 1], rel[..., 0]]  # (n, N)
    slot = (np.arange(n)[:, None] * frames + t[None])[inside]
    inter = np.bincount(slot, minlength=n * frames).reshape(n, frames)
    union = stamps.sum((1, 2))[:, None] + area[None] - inter
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


def _slope(t: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Least-squares slope of y (N, ...) against t (N,)."""
    tc = t - t.mean()
    return np.tensordot(tc, y - y.mean(0), axes=1) / (tc * tc).sum()


def _motion(
    track: np.ndarray, present: np.ndarray, side: int
) -> tuple[tuple[float, float] | None, str | None, str | None]:
    """Velocity (px/frame at 64 px), direction and speed from the unwrapped track's linear fit."""
    idx = np.flatnonzero(present)
    if idx.size < 2:
        return None, None, None
    t = idx.astype(np.float64)
    vx, vy = _slope(t, track[idx])
    velocity = (float(vx * REFERENCE_SIZE / side), float(vy * REFERENCE_SIZE / side))
    # each speed compared with the slope its rendered (whole-pixel) positions would give on these
    # frames: identical to the nominal speed at 64 px, and still exact on small canvases/short clips
    expected = {name: float(_slope(t, round_half_away(t * speed_px(name, side)).astype(float))) for name in SPEEDS}
    main, other = (vx, vy) if abs(vx) >= abs(vy) else (vy, vx)
    # a motion needs at least half the slow speed along one axis and less than that across it
    lo = 0.5 * min(SPEEDS.values()) * side / REFERENCE_SIZE
    if not lo <= abs(main) <= 1.5 * max(expected.values()) or abs(other) >= lo:
        return velocity, None, None
    unit = (int(np.sign(vx)), 0) if abs(vx) >= abs(vy) else (0, int(np.sign(vy)))
    direction = next(name for name, d in DIRECTIONS.items() if d == unit)
    speed = min(expected, key=lambda name: abs(expected[name] - abs(main)))
    return velocity, direction, speed


def read_video_attributes(video: np.ndarray, threshold: int = 100, min_iou: float = 0.5) -> ShapesReading:
    """Read the five Shapes attributes of a uint8 (T, S, S, 3) video from its pixels.

    ``threshold``: brightest-channel level from which a pixel is foreground. ``min_iou``: the best
    shape/size template must reach this mean IoU, otherwise shape and size are None.
    """
    video = _check_video(video)
    frames, side = video.shape[0], video.shape[1]
    fg = np.maximum(np.maximum(video[..., 0], video[..., 1]), video[..., 2]) >= threshold
    # drop isolated pixels: the 3x3 torus box count includes the pixel itself
    count = fg.view(np.uint8)
    count = count + np.roll(count, 1, axis=2) + np.roll(count, -1, axis=2)
    count = count + np.roll(count, 1, axis=1) + np.roll(count, -1, axis=1)
    fg &= count > 1

    r_small, r_large = radius_px("small", side), radius_px("large", side)
    wide = min(2 * r_large, (side - 1) // 2)
    # rough centre from row/column projections, then the object itself in a tight 2D window
    cx = _locate_axis(fg.sum(1, dtype=np.int32), r_small, wide)
    cy = _locate_axis(fg.sum(2, dtype=np.int32), r_small, wide)
    anchor = np.floor(np.stack([cx, cy], axis=1) + 0.5).astype(np.int64)
    half = min(math.ceil(1.5 * r_large) + 2, (side - 1) // 2)
    mask, off = _patch(fg, anchor, half)
    area, centroid = _centroid(mask, anchor, off)

    min_area = 0.25 * shape_stamp("triangle", r_small, side).sum()
    present = area >= min_area
    centroids = np.where(present[:, None], centroid % side, np.nan)
    # the object as a pixel list over present frames: frame, offset from the anchor, colour
    t, py, px = np.nonzero(mask & present[:, None, None])
    offsets = np.stack([off[px], off[py]], axis=1)
    pos = (anchor[t] + offsets) % side
    rgb = video[t, pos[:, 1], pos[:, 0]]  # (N, 3)
    colours = _grouped_median(rgb, t, frames)

    shape = size = colour = None
    template_iou = 0.0
    if present.any():
        median = np.median(rgb, axis=0)
        colour = _PALETTE_NAMES[int(np.argmin(((_PALETTE - median) ** 2).sum(1)))]
        scores = _template_scores(t, offsets, area, centroid, anchor, side)[:, present].mean(1)
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
