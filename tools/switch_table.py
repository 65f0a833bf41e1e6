"""Prompt changes mid-video: does the video follow the new prompt, and how soon?

For each test split, prompt pairs (A, B) of that split's captions, and one change at pixel frame `--at`
(a latent-frame start, 9 by default). Three ways to make the same video, on the same seeds:
- `plain A`: prompt A throughout; its frames before the change are the reference for "before";
- `change`: `generate(A, changes={at: B})`: the cache is prefilled again under B over the codes so far
  (with the GPT's change adapter from there on, where it has one);
- `change, no adapter` (a GPT with a change adapter only): the same without it, what the base GPT does;
- `restart`: the plain A video's frames before the change, given to a fresh generation with prompt B
  (continuation), i.e. what a user could do without prompt changes;
- `tokenizer alone`: the real switch clip of the same pair (rendered as shapes.md says) encoded and decoded,
  the most any GPT on this tokenizer can reach.
A video is judged as two clips (shapes.md, "Prompt changes mid-video"): frames before the change against
A, frames from it on against B, every frame on its own. "follows B" = every frame from the change on is
clean; "frames to follow B" = how many frames after the change the first frame is from which all are
clean (0: at once), over the videos that get there.

    python -m tools.switch_table --model vidgpt/pretrained/shapes --per-split 64
"""

from __future__ import annotations

import argparse
import json
import math
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import torch

from vidgpt.evaluate import EVAL_SPLITS, split_prompts
from vidgpt.generator import VideoGenerator
from vidtok.data.convert import to_tensor
from vidtok.eval.reconstruction import reconstruct
from vidtok.shapes.clean_frames import judge_frames
from vidtok.shapes.world import ShapesAttributes, render_switch_clip


def pairs(split: str, count: int, seed: int = 0) -> list[tuple[str, str]]:
    """`count` (A, B) caption pairs of `split`, A spread over its combinations, B another caption of it."""
    first = split_prompts(split, count)
    pool = sorted(set(split_prompts(split, max(count, 64))))
    rng = np.random.default_rng(seed)
    out = []
    for a in first:
        b = a
        while b == a:
            b = pool[int(rng.integers(len(pool)))]
        out.append((a, b))
    return out


def follow_delay(clean_after: np.ndarray) -> int | None:
    """Frames after the change until every later frame is clean (0: from the change on); None: never."""
    bad = np.flatnonzero(~clean_after)
    delay = 0 if bad.size == 0 else int(bad[-1]) + 1
    return delay if delay < len(clean_after) else None


def reconstructed_switch_clips(generator: VideoGenerator, a: Sequence[str], b: Sequence[str], at: int, frames: int,
                               side: int, seed: int) -> np.ndarray:
    """The real switch clips of the pairs (start centres drawn from `seed`) through the generator's tokenizer."""
    rng = np.random.default_rng(seed)
    clips = np.stack([render_switch_clip(ShapesAttributes.from_caption(p), ShapesAttributes.from_caption(q), at,
                                         tuple(int(v) for v in rng.integers(0, side, 2)), frames, side)
                      for p, q in zip(a, b)])
    cut = int(generator.tokenizer.latent_shape(at, side, side)[0])  # the latent frame that starts at `at`
    return np.stack(reconstruct(generator.tokenizer, torch.stack([to_tensor(c) for c in clips]), cuts=(cut,))[1])


@contextmanager
def without_adapter(generator: VideoGenerator) -> Iterator[VideoGenerator]:
    """The generator with its GPT's change adapter set aside (generation then uses the base throughout)."""
    adapter, generator.gpt.change_adapter = generator.gpt.change_adapter, None
    try:
        yield generator
    finally:
        generator.gpt.change_adapter = adapter


def switch_rows(generator: VideoGenerator, per_split: int, at: int, frames: int | None, batch_size: int,
                seed: int) -> list[dict]:
    adapted = generator.gpt.change_adapter is not None
    methods = ("plain A", "change", *(("change, no adapter",) if adapted else ()), "restart", "tokenizer alone")
    tally = {m: {"videos": 0, "before": 0, "after": 0, "delays": []} for m in methods}
    per_split_after = {m: {} for m in tally}
    for split in EVAL_SPLITS:
        split_pairs = pairs(split, per_split, seed)
        split_after = {m: 0 for m in tally}
        for start in range(0, len(split_pairs), batch_size):
            chunk = split_pairs[start:start + batch_size]
            a, b = [p for p, _ in chunk], [q for _, q in chunk]
            s = seed + start
            plain = generator.generate(a, seed=s, frames=frames).videos
            made = {"plain A": plain, "change": generator.generate(a, seed=s, frames=frames, changes={at: b}).videos}
            if adapted:
                with without_adapter(generator):
                    made["change, no adapter"] = generator.generate(a, seed=s, frames=frames, changes={at: b}).videos
            made["restart"] = generator.generate(b, seed=s, frames=frames, video=plain[:, :at]).videos
            made["tokenizer alone"] = reconstructed_switch_clips(generator, a, b, at, *plain.shape[1:3], s)
            for method, videos in made.items():
                for video, caption_a, caption_b in zip(videos, a, b):
                    before = judge_frames(video[:at], caption_a)["clean"]
                    after = judge_frames(video[at:], caption_b)["clean"]
                    t = tally[method]
                    t["videos"] += 1
                    t["before"] += bool(before.all())
                    t["after"] += bool(after.all())
                    split_after[method] += bool(after.all())
                    t["delays"].append(follow_delay(after))
        for m in tally:
            per_split_after[m][split] = split_after[m] / len(split_pairs)
    rows = []
    for method, t in tally.items():
        n = t["videos"]
        followed = [d for d in t["delays"] if d is not None]
        p = t["after"] / n
        rows.append({"method": method, "videos": n, "clean_before": t["before"] / n,
                     "follows_b": p, "follows_b_se": math.sqrt(p * (1 - p) / n),
                     "follows_b_by_split": per_split_after[method],
                     "follows_b_within": {k: sum(d <= k for d in followed) / n for k in (0, 1, 2, 4)},
                     "mean_frames_to_follow": float(np.mean(followed)) if followed else None})
    return rows


def _pct(x: float | None) -> str:
    return "–" if x is None else f"{100 * x:.1f}%"


def markdown(rows: Sequence[dict], title: str, at: int) -> str:
    head = ["method", "videos", f"clean before frame {at} (A)", f"clean from frame {at} (B) ± se",
            *(f"B: {s}" for s in EVAL_SPLITS), "B within 0 / 1 / 2 / 4 frames", "mean frames to follow B"]
    lines = [f"# {title}", "", "| " + " | ".join(head) + " |", "|" + "|".join("---" for _ in head) + "|"]
    for r in rows:
        if r["method"] == "plain A":  # its frames after the change follow A, not B: only "before" means something
            after = ["–"] * (2 + len(EVAL_SPLITS))
        else:
            w = r["follows_b_within"]
            after = [f"{_pct(r['follows_b'])} ± {_pct(r['follows_b_se'])}",
                     *(_pct(r["follows_b_by_split"][s]) for s in EVAL_SPLITS),
                     " / ".join(_pct(w[k]) for k in (0, 1, 2, 4))]
        delay = r["mean_frames_to_follow"]
        lines.append("| " + " | ".join([r["method"], str(r["videos"]), _pct(r["clean_before"]), *after,
                                        "–" if delay is None or r["method"] == "plain A" else f"{delay:.2f}"]) + " |")
    return "\n".join(lines) + "\n"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="vidgpt/pretrained/shapes", help="model folder (gpt/ + tokenizer/)")
    parser.add_argument("--per-split", type=int, default=64, help="prompt pairs per test split")
    parser.add_argument("--at", type=int, default=9, help="pixel frame of the change (a latent-frame start)")
    parser.add_argument("--frames", type=int, default=None, help="video length (default: the trained length)")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's)")
    parser.add_argument("--out", default="outputs/switch", help="folder for table.md and table.json")
    args = parser.parse_args(argv)
    if args.per_split < 1:
        parser.error(f"--per-split must be >= 1, got {args.per_split}")
    if args.threads:
        torch.set_num_threads(args.threads)
    try:
        generator = VideoGenerator.from_pretrained(args.model)
        generator.generate("a small red circle moves up quickly", frames=args.frames, changes={args.at: "x"},
                           decode=False)  # a bad --at or --frames fails here, in a second
    except (FileNotFoundError, ValueError) as e:
        parser.error(str(e))
    t0 = time.perf_counter()
    rows = switch_rows(generator, args.per_split, args.at, args.frames, args.batch_size, args.seed)
    title = f"Prompt changes at frame {args.at}: {args.model}, {args.per_split} pairs per split"
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "table.md").write_text(markdown(rows, title, args.at), encoding="utf-8")
    (out / "table.json").write_text(json.dumps({"model": args.model, "at": args.at, "per_split": args.per_split,
                                                "rows": rows}, indent=1) + "\n")
    print(markdown(rows, title, args.at))
    print(f"{time.perf_counter() - t0:.0f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
