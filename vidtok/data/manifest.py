"""Manifests: a JSON-lines or CSV list of (path, caption[, split]), for datasets and evaluation alike.

Accepted layouts (one record per video):

- ``samples.jsonl`` as written by generation: ``{"file": ..., "prompt": ..., ...}``;
- any ``.jsonl`` with ``path`` / ``caption`` (or ``video`` / ``text``);
- a ``.csv`` with a header row naming the same columns.

An optional ``split`` key/column groups the results. Paths are relative to the video folder.
A broken manifest (bad JSON, no path or caption key) is an error naming the file and line; a
record whose caption is present but not a Shapes caption is *not* an error here: the evaluator
counts it as not judgeable.
"""

from __future__ import annotations

import csv
import json
from dataclasses import dataclass
from pathlib import Path

PATH_KEYS = ("file", "path", "video")
CAPTION_KEYS = ("prompt", "caption", "text")
DEFAULT_MANIFEST = "samples.jsonl"


@dataclass(frozen=True)
class ManifestEntry:
    """One line of a manifest; ``line`` is 1-based in the manifest file (the header is line 1 in CSV)."""

    path: str
    caption: str
    split: str | None
    line: int


def _pick(record: dict, keys: tuple[str, ...], what: str, where: str) -> str:
    for key in keys:
        if key in record and record[key] is not None:
            return str(record[key])
    raise ValueError(f"{where}: no {what} (expected one of the keys {list(keys)}, got {sorted(record)})")


def _entry(record: object, manifest: Path, line: int, caption_required: bool) -> ManifestEntry:
    where = f"{manifest}:{line}"
    if not isinstance(record, dict):
        raise ValueError(f"{where}: expected a JSON object per line, got {type(record).__name__}")
    split = record.get("split")
    has_caption = any(record.get(k) is not None for k in CAPTION_KEYS)
    path = _pick(record, PATH_KEYS, "video path", where)
    if not path.strip():
        raise ValueError(f"{where}: empty video path")
    return ManifestEntry(
        path=path,
        caption=_pick(record, CAPTION_KEYS, "caption", where) if has_caption or caption_required else "",
        split=None if split in (None, "") else str(split),
        line=line,
    )


def read_manifest(path: str | Path, caption_required: bool = True) -> list[ManifestEntry]:
    """The entries of a ``.jsonl`` / ``.json`` (lines) or ``.csv`` manifest, in file order.

    ``caption_required=False``: a record without a caption gets "" (unconditional training data).
    """
    p = Path(path).expanduser()
    if not p.is_file():
        raise FileNotFoundError(f"manifest not found: {p}")
    entries: list[ManifestEntry] = []
    if p.suffix.lower() == ".csv":
        with p.open(newline="", encoding="utf-8") as f:
            reader = csv.DictReader(f)
            if not reader.fieldnames:
                raise ValueError(f"{p}: empty CSV manifest (expected a header row with path and caption columns)")
            for row in reader:
                entries.append(_entry({k.strip(): v for k, v in row.items() if k}, p, reader.line_num, caption_required))
    else:
        with p.open(encoding="utf-8") as f:
            for number, text in enumerate(f, start=1):
                if not text.strip():
                    continue
                try:
                    record = json.loads(text)
                except json.JSONDecodeError as e:
                    raise ValueError(f"{p}:{number}: not valid JSON ({e.msg})") from None
                entries.append(_entry(record, p, number, caption_required))
    return entries
