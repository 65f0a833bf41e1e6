"""The Shapes world: captioned synthetic clips, rendered on the fly (spec: shapes.md).

One object per clip on a black torus canvas. Every geometric constant is given for a 64 px
canvas and scales linearly with the side ``S``:

- the radius is ``r64 * S / 64`` rounded to a whole pixel (so a square keeps a whole side
  ``2r + 1`` and the triangle rule stays exact in integers);
- the speed is ``v64 * S / 64`` px/frame, kept real; the *position* at frame ``t`` is
  ``centre(0) + t * speed * direction`` rounded to a whole pixel, as the spec says.

Rounding is half away from zero, so a clip moving left is the mirror image of one moving right.
At 64 px (and any multiple of 64) nothing is rounded.

Sampling is deterministic from ``(split, index)``: ``seed = index * 6 + split_id`` (the five
``SPLITS`` have ids 0..4, ``"all"`` has id 5), so seeds of different splits never overlap.
The combination is ``combos[index % len(combos)]`` (balanced: a length that is a multiple of
the split's combination count sees every combination equally often); the start centre is drawn
uniformly over whole pixels by numpy's PCG64 ``default_rng(seed)``.
"""

from __future__ import annotations

import functools
import itertools
from dataclasses import dataclass

import numpy as np
import torch
from torch.utils.data import Dataset

from vidtok.data.convert import to_tensor

SHAPES: tuple[str, ...] = ("circle", "square", "triangle")
COLOURS: dict[str, tuple[int, int, int]] = {
    "red": (230, 40, 40),
    "green": (40, 200, 60),
    "blue": (50, 90, 240),
    "yellow": (235, 220, 40),
    "magenta": (220, 50, 220),
    "cyan": (40, 210, 220),
}
SIZES: dict[str, int] = {"small": 4, "large": 7}  # radius at 64 px
DIRECTIONS: dict[str, tuple[int, int]] = {"left": (-1, 0), "right": (1, 0), "up": (0, -1), "down": (0, 1)}
SPEEDS: dict[str, int] = {"slowly": 1, "quickly": 3}  # px/frame at 64 px

SPLITS: tuple[str, ...] = ("train", "val", "test-iid", "test-comp-shape-colour", "test-comp-colour-direction")
ALL_SPLIT = "all"  # all 288 combinations; captions never shown to the GPT; for tokenizer training
HELD_OUT_SHAPE_COLOUR: tuple[tuple[str, str], ...] = (("circle", "red"), ("square", "blue"), ("triangle", "magenta"))
HELD_OUT_COLOUR_DIRECTION: tuple[tuple[str, str], ...] = (
    ("cyan", "up"),
    ("magenta", "right"),
    ("red", "down"),
    ("yellow", "left"),
)

REFERENCE_SIZE = 64  # the canvas side at which the constants above are given
MIN_SIZE = 16  # below this the two radii round to the same number of pixels
_SEED_STRIDE = len(SPLITS) + 1  # one seed slot per split plus "all"


@dataclass(frozen=True)
class ShapesAttributes:
    """The five factors of a Shapes clip; ``caption`` and ``from_caption`` convert to and from text."""

    shape: str
    colour: str
    size: str
    direction: str
    speed: str

    def __post_init__(self) -> None:
        for factor, allowed in _FACTORS.items():
            value = getattr(self, factor)
            if value not in allowed:
                raise ValueError(f"unknown Shapes {factor} {value!r}; expected one of {list(allowed)}")

    @property
    def caption(self) -> str:
        """``a {size} {colour} {shape} moves {direction} {speed}``."""
        return f"a {self.size} {self.colour} {self.shape} moves {self.direction} {self.speed}"

    @classmethod
    def from_caption(cls, text: str) -> ShapesAttributes:
        """Parse a Shapes caption (case and surrounding/multiple spaces are forgiven)."""
        words = str(text).lower().split()
        if len(words) != 7 or words[0] != "a" or words[4] != "moves":
            raise ValueError(f"not a Shapes caption: {text!r} (expected 'a SIZE COLOUR SHAPE moves DIRECTION SPEED')")
        _, size, colour, shape, _, direction, speed = words
        try:
            return cls(shape=shape, colour=colour, size=size, direction=direction, speed=speed)
        except ValueError as err:
            raise ValueError(f"not a Shapes caption: {text!r} ({err})") from None


_FACTORS: dict[str, tuple[str, ...]] = {
    "shape": SHAPES,
    "colour": tuple(COLOURS),
    "size": tuple(SIZES),
    "direction": tuple(DIRECTIONS),
    "speed": tuple(SPEEDS),
}


def is_held_out(attrs: ShapesAttributes) -> bool:
    """True when the combination contains a held-out (shape, colour) or (colour, direction) pair."""
    return (attrs.shape, attrs.colour) in HELD_OUT_SHAPE_COLOUR or (
        attrs.colour,
        attrs.direction,
    ) in HELD_OUT_COLOUR_DIRECTION


@functools.lru_cache(maxsize=None)
def _combinations(split: str) -> tuple[ShapesAttributes, ...]:
    every = [
        ShapesAttributes(shape, colour, size, direction, speed)
        for shape, colour, size, direction, speed in itertools.product(
            SHAPES, COLOURS, SIZES, DIRECTIONS, SPEEDS
        )
    ]
    if split == ALL_SPLIT:
        combos = every
    elif split in ("train", "val", "test-iid"):
        combos = [a for a in every if not is_held_out(a)]
    elif split == "test-comp-shape-colour":
        combos = [a for a in every if (a.shape, a.colour) in HELD_OUT_SHAPE_COLOUR]
    elif split == "test-comp-colour-direction":
        combos = [a for a in every if (a.colour, a.direction) in HELD_OUT_COLOUR_DIRECTION]
    else:
        raise ValueError(f"unknown Shapes split {split!r}; expected one of {list(SPLITS) + [ALL_SPLIT]}")
    return tuple(combos)


def split_combinations(split: str) -> list[ShapesAttributes]:
    """The combinations of a split, in a fixed order (shape, colour, size, direction, speed; last fastest)."""
    return list(_combinations(split))


assert len(_combinations(ALL_SPLIT)) == 288
assert len(_combinations("train")) == 200 and sum(map(is_held_out, _combinations(ALL_SPLIT))) == 88
assert len(_combinations("test-comp-shape-colour")) == len(_combinations("test-comp-colour-direction")) == 48


def round_half_away(x: np.ndarray | float) -> np.ndarray:
    """Round half away from zero (numpy's round is half-to-even)."""
    return (np.sign(x) * np.floor(np.abs(x) + 0.5)).astype(np.int64)


def radius_px(size_name: str, side: int) -> int:
    """Radius in whole pixels of a size on a canvas of the given side."""
    return int(round_half_away(SIZES[size_name] * side / REFERENCE_SIZE))


def speed_px(speed_name: str, side: int) -> float:
    """Speed in px/frame of a speed on a canvas of the given side (real; positions are rounded)."""
    return SPEEDS[speed_name] * side / REFERENCE_SIZE


@functools.lru_cache(maxsize=None)
def shape_stamp(shape: str, radius: int, side: int) -> np.ndarray:
    """Boolean (side, side) mask of the object over torus offsets: entry [dy + side//2, dx + side//2].

    The offsets span [-side//2, side - side//2), exactly the short-way offsets of the spec, so
    rolling this stamp by (cy - side//2, cx - side//2) draws the object at (cx, cy) on the torus.
    """
    off = np.arange(side) - side // 2
    dy, dx = off[:, None], off[None, :]
    r = radius
    if shape == "circle":
        mask = dx * dx + dy * dy <= r * r
    elif shape == "square":
        mask = (np.abs(dx) <= r) & (np.abs(dy) <= r)
    elif shape == "triangle":
        # h = (dy + r) / 2r in [0, 1] and |dx| <= h r, multiplied out to stay in integers
        mask = (dy + r >= 0) & (dy <= r) & (2 * np.abs(dx) <= dy + r)
    else:
        raise ValueError(f"unknown Shapes shape {shape!r}; expected one of {list(SHAPES)}")
    mask.flags.writeable = False
    return mask


def _check_canvas(frames: int, size: int) -> None:
    if not isinstance(frames, (int, np.integer)) or frames < 1:
        raise ValueError(f"frames must be a positive integer, got {frames!r}")
    if not isinstance(size, (int, np.integer)) or size < MIN_SIZE:
        raise ValueError(f"size must be an integer >= {MIN_SIZE}, got {size!r}")


def centre_track(attrs: ShapesAttributes, centre: tuple[int, int], frames: int, size: int) -> np.ndarray:
    """Integer (frames, 2) array of the object centre (x, y) at every frame, modulo the side."""
    step = round_half_away(np.arange(frames) * speed_px(attrs.speed, size))
    dx, dy = DIRECTIONS[attrs.direction]
    cx = (int(centre[0]) + step * dx) % size
    cy = (int(centre[1]) + step * dy) % size
    return np.stack([cx, cy], axis=1)


@functools.lru_cache(maxsize=None)
def _tiled_colour_stamp(shape: str, radius: int, side: int, colour: str) -> np.ndarray:
    """The coloured stamp tiled 2 x 2, so any torus roll of it is a plain (side, side) slice."""
    stamp = shape_stamp(shape, radius, side)[..., None] * np.asarray(COLOURS[colour], dtype=np.uint8)
    tiled = np.tile(stamp, (2, 2, 1))
    tiled.flags.writeable = False
    return tiled


def render_clip(
    attrs: ShapesAttributes, centre: tuple[int, int], frames: int = 17, size: int = 64
) -> np.ndarray:
    """Render one clip: uint8 (frames, size, size, 3), black background, start centre (x, y)."""
    _check_canvas(frames, size)
    return _draw(attrs, centre_track(attrs, centre, frames, size), size)


def render_switch_clip(
    first: ShapesAttributes, then: ShapesAttributes, switch: int, centre: tuple[int, int], frames: int = 17,
    size: int = 64,
) -> np.ndarray:
    """A clip whose caption changes at frame ``switch`` (shapes.md, "Prompt changes mid-video"): frames
    0 .. switch-1 are ``first``'s clip; from ``switch`` on the object moves on with ``then``'s velocity from
    where it was, drawn with ``then``'s shape, size and colour (it does not jump)."""
    _check_canvas(frames, size)
    if not 1 <= switch < frames:
        raise ValueError(f"switch={switch}: the caption must change inside the clip (1 .. {frames - 1})")
    before = centre_track(first, centre, switch, size)
    after = centre_track(then, tuple(before[-1]), frames - switch + 1, size)[1:]
    return np.concatenate([_draw(first, before, size), _draw(then, after, size)])


def _draw(attrs: ShapesAttributes, track: np.ndarray, size: int) -> np.ndarray:
    """The object of ``attrs`` at each centre (x, y) of ``track``: uint8 (len(track), size, size, 3)."""
    tiled = _tiled_colour_stamp(attrs.shape, radius_px(attrs.size, size), size, attrs.colour)
    # rolling the stamp by (cy - S//2, cx - S//2) is the window of the 2x2 tiling starting here
    top = ((size // 2 - track[:, 1]) % size).tolist()
    left = ((size // 2 - track[:, 0]) % size).tolist()
    return np.stack([tiled[y : y + size, x : x + size] for y, x in zip(top, left)])


def split_seed(split: str, index: int) -> int:
    """The rng seed of clip ``index`` of ``split``; disjoint across splits."""
    split_id = len(SPLITS) if split == ALL_SPLIT else SPLITS.index(split) if split in SPLITS else None
    if split_id is None:
        raise ValueError(f"unknown Shapes split {split!r}; expected one of {list(SPLITS) + [ALL_SPLIT]}")
    if not isinstance(index, (int, np.integer)) or index < 0:
        raise ValueError(f"Shapes clip index must be a non-negative integer, got {index!r}")
    return int(index) * _SEED_STRIDE + split_id


def sample_clip(
    split: str, index: int, frames: int = 17, size: int = 64
) -> tuple[np.ndarray, ShapesAttributes, tuple[int, int]]:
    """Clip ``index`` of ``split``: (uint8 video (T, H, W, 3), attributes, start centre (x, y)).

    ``split`` is one of ``SPLITS`` or ``"all"`` (all 288 combinations, captions never shown to
    the GPT; for tokenizer training). The same (split, index, frames, size) gives the same clip
    on every machine.
    """
    seed = split_seed(split, index)
    combos = _combinations(split)
    attrs = combos[index % len(combos)]
    cx, cy = np.random.default_rng(seed).integers(0, size, size=2)
    centre = (int(cx), int(cy))
    return render_clip(attrs, centre, frames=frames, size=size), attrs, centre


def spread_indices(split: str, count: int) -> list[int]:
    """``count`` clip indices of ``split`` whose combinations are spread over all of the split's.

    Combinations are enumerated factor by factor (all circles first), so the first ``count`` clips of a
    split are a biased sample whenever ``count`` is below its number of combinations. These indices visit
    the combinations in a fixed shuffled order (the same on every machine), cycling when ``count`` is larger.
    """
    n = len(_combinations(split))
    order = np.random.default_rng(20260101).permutation(n)
    return [int(order[i % n]) + n * (i // n) for i in range(count)]


class ShapesDataset(Dataset):
    """Shapes clips as network inputs: {"video": float (3, T, H, W) in [-1, 1], "caption", "index"}.

    `switch_share` > 0: that share of the clips (the same ones for a given index) are switch clips
    (`render_switch_clip`) whose caption changes at a latent-frame start (1 + `temporal_factor` k):
    their "caption" is the one from the change on, "caption_before" the one before it, and "switch" the
    frame of the change (0 for a plain clip, whose caption holds throughout). Both captions come from the
    split. What the GPT learns from them: given the codes so far under the new prompt, follow it.
    """

    def __init__(self, split: str = "train", length: int = 10000, frames: int = 17, size: int = 64,
                 switch_share: float = 0.0, temporal_factor: int = 4) -> None:
        split_seed(split, 0)  # validates the split name
        _check_canvas(frames, size)
        if not isinstance(length, (int, np.integer)) or length < 1:
            raise ValueError(f"ShapesDataset length must be a positive integer, got {length!r}")
        if not (isinstance(switch_share, (int, float)) and 0.0 <= switch_share <= 1.0):
            raise ValueError(f"ShapesDataset switch_share must lie in [0, 1], got {switch_share!r}")
        if switch_share and frames < 2:
            raise ValueError(f"switch clips need at least 2 frames (two latent frames), got {frames}")
        self.split, self.length, self.frames, self.size = split, int(length), int(frames), int(size)
        self.switch_share, self.temporal_factor = float(switch_share), int(temporal_factor)

    def __len__(self) -> int:
        return self.length

    def __getitem__(self, index: int) -> dict[str, torch.Tensor | str | int]:
        if not 0 <= index < self.length:
            raise IndexError(f"ShapesDataset index {index} out of range for length {self.length}")
        video, attrs, centre = sample_clip(self.split, int(index), self.frames, self.size)
        if not self.switch_share:
            return {"video": to_tensor(video), "caption": attrs.caption, "index": int(index)}
        item = {"video": to_tensor(video), "caption": attrs.caption, "caption_before": attrs.caption,
                "switch": 0, "index": int(index)}
        rng = np.random.default_rng([split_seed(self.split, int(index)), 1])  # apart from sample_clip's draws
        if rng.random() < self.switch_share:
            combos = _combinations(self.split)
            then = combos[int(rng.integers(len(combos)))]
            starts = (self.frames - 2) // self.temporal_factor + 1  # latent frames after the first: 1, 5, 9, ...
            switch = 1 + self.temporal_factor * int(rng.integers(starts))
            video = render_switch_clip(attrs, then, switch, centre, self.frames, self.size)
            item.update(video=to_tensor(video), caption=then.caption, switch=switch)
        return item
