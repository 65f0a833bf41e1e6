"""Tokenizers on natural footage they never saw, beside plain rescaling: PSNR (± standard error over
clips), SSIM, codebook usage, and encode/decode frames/s (playback is 8 fps), at 64x64 and 128x128.

Held-out clips: camera moves over the test pictures of `StillsDataset` (pictures training never sees),
and ffmpeg sources the natural recipe leaves out of training. Baselines: each frame shrunk 8x or 4x
(antialiased bicubic) and enlarged back, and each clip painted its mean colour.

Usage: `python -m tools.bench_natural [--tokenizer natural] [--clips 128]` (also a `make bench` topic).
"""

from __future__ import annotations

import argparse
from pathlib import Path

import torch

from vidtok.data.lavfi import LavfiDataset, available_sources
from vidtok.data.stills import StillsDataset
from vidtok.eval.baselines import mean_colour, rescale
from vidtok.eval.codecs import score_codecs, tokenizer_codec
from vidtok.eval.tokenizer_metrics import CodebookUsage
from vidtok.model import VideoTokenizer
from vidtok.model.pretrained import resolve, shipped_names

from tools.bench_tokenizer import _time

SHAPES_TOKENIZER = Path(__file__).resolve().parents[1] / "vidgpt" / "pretrained" / "shapes" / "tokenizer"
UNSEEN_SOURCES = ("life", "cellauto", "zoneplate")  # not in conf/data/natural.yaml's training mixture
FRAMES = 17


def _clip_sets(size: int, clips: int) -> dict[str, torch.Tensor]:
    stills = StillsDataset(split="test", frames=FRAMES, size=size, length=clips, seed=1)
    sets = {"held-out pictures": torch.stack([stills[i]["video"] for i in range(clips)])}
    sources = [s for s in UNSEEN_SOURCES if s in available_sources()]
    if sources:
        lavfi = LavfiDataset(sources=sources, frames=FRAMES, size=size, length=max(1, clips // 4), seed=1)
        sets["unseen ffmpeg sources"] = torch.stack([lavfi[i]["video"] for i in range(len(lavfi))])
    return sets


def _speed(tokenizer: VideoTokenizer, size: int) -> tuple[float, float]:
    """Encode and decode frames/s of 17-frame clips, batch 1 (one user's video)."""
    x = torch.rand(1, 3, FRAMES, size, size) * 2 - 1
    with torch.no_grad():
        codes = tokenizer.encode(x)
        enc = _time(lambda: tokenizer.encode(x), repeats=2)
        dec = _time(lambda: tokenizer.decode(codes, frames=FRAMES), repeats=2)
    return FRAMES / enc, FRAMES / dec


def run(tokenizers: dict[str, str | Path] | None = None, clips: int = 64, sizes: tuple[int, ...] = (64, 128)) -> list[dict]:
    if tokenizers is None:
        tokenizers = {name: name for name in shipped_names()}
        tokenizers["shapes"] = SHAPES_TOKENIZER
    loaded = {name: VideoTokenizer.from_pretrained(resolve(path)).eval() for name, path in tokenizers.items()}
    rows = []
    for size in sizes:
        speeds = {name: _speed(tok, size) for name, tok in loaded.items()}
        for group, x in _clip_sets(size, clips).items():
            usage = {name: CodebookUsage(tok.codebook_size) for name, tok in loaded.items()}
            codecs = {f"tokenizer {name}": tokenizer_codec(tok, usage[name]) for name, tok in loaded.items()}
            codecs |= {"bicubic 8x down-up": lambda v: rescale(v, 8), "bicubic 4x down-up": lambda v: rescale(v, 4),
                       "mean colour": mean_colour}
            scores = score_codecs(x, codecs)
            floor = scores["bicubic 8x down-up"]["psnr"]
            for codec, s in scores.items():
                name = codec.removeprefix("tokenizer ")
                row = {"size": f"{size}x{size}", "clips": f"{group} ({s['clips']})", "codec": codec,
                       "psnr": round(s["psnr"], 2), "± se": round(s["psnr_se"], 2),
                       "vs bicubic 8x": round(s["psnr"] - floor, 2), "ssim": round(s["ssim"], 3)}
                if name in loaded:
                    row["codebook usage"] = round(usage[name].compute()["used_fraction"], 3)
                    row["encode fps"], row["decode fps"] = (round(v, 1) for v in speeds[name])
                rows.append(row)
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tokenizer", action="append", metavar="NAME_OR_DIR",
                        help="a tokenizer folder or shipped name (repeat for several; default: the shipped ones and Shapes')")
    parser.add_argument("--clips", type=int, default=128, help="held-out picture clips per size (ffmpeg: a quarter)")
    parser.add_argument("--sizes", type=int, nargs="+", default=[64, 128])
    args = parser.parse_args(argv)
    if args.clips < 2:
        parser.error(f"--clips={args.clips}: needs at least 2 (a standard error needs two clips)")
    tokenizers = None
    if args.tokenizer:
        try:
            tokenizers = {str(t): resolve(t) for t in args.tokenizer}
        except FileNotFoundError as e:
            parser.error(str(e))
    from vidtok.eval.table import format_table

    torch.set_grad_enabled(False)
    print(format_table(run(tokenizers, args.clips, tuple(args.sizes))))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
