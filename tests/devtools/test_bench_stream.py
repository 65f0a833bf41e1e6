"""tools/bench_stream.py: the stall-free playback buffer, and rows for every setting on a small clip."""

import pytest

from tools import bench_stream


@pytest.fixture(scope="module")
def bench():
    return bench_stream


def test_buffer_is_the_worst_lag_behind_playback(bench):
    # frames 0, 1-4, 5-8 arrive at 0.5 s, 0.6 s, 2.0 s; at 8 fps frame 5 is due 5/8 s after the start
    assert bench.buffer_seconds([(0.5, 0), (0.6, 1), (2.0, 5)]) == pytest.approx(2.0 - 5 / 8)
    assert bench.buffer_seconds([(0.5, 0), (0.6, 1)]) == pytest.approx(0.5)  # waiting for the first frame
    assert bench.buffer_seconds([(0.0, 0), (0.1, 1)]) == 0.0  # ahead of playback throughout


def test_rows_for_every_setting(bench):
    rows = bench.run(repeats=1, sizes=(32,))
    methods = ["raster", "diagonal w=2", "diagonal w=1", "diagonal w=1 whole frames", "diagonal w=1 fw=4",
               "diagonal w=1 fw=4 distilled"]  # the last without guidance: one row per step, not two
    assert [r["method"] for r in rows] == methods * 2
    assert [r["threads"] for r in rows[:6]] == [1] * 6 and all(str(r["threads"]).startswith("auto") for r in rows[6:])
    for r in rows:
        assert r["grid"] == "5x4x4" and r["frames_per_s"] > 0 and r["codes_only_fps"] > 0
        assert r["x_playback"] == pytest.approx(r["frames_per_s"] / 8, abs=0.01)
        assert r["x_playback_cpu"] == pytest.approx(r["cpu_frames_per_s"] / 8, abs=0.01)
        assert 0 < r["first_frame_s"] <= r["buffer_s"] + 1e-9
