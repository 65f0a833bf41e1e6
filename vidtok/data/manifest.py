"""Manifests: a JSON-lines or CSV list of (path, caption[, split]), for datasets and evaluation alike.

Accepted layouts (one record per video):

- ``samples.jsonl`` as written by generation: ``{"file": ..., "prompt": ..., ...}``;
- any ``.jsonl`` with ``path`` / ``caption`` (or ``video`` / ``text``);
- a ``.csv`` with a header row naming the same columns.

An optional ``split`` key/column groups the results. Paths are relative to the video folder.
A broken line (not UTF-8, bad JSON, no path or caption key) is an error naming the file and line (or, for a
dataset, a skip it counts); a
record whose caption is present but not a Shapes caption is *not* an error here: the evaluator
counts it as not judgeable.
"""

from __future__ import annotations

import csv
import io
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

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


def read_manifest(path: str | Path, caption_required: bool = True,
                  skip: Callable[[str, str], None] | None = None) -> list[ManifestEntry]:
    """The entries of a ``.jsonl`` / ``.json`` (lines) or ``.csv`` manifest, in file order.

    ``caption_required=False``: a record without a caption gets "" (unconditional training data).
    ``skip``: called as ``skip("<manifest>:<line>", reason)`` for a line that cannot be read (not UTF-8,
    not JSON, no path), which is then left out; without it such a line is a ValueError naming it.
    """
    p = Path(path).expanduser()
    if not p.is_file():
        raise FileNotFoundError(f"manifest not found: {p}")
    try:
        # undecodable bytes survive as surrogates, so that one bad line is named, not the whole file refused
        text = p.read_bytes().decode("utf-8", errors="surrogateescape")
    except OSError as e:
        raise ValueError(f"{p}: cannot read ({e.strerror or e})") from None
    entries: list[ManifestEntry] = []

    def add(record: object, line: int, raw: str) -> None:
        try:
            if _has_surrogates(raw):
                raise ValueError(f"{p}:{line}: not UTF-8 text")
            entries.append(_entry(record, p, line, caption_required))
        except ValueError as e:
            if skip is None:
                raise
            skip(f"{p}:{line}", str(e).removeprefix(f"{p}:{line}: "))

    if p.suffix.lower() == ".csv":
        reader = csv.DictReader(io.StringIO(text, newline=""))
        if not reader.fieldnames:
            raise ValueError(f"{p}: empty CSV manifest (expected a header row with path and caption columns)")
        if _has_surrogates(",".join(reader.fieldnames)):
            raise ValueError(f"{p}:1: the header row is not UTF-8 text")
        for row in reader:
            values = {k.strip(): v for k, v in row.items() if k}
            add(values, reader.line_num, "".join(str(v) for v in values.values()))
    else:
        for number, line in enumerate(text.splitlines(), start=1):
            if not line.strip():
                continue
            try:
                record = json.loads(line) if not _has_surrogates(line) else None
            except json.JSONDecodeError as e:
                record = ValueError(f"{p}:{number}: not valid JSON ({e.msg})")
            if isinstance(record, ValueError):
                if skip is None:
                    raise record
                skip(f"{p}:{number}", str(record).removeprefix(f"{p}:{number}: "))
                continue
            add(record, number, line)
    return entries


def _has_surrogates(text: str) -> bool:
    return any("\udc80" <= c <= "\udcff" for c in text)
