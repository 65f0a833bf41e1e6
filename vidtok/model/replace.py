"""Replacing a model folder or a checkpoint file so that a kill at any moment leaves the old one or the new one.

Everything is written beside its target under a temporary name, flushed to disk, then renamed into place.
Temporaries are named `.<name>.tmp-<pid>` (and a folder moved aside `.<name>.old-<pid>`), so the next
writer can sweep those of a writer that was killed: checkpoints and models are large, and a run that is
killed and resumed many times must not fill the disk with them.
"""

from __future__ import annotations

import os
import shutil
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

from vidtok.io.errors import WriteError

_KINDS = ("tmp", "old")


def temp_beside(path: str | Path) -> Path:
    """`.<name>.tmp-<pid>` next to `path` (removed if present), after sweeping dead writers' temporaries of `path`."""
    path = Path(path)
    sweep_dead(path.parent, path.name)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    _remove(tmp)
    return tmp


def replace_file(tmp: str | Path, path: str | Path) -> None:
    """Flush the finished file `tmp` to disk and rename it onto `path` (one atomic step)."""
    try:
        _fsync(Path(tmp))
        os.replace(tmp, path)
    except OSError as e:
        _remove(Path(tmp))
        raise WriteError.wrap(path, e) from e


@contextmanager
def replacing_folder(directory: str | Path, marker: str) -> Iterator[Path]:
    """Yield an empty folder beside `directory` to fill; on success it replaces `directory` whole.

    An existing `directory` is replaced only if it is empty or holds `marker` (the file or folder that
    marks an earlier output of the same kind), so that saving into the wrong folder never deletes a user's files.
    A kill leaves the old folder or the new one under the name, except in the instant between two renames,
    when neither is (the old one then survives as `.<name>.old-<pid>` until the next save).
    """
    directory = Path(directory)
    if directory.is_dir() and any(directory.iterdir()) and not (directory / marker).exists():
        raise FileExistsError(
            f"{directory} holds other files and no {marker}: not replacing it (save into a new folder)")
    if directory.exists() and not directory.is_dir():
        raise FileExistsError(f"{directory} is a file, not a folder: not replacing it")
    directory.parent.mkdir(parents=True, exist_ok=True)
    tmp = temp_beside(directory)
    old = directory.with_name(f".{directory.name}.old-{os.getpid()}")
    _remove(old)
    tmp.mkdir()
    mode = tmp.stat().st_mode & 0o666  # what the umask makes of a plain file
    try:
        yield tmp
        for f in tmp.rglob("*"):
            if f.is_file():
                os.chmod(f, mode)  # safetensors creates 0600 files; a model is data to share like any other file
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
        target, _, suffix = p.name[1:].rpartition(".")
        kind, _, pid = suffix.partition("-")
        if (p.name.startswith(".") and kind in _KINDS and pid.isdigit() and (name is None or target == name)
                and int(pid) != os.getpid() and not _alive(int(pid))):
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
