"""The default CPU recipe: train the default `TokenizerConfig` on the Shapes world.

`python -m vidtok.train.shapes_recipe --out runs/tokenizer-shapes --minutes 60`

The tokenizer sees no captions, so it trains on clips of all 288 combinations (split "all", whose
seeds are disjoint from every evaluation split); validation uses the "val" split at full size.
Training clips are 9 frames (3 latent frames: the image-coded first one and two 4-frame ones; every
layer looks back at most one latent frame per block, so longer clips add cost, not new situations)
and 32x32 salient crops of them; validation and evaluation use full 17x64x64 clips.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import torch
from torch.utils.data import DataLoader

from vidtok.data.shapes import ShapesDataset
from vidtok.model import TokenizerConfig, VideoTokenizer
from vidtok.train.fit import train_tokenizer
from vidtok.train.module import TrainConfig


def train_shapes_tokenizer(
    out_dir: str | Path = "runs/tokenizer-shapes",
    minutes: float = 60.0,
    model_cfg: TokenizerConfig | None = None,
    train_cfg: TrainConfig | None = None,
    batch_size: int = 16,
    train_frames: int = 9,
    val_clips: int = 128,
    val_every_steps: int = 500,
    resume: str | None = None,
) -> VideoTokenizer:
    """Train on Shapes for `minutes` of wall clock and export to `out_dir/tokenizer`."""
    model_cfg = model_cfg or TokenizerConfig()
    train_cfg = train_cfg or TrainConfig(max_minutes=minutes, max_steps=10**9)
    train = ShapesDataset("all", length=2_000_000, frames=train_frames)
    val = ShapesDataset("val", length=val_clips, frames=17)
    return train_tokenizer(
        model_cfg,
        DataLoader(train, batch_size=batch_size, shuffle=True, drop_last=True),
        DataLoader(val, batch_size=32),
        out_dir=out_dir,
        train_cfg=train_cfg,
        checkpoint_every_minutes=5,
        resume=resume,
        trainer_kwargs={"val_check_interval": val_every_steps, "check_val_every_n_epoch": None},
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="runs/tokenizer-shapes")
    parser.add_argument("--minutes", type=float, default=60.0)
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default)")
    parser.add_argument("--resume", default=None, help='a checkpoint path, or "last"')
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    train_shapes_tokenizer(args.out, args.minutes, resume=args.resume)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
