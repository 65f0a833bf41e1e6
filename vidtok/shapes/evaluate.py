"""Prompt following and temporal quality of Shapes videos, from pixels, per split.

``evaluate_videos`` takes (video, caption, split) items and returns one JSON-ready dict (no NaN:
undefined numbers are None). Nothing is silently dropped: every item is either judged or counted
under ``skipped`` with a reason, and the accuracy of a group with no judged video is None, never
100%. Result layout::

    {"items": n, "judged": n,
     "skipped": {"not_judgeable": n, "missing": n, "unreadable": n, "invalid_video": n,
                 "unsupported_size": n, "too_short": n},
     "skipped_examples": {reason: ["item: why", ...]},   # the first few of each
     "other_size": {"count": n, "sides": {side: n}},     # judged at their own size
     "split_inferred": n, "split_mismatch": n,
     "splits": {split: GROUP}, "overall": GROUP,
     "seconds": s, "videos_per_s": v, "per_item": [...]}
    GROUP = {"videos": n, "clean": CLEAN, "accuracy": {factor: rate, ..., "all": rate},
             "temporal": {metric: mean}, "temporal_undefined": {metric: n},
             "per_frame": {check: [rate per frame], "videos": [n per frame]}}
    CLEAN = clean_frames.CleanTally.summary(): the frame-by-frame reading of the spec, the headline:
            {"videos", "clean_videos", "clean_videos_se", "clean_frames", "failed_frames",
             "failed_by_reason": {reason: frames}, "by_frame": {"frames", "clean", reason: [n per frame]}}

A video whose split is None is grouped by its caption: a held-out combination goes to the
test-comp split(s) whose pair it contains (a combination with both pairs goes to both), any
other to "test-iid" (these are exactly the splits' combination sets; ``split_inferred`` counts them).
"""

from __future__ import annotations

import functools
import time
from collections import Counter
from pathlib import Path
from typing import Iterable

import numpy as np

from vidtok.shapes.world import (
    HELD_OUT_COLOUR_DIRECTION,
    HELD_OUT_SHAPE_COLOUR,
    MIN_SIZE,
    SPLITS,
    ShapesAttributes,
    split_combinations,
)
from vidtok.data.manifest import DEFAULT_MANIFEST, read_manifest
from vidtok.shapes.clean_frames import FAIL_REASONS, CleanTally, judge_frames
from vidtok.shapes.rollout import FrameQualityCurve, frame_checks
from vidtok.shapes.reader import FACTORS, read_video_attributes
from vidtok.shapes.temporal import TEMPORAL_METRICS, temporal_metrics
from vidtok.io import VideoReadError, read_video

SKIP_REASONS: tuple[str, ...] = (
    "not_judgeable",  # the caption is not a Shapes caption
    "missing",  # the manifest names a file that is not there
    "unreadable",  # the file is there but cannot be decoded
    "invalid_video",  # not a uint8 (T, H, W, 3) array
    "unsupported_size",  # not square, or smaller than the Shapes minimum side
    "too_short",  # fewer than 2 frames: motion cannot be read
)
MAX_EXAMPLES = 5


def infer_splits(attrs: ShapesAttributes) -> list[str]:
    """The evaluation split(s) whose combination set contains ``attrs``."""
    out = []
    if (attrs.shape, attrs.colour) in HELD_OUT_SHAPE_COLOUR:
        out.append("test-comp-shape-colour")
    if (attrs.colour, attrs.direction) in HELD_OUT_COLOUR_DIRECTION:
        out.append("test-comp-colour-direction")
    return out or ["test-iid"]


class _Group:
    """Running sums of one split (or of everything)."""

    def __init__(self) -> None:
        self.videos = 0
        self.correct: Counter[str] = Counter()
        self.temporal: dict[str, list[float]] = {m: [] for m in TEMPORAL_METRICS}
        self.curve = FrameQualityCurve()
        self.clean = CleanTally()

    def add(self, verdict: dict[str, bool], temporal: dict[str, float], checks: dict[str, np.ndarray],
            failures: dict[str, np.ndarray]) -> None:
        self.videos += 1
        self.clean.add(failures)
        self.correct.update({k: int(v) for k, v in verdict.items()})
        for m in TEMPORAL_METRICS:
            self.temporal[m].append(temporal[m])
        self.curve.add(checks)

    def summary(self) -> dict:
        n = self.videos
        temporal, undefined = {}, {}
        for m, values in self.temporal.items():
            v = np.asarray(values, dtype=np.float64)
            defined = v[~np.isnan(v)]
            temporal[m] = float(defined.mean()) if defined.size else None
            undefined[m] = int(v.size - defined.size)
        return {
            "videos": n,
            "clean": self.clean.summary(),
            "accuracy": {k: (self.correct[k] / n if n else None) for k in (*FACTORS, "all")},
            "temporal": temporal,
            "temporal_undefined": undefined,
            "per_frame": self.curve.compute(),
        }


class _Tally:
    """Everything ``evaluate_videos`` reports, filled one item at a time."""

    def __init__(self, size: int | None, keep_items: bool) -> None:
        self.size, self.keep_items = size, keep_items
        self.items = 0
        self.skipped: Counter[str] = Counter({r: 0 for r in SKIP_REASONS})
        self.examples: dict[str, list[str]] = {}
        self.other_sides: Counter[int] = Counter()
        self.split_inferred = self.split_mismatch = 0
        self.splits: dict[str, _Group] = {}
        self.overall = _Group()
        self.per_item: list[dict] = []
        self.start = time.perf_counter()

    def skip(self, name: str, reason: str, why: str) -> None:
        self.items += 1
        self.skipped[reason] += 1
        examples = self.examples.setdefault(reason, [])
        if len(examples) < MAX_EXAMPLES:
            examples.append(f"{name}: {why}")
        if self.keep_items:
            self.per_item.append({"item": name, "skipped": reason, "why": why})

    def add(self, name: str, video: object, caption: object, split: str | None) -> None:
        try:
            if isinstance(caption, ShapesAttributes):
                target = caption
            elif isinstance(caption, str):
                target = ShapesAttributes.from_caption(caption)
            else:
                raise ValueError
        except ValueError:
            return self.skip(name, "not_judgeable", f"not a Shapes caption: {caption!r}")
        v = np.asarray(video) if video is not None else None
        if v is None or v.dtype != np.uint8 or v.ndim != 4 or v.shape[-1] != 3:
            shape = None if v is None else f"{v.shape} {v.dtype}"
            return self.skip(name, "invalid_video", f"expected a uint8 (T, H, W, 3) video, got {shape}")
        t, h, w, _ = v.shape
        if h != w or h < MIN_SIZE:
            return self.skip(name, "unsupported_size", f"{w}x{h}: the reader needs square frames >= {MIN_SIZE} px")
        if t < 2:
            return self.skip(name, "too_short", f"{t} frame(s): motion needs at least 2")
        if self.size is not None and h != self.size:
            self.other_sides[h] += 1

        if split in (None, ""):
            groups = infer_splits(target)
            self.split_inferred += 1
        else:
            groups = [str(split)]
            if split in SPLITS and target not in _combination_set(split):
                self.split_mismatch += 1

        reading = read_video_attributes(v)
        verdict = {f: getattr(reading, f) == getattr(target, f) for f in FACTORS}
        verdict["all"] = all(verdict.values())
        temporal = temporal_metrics(v, reading)
        checks = frame_checks(reading, target)
        failures = judge_frames(v, target)
        self.items += 1
        for g in groups:
            self.splits.setdefault(g, _Group()).add(verdict, temporal, checks, failures)
        self.overall.add(verdict, temporal, checks, failures)
        if self.keep_items:
            self.per_item.append(
                {
                    "item": name,
                    "caption": target.caption,
                    "splits": groups,
                    "read": {f: getattr(reading, f) for f in FACTORS},
                    "correct": verdict,
                    "clean": bool(failures["clean"].all()),
                    "failed_frames": {r: np.flatnonzero(failures[r]).tolist() for r in FAIL_REASONS if failures[r].any()},
                    "temporal": {k: (None if np.isnan(x) else x) for k, x in temporal.items()},
                }
            )

    def result(self) -> dict:
        seconds = time.perf_counter() - self.start
        judged = self.overall.videos
        out = {
            "items": self.items,
            "judged": judged,
            "skipped": dict(self.skipped),
            "skipped_examples": self.examples,
            "other_size": {
                "count": sum(self.other_sides.values()),
                "sides": {str(k): v for k, v in self.other_sides.items()},
            },
            "split_inferred": self.split_inferred,
            "split_mismatch": self.split_mismatch,
            "splits": {name: self.splits[name].summary() for name in sorted(self.splits, key=_split_order)},
            "overall": self.overall.summary(),
            "seconds": seconds,
            "videos_per_s": judged / seconds if seconds > 0 else None,
        }
        if self.keep_items:
            out["per_item"] = self.per_item
        return out


@functools.lru_cache(maxsize=None)
def _combination_set(split: str) -> frozenset[ShapesAttributes]:
    return frozenset(split_combinations(split))


def _split_order(name: str) -> tuple[int, str]:
    return (SPLITS.index(name) if name in SPLITS else len(SPLITS), name)


def evaluate_videos(
    items: Iterable[tuple], size: int | None = 64, keep_items: bool = True
) -> dict:
    """Judge (video, caption[, split]) items; ``video`` is uint8 (T, H, W, 3) (None counts as invalid),
    ``caption`` a string or ``ShapesAttributes``, ``split`` a group name or None (inferred).

    ``size``: the expected canvas side; square videos of another side (>= 16) are still judged at
    their own side and counted under ``other_size`` (None: no expectation). ``keep_items`` adds
    one record per item under ``per_item``. See the module docstring for the result layout.
    """
    tally = _Tally(size, keep_items)
    for index, item in enumerate(items):
        if not isinstance(item, (tuple, list)) or len(item) not in (2, 3):
            raise ValueError(
                f"item {index}: expected (video, caption) or (video, caption, split), got {type(item).__name__}"
            )
        video, caption, split = (*item, None) if len(item) == 2 else item
        tally.add(f"item {index}", video, caption, split)
    return tally.result()


def evaluate_folder(
    folder: str | Path,
    manifest: str | Path | None = None,
    size: int | None = 64,
    keep_items: bool = True,
) -> dict:
    """Evaluate the videos of ``folder`` listed in ``manifest`` (default ``folder/samples.jsonl``).

    ``manifest`` may be a path, or a name inside ``folder``. Missing and undecodable videos are
    counted (``skipped.missing`` / ``skipped.unreadable``) and the rest are judged. The result is
    ``evaluate_videos``'s, plus ``folder`` and ``manifest``.
    """
    root = Path(folder).expanduser()
    if not root.is_dir():
        raise FileNotFoundError(f"video folder not found: {root}")
    m = Path(manifest).expanduser() if manifest is not None else root / DEFAULT_MANIFEST
    if not m.is_file() and not m.is_absolute() and (root / m).is_file():
        m = root / m
    entries = read_manifest(m)
    tally = _Tally(size, keep_items)
    for entry in entries:
        path = Path(entry.path).expanduser()
        path = path if path.is_absolute() else root / path
        name = entry.path
        try:
            ShapesAttributes.from_caption(entry.caption)
        except ValueError:
            tally.skip(name, "not_judgeable", f"not a Shapes caption: {entry.caption!r}")
            continue
        try:
            video = read_video(path)
        except FileNotFoundError:
            tally.skip(name, "missing", f"no such file (manifest line {entry.line})")
            continue
        except VideoReadError as e:
            tally.skip(name, "unreadable", e.reason)
            continue
        except OSError as e:  # permissions, a folder where a file was expected, ...
            tally.skip(name, "unreadable", str(e))
            continue
        tally.add(name, video, entry.caption, entry.split)
    return {**tally.result(), "folder": str(root), "manifest": str(m)}
