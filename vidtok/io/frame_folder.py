"""A video stored as a folder of PNG frames, one file per frame, in name order.

The lossless, tool-agnostic layout: every image viewer opens it and nothing is lost.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError

from vidtok.io.errors import VideoReadError
from vidtok.io.rgb import image_to_rgb

FRAME_SUFFIXES = (".png",)


def list_frames(folder: Path) -> list[Path]:
    """The PNG frames of ``folder`` in name order, numbers compared as numbers (hidden files ignored).

    Natural order: ``frame_2.png`` comes before ``frame_10.png``, as a person (and the tool that
    wrote them without zero padding) means; zero-padded names sort the same either way.
    """
    return sorted(
        (p for p in folder.iterdir() if p.suffix.lower() in FRAME_SUFFIXES and not p.name.startswith(".") and p.is_file()),
        key=_natural_key,
    )


def _natural_key(path: Path) -> tuple:
    # (is_number, number, text) per chunk keeps the key comparable when names mix digits and text.
    return tuple((1, int(c), c) if c.isdigit() else (0, 0, c) for c in re.split(r"(\d+)", path.name))


def read_frame(path: Path) -> np.ndarray:
    """One PNG frame -> uint8 (H, W, 3); a bad file raises VideoReadError naming it."""
    try:
        with Image.open(path) as image:
            image.load()
            return image_to_rgb(image)
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as e:
        kind = "empty" if path.stat().st_size == 0 else "corrupt"
        raise VideoReadError(path.parent, f"frame {path.name} is unreadable ({e})", kind) from e


def frame_size(path: Path) -> tuple[int, int]:
    """(width, height) of one frame from its header only."""
    try:
        with Image.open(path) as image:
            return image.size
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as e:
        kind = "empty" if path.stat().st_size == 0 else "corrupt"
        raise VideoReadError(path.parent, f"frame {path.name} is unreadable ({e})", kind) from e


def read_frame_folder(folder: Path, start: int, end: int | None, stride: int) -> np.ndarray:
    """Frames ``[start:end:stride]`` of a PNG folder -> uint8 (T, H, W, 3); mismatched sizes are an error."""
    files = list_frames(folder)
    if not files:
        raise VideoReadError(folder, "folder holds no .png frames", "empty")
    chosen = files[start:end:stride]
    frames = [read_frame(p) for p in chosen]
    if not frames:
        w, h = frame_size(files[0])
        return np.zeros((0, h, w, 3), np.uint8)
    first = frames[0].shape
    for p, f in zip(chosen, frames, strict=True):
        if f.shape != first:
            raise VideoReadError(
                folder, f"frame {p.name} is {f.shape[1]}x{f.shape[0]}, the first is {first[1]}x{first[0]}"
            )
    return np.stack(frames)


def write_frame_folder(folder: Path, video: np.ndarray) -> None:
    """uint8 (T, H, W, 3) -> ``folder/00000.png``... (``folder`` must exist and be empty)."""
    digits = max(5, len(str(len(video) - 1)))
    for i, frame in enumerate(video):
        # compress_level 1: PNG stays lossless, writing is several times faster than the default 6.
        Image.fromarray(frame, "RGB").save(folder / f"{i:0{digits}d}.png", compress_level=1)
