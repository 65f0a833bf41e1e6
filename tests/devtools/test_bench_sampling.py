"""tools/bench_sampling.py's matmul ceiling: the rows it times are those the two schedules feed."""

import pytest

from tools import bench_sampling


@pytest.fixture(scope="module")
def bench():
    return bench_sampling


def test_ceiling_times_a_raster_step_against_a_mean_diagonal_step(bench):
    # 5x4x4 = 80 codes; window 1 with frame overlap: rows numbered across frames, 20 rows + 3 = 23 steps
    steps = len(bench.make_schedule("diagonal", 5, 4, 4, window=1))
    raster, diagonal = bench.ceiling_rows(grid=(5, 4, 4), repeats=1)
    assert (raster["rows"], diagonal["rows"]) == (2, round(2 * 80 / steps))
    assert raster["ceiling_speedup"] == 1.0
    # per token: the rows' time over the prompts they carry (half of them, the other half is CFG's null)
    assert diagonal["ceiling_speedup"] == pytest.approx(raster["us_per_token"] / diagonal["us_per_token"], rel=0.05)
    assert all(r["gflop_per_s"] > 0 for r in (raster, diagonal))
