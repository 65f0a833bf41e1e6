"""The frame-by-frame reader: real clips are clean, and each defect a viewer sees is caught in its frames."""

from __future__ import annotations

import numpy as np
import pytest

from vidtok.shapes.world import (COLOURS, SPLITS, ShapesAttributes, centre_track, radius_px, render_clip, sample_clip,
                                 shape_stamp)
from vidtok.shapes.clean_frames import FAIL_REASONS, CleanTally, is_clean, judge_frames, torus_components
from vidtok.shapes.evaluate import evaluate_videos
from vidtok.shapes.report import write_report
from vidtok.io import read_video, write_video


def _failed(video: np.ndarray, caption) -> dict[str, list[int]]:
    """{reason: failing frame indices} for the reasons that fail at all."""
    out = judge_frames(video, caption)
    return {r: np.flatnonzero(out[r]).tolist() for r in FAIL_REASONS if out[r].any()}


def _clip(split: str = "test-iid", index: int = 3):
    video, attrs, centre = sample_clip(split, index)
    return video.copy(), attrs, centre


def _far_from(attrs: ShapesAttributes, centre, frames: int, side: int = 64) -> tuple[int, int]:
    """A pixel at least 16 px (torus) from the object centre in every frame."""
    track = centre_track(attrs, centre, frames, side)
    for y in range(side):
        for x in range(side):
            d = (np.array([x, y]) - track + side // 2) % side - side // 2
            if (np.abs(d).max(1) >= 16).all():
                return x, y
    raise AssertionError("no free pixel")


def test_real_clips_saved_as_h264_are_all_clean(tmp_path):
    bad = []
    for split in SPLITS:
        for index in range(24):
            video, attrs, _ = sample_clip(split, index)
            assert is_clean(video, attrs)
            path = write_video(tmp_path / f"{split}-{index}.mp4", video)
            failed = _failed(read_video(path), attrs)
            if failed:
                bad.append((split, index, failed))
    assert bad == []


def test_real_clips_at_other_sizes_and_lengths_are_clean():
    for size, frames in ((32, 9), (128, 17), (64, 69)):
        for index in range(6):
            video, attrs, _ = sample_clip("test-iid", index, frames=frames, size=size)
            assert is_clean(video, attrs), (size, frames, index)


def test_object_straddling_an_edge_is_one_component():
    attrs = ShapesAttributes("square", "green", "large", "right", "quickly")
    from vidtok.shapes.world import render_clip

    video = render_clip(attrs, (0, 0), frames=5)  # centred on the corner: four pieces on the canvas
    labels = torus_components(video.max(-1) > 60)
    assert [len(np.unique(f[f > 0])) for f in labels] == [1] * 5
    assert is_clean(video, attrs)


def test_a_three_pixel_blob_for_two_frames_fails_exactly_those_frames():
    video, attrs, centre = _clip()
    x, y = _far_from(attrs, centre, len(video))
    video[[5, 6], y, x : x + 3] = COLOURS["yellow"]
    assert _failed(video, attrs) == {"extra_object": [5, 6]}


def test_a_two_pixel_blob_or_a_dark_one_is_not_an_object():
    video, attrs, centre = _clip()
    x, y = _far_from(attrs, centre, len(video))
    video[5, y, x : x + 2] = COLOURS["yellow"]
    video[6, y, x : x + 5] = 60  # brightest channel must exceed 60
    assert _failed(video, attrs) == {}


def test_blob_pixels_touching_only_diagonally_are_separate_components():
    video, attrs, centre = _clip()
    x, y = _far_from(attrs, centre, len(video))
    for k in range(3):  # a diagonal line: three 1-pixel components, none of them an object
        video[4, (y + k) % 64, (x + k) % 64] = 255
    assert _failed(video, attrs) == {}


def test_one_frame_with_another_palette_colour_fails_colour():
    video, attrs, _ = _clip()
    other = next(c for c in COLOURS if c != attrs.colour)
    mask = video[7].any(-1)
    video[7][mask] = COLOURS[other]
    assert _failed(video, attrs) == {"colour": [7]}


def test_an_object_scaled_up_in_one_frame_fails_area():
    video, attrs, centre = _clip()
    side = video.shape[1]
    r = radius_px(attrs.size, side)
    cx, cy = centre_track(attrs, centre, len(video), side)[8]
    big = np.roll(shape_stamp(attrs.shape, round(1.7 * r), side), (cy - side // 2, cx - side // 2), axis=(0, 1))
    video[8][big] = COLOURS[attrs.colour]
    assert _failed(video, attrs) == {"area": [8]}


def test_area_within_half_passes_and_beyond_fails():
    attrs = ShapesAttributes("square", "red", "large", "up", "slowly")  # side 15: 225 px
    from vidtok.shapes.world import render_clip

    video = render_clip(attrs, (32, 32), frames=3)
    shrunk = video.copy()  # columns 25..39; cut symmetrically, so the centre stays
    shrunk[1, :, 25:29] = shrunk[1, :, 36:40] = 0  # 7 x 15 = 105 px of 225 left: more than half gone
    assert _failed(shrunk, attrs) == {"area": [1]}
    trimmed = video.copy()
    trimmed[1, :, 25:27] = trimmed[1, :, 38:40] = 0  # 11 x 15 = 165 px left: within 50%
    assert _failed(trimmed, attrs) == {}


def test_a_one_frame_jump_of_four_pixels_fails_motion_there_and_back():
    video, attrs, _ = _clip()
    axis = 1 if attrs.direction in ("up", "down") else 0  # across the motion: columns (1) or rows (0)
    video[9] = np.roll(video[9], 4, axis=axis)
    assert _failed(video, attrs) == {"motion": [9, 10]}


def test_a_jump_of_one_pixel_is_within_tolerance():
    video, attrs, _ = _clip()
    video[9] = np.roll(video[9], 1, axis=0)
    assert _failed(video, attrs) == {}


def test_missing_object_and_frozen_object():
    video, attrs, _ = _clip()
    video[3] = 0
    assert _failed(video, attrs) == {"no_object": [3]}  # motion is not judged next to a frame without an object
    frozen = np.repeat(_clip()[0][:1], 5, axis=0)
    assert _failed(frozen, attrs) == {"motion": [1, 2, 3, 4]}


def test_clean_tally_counts_videos_frames_and_reasons():
    tally = CleanTally()
    video, attrs, _ = _clip()
    tally.add(judge_frames(video, attrs))
    broken = video.copy()
    broken[2] = 0
    tally.add(judge_frames(broken, attrs))
    tally.add(judge_frames(video[:5], attrs))
    s = tally.summary()
    assert s["videos"] == 3 and s["clean_videos"] == pytest.approx(2 / 3)
    assert s["clean_videos_se"] == pytest.approx(np.sqrt(2 / 3 * 1 / 3 / 3))
    assert s["clean_frames"] == pytest.approx((17 + 16 + 5) / 39)
    assert s["failed_frames"] == 1 and s["failed_by_reason"]["no_object"] == 1
    assert s["by_frame"]["frames"][:5] == [3] * 5 and s["by_frame"]["frames"][5:] == [2] * 12
    assert s["by_frame"]["no_object"][2] == 1 and sum(s["by_frame"]["clean"]) == 38
    assert CleanTally().summary()["clean_videos"] is None


def test_evaluation_report_leads_with_clean_videos(tmp_path):
    items = []
    for index in range(4):
        video, attrs, centre = _clip(index=index)
        if index == 0:
            x, y = _far_from(attrs, centre, len(video))
            video[4:6, y, x : x + 3] = 255  # a stray blob: video level still right, not clean
        items.append((video, attrs.caption, "test-iid"))
    result = evaluate_videos(items)
    group = result["splits"]["test-iid"]
    assert group["accuracy"]["all"] == 1.0
    assert group["clean"]["clean_videos"] == 0.75
    assert result["per_item"][0]["clean"] is False and result["per_item"][0]["failed_frames"] == {"extra_object": [4, 5]}
    paths = write_report(result, tmp_path)
    md = paths["markdown"].read_text()
    assert md.index("Clean videos") < md.index("video level")
    assert "75.0% ± 21.7" in md
    assert paths["failures_plot"].stat().st_size > 0


def test_motion_tolerance_scales_with_the_canvas():
    # at 128 px a 2-px jump (1 px at 64) passes while a 6-px one (3 px at 64) fails
    video, attrs, _ = sample_clip("test-iid", 5, size=128)
    axis = 0 if attrs.direction in ("left", "right") else 1
    small, large = video.copy(), video.copy()
    small[6] = np.roll(small[6], 2, axis=axis)
    large[6] = np.roll(large[6], 6, axis=axis)
    assert _failed(small, attrs) == {}
    assert _failed(large, attrs) == {"motion": [6, 7]}


def test_switch_clips_are_clean_read_as_two_clips_and_the_object_does_not_jump():
    from vidtok.shapes.clean_frames import judge_switch_frames
    from vidtok.shapes.world import render_switch_clip

    rng = np.random.default_rng(0)
    combos = [ShapesAttributes.from_caption(c) for c in ["a large red circle moves up quickly",
                                                         "a small blue square moves left slowly",
                                                         "a small green triangle moves down quickly"]]
    for first, then in [(combos[0], combos[1]), (combos[1], combos[2]), (combos[2], combos[0])]:
        for switch in (1, 5, 9, 13):
            centre = tuple(int(v) for v in rng.integers(0, 64, 2))
            video = render_switch_clip(first, then, switch, centre, frames=17)
            judged = judge_switch_frames(video, first.caption, then.caption, switch)
            assert judged["clean"].all(), (first.caption, then.caption, switch)
            # the first part is the plain clip of `first`; the second continues from its last centre
            assert np.array_equal(video[:switch], render_clip(first, centre, frames=switch))
            last = centre_track(first, centre, switch, 64)[-1]
            assert np.array_equal(video[switch:], render_clip(then, tuple(last), frames=18 - switch)[1:])
            # judged as one clip against `first`, the frames after the change fail
            assert not judge_frames(video, first.caption)["clean"][switch:].all()
    with pytest.raises(ValueError, match="switch=17"):
        render_switch_clip(combos[0], combos[1], 17, (3, 3), frames=17)
