"""Write-then-rename, so that a file or folder under its final name is always complete."""

from __future__ import annotations

import os
import secrets
import shutil
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

from vidtok.io.errors import VideoWriteError, WriteError


def prepare_folder(path: Path) -> None:
    """Create ``path``'s parent folder if needed; VideoWriteError if it cannot be created or written."""
    parent = path.parent
    try:
        parent.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise VideoWriteError(path, f"output folder {parent} cannot be created ({e.strerror or e})") from e
    if not os.access(parent, os.W_OK | os.X_OK):
        raise VideoWriteError(path, f"output folder {parent} is not writable")


def _sibling(path: Path, ending: str, make_dir: bool) -> Path:
    """Create a hidden, uniquely named file (or folder) next to ``path``.

    Not tempfile.mkstemp/mkdtemp: those create mode 0600/0700, which the rename would hand on to
    the final video (unreadable to anyone else); os.open/os.mkdir with 0666/0777 honour the umask
    like any normal file.
    """
    for _ in range(100):
        candidate = path.parent / f".{path.name}.{secrets.token_hex(4)}{ending}"
        try:
            if make_dir:
                os.mkdir(candidate, 0o777)
            else:
                os.close(os.open(candidate, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666))
            return candidate
        except FileExistsError:
            continue
        except OSError as e:
            raise VideoWriteError(path, f"output folder {path.parent} is not writable ({e.strerror or e})") from e
    raise VideoWriteError(path, f"could not create a temporary name in {path.parent}")


@contextmanager
def atomic_file(path: Path) -> Iterator[Path]:
    """Yield a hidden temporary path next to ``path`` (same suffix); rename it onto ``path`` on success."""
    prepare_folder(path)
    # The temporary name ends in the real suffix: av picks the container format from it.
    tmp_path = _sibling(path, f".tmp{path.suffix}", make_dir=False)
    try:
        yield tmp_path
        os.replace(tmp_path, path)
    except OSError as e:  # a full disk, a folder made read-only meanwhile: one error naming the file
        tmp_path.unlink(missing_ok=True)
        raise WriteError.wrap(path, e) from e
    except BaseException:
        tmp_path.unlink(missing_ok=True)
        raise


@contextmanager
def atomic_folder(path: Path) -> Iterator[Path]:
    """Yield an empty hidden temporary folder next to ``path``; swap it in for ``path`` on success."""
    prepare_folder(path)
    if path.exists() and not path.is_dir():
        raise VideoWriteError(path, "a file with that name exists, cannot replace it with a frame folder")
    tmp_path = _sibling(path, ".tmp", make_dir=True)
    try:
        yield tmp_path
        if path.exists():
            # A folder cannot be replaced by rename while it has contents: move the old one aside first.
            old = _sibling(path, ".old", make_dir=True)
            os.replace(path, old / "x")
            os.replace(tmp_path, path)
            shutil.rmtree(old)
        else:
            os.replace(tmp_path, path)
    except OSError as e:
        shutil.rmtree(tmp_path, ignore_errors=True)
        raise WriteError.wrap(path, e) from e
    except BaseException:
        shutil.rmtree(tmp_path, ignore_errors=True)
        raise
