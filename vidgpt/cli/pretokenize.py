"""`vidgpt-pretokenize`: a dataset split -> token shards + captions on disk, for stage 2."""

from __future__ import annotations

from pathlib import Path

from omegaconf import DictConfig

from vidgpt.cli.app import hydra_app
from vidgpt.cli.common import check_size, dataset
from vidgpt.cli.options import Choice, Device, Number, Text
from vidgpt.train.pretokenize import pretokenize
from vidtok.model import VideoTokenizer


OPTIONS = {
    "tokenizer_dir": Text(),
    "out_dir": Text(),
    "split": Choice(("train", "val")),
    "shard_size": Number(int, minimum=1),
    "batch_size": Number(int, minimum=1),
    "data.num_workers": Number(int, minimum=0),
    "device": Device(),
    "rank": Number(int, minimum=0, from_text=True),
    "num_ranks": Number(int, minimum=1, from_text=True),
    "frames": Number(int, minimum=1),
    "size": Number(int, minimum=8),
}


def run(cfg: DictConfig) -> Path:
    if cfg.data[cfg.split] is None:
        raise ValueError(f"split={cfg.split}: the data config has no {cfg.split} dataset")
    rank, num_ranks = int(cfg.rank), int(cfg.num_ranks)
    if rank >= num_ranks:
        raise ValueError(f"rank={rank}: must be < num_ranks={num_ranks} (this process's share, 0..num_ranks-1)")
    tokenizer = VideoTokenizer.from_pretrained(cfg.tokenizer_dir)
    check_size(cfg.size, tokenizer.cfg.spatial_factor)
    result = pretokenize(
        dataset(cfg.data[cfg.split]), tokenizer, cfg.out_dir, shard_size=cfg.shard_size, batch_size=cfg.batch_size,
        rank=(rank, num_ranks), num_workers=cfg.data.num_workers, device=cfg.device,
    )
    print(f"{cfg.out_dir}: {len(result.written)} shards written, {len(result.skipped)} already complete")
    return Path(cfg.out_dir)


main = hydra_app("pretokenize", OPTIONS)(run)

if __name__ == "__main__":
    main()
