"""Cheap facts about a video (frame count, fps, size) and a completeness check."""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import av

from vidtok.io.container import existing_path, open_video
from vidtok.io.errors import VideoReadError
from vidtok.io.frame_folder import frame_size, list_frames


@dataclass(frozen=True)
class VideoInfo:
    """What :func:`video_info` learns about a video without decoding it (usually).

    ``frames`` is exact (``exact=True``) when the container stores a frame count (mp4, gif, avi) or
    the frames were counted; webm/mkv only store a duration, so there it is ``round(duration * fps)``
    (``exact=False``). ``fps`` is None for PNG-frame folders, which have no frame rate.
    ``width`` and ``height`` are the stored size: the container's display rotation is only known
    once a frame is decoded, so for a portrait phone video (rotated 90 degrees) read_video returns
    frames of (H, W) = (width, height).
    """

    path: str
    frames: int
    fps: float | None
    width: int
    height: int
    exact: bool

    @property
    def size(self) -> tuple[int, int]:
        """(height, width), in the order of the decoded array's axes (before display rotation)."""
        return (self.height, self.width)


def video_info(path: str | Path) -> VideoInfo:
    """Probe a video file or PNG-frame folder: frames, fps, width, height.

    Reads the container header only; decodes (to count frames) only when the container records
    neither a frame count nor a duration. Missing path -> FileNotFoundError; unreadable ->
    VideoReadError.
    """
    p = existing_path(path)
    if p.is_dir():
        files = list_frames(p)
        if not files:
            raise VideoReadError(p, "folder holds no .png frames", "empty")
        width, height = frame_size(files[0])
        return VideoInfo(str(p), len(files), None, width, height, exact=True)
    with open_video(p) as (container, stream):
        # guessed_rate: the nominal rate (8 for a GIF written at 8 fps, whose delays alternate 12/13 cs)
        rate = stream.guessed_rate or stream.average_rate
        fps = float(rate) if rate else None
        width, height = stream.codec_context.width, stream.codec_context.height
        if stream.frames > 0:
            return VideoInfo(str(p), int(stream.frames), fps, width, height, exact=True)
        seconds = _duration_seconds(container, stream)
        if seconds is not None and fps:
            return VideoInfo(str(p), int(round(seconds * fps)), fps, width, height, exact=False)
        frames = _count_decoded(container, stream, p)
        return VideoInfo(str(p), frames, fps, width, height, exact=True)


def check_complete(path: str | Path, info: VideoInfo | None = None) -> int:
    """Verify that a video holds the frames its header announces; return the frames present.

    Counts packets (demuxing, no decoding: about the cost of reading the file once) and, for GIFs,
    checks the trailer byte. Raises VideoReadError(kind="truncated") when frames are missing. Cut
    webm/mkv/gif files decode without any error, just shorter, so this is how to catch them.
    Estimated counts (``info.exact`` False) get a slack of one frame or 2 %, whichever is larger.
    """
    p = existing_path(path)
    info = info or video_info(p)
    if p.is_dir():
        return info.frames
    if p.suffix.lower() == ".gif":
        with open(p, "rb") as f:
            f.seek(-1, 2)
            if f.read(1) != b";":
                raise VideoReadError(p, "GIF has no trailer byte; the file was cut short", "truncated")
    with open_video(p) as (container, stream):
        try:
            present = sum(1 for packet in container.demux(stream) if packet.size > 0)
        except av.error.FFmpegError as e:
            raise VideoReadError(p, f"demuxing failed ({e}); the file is corrupt or truncated") from e
    slack = 0 if info.exact else max(1, info.frames // 50)
    if present < info.frames - slack:
        raise VideoReadError(p, f"truncated: {present} of {info.frames} frames present", "truncated")
    return present


def _duration_seconds(container: av.container.InputContainer, stream: av.video.stream.VideoStream) -> float | None:
    """The video stream's own duration if recorded, else the container's (which may include audio)."""
    tag = stream.metadata.get("DURATION")  # matroska writes the per-track duration as a tag
    if tag:
        try:
            h, m, s = tag.split(":")
            return int(h) * 3600 + int(m) * 60 + float(s)
        except ValueError:
            pass
    if stream.duration is not None and stream.time_base:
        return float(stream.duration * Fraction(stream.time_base))
    if container.duration is not None:
        return container.duration / av.time_base
    return None


def _count_decoded(container: av.container.InputContainer, stream: av.video.stream.VideoStream, path: Path) -> int:
    try:
        return sum(1 for _ in container.decode(stream))
    except av.error.FFmpegError as e:
        raise VideoReadError(path, f"decoding failed while counting frames ({e})") from e
