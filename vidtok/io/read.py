"""Decode a frame range of a video file or PNG-frame folder to uint8 RGB (T, H, W, 3)."""

from __future__ import annotations

from collections.abc import Iterator
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
from av.video.reformatter import VideoReformatter

from vidtok.io.container import existing_path, open_video
from vidtok.io.errors import VideoReadError
from vidtok.io.frame_folder import read_frame_folder

# Below this many frames into the video, decoding from the start is as cheap as seeking.
SEEK_MIN_FRAMES = 16


class _SeekUnusable(Exception):
    """The timestamps after a seek cannot be mapped to frame numbers; decode from the start."""


def read_video(
    path: str | Path, start: int = 0, end: int | None = None, stride: int = 1, *, seek: bool = True
) -> np.ndarray:
    """Frames ``[start:end:stride]`` of a video as uint8 (T, H, W, 3), like slicing the full decode.

    ``path`` is a video file (mp4, webm, mkv, avi, mov, gif, ... anything ffmpeg reads) or a folder
    of PNG frames taken in name order (numbers compared as numbers: 2.png before 10.png).
    Grayscale, palette, alpha and high-bit-depth inputs come out as 8-bit RGB (alpha dropped); odd
    sizes are kept; a container's display rotation (portrait phone video) is applied, as players
    do, so such frames are (H, W) = stored (W, H). A range past the end gives fewer (possibly zero)
    frames, as slicing would.

    With ``seek`` (default) a ``start`` far into the file jumps to the nearest keyframe before it
    and numbers frames by timestamp, which is exact for constant-frame-rate video; if the
    timestamps after the jump do not count up one frame at a time, it falls back to decoding from
    the start. Pass ``seek=False`` to always count frames one by one.

    Raises FileNotFoundError (missing path), VideoReadError (empty, corrupt or undecodable file).
    """
    if not (isinstance(start, (int, np.integer)) and start >= 0):
        raise ValueError(f"start must be an int >= 0, got {start!r}")
    if end is not None and not (isinstance(end, (int, np.integer)) and end >= 0):
        raise ValueError(f"end must be None or an int >= 0, got {end!r}")
    if not (isinstance(stride, (int, np.integer)) and stride >= 1):
        raise ValueError(f"stride must be an int >= 1, got {stride!r}")
    p = existing_path(path)
    if p.is_dir():
        return read_frame_folder(p, start, end, stride)
    if seek and start >= SEEK_MIN_FRAMES:
        try:
            return _read_range(p, start, end, stride, use_seek=True)
        except _SeekUnusable:
            pass
    return _read_range(p, start, end, stride, use_seek=False)


def _read_range(path: Path, start: int, end: int | None, stride: int, use_seek: bool) -> np.ndarray:
    frames: list[np.ndarray] = []
    with open_video(path) as (container, stream):
        shape = (0, stream.codec_context.height, stream.codec_context.width, 3)
        numbered = _seek_and_number(container, stream, start) if use_seek else _number(container, stream)
        # One reformatter for the whole read keeps its swscale context: `frame.to_ndarray(format=...)`
        # builds a new one per frame, which costs 15x the conversion itself at 64 px.
        to_rgb = VideoReformatter()
        turns = 0
        try:
            for index, frame in numbered:
                if end is not None and index >= end:
                    break
                if index >= start and (index - start) % stride == 0:
                    if not frames:
                        turns = quarter_turns(frame)
                    frames.append(to_rgb.reformat(frame, format="rgb24").to_ndarray())
        except av.error.FFmpegError as e:
            raise VideoReadError(
                path, f"decoding failed after {len(frames)} frames ({e}); the file is corrupt or truncated"
            ) from e
    if not frames:
        return np.zeros(shape, np.uint8)
    video = np.stack(frames)
    return np.ascontiguousarray(np.rot90(video, turns, axes=(1, 2))) if turns else video


def quarter_turns(frame: av.VideoFrame) -> int:
    """Counter-clockwise quarter turns that show ``frame`` upright (0 to 3).

    Phones store portrait video as landscape plus a display rotation in the container; players
    (and the ffmpeg command line) apply it, so we do too, else such clips train the model sideways.
    Rotations that are not a multiple of 90 degrees, and mirroring, are ignored.
    """
    degrees = getattr(frame, "rotation", 0) or 0  # VideoFrame.rotation: PyAV >= 14
    return round(degrees / 90) % 4


def _number(
    container: av.container.InputContainer, stream: av.video.stream.VideoStream
) -> Iterator[tuple[int, av.VideoFrame]]:
    yield from enumerate(container.decode(stream))


def _seek_and_number(
    container: av.container.InputContainer, stream: av.video.stream.VideoStream, start: int
) -> Iterator[tuple[int, av.VideoFrame]]:
    """Seek to the keyframe before frame ``start`` and number the frames from their timestamps."""
    rate = stream.average_rate or stream.guessed_rate
    time_base = stream.time_base
    if not rate or not time_base or container.format.name in ("gif", "image2"):
        raise _SeekUnusable
    origin = stream.start_time or 0
    per_frame = 1 / (Fraction(rate) * Fraction(time_base))  # timestamp units per frame
    try:
        container.seek(int(origin + start * per_frame - per_frame / 2), stream=stream, backward=True, any_frame=False)
    except av.error.FFmpegError as e:
        raise _SeekUnusable from e
    # index = round(ticks / per_frame) in integers: Fraction arithmetic per frame cost ~10 % of a read.
    num, den = per_frame.numerator, per_frame.denominator
    previous = None
    for frame in container.decode(stream):
        if frame.pts is None:
            raise _SeekUnusable
        index = (2 * (frame.pts - origin) * den + num) // (2 * num)
        if previous is None and index > start:
            raise _SeekUnusable  # landed past the start (no usable index): count from the beginning
        if previous is not None and index != previous + 1:
            raise _SeekUnusable  # variable frame rate: timestamps are not frame numbers
        previous = index
        yield index, frame
