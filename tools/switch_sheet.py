"""A contact sheet of real switch clips around the change, as rendered and through each given tokenizer.

Rows per clip: the rendered clip, then its reconstruction by each `--tokenizer`, frames `at-3 .. at+4`;
what the "tokenizer alone" row of tools.switch_table counts, for a person to look at.

    python -m tools.switch_sheet --tokenizer vidgpt/pretrained/shapes/tokenizer --tokenizer <fine-tuned> \
        --out docs/switch_decoder.png
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence

import numpy as np

from vidtok import VideoTokenizer
from vidtok.data.convert import to_tensor
from vidtok.eval.reconstruction import reconstruct
from vidtok.io.write import write_contact_sheet
from vidtok.shapes.world import ShapesAttributes, render_switch_clip

# a large object followed by a small one: where a decoder that blends the two shows it most
PAIRS = (("a large red circle moves down quickly", "a small cyan triangle moves left slowly", (30, 20)),
         ("a large magenta square moves up slowly", "a small yellow circle moves left quickly", (34, 40)))


def sheet_rows(tokenizers: Sequence[VideoTokenizer], at: int = 9, frames: int = 17) -> np.ndarray:
    rows = []
    for a, b, centre in PAIRS:
        clip = render_switch_clip(ShapesAttributes.from_caption(a), ShapesAttributes.from_caption(b), at, centre,
                                  frames)
        x = to_tensor(clip)[None]
        # the change as a cut: a tokenizer with a cut decoder draws the frames after it with that one
        rows += [clip, *(reconstruct(t, x, cuts=(int(t.latent_shape(at, *clip.shape[1:3])[0]),))[1][0]
                         for t in tokenizers)]
    return np.stack(rows)[:, max(at - 3, 0):at + 5]


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tokenizer", action="append", required=True, help="a tokenizer folder (repeat to compare)")
    parser.add_argument("--at", type=int, default=9, help="pixel frame of the change (a latent-frame start)")
    parser.add_argument("--out", default="outputs/switch_sheet.png", help="the .png to write")
    args = parser.parse_args(argv)
    try:
        tokenizers = [VideoTokenizer.from_pretrained(p).eval() for p in args.tokenizer]
        rows = sheet_rows(tokenizers, args.at)
    except (FileNotFoundError, ValueError) as e:
        parser.error(str(e))
    print(write_contact_sheet(args.out, np.kron(rows, np.ones((1, 1, 2, 2, 1), np.uint8)), gap=3))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
