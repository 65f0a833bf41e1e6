"""Opening a video file with ``av``: existence checks and ffmpeg errors turned into clear ones."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import av

from vidtok.io.errors import VideoReadError


def existing_path(path: str | Path) -> Path:
    """``path`` as a Path; FileNotFoundError naming it if nothing is there."""
    p = Path(path).expanduser()
    if not p.exists():
        raise FileNotFoundError(f"video not found: {p}")
    return p


@contextmanager
def open_video(path: Path) -> Iterator[tuple[av.container.InputContainer, av.video.stream.VideoStream]]:
    """Open ``path`` for reading and yield (container, its first video stream).

    Zero-byte files, files ffmpeg cannot parse and files without a video stream raise VideoReadError.
    """
    if path.stat().st_size == 0:
        raise VideoReadError(path, "empty file (0 bytes)", "empty")
    try:
        container = av.open(str(path), mode="r")
    except av.error.FFmpegError as e:
        raise VideoReadError(path, f"not a readable video ({_reason(e)}); the file is corrupt or truncated") from e
    try:
        if not container.streams.video:
            raise VideoReadError(path, "the file holds no video stream")
        yield container, container.streams.video[0]
    finally:
        container.close()


def _reason(e: Exception) -> str:
    """ffmpeg's own words without the errno prefix and the repeated file name."""
    msg = getattr(e, "strerror", None) or str(e)
    return msg.rstrip(":").strip()
