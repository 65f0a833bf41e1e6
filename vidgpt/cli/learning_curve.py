"""Prompt following against training time: the learning curve of a stage-2 run.

Reads the snapshots a run keeps (`snapshots=true`, one per periodic export: `<run>/snapshots/step<N>/`
with its `snapshot.json`), plus the final `<run>/gpt/`, and scores each with the project's evaluator
(vidgpt/evaluate.py: raster, plain sampling unless `--cfg-scale` / `--top-k` say otherwise,
the same prompts and seeds for every snapshot). Writes
learning_curve.md, learning_curve.json and learning_curve.png into `--out` (default `<run>/learning_curve`).

    vidgpt-learning-curve --run runs/gpt-shapes --clips 48
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import torch

from vidgpt.cli.app import CommandParser, argparse_app
from vidgpt.cli.options import Choice, Items, Number, Text
from vidgpt.evaluate import EVAL_SPLITS, evaluate_generator
from vidgpt.generator import MODEL_GPT, MODEL_TOKENIZER, VideoGenerator
from vidgpt.train.export import SNAPSHOT_FILE
from vidgpt.train.fit import SNAPSHOT_DIR
from vidgpt.samples import check_writable
from vidtok.io.atomic import atomic_file
from vidtok.model import VideoTokenizer
from vidtok.shapes.world import SPLITS

from vidtok.eval.table import format_table


def snapshots(run: Path) -> list[tuple[Path, dict]]:
    """(gpt folder, {"step", "train_minutes"}) of every snapshot of `run`, oldest first."""
    found = []
    for folder in sorted((run / SNAPSHOT_DIR).glob("step*")):
        meta = folder / SNAPSHOT_FILE
        if meta.is_file():
            found.append((folder, json.loads(meta.read_text())))
    return found


def learning_curve(run: Path, clips: int, splits: tuple[str, ...] = EVAL_SPLITS, seed: int = 0,
                   max_points: int | None = None, cfg_scale: float = 1.0, top_k: int | None = None) -> list[dict]:
    """One row per snapshot: step, training minutes, all-attributes accuracy per split."""
    if not (run / MODEL_TOKENIZER).is_dir():
        raise FileNotFoundError(f"{run} has no {MODEL_TOKENIZER}/ folder: not a stage-2 run folder")
    points = snapshots(run)
    if not points:
        raise FileNotFoundError(f"{run / SNAPSHOT_DIR} holds no snapshots (train with snapshots=true)")
    if max_points is not None and max_points < 1:
        raise ValueError(f"max_points={max_points}: must be >= 1 (or None: every snapshot)")
    if max_points and len(points) > max_points:  # keep the last, spread the rest evenly
        keep = ({round(i * (len(points) - 1) / (max_points - 1)) for i in range(max_points)} if max_points > 1
                else {len(points) - 1})
        points = [p for i, p in enumerate(points) if i in keep]
    tokenizer = VideoTokenizer.from_pretrained(run / MODEL_TOKENIZER).eval()
    rows = []
    for folder, meta in points:
        generator = VideoGenerator.from_pretrained(folder, tokenizer=tokenizer)
        options = ({"schedule": "raster", "cfg_scale": cfg_scale, "top_k": top_k},)
        result = evaluate_generator(generator, splits, clips, options, batch_size=16, seed=seed, progress=False)["raster"]
        row = {"step": meta["step"], "minutes": meta.get("train_minutes")}
        for split in splits:
            row[split] = result["splits"][split]["accuracy"]["all"]
        rows.append(row)
        print(format_table([row]).splitlines()[-1], flush=True)
    return rows


def plot(rows: list[dict], splits: tuple[str, ...], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 4))
    x = [r["minutes"] if r["minutes"] is not None else r["step"] for r in rows]
    for split in splits:
        ax.plot(x, [100 * r[split] for r in rows], marker="o", label=split)
    ax.set_xlabel("training minutes" if rows[0]["minutes"] is not None else "step")
    ax.set_ylabel("all-attributes accuracy (%)")
    ax.set_ylim(0, 100)
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


parser = CommandParser("vidgpt-learning-curve", __doc__)
parser.add_argument("--run", required=True, help="a stage-2 run folder trained with snapshots=true")
parser.add_argument("--clips", type=int, default=48, help="videos per split per snapshot")
parser.add_argument("--splits", nargs="*", default=list(EVAL_SPLITS))
parser.add_argument("--cfg-scale", type=float, default=1.0, help="classifier-free guidance (1 = off)")
parser.add_argument("--top-k", type=int, default=None, help="top-k sampling (default: off)")
parser.add_argument("--max-points", type=int, default=None, help="evaluate at most this many snapshots")
parser.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default)")
parser.add_argument("--out", default=None, help="the output folder (default: <run>/learning_curve)")

OPTIONS = {
    "--run": Text(),
    "--clips": Number(int, minimum=1),
    "--splits": Items(Choice(SPLITS)),
    "--cfg-scale": Number(float, minimum=0, note="1: no guidance"),
    "--top-k": Number(int, minimum=1, optional=True),
    "--max-points": Number(int, minimum=1, optional=True),
    "--threads": Number(int, minimum=0, note="0: torch's default"),
    "--out": Text(optional=True),
}


@argparse_app(parser, OPTIONS)
def main(args: argparse.Namespace) -> int:
    if args.threads:
        torch.set_num_threads(args.threads)
    run = Path(args.run)
    out = Path(args.out) if args.out else run / "learning_curve"
    if not (run / MODEL_TOKENIZER).is_dir():  # before the output folder is made inside it
        raise FileNotFoundError(f"--run={args.run}: no {MODEL_TOKENIZER}/ folder, not a stage-2 run folder")
    if not snapshots(run):
        raise FileNotFoundError(f"--run={args.run}: {run / SNAPSHOT_DIR} holds no snapshots (train with snapshots=true)")
    check_writable(out)  # now, not after minutes of evaluation
    start = time.perf_counter()
    rows = learning_curve(run, args.clips, tuple(args.splits), max_points=args.max_points,
                          cfg_scale=args.cfg_scale, top_k=args.top_k)
    table = format_table(rows)
    for name, text in (("learning_curve.md", table + "\n"), ("learning_curve.json", json.dumps(rows, indent=2))):
        with atomic_file(out / name) as tmp:  # never a half-written file under the real name
            tmp.write_text(text)
    with atomic_file(out / "learning_curve.png") as tmp:
        plot(rows, tuple(args.splits), tmp)
    print(table)
    print(f"({args.clips} videos per split per snapshot, {time.perf_counter() - start:.0f} s; written to {out})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
