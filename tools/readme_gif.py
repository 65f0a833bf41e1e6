"""The README's GIF: a grid of videos the shipped model generates, one per prompt, 2x upscaled.

    python -m tools.readme_gif --out docs/samples.gif

Prompts are listed row by row in `docs/samples.md` next to the GIF (the model's own words, no labels
drawn on the pixels). Sampling: the model's own settings (its `gpt/generation.json`), as `vidgpt-generate` uses them.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from vidgpt.cli.generate import SHIPPED_MODEL
from vidgpt.generator import VideoGenerator
from vidtok.io import write_video

PROMPTS = (
    "a large blue triangle moves right slowly",
    "a small red circle moves up quickly",
    "a large yellow square moves left slowly",
    "a small green triangle moves down quickly",
    "a large magenta circle moves right quickly",
    "a small cyan square moves up slowly",
    "a large red square moves down slowly",
    "a small blue circle moves left quickly",
)


def grid(videos: np.ndarray, columns: int, scale: int = 2, gap: int = 2) -> np.ndarray:
    """(N, T, H, W, 3) -> (T, rows*(H*scale+gap)-gap, ...) tiles on a grey background."""
    n, t, h, w, _ = videos.shape
    rows = -(-n // columns)
    hs, ws = h * scale, w * scale
    out = np.full((t, rows * (hs + gap) - gap, columns * (ws + gap) - gap, 3), 64, np.uint8)
    for i, v in enumerate(videos):
        r, c = divmod(i, columns)
        big = v.repeat(scale, axis=1).repeat(scale, axis=2)
        out[:, r * (hs + gap): r * (hs + gap) + hs, c * (ws + gap): c * (ws + gap) + ws] = big
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default=str(SHIPPED_MODEL))
    parser.add_argument("--out", default="docs/samples.gif")
    parser.add_argument("--columns", type=int, default=4)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    gen = VideoGenerator.from_pretrained(args.model)
    out = gen.generate(list(PROMPTS), seed=args.seed)  # the model's own settings
    path = write_video(args.out, grid(np.asarray(out.videos), args.columns))
    rows = [PROMPTS[i:i + args.columns] for i in range(0, len(PROMPTS), args.columns)]
    table = ["| " + " | ".join(f"column {c + 1}" for c in range(args.columns)) + " |",
             "|" + "---|" * args.columns] + ["| " + " | ".join(r) + " |" for r in rows]
    Path(args.out).with_suffix(".md").write_text(
        f"Prompts of `{Path(args.out).name}` (seed {args.seed}), row by row:\n\n" + "\n".join(table) + "\n")
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
