"""Where glitches come from: clean videos (every frame read on its own) per sampling setting and per split.

Rows, on the same prompts and seeds (vidgpt/evaluate.py's):
- the tokenizer alone: reconstructions of real clips, and of real clips with a share of their codes
  replaced at random (how a few wrong codes look once decoded);
- GPT samples decoded, for each setting asked for: generate's default, raster, guidance and temperature
  variants (`--sweep`), optionally at another length (`--frames`, e.g. 69 = 4x the trained 17).
Each row gives clean videos ± one standard error, clean frames (per-frame all-attributes), the
video-level all-attributes accuracy, and failed frames by reason; table.md and table.json go to `--out`,
with a plot of failing frames against frame index per row.

    python -m tools.clean_table --model vidgpt/pretrained/shapes --per-split 128 --sweep sampling guidance
"""

from __future__ import annotations

import argparse
import json
import math
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from matplotlib.figure import Figure

from vidgpt.evaluate import EVAL_SPLITS, evaluate_generator
from vidgpt.generator import VideoGenerator
from vidgpt.model.generation import WHOLE_FRAMES
from vidtok.data.convert import to_tensor, to_uint8
from vidtok.shapes.world import sample_clip, spread_indices
from vidtok.shapes.clean_frames import FAIL_REASONS, CleanTally, judge_frames
from vidtok.shapes.report import to_jsonable

SWEEPS: dict[str, list[tuple[str, dict[str, Any]]]] = {
    "sampling": [("default", {}), ("raster", {"schedule": "raster"}),
                 ("first frame w=1", {"first_window": None}), ("first frame raster", {"first_window": WHOLE_FRAMES}),
                 ("w=1 whole frames", {"frame_window": WHOLE_FRAMES}), ("w=1 full overlap", {"frame_window": None})],
    "guidance": [(f"cfg {s:g}", {"cfg_scale": s}) for s in (1.0, 1.5, 2.0, 3.0, 5.0)],
    # cfg_scale on the first latent frame, later_cfg_scale after it
    "guidance-later": [(f"cfg {a:g} then {b:g}", {"cfg_scale": a, "later_cfg_scale": b})
                       for a, b in ((2.0, 2.0), (1.5, 1.5), (2.0, 1.25), (2.0, 1.5), (2.0, 1.75), (2.5, 1.5))],
    "guidance-later-raster": [(f"raster cfg {a:g} then {b:g}",
                               {"schedule": "raster", "cfg_scale": a, "later_cfg_scale": b})
                              for a, b in ((2.0, 2.0), (1.5, 1.5), (2.0, 1.5))],
    "guidance-raster": [(f"raster cfg {s:g}", {"schedule": "raster", "cfg_scale": s}) for s in (1.0, 2.0, 3.0)],
    "temperature": [(f"temperature {t:g}", {"temperature": t}) for t in (0.1, 0.25, 0.4, 0.7, 1.0)],
    "top-k": [(f"top-k {k}", {"top_k": k}) for k in (5, 20, 100)],
    "low-temperature": [("temperature 0.25", {"temperature": 0.25}),
                        ("raster temperature 0.25", {"schedule": "raster", "temperature": 0.25})],
    "defaults": [(f"cfg {c:g} temperature {t:g}", {"cfg_scale": c, "temperature": t})
                 for c in (1.5, 2.0) for t in (0.25, 0.4)],
}


def tokenizer_rows(generator: VideoGenerator, per_split: int, noise: Sequence[float], seed: int = 0) -> list[dict]:
    """Clean reconstructions of real test clips, as they are and with a share of their codes replaced."""
    tok = generator.tokenizer
    ident = generator.gpt.config.tokenizer or {}
    frames, size = int(ident.get("frames", 17)), int(ident.get("height", 64))  # the clips the model was trained on
    items = [sample_clip(split, i, frames, size)[:2] + (split,)
             for split in EVAL_SPLITS for i in spread_indices(split, per_split)]
    x = torch.stack([to_tensor(v) for v, _, _ in items])
    with torch.no_grad():
        codes = torch.cat([tok.encode(x[s:s + 64]) for s in range(0, len(x), 64)])
    rows = []
    for share in (0.0, *noise):
        g = torch.Generator().manual_seed(seed)
        swap = torch.rand(codes.shape, generator=g) < share
        noisy = torch.where(swap, torch.randint(0, tok.codebook_size, codes.shape, generator=g), codes)
        with torch.no_grad():
            recon = to_uint8(torch.cat([tok.decode(noisy[s:s + 64], frames=x.shape[2]) for s in range(0, len(x), 64)]))
        tallies = {split: CleanTally() for split in (*EVAL_SPLITS, "overall")}
        for video, (_, attrs, split) in zip(recon, items):
            failures = judge_frames(video, attrs)
            tallies[split].add(failures)
            tallies["overall"].add(failures)
        name = "tokenizer: real codes" if share == 0 else f"tokenizer: {100 * share:g}% codes random"
        rows.append(_row(name, {s: t.summary() for s, t in tallies.items()}, None))
    return rows


def _row(name: str, clean: dict[str, dict], video_level: dict[str, float] | None, speed: float | None = None) -> dict:
    overall = clean["overall"]
    return {"setting": name, "videos": overall["videos"],
            "clean": {s: c["clean_videos"] for s, c in clean.items()},
            "clean_se": overall["clean_videos_se"], "clean_frames": overall["clean_frames"],
            "video_level_all": video_level, "failed_by_reason": overall["failed_by_reason"],
            "by_frame": overall["by_frame"], "videos_per_s": speed}


def generation_rows(generator: VideoGenerator, settings: Sequence[tuple[str, dict]], per_split: int,
                    frames: int | None, batch_size: int, seed: int) -> list[dict]:
    rows = []
    for name, overrides in settings:
        options = {**overrides, "frames": frames}  # the rest: the model's own (its generation.json)
        t0 = time.perf_counter()
        result = next(iter(evaluate_generator(generator, EVAL_SPLITS, per_split, [options], batch_size, seed,
                                              progress=False).values()))
        clean = {**{s: g["clean"] for s, g in result["splits"].items()}, "overall": result["overall"]["clean"]}
        video_level = {**{s: g["accuracy"]["all"] for s, g in result["splits"].items()},
                       "overall": result["overall"]["accuracy"]["all"]}
        rows.append(_row(name, clean, video_level, result["speed"]["videos_per_s"]))
        print(f"{name}: clean {_pct(rows[-1]['clean']['overall'])} ± {_pct(rows[-1]['clean_se'])} "
              f"({time.perf_counter() - t0:.0f} s)", flush=True)
    return rows


def _pct(x: float | None) -> str:
    return "–" if x is None else f"{100 * x:.1f}%"


def markdown(rows: Sequence[dict], title: str) -> str:
    splits = [*EVAL_SPLITS, "overall"]
    head = ["setting", "videos", *(f"clean {s}" for s in splits), "± se", "clean frames", "video-level all",
            *FAIL_REASONS]
    lines = [f"# {title}", "", "| " + " | ".join(head) + " |", "|" + "|".join("---" for _ in head) + "|"]
    for r in rows:
        cells = [r["setting"], str(r["videos"]), *(_pct(r["clean"].get(s)) for s in splits), _pct(r["clean_se"]),
                 _pct(r["clean_frames"]), _pct((r["video_level_all"] or {}).get("overall")),
                 *(str(r["failed_by_reason"][k]) for k in FAIL_REASONS)]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def plot(rows: Sequence[dict], path: Path) -> Path:
    fig = Figure(figsize=(8, 4.5))
    ax = fig.subplots()
    for i, r in enumerate(rows):
        frames, clean = r["by_frame"]["frames"], r["by_frame"]["clean"]
        ax.plot(range(len(frames)), [(n - c) / n if n else math.nan for n, c in zip(frames, clean)], label=r["setting"],
                linestyle=("-", "--", ":")[i // 10 % 3])  # the colour cycle has 10 entries
    ax.set_xlabel("frame index")
    ax.set_ylabel("share of videos whose frame is not clean")
    ax.set_ylim(bottom=0)
    ax.legend(fontsize=7)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100)
    return path

RENAMED_SWEEPS = {"decoding": "sampling"}  # old name -> new: told, not taken


def _sweep(name: str) -> str:
    if name in RENAMED_SWEEPS:
        raise argparse.ArgumentTypeError(f"--sweep {name} is now --sweep {RENAMED_SWEEPS[name]}")
    return name


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="vidgpt/pretrained/shapes", help="model folder (gpt/ + tokenizer/)")
    parser.add_argument("--per-split", type=int, default=128, help="videos per evaluation split and setting")
    parser.add_argument("--sweep", nargs="*", default=["sampling"], choices=sorted(SWEEPS), type=_sweep,
                        help="groups of settings to generate with (none: the tokenizer rows only)")
    parser.add_argument("--code-noise", type=float, nargs="*", default=[0.01, 0.03],
                        help="shares of codes replaced at random for the tokenizer rows")
    parser.add_argument("--no-tokenizer", action="store_true", help="leave out the tokenizer rows")
    parser.add_argument("--frames", type=int, default=None, help="video length (default: the trained length)")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's)")
    parser.add_argument("--out", default="outputs/clean", help="folder for table.md, table.json, failures.png")
    args = parser.parse_args(argv)
    if args.per_split < 1:
        parser.error(f"--per-split must be >= 1, got {args.per_split}")
    if args.threads:
        torch.set_num_threads(args.threads)
    try:
        generator = VideoGenerator.from_pretrained(args.model)
    except (FileNotFoundError, ValueError) as e:
        parser.error(str(e))
    rows = [] if args.no_tokenizer else tokenizer_rows(generator, args.per_split, args.code_noise, args.seed)
    settings = [s for name in args.sweep for s in SWEEPS[name]]
    settings = list({name: o for name, o in settings}.items())  # a setting named twice runs once
    rows += generation_rows(generator, settings, args.per_split, args.frames, args.batch_size, args.seed)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    title = f"Clean videos: {args.model}, {args.per_split} prompts per split" + (
        f", {args.frames} frames" if args.frames else "")
    (out / "table.md").write_text(markdown(rows, title), encoding="utf-8")
    (out / "table.json").write_text(json.dumps(to_jsonable({"model": args.model, "per_split": args.per_split,
                                                            "frames": args.frames, "rows": rows}), indent=1) + "\n")
    plot(rows, out / "failures.png")
    print(markdown(rows, title))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
