"""Copy a trained natural-footage tokenizer into the package (`vidtok/pretrained/<name>/`) with a model
card written from its own evaluation, so that `VideoTokenizer.from_pretrained("natural")` and
`vidgpt-train tokenizer_dir=natural` work on a fresh install.

    python -m tools.ship_tokenizer --run runs/tokenizer-natural      # what `make natural-tokenizer` ends with

The tokenizer is scored on held-out clips (`tools.bench_natural`) beside the Shapes tokenizer and plain
rescaling. One that does not beat painting each clip its mean colour is refused (an untrained or broken
model never ships), as is one over the size budget.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
from collections import Counter
from pathlib import Path

from tools.bench_natural import SHAPES_TOKENIZER, UNSEEN_SOURCES, run as bench
from vidtok.data.packaged_images import SOURCES, is_test_image, packaged_images
from vidtok.eval.table import format_table
from vidtok.io.atomic import atomic_folder
from vidtok.model import VideoTokenizer
from vidtok.model.pretrained import PRETRAINED_DIR
from vidtok.train.checkpoint import load_checkpoint

MAX_MB = 25.0
KEEP = ("config.json", "model.safetensors", "train_config.json")
TEST_SHARE = 0.15  # StillsDataset's default: the pictures held out for the figures below


def _training(run: Path) -> dict:
    """Steps and minutes trained, from the run's last checkpoint (empty when there is none)."""
    ckpts = sorted((run / "checkpoints").rglob("*.ckpt"), key=lambda p: p.stat().st_mtime)
    if not ckpts:
        return {}
    ckpt = load_checkpoint(ckpts[-1])
    return {"steps": int(ckpt.get("gen_steps", ckpt.get("global_step", 0))), "minutes": float(ckpt.get("elapsed_s", 0)) / 60}


def _data_table() -> str:
    images = packaged_images()
    counts = Counter((im.source, is_test_image(im.key, TEST_SHARE)) for im in images)
    lines = ["| source | licence | training pictures | held-out pictures | install |", "|---|---|---|---|---|"]
    for s in SOURCES:
        lines.append(f"| {s.name} | {s.licence} | {counts[(s.name, False)]} | {counts[(s.name, True)]} | `{s.install}` |")
    held = ", ".join(f"`{im.key}`" for im in images if is_test_image(im.key, TEST_SHARE))
    return "\n".join(lines) + f"\n\nHeld-out pictures: {held}."


def _standing(name: str, rows: list[dict]) -> str:
    """Where the tokenizer stands against 8x bicubic rescaling on the held-out pictures, one line per size."""
    lines = []
    for size in dict.fromkeys(r["size"] for r in rows):
        group = [r for r in rows if r["size"] == size and r["clips"].startswith("held-out pictures")]
        ours = next(r for r in group if r["codec"] == f"tokenizer {name}")
        b8 = next(r for r in group if r["codec"] == "bicubic 8x down-up")
        lines.append(f"- {size}: {ours['psnr']} dB, {ours['psnr'] - b8['psnr']:+.1f} dB against 8x bicubic down-up "
                     f"scaling ({b8['psnr']} dB), which keeps about 6x the bits; SSIM {ours['ssim']} against "
                     f"{b8['ssim']}; {ours['codebook usage']:.0%} of the codes used on these clips.")
    return "Held-out pictures, in short:\n" + "\n".join(lines)


def card(name: str, tokenizer: VideoTokenizer, rows: list[dict], training: dict, clips: int) -> str:
    cfg = tokenizer.cfg
    params = sum(p.numel() for p in tokenizer.parameters())
    trained = (f"{training['steps']} steps in {training['minutes']:.0f} minutes" if training else "steps not recorded")
    return f"""# Tokenizer `{name}`: natural footage

A causal video tokenizer for camera footage: {cfg.temporal_factor}x temporal and {cfg.spatial_factor}x{cfg.spatial_factor} spatial
compression (17x64x64 -> 5x8x8 codes; the first frame coded alone, so a picture is a one-frame video), FSQ with
{cfg.codebook_size} codes (levels {cfg.fsq_levels}), {params / 1e6:.1f}M parameters. Convolutional throughout: one
model codes 64x64, 128x128 and larger frames.

    from vidtok import VideoTokenizer
    tok = VideoTokenizer.from_pretrained("{name}")
    codes = tok.encode(video)          # float (B, 3, T, H, W) in [-1, 1], H and W multiples of 8
    again = tok.decode(codes, frames=video.shape[2])

Stage 2 on your own clips with it: `vidgpt-train tokenizer_dir={name} data=folder data.root=/path/to/videos`.

## Data (no download)

A virtual camera pans, zooms, rotates and shakes over photographs and paintings that ship in packages, with a
second picture cut out as a parallax layer and solid objects crossing the view (`vidtok.data.stills`), mixed
9:1 with ffmpeg's test sources {', '.join(s for s in ('mandelbrot', 'gradients', 'perlin', 'testsrc2', 'sierpinski'))}
(`conf/data/natural.yaml`). Pictures are split by a hash of their name; variants of one picture (a stereo pair,
a wallpaper's dark and light versions) share a side.

{_data_table()}

## Recipe

`make natural-tokenizer`: `vidtok-train experiment=tokenizer_natural` (32x32 crops of 9-frame clips, batch 16,
MSE, AdamW at 2e-3 with a cosine over the wall-clock budget; {trained} on 2 CPU cores), then
`python -m tools.ship_tokenizer --run runs/tokenizer-natural`.

## Figures

Held-out clips (17 frames, seed 1): {clips} camera moves over the held-out pictures per size, and a quarter as many
clips of ffmpeg sources training never sees ({', '.join(UNSEEN_SOURCES)}: binary cell patterns and a zone plate, a
stress test where every codec fails). PSNR is the mean over clips (± its standard error); encode and decode
frames/s are for one 17-frame clip on this machine's CPU (playback is 8 fps).

{format_table(rows)}

{_standing(name, rows)}

For scale, not comparable head to head: VidTok's causal FSQ 4x8x8 tokenizers report 28.4-29.8 dB PSNR on
MCL-JCV at 256x256, and Cosmos-Tokenizer-DV publishes its own figures; both are trained for days on GPUs on
millions of real videos with networks 10-100x this one, and score full-resolution footage, where each 8x8
patch holds far less detail than in a 64x64 frame.
"""


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--run", required=True, type=Path, help="a vidtok-train run folder (holds tokenizer/)")
    parser.add_argument("--name", default="natural")
    parser.add_argument("--clips", type=int, default=128)
    args = parser.parse_args(argv)
    source = args.run / "tokenizer"
    if not (source / "config.json").is_file():
        print(f"--run={args.run}: no tokenizer/config.json (has the run finished?)", file=sys.stderr)
        return 2
    size_mb = (source / "model.safetensors").stat().st_size / 2**20
    if size_mb > MAX_MB:
        print(f"{source / 'model.safetensors'}: {size_mb:.1f} MB, over the {MAX_MB:.0f} MB budget", file=sys.stderr)
        return 2
    tokenizer = VideoTokenizer.from_pretrained(source)
    rows = bench({args.name: source, "shapes": SHAPES_TOKENIZER}, clips=args.clips)
    for size in ("64x64", "128x128"):
        ours = next(r for r in rows if r["size"] == size and r["codec"] == f"tokenizer {args.name}")
        mean = next(r for r in rows if r["size"] == size and r["codec"] == "mean colour" and r["clips"] == ours["clips"])
        if ours["psnr"] <= mean["psnr"]:
            print(f"{source}: {ours['psnr']} dB at {size}, no better than each clip's mean colour ({mean['psnr']} dB): "
                  "untrained or broken, not shipped", file=sys.stderr)
            return 2
    print(format_table(rows))
    dest = PRETRAINED_DIR / args.name
    with atomic_folder(dest, marker="config.json") as tmp:
        for name in KEEP:
            if (source / name).is_file():
                shutil.copy2(source / name, tmp / name)
        (tmp / "MODEL_CARD.md").write_text(card(args.name, tokenizer, rows, _training(args.run), args.clips))
        (tmp / "report.json").write_text(json.dumps({"clips": args.clips, "rows": rows}, indent=1) + "\n")
    print(f"shipped {dest} ({size_mb:.1f} MB)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
