"""Render a Shapes clip for a caption and write it as mp4, gif and a PNG contact sheet.

    python -m vidtok.demo "a large blue triangle moves right slowly" [out_dir]

The data-side demo: what the generator is trained to produce for that prompt.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

from vidtok.data.shapes import ShapesAttributes, render_clip
from vidtok.io import write_contact_sheet, write_video


def render_caption(caption: str, out_dir: str | Path, frames: int = 17, size: int = 64, seed: int = 0) -> list[Path]:
    """Write ``<out_dir>/<caption>.{mp4,gif,png}`` for a Shapes caption; returns the paths."""
    attrs = ShapesAttributes.from_caption(caption)
    cx, cy = np.random.default_rng(seed).integers(0, size, size=2)
    video = render_clip(attrs, (int(cx), int(cy)), frames=frames, size=size)
    stem = Path(out_dir) / attrs.caption.replace(" ", "_")
    return [write_video(stem.with_suffix(".mp4"), video), write_video(stem.with_suffix(".gif"), video),
            write_contact_sheet(stem.with_suffix(".png"), video)]


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    caption = args[0] if args else "a large blue triangle moves right slowly"
    out_dir = args[1] if len(args) > 1 else "outputs/demo"
    try:
        paths = render_caption(caption, out_dir)
    except (ValueError, OSError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    for p in paths:
        print(f"wrote {p}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
