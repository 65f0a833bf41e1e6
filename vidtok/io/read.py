"""Decode a frame range of a video file or PNG-frame folder to uint8 RGB (T, H, W, 3)."""

from __future__ import annotations

import functools
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
        numbered = _seek_and_number(path, container, stream, start) if use_seek else _number(container, stream)
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
    path: Path, container: av.container.InputContainer, stream: av.video.stream.VideoStream, start: int
) -> Iterator[tuple[int, av.VideoFrame]]:
    """Seek to a keyframe before frame ``start`` and number the frames from their timestamps.

    Raises _SeekUnusable (before yielding anything, or on a timestamp gap) when the timestamps
    cannot be trusted as frame numbers; the caller then counts frames from the start.
    """
    rate = stream.average_rate or stream.guessed_rate
    time_base = stream.time_base
    if not rate or not time_base or container.format.name in ("gif", "image2"):
        raise _SeekUnusable
    stat = path.stat()
    try:
        origin = _first_pts(str(path), stat.st_mtime_ns, stat.st_size)
    except (av.error.FFmpegError, VideoReadError) as e:
        raise _SeekUnusable from e  # counting from the start will report the error properly
    if origin is None:
        raise _SeekUnusable
    per_frame = 1 / (Fraction(rate) * Fraction(time_base))  # timestamp units per frame
    # index = round(ticks / per_frame) in integers: Fraction arithmetic per frame cost ~10 % of a read.
    num, den = per_frame.numerator, per_frame.denominator

    def index_of(pts: int) -> int:
        return (2 * (pts - origin) * den + num) // (2 * num)

    context = stream.codec_context
    # Some containers seek by decoding time (AVI): the keyframe found may be shown after B-frames
    # that need the keyframe before it, so the frames just before it never come out. Then seek
    # further back rather than decoding the whole file.
    for back in (0, 8, 64):
        try:
            target = max(0, start - back)
            container.seek(int(origin + target * per_frame - per_frame / 2), stream=stream, backward=True)
        except av.error.FFmpegError as e:
            raise _SeekUnusable from e
        previous = None  # index of the last frame yielded, all from ``start`` on
        landed_past = False
        for packet in container.demux(stream):
            # Frames before ``start`` matter only as references for later ones: those that nothing
            # refers to (most B-frames of H.264) are not decoded at all, halving the run-up from the
            # keyframe. The checks below catch any frame from ``start`` on going missing.
            early = packet.pts is not None and index_of(packet.pts) < start
            context.skip_frame = "NONREF" if early else "DEFAULT"
            for frame in packet.decode():
                if frame.pts is None:
                    raise _SeekUnusable
                index = index_of(frame.pts)
                if index < start:
                    if previous is not None:
                        raise _SeekUnusable  # timestamps went backwards
                    continue
                if previous is None and index > start:
                    landed_past = True  # nothing yielded yet: free to seek again
                    break
                if previous is not None and index != previous + 1:
                    raise _SeekUnusable  # variable frame rate: timestamps are not frame numbers
                previous = index
                yield index, frame
            if landed_past:
                break
        if not landed_past:
            return
        if target == 0:
            break
    raise _SeekUnusable


@functools.lru_cache(maxsize=4096)
def _first_pts(path: str, mtime_ns: int, size: int) -> int | None:
    """Timestamp of frame 0 as decoding from the start sees it; cached per file version.

    Not ``stream.start_time``: in AVI with B-frames that is 0 while the first frame shows at 1,
    which numbered every sought frame one too high.
    """
    with open_video(Path(path)) as (container, stream):
        for frame in container.decode(stream):
            return frame.pts
    return None
