"""The Shapes world against its spec (shapes.md), with an independent brute-force renderer."""

from __future__ import annotations

import itertools
from fractions import Fraction

import numpy as np
import pytest
import torch

from vidtok.shapes.world import (
    ALL_SPLIT,
    COLOURS,
    DIRECTIONS,
    HELD_OUT_COLOUR_DIRECTION,
    HELD_OUT_SHAPE_COLOUR,
    SHAPES,
    SIZES,
    SPEEDS,
    SPLITS,
    ShapesAttributes,
    ShapesDataset,
    render_clip,
    sample_clip,
    split_combinations,
    split_seed,
)

SPEC_COLOURS = {
    "red": (230, 40, 40),
    "green": (40, 200, 60),
    "blue": (50, 90, 240),
    "yellow": (235, 220, 40),
    "magenta": (220, 50, 220),
    "cyan": (40, 210, 220),
}


def _round_away(x: float) -> int:
    return int(np.sign(x) * np.floor(abs(x) + 0.5))


def brute_force(attrs: ShapesAttributes, centre: tuple[int, int], frames: int, side: int) -> np.ndarray:
    """The spec read literally, one pixel at a time, exact arithmetic."""
    r = _round_away({"small": 4, "large": 7}[attrs.size] * side / 64)
    speed = Fraction({"slowly": 1, "quickly": 3}[attrs.speed] * side, 64)
    ux, uy = {"left": (-1, 0), "right": (1, 0), "up": (0, -1), "down": (0, 1)}[attrs.direction]
    assert side % 2 == 0, "the reference uses integer offsets, exact for even sides"
    half = side // 2
    out = np.zeros((frames, side, side, 3), np.uint8)
    for t in range(frames):
        cx = (centre[0] + _round_away(t * speed * ux)) % side
        cy = (centre[1] + _round_away(t * speed * uy)) % side
        for y in range(side):
            for x in range(side):
                dx = ((x - cx + half) % side) - half
                dy = ((y - cy + half) % side) - half
                if attrs.shape == "circle":
                    inside = dx * dx + dy * dy <= r * r
                elif attrs.shape == "square":
                    inside = abs(dx) <= r and abs(dy) <= r
                elif not -r <= dy <= r:  # h = (dy + r) / 2r outside [0, 1]
                    inside = False
                else:
                    inside = abs(dx) <= Fraction(dy + r, 2 * r) * r
                if inside:
                    out[t, y, x] = SPEC_COLOURS[attrs.colour]
    return out


def test_constants_match_spec():
    assert COLOURS == SPEC_COLOURS
    assert SHAPES == ("circle", "square", "triangle")
    assert SIZES == {"small": 4, "large": 7}
    assert SPEEDS == {"slowly": 1, "quickly": 3}
    assert DIRECTIONS == {"left": (-1, 0), "right": (1, 0), "up": (0, -1), "down": (0, 1)}


@pytest.mark.parametrize(
    "shape,size,direction,speed,centre",
    [
        ("circle", "small", "right", "quickly", (62, 30)),  # leaves the right edge, re-enters left
        ("square", "large", "up", "quickly", (0, 0)),  # straddles a corner: drawn in all four
        ("triangle", "large", "left", "slowly", (3, 60)),
        ("triangle", "small", "down", "quickly", (33, 61)),
        ("circle", "large", "down", "slowly", (63, 63)),
        ("square", "small", "left", "quickly", (1, 20)),
    ],
)
def test_render_matches_brute_force_at_64(shape, size, direction, speed, centre):
    attrs = ShapesAttributes(shape, "magenta", size, direction, speed)
    np.testing.assert_array_equal(render_clip(attrs, centre, frames=17), brute_force(attrs, centre, 17, 64))


@pytest.mark.parametrize("frames,side", [(2, 128), (5, 48), (3, 16), (24, 32)])
def test_render_other_lengths_and_sides(frames, side):
    for i, (shape, size, direction, speed) in enumerate(
        itertools.product(SHAPES, SIZES, ("right", "up"), SPEEDS)
    ):
        if i % 3:  # a third of the grid keeps the pure-Python reference quick
            continue
        attrs = ShapesAttributes(shape, "cyan", size, direction, speed)
        centre = (side - 1 - i, i)
        video = render_clip(attrs, centre, frames=frames, size=side)
        assert video.shape == (frames, side, side, 3) and video.dtype == np.uint8
        np.testing.assert_array_equal(video, brute_force(attrs, centre, frames, side))


def test_pixels_are_black_or_exactly_the_palette_colour():
    for index in range(50):
        video, attrs, _ = sample_clip("train", index)
        packed = video.astype(np.int32) @ np.array([65536, 256, 1])
        r, g, b = COLOURS[attrs.colour]
        assert set(np.unique(packed).tolist()) == {0, r * 65536 + g * 256 + b}
        area = video.any(-1).sum((1, 2))
        assert (area == area[0]).all()  # the torus never clips the object


def test_caption_round_trip_and_errors():
    for attrs in split_combinations(ALL_SPLIT):
        assert ShapesAttributes.from_caption(attrs.caption) == attrs
    assert ShapesAttributes.from_caption("  A large Blue triangle  moves right slowly ").caption == (
        "a large blue triangle moves right slowly"
    )
    for bad in ["", "a huge blue triangle moves right slowly", "a large blue triangle goes right slowly", "hello"]:
        with pytest.raises(ValueError, match="not a Shapes caption"):
            ShapesAttributes.from_caption(bad)
    with pytest.raises(ValueError, match="unknown Shapes colour 'purple'"):
        ShapesAttributes("circle", "purple", "small", "left", "slowly")


def test_split_combinations():
    every = set(split_combinations(ALL_SPLIT))
    assert len(every) == 288
    train = split_combinations("train")
    assert len(train) == 200 and split_combinations("val") == train == split_combinations("test-iid")
    sc, cd = set(split_combinations("test-comp-shape-colour")), set(split_combinations("test-comp-colour-direction"))
    assert len(sc) == len(cd) == 48
    assert len(sc | cd) == 88 and (sc | cd) == every - set(train)
    assert {(a.shape, a.colour) for a in sc} == set(HELD_OUT_SHAPE_COLOUR)
    assert {(a.colour, a.direction) for a in cd} == set(HELD_OUT_COLOUR_DIRECTION)
    for a in train:
        assert (a.shape, a.colour) not in HELD_OUT_SHAPE_COLOUR
        assert (a.colour, a.direction) not in HELD_OUT_COLOUR_DIRECTION
    for factor in ("shape", "colour", "size", "direction", "speed"):  # every value still seen in training
        assert {getattr(a, factor) for a in train} == {getattr(a, factor) for a in every}
    with pytest.raises(ValueError, match="unknown Shapes split 'test'"):
        split_combinations("test")


def test_sampling_is_deterministic_and_balanced():
    video, attrs, centre = sample_clip("val", 7)
    again, attrs2, centre2 = sample_clip("val", 7)
    np.testing.assert_array_equal(video, again)
    assert (attrs, centre) == (attrs2, centre2)
    # golden values: PCG64 is stable across machines and numpy versions; a change here changes every split
    assert [sample_clip("train", i)[2] for i in range(3)] == [(54, 40), (28, 34), (39, 16)]
    assert sample_clip("test-comp-colour-direction", 1)[2] == (49, 61)
    combos = split_combinations("test-comp-shape-colour")
    assert [sample_clip("test-comp-shape-colour", i)[1] for i in range(96)] == combos * 2
    assert not np.array_equal(sample_clip("train", 0)[0], sample_clip("val", 0)[0])


def test_split_seeds_never_overlap():
    seeds = [split_seed(s, i) for s in (*SPLITS, ALL_SPLIT) for i in range(5000)]
    assert len(set(seeds)) == len(seeds)
    with pytest.raises(ValueError, match="index"):
        split_seed("train", -1)


def test_dataset_items():
    ds = ShapesDataset("test-iid", length=4, frames=9, size=32)
    assert len(ds) == 4
    item = ds[3]
    video, attrs, _ = sample_clip("test-iid", 3, frames=9, size=32)
    assert item["video"].shape == (3, 9, 32, 32) and item["video"].dtype == torch.float32
    assert item["video"].min() == -1.0 and item["video"].max() <= 1.0
    assert item["caption"] == attrs.caption and item["index"] == 3
    assert torch.equal(item["video"], torch.from_numpy(video).permute(3, 0, 1, 2).float() / 127.5 - 1)
    with pytest.raises(IndexError):
        ds[4]
    with pytest.raises(ValueError, match="split 'nope'"):
        ShapesDataset("nope")
    with pytest.raises(ValueError, match="size must be an integer >= 16"):
        ShapesDataset(size=8)
    with pytest.raises(ValueError, match="frames must be a positive integer"):
        ShapesDataset(frames=0)
    with pytest.raises(ValueError, match="length"):
        ShapesDataset(length=0)


def test_spread_indices_cover_the_split_evenly_not_its_first_combinations():
    from vidtok.shapes.world import spread_indices

    combos = split_combinations("test-iid")
    picked = [combos[i % len(combos)] for i in spread_indices("test-iid", 48)]
    assert len(set(picked)) == 48  # no repeats below the combination count
    assert {a.shape for a in picked} == {"circle", "square", "triangle"}  # the first 48 would be circles only
    assert min(sum(a.shape == s for a in picked) for s in ("circle", "square", "triangle")) >= 8
    twice = spread_indices("test-iid", 2 * len(combos))
    assert sorted(i % len(combos) for i in twice) == sorted(list(range(len(combos))) * 2)  # cycles: each twice
    assert len(set(twice)) == len(twice) and spread_indices("test-iid", 48) == twice[:48]
