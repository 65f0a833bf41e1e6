"""Users' own videos: a folder (scanned recursively) or a caption manifest, as a clip dataset.

Captions come from a manifest (``.jsonl`` lines ``{"path": ..., "caption": ...}`` or a ``.csv`` with
a ``path,caption`` header; paths relative to the manifest) or else from a sidecar ``<stem>.txt``
next to each video; a video with neither has the caption "".

Bad files never stop a run. Construction probes every file (header only) and skips empty, corrupt
and too-short ones; the first clip read from a file also checks it is complete (cut webm/mkv/gif
files decode without error, just shorter) and a file failing then is skipped and another index
tried. Each skipped file is named once in a logged warning and counted in ``summary()``.
"""

from __future__ import annotations

import csv
import json
import logging
import os
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.utils.data import Dataset

from vidtok.data.clips import SHORT_MODES, START_MODES, choose_start, clip_span, pad_clip, resize_crop
from vidtok.data.convert import to_tensor
from vidtok.io import VIDEO_SUFFIXES, VideoReadError, check_complete, read_video, video_info
from vidtok.io.frame_folder import list_frames
from vidtok.data.manifest import read_manifest

log = logging.getLogger(__name__)

MANIFEST_SUFFIXES = (".jsonl", ".csv")


@dataclass
class _Video:
    path: str
    caption: str
    frames: int = 0  # as probed; lowered to the frames present once the file is checked
    exact: bool = True


class FolderDataset(Dataset):
    """Clips of the videos under ``root``: {"video": float (3, T, H, W) in [-1, 1], "caption": str}.

    ``root`` is a folder, scanned recursively for ``.mp4 .webm .mkv .avi .mov .gif`` files and
    folders of PNG frames (hidden entries ignored), or a ``.jsonl``/``.csv`` manifest listing the
    videos. ``manifest`` (optional, with a folder root) supplies captions that win over sidecars.

    A clip is ``frames`` frames taken every ``stride`` source frames, starting at ``start``:
    ``"random"``, ``"first"`` or ``"centre"``; then the centred square is resized (antialiased) to
    ``size``. A random start is drawn from ``default_rng([seed, index])``, so an index always gives
    the same clip; with ``seed=None`` it is drawn afresh from torch's generator on every read, so
    each epoch sees other clips of the same videos (reproducible under ``torch.manual_seed`` /
    Lightning's ``seed_everything(workers=True)``, which seed DataLoader workers per epoch).
    Clips shorter than asked follow ``short``: ``"pad"`` (the default) repeats the last frame,
    ``"skip"`` drops videos too short for a full clip. ``length`` (default: the number of usable
    videos) lets an epoch draw several clips per video: item ``i`` uses video ``i % videos``.

    Errors: a missing ``root`` -> FileNotFoundError; no videos found, or none usable -> ValueError.
    Files found bad lazily inside DataLoader workers are reported by those workers.
    """

    def __init__(
        self,
        root: str | Path,
        frames: int = 17,
        size: int = 64,
        stride: int = 1,
        start: str = "random",
        short: str = "pad",
        manifest: str | Path | None = None,
        length: int | None = None,
        seed: int | None = 0,
    ):
        root = Path(os.path.abspath(Path(root).expanduser()))  # absolute: manifest paths are matched against it
        if not root.exists():
            raise FileNotFoundError(f"FolderDataset: no such folder or manifest: {root}")
        if start not in START_MODES:
            raise ValueError(f"start must be one of {START_MODES}, got {start!r}")
        if short not in SHORT_MODES:
            raise ValueError(f"short must be one of {SHORT_MODES}, got {short!r}")
        for name, value in (("frames", frames), ("size", size), ("stride", stride)):
            if not (isinstance(value, int) and value >= 1):
                raise ValueError(f"{name} must be an int >= 1, got {value!r}")
        if length is not None and not (isinstance(length, int) and length >= 1):
            raise ValueError(f"length must be None or an int >= 1, got {length!r}")
        self.root, self.frames, self.size, self.stride = str(root), frames, size, stride
        self.start, self.short, self.seed = start, short, seed
        self._skipped: dict[str, tuple[str, str]] = {}  # path -> (kind, reason)

        if root.is_file():
            if root.suffix.lower() not in MANIFEST_SUFFIXES:
                raise ValueError(f"FolderDataset: {root} is a file but not a manifest ({', '.join(MANIFEST_SUFFIXES)})")
            captions = manifest_captions(root, skip=self._skip_line)
            paths = []
            for path in captions:
                problem = unreadable(path)
                if problem is None:
                    paths.append(path)
                else:
                    self._skip(path, problem[0], f"listed in the manifest: {problem[1]}")
            if not captions:
                raise ValueError(f"FolderDataset: manifest {root} lists no readable videos ({self._reasons_text()})")
        else:
            paths = find_videos(root)
            if not paths:
                raise ValueError(
                    f"FolderDataset: no videos ({' '.join(VIDEO_SUFFIXES)} or PNG-frame folders) found under {root}"
                )
            captions = manifest_captions(Path(manifest).expanduser(), skip=self._skip_line) if manifest is not None else {}
            unknown = sorted(set(captions) - set(paths))
            if unknown:
                log.warning(
                    "FolderDataset: %d manifest entries are not videos under %s, e.g. %s",
                    len(unknown),
                    root,
                    unknown[0],
                )
        self.found = len(paths) + len(self._skipped)  # only manifest entries are skipped so far

        span = clip_span(frames, stride)
        self.videos: list[_Video] = []
        for path in paths:
            problem = unreadable(path)
            if problem is not None:  # a symlink to nothing or to itself: this file only, not the run
                self._skip(path, *problem)
                continue
            try:
                info = video_info(path)
            except VideoReadError as e:
                self._skip(path, e.kind, e.reason)
                continue
            except OSError as e:
                self._skip(path, "unreadable", e.strerror or str(e))
                continue
            if info.frames == 0:
                self._skip(path, "empty", "no frames")
            elif short == "skip" and info.frames < span:
                self._skip(path, "too short", f"{info.frames} frames, a clip needs {span}")
            else:
                caption = captions.get(path)
                if caption is None:
                    try:
                        caption = sidecar_caption(Path(path))
                    except ValueError as e:  # a caption that cannot be read: the video would train on a wrong one
                        self._skip(path, "bad caption", str(e))
                        continue
                self.videos.append(_Video(path, caption, info.frames, info.exact))
        self._checked: set[str] = set()
        log.log(logging.WARNING if self._skipped else logging.INFO, "%s", self.summary_line())
        if not self.videos:
            raise ValueError(f"FolderDataset {root}: no usable video ({self._reasons_text()})")
        self.length = length if length is not None else len(self.videos)

    def __len__(self) -> int:
        return self.length

    def __getitem__(self, index: int) -> dict[str, torch.Tensor | str]:
        if not 0 <= index < self.length:
            raise IndexError(f"index {index} out of range for FolderDataset of length {self.length}")
        n = len(self.videos)
        for attempt in range(n):
            video = self.videos[(index + attempt) % n]
            if video.path in self._skipped:
                continue
            try:
                clip = self._clip(video, index)
            except VideoReadError as e:
                self._skip(video.path, e.kind, e.reason)
                continue
            except FileNotFoundError:
                self._skip(video.path, "missing", "deleted after the dataset was built")
                continue
            if clip is None:
                needed = clip_span(self.frames, self.stride)
                self._skip(video.path, "too short", f"{video.frames} frames, a clip needs {needed}")
                continue
            return {"video": to_tensor(resize_crop(clip, self.size)), "caption": video.caption}
        raise RuntimeError(f"FolderDataset {self.root}: every video failed to load ({self._reasons_text()})")

    def summary(self) -> dict:
        """Counts as known in this process: found, usable, skipped, skipped per reason, and each skipped file."""
        return {
            "root": self.root,
            "found": self.found,
            "usable": len(self.videos) - sum(1 for v in self.videos if v.path in self._skipped),
            "skipped": len(self._skipped),
            "reasons": dict(Counter(kind for kind, _ in self._skipped.values())),
            "skipped_files": {path: f"{kind}: {reason}" for path, (kind, reason) in self._skipped.items()},
        }

    def summary_line(self) -> str:
        """E.g. ``FolderDataset /x: 12 videos usable, 3 skipped (2 corrupt, 1 too short)``."""
        s = self.summary()
        line = f"FolderDataset {self.root}: {s['usable']} videos usable, {s['skipped']} skipped"
        return f"{line} ({self._reasons_text()})" if s["skipped"] else line

    def _reasons_text(self) -> str:
        counts = Counter(kind for kind, _ in self._skipped.values())
        return ", ".join(f"{n} {kind}" for kind, n in sorted(counts.items())) or "nothing skipped"

    def _skip_line(self, where: str, reason: str) -> None:
        self._skip(where, "bad manifest line", reason)

    def _skip(self, path: str, kind: str, reason: str) -> None:
        if path not in self._skipped:
            self._skipped[path] = (kind, reason)
            log.warning("FolderDataset skips %s: %s (%s)", path, kind, reason)

    def _clip(self, video: _Video, index: int) -> np.ndarray | None:
        """uint8 (frames, H, W, 3) at the source size, or None when too short and ``short="skip"``."""
        if video.path not in self._checked:
            present = check_complete(video.path)
            video.frames, video.exact = min(video.frames, present), True
            self._checked.add(video.path)
        span = clip_span(self.frames, self.stride)
        if self.seed is None:
            rng = np.random.default_rng(int(torch.randint(2**62, ())))
        else:
            rng = np.random.default_rng([self.seed, index])
        first = choose_start(video.frames, span, self.start, rng)
        clip = read_video(video.path, first, first + span, self.stride)
        expected = len(range(first, min(first + span, video.frames), self.stride))
        if len(clip) < expected:
            raise VideoReadError(video.path, f"truncated: decoding gave {len(clip)} of {expected} frames", "truncated")
        if len(clip) < self.frames:
            return pad_clip(clip, self.frames) if self.short == "pad" else None
        return clip


def find_videos(root: Path) -> list[str]:
    """Video files and PNG-frame folders under ``root``, recursively, sorted; hidden entries skipped."""
    found = []
    for folder, dirs, files in os.walk(root):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        here = Path(folder)
        kept = []
        for d in dirs:
            if list_frames(here / d):
                found.append(str(here / d))  # a frame folder is one video: do not descend into it
            else:
                kept.append(d)
        dirs[:] = kept
        found += [str(here / f) for f in files if not f.startswith(".") and Path(f).suffix.lower() in VIDEO_SUFFIXES]
    if list_frames(root):
        found.append(str(root))
    return sorted(found)


def sidecar_caption(path: Path) -> str:
    """The text of ``<stem>.txt`` next to a video (``<name>.txt`` for a frame folder), stripped; "" if none.

    ValueError naming the file when it exists but cannot be read as UTF-8 text."""
    txt = path.with_suffix(".txt") if path.is_file() else path.parent / f"{path.name}.txt"
    try:
        return txt.read_text(encoding="utf-8").strip()
    except FileNotFoundError:
        return ""
    except UnicodeDecodeError as e:
        raise ValueError(f"caption file {txt} is not UTF-8 text ({e.reason} at byte {e.start})") from None
    except OSError as e:
        raise ValueError(f"caption file {txt} cannot be read ({e.strerror or e})") from None


def unreadable(path: str) -> tuple[str, str] | None:
    """(kind, reason) when ``path`` cannot be opened at all (missing, a dangling or looping symlink), else None."""
    try:
        os.stat(path)
    except FileNotFoundError:
        return "missing", ("a symlink to nothing" if os.path.islink(path) else "not found")
    except OSError as e:
        return "unreadable", e.strerror or str(e)
    return None


def manifest_captions(manifest: Path, skip: Any = None) -> dict[str, str]:
    """{video path: caption} from a ``.jsonl`` or ``.csv`` manifest; paths resolved against its folder.
    ``skip(where, reason)`` receives the lines that cannot be read (see vidtok.data.manifest)."""
    if manifest.suffix.lower() not in MANIFEST_SUFFIXES:
        raise ValueError(f"manifest must be .jsonl or .csv, got {manifest}")
    return {
        os.path.abspath(manifest.parent / Path(e.path).expanduser()): e.caption.strip()
        for e in read_manifest(manifest, caption_required=False, skip=skip)
    }
