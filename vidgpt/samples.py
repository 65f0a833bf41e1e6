"""Generate samples to a folder: media files per sample plus a ``samples.jsonl`` manifest.

A sample's manifest line is written only after all its files are complete (each file is itself
written atomically), so an interrupted run never leaves a sample that looks finished but isn't.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import os
import re
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

import numpy as np
from PIL import Image

from vidgpt.model.generation import MODEL
from vidtok.data.clips import resize_crop
from vidtok.io import read_video, write_contact_sheet, write_video
from vidtok.io.errors import WriteError

log = logging.getLogger(__name__)

MANIFEST = "samples.jsonl"
FORMATS = ("mp4", "gif", "png", "webm")


MAX_PROMPT_CHARS = 300  # longer prompts are refused: the model reads only its first prompt_length tokens anyway

@dataclass
class SampleOptions:
    """Settings shared by every sample of a run (recorded, resolved to numbers, in each manifest line).
    A sampling setting left as `MODEL` is the model's own (its `GenerationConfig`)."""

    frames: int | None = None
    schedule: str = MODEL
    window: int = MODEL
    frame_window: int | None = MODEL
    first_window: int | None = MODEL
    cfg_scale: float = MODEL
    later_cfg_scale: float | None = MODEL
    temperature: float = MODEL
    top_k: int | None = MODEL
    top_p: float | None = MODEL
    changes: dict[int, str] = field(default_factory=dict)  # {pixel frame: prompt followed from it on}
    extra: dict[str, Any] = field(default_factory=dict)

    def generate_kwargs(self) -> dict[str, Any]:
        return dict(frames=self.frames, schedule=self.schedule, window=self.window, frame_window=self.frame_window,
                    first_window=self.first_window,
                    cfg_scale=self.cfg_scale, later_cfg_scale=self.later_cfg_scale, temperature=self.temperature,
                    top_k=self.top_k, top_p=self.top_p, changes=self.changes or None)


def read_prompts_file(path: str | Path, max_chars: int = MAX_PROMPT_CHARS) -> list[str]:
    """Prompts, one per line. A blank or over-long line is an error naming the line."""
    path = Path(path).expanduser()
    if not path.is_file():
        raise FileNotFoundError(f"prompts_file not found: {path}")
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except UnicodeDecodeError as e:
        raise ValueError(f"prompts_file {path}: not UTF-8 text ({e.reason} at byte {e.start})") from None
    prompts = []
    for number, line in enumerate(lines, 1):
        text = line.strip()
        if not text:
            raise ValueError(f"prompts_file {path}:{number}: blank line (write one prompt per line)")
        if len(text) > max_chars:
            raise ValueError(f"prompts_file {path}:{number}: prompt of {len(text)} characters (limit {max_chars})")
        prompts.append(text)
    if not prompts:
        raise ValueError(f"prompts_file {path}: no prompts")
    return prompts


def load_first_frames(path: str | Path, size: int, frames: int | None = None) -> np.ndarray:
    """The first ``frames`` frames (or, with None, the image) at ``path`` as uint8, resized to ``size``."""
    path = Path(path).expanduser()
    if not path.exists():
        raise FileNotFoundError(f"not found: {path}")
    if path.suffix.lower() in (".png", ".jpg", ".jpeg", ".bmp", ".webp") and path.is_file():
        try:
            video = np.asarray(Image.open(path).convert("RGB"))[None]
        except OSError as e:
            raise ValueError(f"cannot read image {path}: {e}") from None
    else:
        video = read_video(path, end=frames or 1)
    if frames is not None and len(video) < frames:
        raise ValueError(f"{path} has {len(video)} frames, {frames} are needed")
    if video.shape[1:3] != (size, size):
        log.warning("%s is %dx%d: resized and centre-cropped to %dx%d", path, video.shape[2], video.shape[1], size, size)
        video = resize_crop(video, size)
    return video if frames is not None else video[0]


def check_writable(out_dir: str | Path) -> Path:
    """Create ``out_dir`` and prove it writable now, before minutes of generation."""
    out_dir = Path(out_dir).expanduser()
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
        probe = out_dir / f".write-test-{os.getpid()}"
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as e:
        raise PermissionError(f"output folder {out_dir} is not writable: {e.strerror or e}") from None
    return out_dir


def sample_stem(index: int, prompt: str, seed: int) -> str:
    """``<index>_<prompt's words>_s<seed>``: letters of any script are kept; a prompt of none (emoji only)
    is named by a hash of its text, so that two such prompts' files differ; the empty prompt is "unconditional"."""
    slug = re.sub(r"\W+", "_", prompt.lower()).strip("_")[:60]
    if not slug:
        slug = f"prompt_{hashlib.sha1(prompt.encode()).hexdigest()[:8]}" if prompt.strip() else "unconditional"
    return f"{index:03d}_{slug}_s{seed}"


def generate_samples(
    generator: Any,
    prompts: Sequence[str],
    out_dir: str | Path,
    options: SampleOptions,
    samples: int = 1,
    seed: int = 0,
    batch_size: int = 8,
    formats: Sequence[str] = ("mp4", "gif", "png"),
    image: np.ndarray | None = None,
    video: np.ndarray | None = None,
    progress: bool = True,
) -> list[dict[str, Any]]:
    """Generate ``samples`` videos per prompt into ``out_dir``; returns the manifest records.

    Sample ``i`` of every prompt uses seed ``seed + i`` (prompts batched together share it), so any
    sample can be regenerated alone from its manifest line.
    """
    unknown = set(formats) - set(FORMATS)
    if unknown or not formats:
        raise ValueError(f"formats={list(formats)}: choose one or more of {list(FORMATS)}")
    if samples < 1 or batch_size < 1:
        raise ValueError(f"samples={samples} and batch_size={batch_size} must be >= 1")
    # the model's settings where none were given: checked before any work, and recorded as numbers
    sampling = {k: v for k, v in options.generate_kwargs().items() if k not in ("frames", "changes")}
    settings = generator.settings(**sampling)
    options = dataclasses.replace(options, **settings.to_dict())
    out_dir = check_writable(out_dir)
    jobs = [(i, p, seed + i) for i in range(samples) for p in prompts]
    manifest_path = out_dir / MANIFEST
    # Continue numbering after an earlier run's samples in the same folder instead of overwriting them.
    index = sum(1 for _ in open(manifest_path, encoding="utf-8")) if manifest_path.is_file() else 0
    records = []
    from tqdm import tqdm  # noqa: PLC0415

    with tqdm(total=len(jobs), desc="generate", unit="video", disable=not progress) as bar, \
            _Manifest(manifest_path) as manifest:  # the bar ends its line before an error is printed
        for s in range(samples):
            batch_jobs = [j for j in jobs if j[0] == s]
            for start in range(0, len(batch_jobs), batch_size):
                chunk = batch_jobs[start:start + batch_size]
                t0 = time.perf_counter()
                result = generator.generate([p for _, p, _ in chunk], seed=chunk[0][2], image=image, video=video,
                                            **options.generate_kwargs())
                seconds = (time.perf_counter() - t0) / len(chunk)
                for (_, prompt, sample_seed), frames in zip(chunk, result.videos):
                    stem = out_dir / sample_stem(index, prompt, sample_seed)
                    files: list[Path] = []
                    try:  # a sample is its files and its manifest line, all or none (a full disk midway: none)
                        for fmt in formats:
                            files.append(_write(stem, fmt, frames))
                        record = dict(prompt=prompt, seed=sample_seed, file=files[0].name,
                                      files=[f.name for f in files], seconds=round(seconds, 3), **_settings(options))
                        record["frames"] = int(frames.shape[0])
                        record["dtype"] = generator.dtype_name
                        manifest.append(record)
                    except BaseException:
                        for f in files:
                            f.unlink(missing_ok=True)
                        raise
                    records.append(record)
                    index += 1
                    bar.update(1)
    return records


class _Manifest:
    """``samples.jsonl``, created with its first record (a run failing before any sample leaves none), one
    flushed JSON line per finished sample; strict JSON (a NaN is a bug, never written)."""

    def __init__(self, path: Path) -> None:
        self.path, self._file = path, None

    def __enter__(self) -> "_Manifest":
        return self

    def append(self, record: dict[str, Any]) -> None:
        line = json.dumps(record, allow_nan=False) + "\n"
        try:
            if self._file is None:
                self._file = open(self.path, "a", encoding="utf-8")
            self._file.write(line)
            self._file.flush()
        except OSError as e:
            raise WriteError.wrap(self.path, e) from e

    def __exit__(self, *exc: object) -> None:
        if self._file is not None:
            try:
                self._file.close()
            except OSError as e:  # the last flush can be where a full disk shows
                if exc[0] is None:
                    raise WriteError.wrap(self.path, e) from e


def _write(stem: Path, fmt: str, frames: np.ndarray) -> Path:
    path = stem.with_suffix(f".{fmt}")
    return write_contact_sheet(path, frames) if fmt == "png" else write_video(path, frames)


def _settings(options: SampleOptions) -> dict[str, Any]:
    d = options.generate_kwargs()
    d["changes"] = [{"frame": f, "prompt": p} for f, p in sorted(options.changes.items())]
    d.update(options.extra)
    return d
