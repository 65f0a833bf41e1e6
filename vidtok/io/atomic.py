"""Write-then-rename, so that a file or folder under its final name is always complete."""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from vidtok.io.errors import VideoWriteError


def prepare_folder(path: Path) -> None:
    """Create ``path``'s parent folder if needed; VideoWriteError if it cannot be created or written."""
    parent = path.parent
    try:
        parent.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise VideoWriteError(path, f"output folder {parent} cannot be created ({e.strerror or e})") from e
    if not os.access(parent, os.W_OK | os.X_OK):
        raise VideoWriteError(path, f"output folder {parent} is not writable")


@contextmanager
def atomic_file(path: Path) -> Iterator[Path]:
    """Yield a hidden temporary path next to ``path`` (same suffix); rename it onto ``path`` on success."""
    prepare_folder(path)
    try:
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.stem}.", suffix=f".tmp{path.suffix}")
    except OSError as e:
        raise VideoWriteError(path, f"output folder {path.parent} is not writable ({e.strerror or e})") from e
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        os.replace(tmp_path, path)
    except BaseException:
        tmp_path.unlink(missing_ok=True)
        raise


@contextmanager
def atomic_folder(path: Path) -> Iterator[Path]:
    """Yield an empty hidden temporary folder next to ``path``; swap it in for ``path`` on success."""
    prepare_folder(path)
    if path.exists() and not path.is_dir():
        raise VideoWriteError(path, "a file with that name exists, cannot replace it with a frame folder")
    try:
        tmp_path = Path(tempfile.mkdtemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp"))
    except OSError as e:
        raise VideoWriteError(path, f"output folder {path.parent} is not writable ({e.strerror or e})") from e
    try:
        yield tmp_path
        if path.exists():
            # A folder cannot be replaced by rename while it has contents: move the old one aside first.
            old = Path(tempfile.mkdtemp(dir=path.parent, prefix=f".{path.name}.", suffix=".old"))
            os.replace(path, old / "x")
            os.replace(tmp_path, path)
            shutil.rmtree(old)
        else:
            os.replace(tmp_path, path)
    except BaseException:
        shutil.rmtree(tmp_path, ignore_errors=True)
        raise
