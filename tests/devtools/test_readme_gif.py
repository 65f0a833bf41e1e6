"""tools/readme_gif.py: videos tiled into one grid video, upscaled, each in its own cell."""

from __future__ import annotations

import numpy as np

from tools.readme_gif import grid


def test_grid_places_each_video_in_its_cell():
    videos = np.stack([np.full((3, 4, 4, 3), 10 * (i + 1), np.uint8) for i in range(3)])
    out = grid(videos, columns=2, scale=2, gap=1)
    assert out.shape == (3, 2 * 8 + 1, 2 * 8 + 1, 3)
    assert (out[:, :8, :8] == 10).all() and (out[:, :8, 9:] == 20).all() and (out[:, 9:, :8] == 30).all()
    assert (out[:, 9:, 9:] == 64).all() and (out[:, 8, :] == 64).all()  # empty cell and gaps stay grey
