"""Video I/O: decode any video (or PNG-frame folder) to uint8 (T, H, W, 3) and write it back.

Atomic writers for mp4 / webm / gif / lossless mkv / PNG folders, a contact-sheet PNG, a cheap
probe, and clear errors (FileNotFoundError, VideoReadError, VideoWriteError) naming the file.
"""

from vidtok.io.errors import VideoReadError, VideoWriteError
from vidtok.io.probe import VideoInfo, check_complete, video_info
from vidtok.io.read import read_video
from vidtok.io.write import FORMATS, LOSSLESS_SUFFIX, write_contact_sheet, write_video

VIDEO_SUFFIXES = (".mp4", ".webm", ".mkv", ".avi", ".mov", ".gif")

__all__ = [
    "FORMATS",
    "LOSSLESS_SUFFIX",
    "VIDEO_SUFFIXES",
    "VideoInfo",
    "VideoReadError",
    "VideoWriteError",
    "check_complete",
    "read_video",
    "video_info",
    "write_contact_sheet",
    "write_video",
]
