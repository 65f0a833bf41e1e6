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


class WriteError(OSError):
    """An output (video, manifest, report, model, checkpoint) cannot be written: the message names the path."""

    what = ""

    def __init__(self, path: str | Path, reason: str):
        self.path = str(path)
        self.reason = reason
        super().__init__(f"cannot write {self.what}{self.path}: {reason}")

    @classmethod
    def wrap(cls, path: str | Path, e: BaseException) -> "WriteError":
        """``e`` (an OSError, or torch's RuntimeError for a failed write) as one naming ``path``."""
        if isinstance(e, WriteError):
            return e
        text = str(e).strip()
        reason = getattr(e, "strerror", None) or (text.splitlines()[0] if text else type(e).__name__)
        return cls(path, reason)


class VideoWriteError(WriteError):
    """A video cannot be written to the requested path (unwritable folder, encoder failure)."""

    what = "video "
