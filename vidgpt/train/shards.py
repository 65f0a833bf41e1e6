"""Reading token shards written by `vidgpt.train.pretokenize`: `TokenShardDataset` and the file format."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import torch
from safetensors import safe_open
from safetensors.torch import save
from torch import nn
from torch.utils.data import Dataset

from vidtok.model.fingerprint import fingerprint_matches, tokenizer_fingerprint

FORMAT = "vidgpt-token-shards"
VERSION = 1
MANIFEST = "manifest.json"


def shard_name(index: int) -> str:
    """File name of shard `index`."""
    return f"shard-{index:05d}.safetensors"


def shard_bytes(codes: torch.Tensor, metadata: dict[str, str]) -> bytes:
    """A shard file's bytes: safetensors holding tensor `codes` and `metadata`, its JSON header's keys sorted.

    safetensors writes the metadata in the hash order of a Rust HashMap, which changes from process to
    process; sorted, a shard's bytes (and SHA-256) depend on its content alone, so a resumed or split run
    writes exactly the files of an uninterrupted one.
    """
    data = save({"codes": codes.contiguous()}, metadata=metadata)
    n = int.from_bytes(data[:8], "little")
    header = json.dumps(json.loads(data[8:8 + n]), sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()
    header += b" " * (-len(header) % 8)  # padded like safetensors pads it, so the tensor data stays 8-byte aligned
    return len(header).to_bytes(8, "little") + header + data[8 + n:]


def codes_dtype(codebook_size: int) -> torch.dtype:
    """The smallest signed integer dtype holding every code (int16, else int32: safetensors knows both)."""
    return torch.int16 if codebook_size <= 2**15 else torch.int32


def file_sha256(path: str | Path) -> str:
    """Hex SHA-256 of a file's bytes."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def read_shard_manifest(directory: str | Path) -> dict:
    """The manifest of a token-shard folder; FileNotFoundError / ValueError when absent or not one."""
    path = Path(directory) / MANIFEST
    if not path.is_file():
        raise FileNotFoundError(f"no token shards in {directory}: {path} not found (run pretokenize first)")
    try:
        manifest = json.loads(path.read_text())
    except json.JSONDecodeError as e:
        raise ValueError(f"{path} is not valid JSON ({e})") from None
    if manifest.get("format") != FORMAT:
        raise ValueError(f"{path} is not a token-shard manifest (format {manifest.get('format')!r}, expected {FORMAT!r})")
    if manifest.get("version") != VERSION:
        raise ValueError(f"{path} has token-shard format version {manifest.get('version')}, this code reads {VERSION}")
    return manifest


def load_shard(directory: str | Path, entry: dict) -> tuple[torch.Tensor, list[str]]:
    """Verify one shard's SHA-256 against its manifest entry, then return (codes, captions)."""
    path = Path(directory) / shard_name(entry["index"])
    if not path.is_file():
        raise FileNotFoundError(f"token shard {path} is missing (re-run pretokenize to rewrite it)")
    digest = file_sha256(path)
    if digest != entry["sha256"]:
        raise ValueError(
            f"token shard {path} is damaged: sha256 {digest[:12]}... does not match the manifest's "
            f"{entry['sha256'][:12]}... (delete it and re-run pretokenize to rewrite it)"
        )
    with safe_open(str(path), framework="pt") as f:
        captions = json.loads(f.metadata()["captions"])
        codes = f.get_tensor("codes")
    if codes.shape[0] != entry["count"] or len(captions) != entry["count"]:
        raise ValueError(
            f"token shard {path} holds {codes.shape[0]} codes and {len(captions)} captions, "
            f"the manifest says {entry['count']}"
        )
    return codes, captions


class TokenShardDataset(Dataset):
    """All shards of a pre-tokenized folder, verified and held in memory: items {"codes": Long (t, h, w), "caption"}.

    `tokenizer` (a tokenizer module or its fingerprint string) is checked against the manifest: codes are
    meaningless next to another tokenizer, so a mismatch is a ValueError. Every shard's SHA-256 is checked
    on load; a damaged or missing shard is an error naming the file.
    """

    def __init__(self, directory: str | Path, tokenizer: nn.Module | str | None = None) -> None:
        self.directory = Path(directory)
        manifest = read_shard_manifest(self.directory)
        self.manifest = manifest
        self.fingerprint: str = manifest["tokenizer"]["fingerprint"]
        self.codebook_size: int = manifest["tokenizer"]["codebook_size"]
        self.grid: tuple[int, int, int] = tuple(manifest["grid"])
        self.video_shape: tuple[int, int, int] = tuple(manifest["video_shape"])  # (frames, height, width)
        if tokenizer is not None:
            same = (tokenizer == self.fingerprint if isinstance(tokenizer, str)
                    else fingerprint_matches(tokenizer, self.fingerprint))
            if not same:
                expected = tokenizer if isinstance(tokenizer, str) else tokenizer_fingerprint(tokenizer)
                raise ValueError(
                    f"token shards in {self.directory} were made by tokenizer {self.fingerprint[:12]}..., "
                    f"not by the given tokenizer {expected[:12]}... (re-run pretokenize with this tokenizer)"
                )
        entries = manifest["shards"]
        missing = [k for k in range(manifest["num_shards"]) if shard_name(k) not in entries]
        if missing:
            raise ValueError(
                f"token shards in {self.directory} are incomplete: {len(missing)} of {manifest['num_shards']} "
                f"shards not written yet (first missing: {shard_name(missing[0])}); re-run pretokenize"
            )
        codes, captions = [], []
        for k in range(manifest["num_shards"]):
            c, cap = load_shard(self.directory, entries[shard_name(k)])
            codes.append(c)
            captions += cap
        self.codes = torch.cat(codes)
        self.captions: list[str] = captions
        if len(self.captions) != manifest["num_items"] or tuple(self.codes.shape[1:]) != self.grid:
            raise ValueError(
                f"token shards in {self.directory} hold {len(self.captions)} items of grid "
                f"{tuple(self.codes.shape[1:])}, the manifest says {manifest['num_items']} of {self.grid}"
            )

    def __len__(self) -> int:
        return len(self.captions)

    def __getitem__(self, index: int) -> dict[str, torch.Tensor | str]:
        return {"codes": self.codes[index].long(), "caption": self.captions[index]}
