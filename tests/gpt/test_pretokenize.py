"""Pre-tokenizing to token shards: layout, resume, rank split, integrity and tokenizer checks."""

from __future__ import annotations

import json

import pytest
import torch

from vidtok.model.fingerprint import tokenizer_fingerprint
from vidgpt.train.pretokenize import pretokenize
from vidgpt.train.shards import MANIFEST, TokenShardDataset, file_sha256, read_shard_manifest, shard_name
from vidtok.shapes.world import ShapesDataset
from vidtok.model import TokenizerConfig, VideoTokenizer

ITEMS, SHARD = 10, 4  # 3 shards: 4 + 4 + 2 items


def tiny_tokenizer(seed: int = 0) -> VideoTokenizer:
    torch.manual_seed(seed)
    return VideoTokenizer(TokenizerConfig(channels=[8, 8], blocks=1, pixel_channels=[8], codebook_size=64)).eval()


@pytest.fixture(scope="module")
def tokenizer() -> VideoTokenizer:
    return tiny_tokenizer()


@pytest.fixture(scope="module")
def dataset() -> ShapesDataset:
    return ShapesDataset("train", length=ITEMS, frames=5, size=32)


@pytest.fixture(scope="module")
def reference(dataset, tokenizer) -> torch.Tensor:
    """Codes of every item, encoded in one batch: what the shards must hold."""
    return tokenizer.encode(torch.stack([dataset[i]["video"] for i in range(ITEMS)]))


def run(dataset, tokenizer, out, **kw):
    return pretokenize(dataset, tokenizer, out, shard_size=SHARD, batch_size=3, progress=False, **kw)


def test_writes_shards_and_manifest(tmp_path, dataset, tokenizer, reference):
    result = run(dataset, tokenizer, tmp_path)
    names = [shard_name(k) for k in range(3)]
    assert result.written == names and result.skipped == []
    manifest = read_shard_manifest(tmp_path)
    assert manifest["tokenizer"]["fingerprint"] == tokenizer_fingerprint(tokenizer)
    assert manifest["tokenizer"]["codebook_size"] == 64
    assert manifest["grid"] == [2, 4, 4] and manifest["video_shape"] == [5, 32, 32]
    assert (manifest["num_items"], manifest["num_shards"], manifest["dtype"]) == (ITEMS, 3, "int16")
    assert list(manifest["shards"]) == names
    assert [manifest["shards"][n]["count"] for n in names] == [4, 4, 2]
    for n in names:
        assert manifest["shards"][n]["sha256"] == file_sha256(tmp_path / n)
    assert sorted(p.name for p in tmp_path.iterdir() if not p.name.startswith(".")) == [MANIFEST, *names]

    ds = TokenShardDataset(tmp_path, tokenizer)
    assert len(ds) == ITEMS and ds.grid == (2, 4, 4)
    assert torch.equal(torch.stack([ds[i]["codes"] for i in range(ITEMS)]), reference)
    assert ds[7]["codes"].dtype == torch.long
    assert [ds[i]["caption"] for i in range(ITEMS)] == [dataset[i]["caption"] for i in range(ITEMS)]


def test_rerun_after_deleting_a_shard_rewrites_only_that_one(tmp_path, dataset, tokenizer, reference):
    run(dataset, tokenizer, tmp_path)
    before = {n: (tmp_path / n).stat().st_mtime_ns for n in (shard_name(0), shard_name(2))}
    (tmp_path / shard_name(1)).unlink()
    with pytest.raises(FileNotFoundError, match="shard-00001.safetensors"):
        TokenShardDataset(tmp_path)
    result = run(dataset, tokenizer, tmp_path)
    assert result.written == [shard_name(1)] and result.skipped == [shard_name(0), shard_name(2)]
    assert {n: (tmp_path / n).stat().st_mtime_ns for n in before} == before
    assert torch.equal(TokenShardDataset(tmp_path).codes.long(), reference)


def test_killed_before_manifest_entry_rewrites_that_shard(tmp_path, dataset, tokenizer):
    """A shard file whose manifest entry never got written (killed in between) does not count."""
    run(dataset, tokenizer, tmp_path)
    manifest = json.loads((tmp_path / MANIFEST).read_text())
    del manifest["shards"][shard_name(2)]
    (tmp_path / MANIFEST).write_text(json.dumps(manifest))
    (tmp_path / f".{shard_name(0)}.tmp-99999").write_bytes(b"half a shard")  # leftover of a killed write
    with pytest.raises(ValueError, match="incomplete.*shard-00002"):
        TokenShardDataset(tmp_path)
    assert run(dataset, tokenizer, tmp_path).written == [shard_name(2)]
    assert len(TokenShardDataset(tmp_path)) == ITEMS


def test_rank_split_covers_every_item_exactly_once(tmp_path, dataset, tokenizer, reference):
    first = run(dataset, tokenizer, tmp_path, rank=(0, 2))
    assert first.written == [shard_name(0), shard_name(2)]
    with pytest.raises(ValueError, match="incomplete"):
        TokenShardDataset(tmp_path)
    second = run(dataset, tokenizer, tmp_path, rank=(1, 2), num_workers=1)  # rendering in a worker process
    assert second.written == [shard_name(1)]
    ds = TokenShardDataset(tmp_path)
    assert torch.equal(ds.codes.long(), reference)
    assert ds.captions == [dataset[i]["caption"] for i in range(ITEMS)]


def test_corrupted_byte_is_an_error_naming_the_shard(tmp_path, dataset, tokenizer):
    run(dataset, tokenizer, tmp_path)
    path = tmp_path / shard_name(1)
    data = bytearray(path.read_bytes())
    data[-3] ^= 0x01  # one bit of one code
    path.write_bytes(bytes(data))
    with pytest.raises(ValueError, match=r"shard-00001\.safetensors is damaged"):
        TokenShardDataset(tmp_path)
    assert run(dataset, tokenizer, tmp_path).written == [shard_name(1)]  # a re-run repairs it
    TokenShardDataset(tmp_path)


def test_tokenizer_mismatch_is_a_clear_error(tmp_path, dataset, tokenizer):
    run(dataset, tokenizer, tmp_path)
    other = tiny_tokenizer(seed=1)
    with pytest.raises(ValueError, match="made by tokenizer .* not by the given tokenizer"):
        TokenShardDataset(tmp_path, other)
    with pytest.raises(ValueError, match="belongs to another pre-tokenization.*tokenizer"):
        run(dataset, other, tmp_path)
    with pytest.raises(ValueError, match="differs in .*dataset"):
        run(ShapesDataset("val", length=ITEMS, frames=5, size=32), tokenizer, tmp_path)


def test_fingerprint_follows_weights_not_device(tokenizer):
    clone = tiny_tokenizer()
    assert tokenizer_fingerprint(clone) == tokenizer_fingerprint(tokenizer)
    with torch.no_grad():
        next(clone.parameters()).view(-1)[0] += 1e-6
    assert tokenizer_fingerprint(clone) != tokenizer_fingerprint(tokenizer)


@pytest.mark.parametrize("rank", [(2, 2), (-1, 2), (0, 0), (0,)])
def test_bad_rank_is_rejected(tmp_path, dataset, tokenizer, rank):
    with pytest.raises(ValueError, match="rank="):
        run(dataset, tokenizer, tmp_path, rank=rank)


def test_missing_folder_is_file_not_found(tmp_path):
    with pytest.raises(FileNotFoundError, match="run pretokenize first"):
        TokenShardDataset(tmp_path / "nowhere")
