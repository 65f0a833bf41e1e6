"""Errors raised by video reading and writing, each naming the file and the reason."""

from __future__ import annotations

from pathlib import Path


class VideoReadError(ValueError):
    """A video file (or PNG-frame folder) exists but cannot be read.

    ``kind`` says why, in one word datasets can count: ``"empty"`` (zero bytes), ``"corrupt"``
    (cannot be opened or decoding failed), ``"truncated"`` (fewer frames than the container
    announces). A ValueError so that callers treating bad input generically still catch it.
    """

    def __init__(self, path: str | Path, reason: str, kind: str = "corrupt"):
        self.path = str(path)
        self.reason = reason
        self.kind = kind
        super().__init__(f"cannot read video {self.path}: {reason}")


class VideoWriteError(OSError):
    """A video cannot be written to the requested path (unwritable folder, encoder failure)."""

    def __init__(self, path: str | Path, reason: str):
        self.path = str(path)
        self.reason = reason
        super().__init__(f"cannot write video {self.path}: {reason}")
