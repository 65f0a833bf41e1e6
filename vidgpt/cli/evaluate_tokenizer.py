"""Evaluate a trained tokenizer on the Shapes splits: PSNR, SSIM, codebook usage, perplexity, how often
the reconstructions are clean in every frame (clean_frames.is_clean) and how often the Shapes attributes
read back from them (vidtok.shapes.reader.judge(...)["all"]).

Usage: `vidtok-evaluate --tokenizer runs/tokenizer-shapes/tokenizer --clips 256`

`--lavfi`: score held-out clips of ffmpeg's test sources instead (other option draws than training's
`conf/data/lavfi.yaml`: seed 1), one row per source; `--clips` is then the total.

Reconstructions are rounded to uint8 first (what a user gets back), then scored against the clip.
Codebook usage is the fraction of codes used at least once over all clips of all evaluated splits.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import torch

from vidgpt.cli.app import CommandParser, argparse_app
from vidgpt.cli.options import Choice, Items, Number
from vidtok.shapes.world import ALL_SPLIT, SPLITS
from vidtok.data.lavfi import LavfiDataset
from vidtok.eval.reconstruction import evaluate_dataset, evaluate_tokenizer
from vidtok.model import VideoTokenizer


parser = CommandParser("vidtok-evaluate", __doc__)
parser.add_argument("--tokenizer", required=True, help="a save_pretrained directory")
parser.add_argument("--clips", type=int, default=256, help="clips per split")
parser.add_argument("--frames", type=int, default=17)
parser.add_argument("--splits", nargs="*", default=list(SPLITS))
parser.add_argument("--lavfi", action="store_true", help="held-out ffmpeg test-source clips instead of Shapes")
parser.add_argument("--size", type=int, default=64, help="frame size of --lavfi clips")

OPTIONS = {
    "--clips": Number(int, minimum=1),
    "--frames": Number(int, minimum=1),
    "--splits": Items(Choice((*SPLITS, ALL_SPLIT))),
    "--size": Number(int, minimum=8),
}


@argparse_app(parser, OPTIONS)
def main(args: argparse.Namespace) -> int:
    folder = Path(args.tokenizer).expanduser()
    if not (folder / "config.json").is_file():
        hint = f" (a model folder: --tokenizer {folder / 'tokenizer'})" if (folder / "tokenizer").is_dir() else ""
        raise FileNotFoundError(f"--tokenizer={args.tokenizer}: not a tokenizer folder (no config.json){hint}")
    start = time.perf_counter()
    tok = VideoTokenizer.from_pretrained(folder, map_location="cuda" if torch.cuda.is_available() else "cpu")
    if args.lavfi and args.size % tok.cfg.spatial_factor:
        raise ValueError(f"--size={args.size}: must be a multiple of the tokenizer's spatial_factor {tok.cfg.spatial_factor}")
    if args.lavfi:
        held_out = LavfiDataset(frames=args.frames, size=args.size, length=args.clips, seed=1)
        rows = evaluate_dataset(tok, held_out)
    else:
        rows = evaluate_tokenizer(tok, args.clips, tuple(args.splits), args.frames)
    from vidtok.eval.table import format_table

    print(format_table(rows))
    if args.lavfi:
        print(f"({args.clips} held-out clips, {time.perf_counter() - start:.0f} s)")
    else:
        print(f"({args.clips} clips per split, {time.perf_counter() - start:.0f} s; "
              "clean and read_back of 'all splits' are the worst split's)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
