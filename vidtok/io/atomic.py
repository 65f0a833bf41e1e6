"""Write-then-rename, so that a file or folder under its final name is always complete.

Everything is written beside its target under a temporary name, then renamed into place: a kill at any
moment leaves the old output or the new one. Temporaries are named `.<name>.tmp-<pid>[<suffix>]` (and a
folder moved aside `.<name>.old-<pid>`), so the next writer of the same target can sweep those of a writer
that was killed: checkpoints and models are large, and a run killed and resumed many times must not fill
the disk with them. `durable` outputs (models, checkpoints, token shards) are also flushed to disk before
the rename, so that a power cut cannot leave a complete-looking name over unwritten blocks.
"""

from __future__ import annotations

import os
import re
import shutil
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

from vidtok.io.errors import VideoWriteError, WriteError

_TEMPORARY = re.compile(r"^\.(?P<target>.+)\.(?P<kind>tmp|old)-(?P<pid>\d+)(\.[^.]*)?$")


def prepare_folder(path: Path) -> None:
    """Create ``path``'s parent folder if needed; VideoWriteError if it cannot be created or written."""
    parent = path.parent
    try:
        parent.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise VideoWriteError(path, f"output folder {parent} cannot be created ({e.strerror or e})") from e
    if not os.access(parent, os.W_OK | os.X_OK):
        raise VideoWriteError(path, f"output folder {parent} is not writable")


def temp_beside(path: str | Path, suffix: str = "", kind: str = "tmp") -> Path:
    """`.<name>.<kind>-<pid><suffix>` next to `path` (removed if present), after sweeping the temporaries
    that dead writers left of `path`."""
    path = Path(path)
    sweep_dead(path.parent, path.name)
    tmp = path.with_name(f".{path.name}.{kind}-{os.getpid()}{suffix}")
    _remove(tmp)
    return tmp


def replace_file(tmp: str | Path, path: str | Path, durable: bool = True) -> None:
    """Rename the finished file `tmp` onto `path` (one atomic step), flushed to disk first if `durable`."""
    try:
        if durable:
            _fsync(Path(tmp))
        os.replace(tmp, path)
    except OSError as e:
        _remove(Path(tmp))
        raise WriteError.wrap(path, e) from e


@contextmanager
def atomic_file(path: str | Path, durable: bool = False) -> Iterator[Path]:
    """Yield a temporary path next to ``path``; on success it is renamed onto ``path``.

    The temporary name ends in the real suffix: av picks the container format from it. Nothing creates
    the file before the writer does, so it gets the umask's mode like any file (not mkstemp's 0600).
    """
    path = Path(path)
    prepare_folder(path)
    tmp = temp_beside(path, suffix=path.suffix)
    try:
        yield tmp
        replace_file(tmp, path, durable=durable)
    except OSError as e:  # a full disk, a folder made read-only meanwhile: one error naming the file
        _remove(tmp)
        raise WriteError.wrap(path, e) from e
    except BaseException:
        _remove(tmp)
        raise


@contextmanager
def atomic_folder(directory: str | Path, marker: str | None = None, durable: bool = False) -> Iterator[Path]:
    """Yield an empty folder beside `directory` to fill; on success it replaces `directory` whole.

    With a `marker` (the file or folder that marks an earlier output of the same kind), an existing
    non-empty `directory` is replaced only if it holds the marker, so that saving into the wrong folder
    never deletes a user's files. A kill leaves the old folder or the new one under the name, except in
    the instant between two renames, when neither is (the old one then survives as `.<name>.old-<pid>`
    until the next write). `durable`: every file is flushed to disk before the swap.
    """
    directory = Path(directory)
    if directory.exists() and not directory.is_dir():
        raise FileExistsError(f"{directory} is a file, not a folder: not replacing it")
    if (marker is not None and directory.is_dir() and any(directory.iterdir())
            and not (directory / marker).exists()):
        raise FileExistsError(
            f"{directory} holds other files and no {marker}: not replacing it (save into a new folder)")
    prepare_folder(directory)
    tmp = temp_beside(directory)
    old = temp_beside(directory, kind="old")
    try:
        tmp.mkdir()
    except OSError as e:
        raise WriteError.wrap(directory, e) from e
    mode = tmp.stat().st_mode & 0o666  # what the umask makes of a plain file
    try:
        yield tmp
        for f in tmp.rglob("*"):
            if f.is_file():
                os.chmod(f, mode)  # safetensors creates 0600 files; an output is data to share like any other
                if durable:
                    _fsync(f)
        if directory.exists():
            os.replace(directory, old)  # a non-empty folder cannot be renamed over: move the old one aside
        os.replace(tmp, directory)
    except OSError as e:  # a full disk while saving: the old folder stays, and the error names the folder
        _remove(tmp)
        raise WriteError.wrap(directory, e) from e
    except BaseException:
        _remove(tmp)
        raise
    _remove(old)


def sweep_dead(folder: str | Path, name: str | None = None) -> None:
    """Remove the temporaries in `folder` (of target `name` only, if given) left by writers no longer running.

    Only for folders one process writes at a time (the pid of a writer on another host means nothing here).
    """
    folder = Path(folder)
    if not folder.is_dir():
        return
    for p in folder.iterdir():
        m = _TEMPORARY.match(p.name)
        if (m and (name is None or m["target"] == name) and int(m["pid"]) != os.getpid()
                and not _alive(int(m["pid"]))):
            _remove(p)


def _alive(pid: int) -> bool:
    if os.name == "nt":  # os.kill(pid, 0) would terminate the process there: never sweep on Windows
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's live process
        return True
    return True


def _remove(p: Path) -> None:
    if p.is_dir() and not p.is_symlink():
        shutil.rmtree(p, ignore_errors=True)
    else:
        p.unlink(missing_ok=True)


def _fsync(path: Path) -> None:
    with open(path, "rb") as f:
        os.fsync(f.fileno())
