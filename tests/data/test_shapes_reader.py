"""The pixel evaluator: 100% on real clips, robust to reconstruction noise, and it catches wrong videos."""

from __future__ import annotations

import dataclasses
import io
import math

import av
import numpy as np
import pytest

from vidtok.shapes.world import (
    ALL_SPLIT,
    COLOURS,
    SPLITS,
    ShapesAttributes,
    centre_track,
    render_clip,
    sample_clip,
)
from vidtok.shapes.reader import FACTORS, accuracy, judge, read_video_attributes
from vidtok.shapes.temporal import temporal_metrics


def _noise(video: np.ndarray, sigma: float, seed: int = 0) -> np.ndarray:
    noisy = video + sigma * np.random.default_rng(seed).standard_normal(video.shape, dtype=np.float32)
    return np.clip(noisy, 0, 255).round().astype(np.uint8)


def _blur(video: np.ndarray) -> np.ndarray:
    """Separable [1, 2, 1] / 4 blur on the torus: softens every edge by a pixel."""
    f = video.astype(np.float32)
    for axis in (1, 2):
        f = 0.5 * f + 0.25 * np.roll(f, 1, axis) + 0.25 * np.roll(f, -1, axis)
    return f.round().astype(np.uint8)


def _colour_shift(video: np.ndarray, delta=(18, -15, 12)) -> np.ndarray:
    f = video.astype(np.int16)
    f[video.any(-1)] += np.array(delta, np.int16)
    return np.clip(f, 0, 255).astype(np.uint8)


def _spurious(video: np.ndarray, per_frame: int = 15, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    out = video.copy()
    frames, side = video.shape[:2]
    for t in range(frames):
        ys, xs = rng.integers(0, side, (2, per_frame))
        out[t, ys, xs] = rng.integers(0, 256, (per_frame, 3))
    return out


def _h264(video: np.ndarray, crf: int = 28) -> np.ndarray:
    buf = io.BytesIO()
    with av.open(buf, "w", format="mp4") as container:
        stream = container.add_stream("libx264", rate=8)
        stream.width, stream.height, stream.pix_fmt = video.shape[2], video.shape[1], "yuv420p"
        stream.options = {"crf": str(crf)}
        for frame in video:
            container.mux(stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")))
        container.mux(stream.encode())
    buf.seek(0)
    with av.open(buf) as container:
        return np.stack([f.to_ndarray(format="rgb24") for f in container.decode(video=0)])


@pytest.mark.parametrize("split", [*SPLITS, ALL_SPLIT])
def test_real_clips_score_100_percent(split):
    clips = [sample_clip(split, i) for i in range(60)]
    scores = accuracy([v for v, _, _ in clips], [a.caption for _, a, _ in clips])
    assert scores == {key: 1.0 for key in (*FACTORS, "all")}


@pytest.mark.parametrize("frames,side", [(2, 64), (3, 32), (40, 64), (9, 128), (5, 48)])
def test_real_clips_other_lengths_and_sides(frames, side):
    for i in range(0, 288, 7):
        video, attrs, _ = sample_clip(ALL_SPLIT, i, frames=frames, size=side)
        assert judge(video, attrs)["all"], (attrs.caption, frames, side)


CORRUPTIONS = {
    "noise sigma 8": lambda v: _noise(v, 8),
    "blur": _blur,
    "blur + noise": lambda v: _noise(_blur(v), 8),
    "colour shift": _colour_shift,
    "spurious pixels": _spurious,
    "everything": lambda v: _spurious(_noise(_blur(_colour_shift(v)), 8), 5),
}


@pytest.mark.parametrize("name", CORRUPTIONS)
def test_reader_survives_reconstruction_noise(name):
    corrupt = CORRUPTIONS[name]
    for split in (*SPLITS, ALL_SPLIT):
        for i in range(10):
            video, attrs, _ = sample_clip(split, i)
            assert judge(corrupt(video), attrs)["all"], (name, attrs.caption)


def test_reader_survives_h264_round_trip():
    for i in range(0, 288, 29):
        video, attrs, _ = sample_clip(ALL_SPLIT, i)
        decoded = _h264(video)
        assert decoded.shape == video.shape and not np.array_equal(decoded, video)
        assert judge(decoded, attrs)["all"], attrs.caption


def test_reading_measures_the_object_exactly():
    attrs = ShapesAttributes("square", "yellow", "large", "left", "quickly")
    video = render_clip(attrs, (1, 63))  # straddles the left and the top/bottom edges at once
    reading = read_video_attributes(video)
    assert reading.attributes == attrs
    assert reading.present.all() and (reading.areas == 15 * 15).all()
    np.testing.assert_array_equal(reading.centroids, centre_track(attrs, (1, 63), 17, 64))
    np.testing.assert_array_equal(reading.track[:, 0], 1 - 3 * np.arange(17))  # unwrapped: no jump
    assert reading.velocity == (-3.0, 0.0) and math.isclose(reading.template_iou, 1.0)
    np.testing.assert_array_equal(reading.colours, np.tile(COLOURS["yellow"], (17, 1)))


@pytest.mark.parametrize("factor", FACTORS)
def test_each_wrong_factor_is_caught_alone(factor):
    alternatives = {
        "shape": {"circle": "triangle", "square": "circle", "triangle": "square"},
        "colour": {"red": "magenta", "green": "cyan", "blue": "cyan", "yellow": "green", "magenta": "red", "cyan": "blue"},
        "size": {"small": "large", "large": "small"},
        "direction": {"left": "right", "right": "up", "up": "down", "down": "left"},
        "speed": {"slowly": "quickly", "quickly": "slowly"},
    }[factor]
    for i in range(0, 288, 11):
        _, attrs, centre = sample_clip(ALL_SPLIT, i)
        wrong = dataclasses.replace(attrs, **{factor: alternatives[getattr(attrs, factor)]})
        verdict = judge(render_clip(wrong, centre), attrs)
        assert verdict == {**{f: f != factor for f in FACTORS}, "all": False}, (attrs.caption, factor)


def test_swapped_colour_is_caught():
    video, attrs, _ = sample_clip("train", 4)
    swapped = video.copy()
    other = "blue" if attrs.colour != "blue" else "red"
    swapped[video.any(-1)] = COLOURS[other]
    verdict = judge(swapped, attrs.caption)
    assert not verdict["colour"] and not verdict["all"]
    assert verdict["shape"] and verdict["size"] and verdict["direction"] and verdict["speed"]


def test_frozen_video_fails_motion_only():
    video, attrs, _ = sample_clip("val", 9)
    frozen = np.repeat(video[:1], len(video), axis=0)
    verdict = judge(frozen, attrs)
    assert not verdict["direction"] and not verdict["speed"] and not verdict["all"]
    assert verdict["shape"] and verdict["colour"] and verdict["size"]


@pytest.mark.parametrize("video", [np.zeros((17, 64, 64, 3), np.uint8), _noise(np.zeros((17, 64, 64, 3)), 8)])
def test_empty_video_is_all_false_not_a_crash(video):
    attrs = sample_clip("train", 0)[1]
    assert judge(video, attrs) == {**{f: False for f in FACTORS}, "all": False}
    reading = read_video_attributes(video)
    assert reading.attributes is None and not reading.present.any() and reading.velocity is None
    metrics = temporal_metrics(video)
    assert metrics["presence"] == 0.0 and math.isnan(metrics["jerk"]) and math.isnan(metrics["area_cv"])


def test_temporal_metrics_are_zero_on_real_clips():
    for i in range(0, 288, 13):
        metrics = temporal_metrics(sample_clip(ALL_SPLIT, i)[0])
        assert metrics == {"presence": 1.0, "area_cv": 0.0, "colour_std": 0.0, "jerk": 0.0, "flicker": 0.0}


def test_temporal_metrics_catch_bad_videos():
    video, attrs, centre = sample_clip("train", 12)
    flickering = video.astype(np.float32)
    flickering[1::2] *= 0.6
    flickering = flickering.round().astype(np.uint8)
    assert temporal_metrics(flickering)["flicker"] > 0.2 and temporal_metrics(flickering)["colour_std"] > 10

    dropped = video.copy()
    dropped[[3, 10]] = 0
    assert temporal_metrics(dropped)["presence"] == pytest.approx(15 / 17)

    jitter = np.stack([np.roll(f, int(s), axis=1) for f, s in zip(video, np.random.default_rng(0).integers(-2, 3, 17))])
    assert temporal_metrics(jitter)["jerk"] > 1.0

    other_size = dataclasses.replace(attrs, size="large" if attrs.size == "small" else "small")
    growing = np.concatenate([video[:8], render_clip(other_size, centre)[8:]])
    assert temporal_metrics(growing)["area_cv"] > 0.3


def test_bad_inputs_have_clear_errors():
    video, attrs, _ = sample_clip("train", 0)
    with pytest.raises(ValueError, match="uint8 video shaped"):
        read_video_attributes(video.astype(np.float32))
    with pytest.raises(ValueError, match="square"):
        read_video_attributes(video[:, :, :32])
    with pytest.raises(ValueError, match="not a Shapes caption"):
        judge(video, "a video of a cat")
    with pytest.raises(ValueError, match="at least one video"):
        accuracy([], [])
