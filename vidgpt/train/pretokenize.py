"""Stage 1.5: encode a captioned video dataset once into token shards on disk.

Layout of `out_dir`:
- `shard-00000.safetensors`, ...: tensor `codes` (N, t, h, w) int16 (int32 above 32767 codes) for dataset
  items [first, first + N); the captions ride in the safetensors metadata as a JSON list.
- `manifest.json`: the header (tokenizer fingerprint, codebook size, grid, item/shard counts, dataset
  description) and, per complete shard, its item range and SHA-256.

Shard k always holds items [k * shard_size, (k + 1) * shard_size), so a resumed or split run can never
duplicate or miss an item. A shard is written to a temp file and renamed into place, and its manifest
entry is added only afterwards, under a file lock, so a run killed at any point leaves either a complete
listed shard or nothing that counts; re-running skips listed shards whose bytes still match.
Process i of n (`rank=(i, n)`) takes shards i, i + n, ...; all processes share one manifest.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator

import torch
from torch.utils.data import DataLoader, Dataset
from tqdm.auto import tqdm

from vidgpt.train.shards import (FORMAT, MANIFEST, VERSION, codes_dtype, file_sha256, read_shard_manifest, shard_bytes,
                                 shard_name)
from vidtok.io.atomic import atomic_file, replace_file, temp_beside
from vidtok.model.fingerprint import tokenizer_fingerprint

_LOCK = ".manifest.lock"
_HEADER_KEYS = ("format", "version", "tokenizer", "grid", "video_shape", "dtype", "num_items", "shard_size", "num_shards", "dataset")


def describe_dataset(dataset: Dataset) -> dict:
    """Class name and plain public attributes (split, length, frames, ...): enough to tell two datasets apart."""
    attrs = {
        k: v for k, v in sorted(vars(dataset).items())
        if not k.startswith("_") and isinstance(v, (int, float, str, bool)) and not isinstance(v, type)
    }
    return {"class": type(dataset).__name__, **attrs}


@dataclass
class PretokenizeResult:
    """What one `pretokenize` call did: the shards it wrote and the ones it found complete."""

    out_dir: Path
    written: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)


def pretokenize(
    dataset: Dataset,
    tokenizer: torch.nn.Module,
    out_dir: str | Path,
    shard_size: int = 1024,
    batch_size: int = 16,
    rank: tuple[int, int] = (0, 1),
    num_workers: int = 0,
    device: str | torch.device = "cpu",
    progress: bool = True,
) -> PretokenizeResult:
    """Encode every item {"video", "caption"} of `dataset` with the frozen `tokenizer` into shards in `out_dir`.

    `rank=(i, n)`: this process writes shards i, i + n, ... only (run n processes, one per rank, in any
    order or at once). Re-running resumes: complete shards are skipped, missing or damaged ones rewritten.
    Raises ValueError when `out_dir` already holds shards of another tokenizer or dataset.
    """
    i, n = _check_rank(rank)
    if shard_size < 1 or batch_size < 1:
        raise ValueError(f"shard_size={shard_size} and batch_size={batch_size} must be >= 1")
    num_items = len(dataset)
    if num_items < 1:
        raise ValueError("pretokenize: the dataset is empty")
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    tokenizer = tokenizer.to(device).eval()
    video = dataset[0]["video"]
    grid = list(tokenizer.latent_shape(*video.shape[1:]))
    dtype = codes_dtype(tokenizer.codebook_size)
    num_shards = -(-num_items // shard_size)
    header = {
        "format": FORMAT,
        "version": VERSION,
        "tokenizer": {
            "fingerprint": tokenizer_fingerprint(tokenizer),
            "codebook_size": int(tokenizer.codebook_size),
            "config": tokenizer.cfg.to_dict() if hasattr(getattr(tokenizer, "cfg", None), "to_dict") else None,
        },
        "grid": grid,
        "video_shape": list(video.shape[1:]),  # (frames, height, width) of every clip
        "dtype": str(dtype).removeprefix("torch."),
        "num_items": num_items,
        "shard_size": shard_size,
        "num_shards": num_shards,
        "dataset": describe_dataset(dataset),
    }
    header = json.loads(json.dumps(header))  # as it reads back from disk (tuples become lists), to compare
    with _locked(out_dir):
        manifest = _read_or_start_manifest(out_dir, header)

    result = PretokenizeResult(out_dir)
    todo = []
    for k in range(i, num_shards, n):
        name = shard_name(k)
        entry = manifest["shards"].get(name)
        path = out_dir / name
        if entry is not None and path.is_file() and file_sha256(path) == entry["sha256"]:
            result.skipped.append(name)
        else:
            todo.append(k)
    total = sum(min(shard_size, num_items - k * shard_size) for k in todo)
    bar = tqdm(total=total, unit="clip", desc=f"pretokenize {i + 1}/{n}", disable=not progress)
    fingerprint = header["tokenizer"]["fingerprint"]
    for k, codes, captions in _encode_shards(dataset, tokenizer, todo, shard_size, batch_size, num_workers, device, grid, bar):
        entry = _write_shard(out_dir, k, codes.to(dtype), captions, k * shard_size, fingerprint)
        with _locked(out_dir):
            manifest = _read_or_start_manifest(out_dir, header)
            manifest["shards"][shard_name(k)] = entry
            manifest["shards"] = dict(sorted(manifest["shards"].items()))
            _write_manifest(out_dir / MANIFEST, manifest)
        result.written.append(shard_name(k))
    bar.close()
    return result


def _check_rank(rank: tuple[int, int]) -> tuple[int, int]:
    try:
        i, n = (int(r) for r in rank)
    except (TypeError, ValueError):
        raise ValueError(f"rank={rank!r}: expected a pair (i, n) with 0 <= i < n") from None
    if not 0 <= i < n:
        raise ValueError(f"rank={rank!r}: expected a pair (i, n) with 0 <= i < n")
    return i, n


def _write_manifest(path: Path, manifest: dict) -> None:
    with atomic_file(path, durable=True) as tmp:
        tmp.write_text(json.dumps(manifest, indent=1))


def _read_or_start_manifest(out_dir: Path, header: dict) -> dict:
    path = out_dir / MANIFEST
    if not path.is_file():
        manifest = {**header, "shards": {}}
        _write_manifest(path, manifest)
        return manifest
    manifest = read_shard_manifest(out_dir)
    differ = [k for k in _HEADER_KEYS if manifest.get(k) != header[k]]
    if differ:
        raise ValueError(
            f"{path} belongs to another pre-tokenization (differs in {', '.join(differ)}); "
            "use a new out_dir or delete the old one"
        )
    return manifest


def _encode_shards(
    dataset: Dataset, tokenizer: torch.nn.Module, shards: list[int], shard_size: int, batch_size: int,
    num_workers: int, device: str | torch.device, grid: list[int], bar: tqdm,
) -> Iterator[tuple[int, torch.Tensor, list[str]]]:
    """Yield (shard index, codes, captions) for each shard in turn, from one DataLoader over all of them.

    One loader (not one per shard) so that worker processes start once; no batch straddles two shards.
    """
    num_items = len(dataset)
    batches, owner = [], []
    for k in shards:
        stop = min((k + 1) * shard_size, num_items)
        for a in range(k * shard_size, stop, batch_size):
            batches.append(list(range(a, min(a + batch_size, stop))))
            owner.append(k)
    loader = DataLoader(dataset, batch_sampler=batches, num_workers=num_workers, collate_fn=_collate_videos)
    codes: list[torch.Tensor] = []
    captions: list[str] = []
    for b, (video, caption) in enumerate(loader):
        # encode in float32 whatever the caller's autocast: codes must not depend on the precision setting
        with torch.no_grad(), torch.autocast(torch.device(device).type, enabled=False):
            c = tokenizer.encode(video.to(device, torch.float32))
        if list(c.shape[1:]) != grid:
            raise ValueError(
                f"items {batches[b][0]}..{batches[b][-1]} give code grid {list(c.shape[1:])}, item 0 gave {grid}: "
                "every clip must have the same frames and size"
            )
        codes.append(c.cpu())
        captions += caption
        bar.update(len(caption))
        if b + 1 == len(batches) or owner[b + 1] != owner[b]:
            yield owner[b], torch.cat(codes), captions
            codes, captions = [], []


def _collate_videos(items: list[dict]) -> tuple[torch.Tensor, list[str]]:
    return torch.stack([it["video"] for it in items]), [str(it["caption"]) for it in items]


def _write_shard(
    out_dir: Path, index: int, codes: torch.Tensor, captions: list[str], first: int, fingerprint: str
) -> dict:
    name = shard_name(index)
    metadata = {"captions": json.dumps(captions), "first": str(first), "tokenizer_fingerprint": fingerprint}
    data = shard_bytes(codes, metadata)
    tmp = temp_beside(out_dir / name)  # also sweeps what a killed writer of this shard left
    tmp.write_bytes(data)
    replace_file(tmp, out_dir / name)
    return {"index": index, "first": first, "count": len(captions), "sha256": hashlib.sha256(data).hexdigest()}


@contextlib.contextmanager
def _locked(out_dir: Path) -> Iterator[None]:
    """Exclusive lock on the manifest across processes (POSIX flock; a no-op where fcntl is missing)."""
    try:
        import fcntl
    except ImportError:  # Windows: one process per out_dir there
        yield
        return
    with open(out_dir / _LOCK, "a") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)
