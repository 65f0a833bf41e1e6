"""Copy a trained model folder into the package as the shipped Shapes model, with a model card.

`vidgpt-generate` uses the shipped model when no `model=` is given, so `make demo` works on a fresh
clone. The shipped folder is what stage 2 writes (`gpt/` + `tokenizer/`), checked to load as a pair
and to fit the size budget; `MODEL_CARD.md` records how it was made and, given `--eval`, its figures
(the JSON report `vidgpt-evaluate` writes) and, given `--switch`, how it follows prompt changes (the
table.json `tools.switch_table` writes).

    python -m tools.ship_model --run runs/gpt-change-adapter --eval runs/gpt-change-adapter/eval/report.json \
        --switch runs/gpt-change-adapter/switch/table.json
"""

from __future__ import annotations

import argparse
import json
import shutil
from pathlib import Path

from vidgpt.cli.generate import SHIPPED_MODEL
from vidgpt.generator import MODEL_GPT, MODEL_TOKENIZER, VideoGenerator
from vidgpt.model.change_adapter import ADAPTER_FILE
from vidgpt.model.generation import GENERATION_FILE
from vidgpt.model.gpt import OLD_PROMPT_FILES, PROMPT_FILE
from vidtok.io.atomic import atomic_folder
from vidtok.model.tokenizer import CUT_DECODER_NAME
from vidtok.shapes.report import sampling_of

MAX_MB = 40.0
# what a model folder needs at generation time; logs and training leftovers stay behind
KEEP = {
    MODEL_GPT: ("config.json", "generation_config.json", GENERATION_FILE, "model.safetensors", PROMPT_FILE,
                *OLD_PROMPT_FILES, "vidgpt.json", ADAPTER_FILE),  # a folder saved before the rename has the old name
    MODEL_TOKENIZER: ("config.json", "model.safetensors", CUT_DECODER_NAME, "train_config.json"),
}
HOW_MADE = """\
Made on 2 CPU cores, seed 0, by `make shipped-model` (about 13.5 hours):

    vidtok-train experiment=tokenizer_shapes                                  # stage 1: 60 minutes
    vidgpt-train experiment=gpt_shapes                                        # stage 2: 2 hours
    vidgpt-train experiment=gpt_diagonal_finetune init_from=runs/gpt-shapes hydra.run.dir=runs/gpt-shapes-diagonal  # 115 minutes
    vidtok-train experiment=tokenizer_decoder_denoise init_from=runs/gpt-shapes-diagonal/tokenizer   # decoder only: 65 minutes
    vidgpt-replace-decoder --model runs/gpt-shapes-diagonal --tokenizer runs/tokenizer-decoder-denoise/tokenizer
    vidgpt-train experiment=gpt_clean_finetune init_from=runs/gpt-shapes-diagonal hydra.run.dir=runs/gpt-clean-1   # 90 minutes
    vidgpt-train experiment=gpt_clean_finetune init_from=runs/gpt-clean-1 hydra.run.dir=runs/gpt-clean-2           # 90 minutes
    vidgpt-train experiment=gpt_clean_finetune init_from=runs/gpt-clean-2 hydra.run.dir=runs/gpt-clean-3 recipe.diagonal_mask_prob=0.75
    vidtok-train experiment=tokenizer_cut_decoder init_from=runs/gpt-clean-3/tokenizer   # the decoder after a prompt change: 55 minutes
    vidgpt-replace-decoder --model runs/gpt-clean-3 --tokenizer runs/tokenizer-cut-decoder/tokenizer --cut
    vidgpt-train experiment=gpt_change_adapter init_from=runs/gpt-clean-3   # the GPT after a prompt change: 75 minutes
    vidgpt-evaluate model=runs/gpt-change-adapter per_split=384 schedules=[model,raster] out_dir=runs/gpt-change-adapter/eval
    python -m tools.switch_table --model runs/gpt-change-adapter --per-split 128 --out runs/gpt-change-adapter/switch
    python -m tools.ship_model --run runs/gpt-change-adapter --eval runs/gpt-change-adapter/eval/report.json \
        --switch runs/gpt-change-adapter/switch/table.json

Wall-clock budgets make a rerun close to, not bit-equal with, this one.
"""


def folder_mb(path: Path) -> float:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file()) / 2**20


def _pct(x: float | None) -> str:
    return "n/a" if x is None else f"{100 * x:.1f}%"


SAMPLING_KEYS = ("cfg_scale", "later_cfg_scale", "temperature", "top_k", "top_p")  # a card's figures are of these


def figures(report: dict) -> str:
    """Markdown tables from a vidgpt-evaluate report, per split and sampling setting: first the frame-by-frame
    figures (clean videos ± one standard error, clean frames), then the video-level attribute accuracy."""
    clean = ["| sampling | split | videos | clean videos | clean frames | video-level all attributes |",
             "|---|---|---|---|---|---|"]
    lines = ["| sampling | split | videos | all attributes | shape | colour | size | direction | speed |",
             "|---|---|---|---|---|---|---|---|---|"]
    results = report.get("compare") or {report.get("label", "evaluated"): report}  # several sampling settings, or one
    sampling = {k: v for k, v in sampling_of(next(iter(results.values()))).items()
                if k in SAMPLING_KEYS and v is not None}
    for label, result in results.items():
        for split, group in result.get("splits", {}).items():
            c = group.get("clean") or {}
            if c:
                clean.append(f"| {label} | {split} | {group['videos']} | {_pct(c['clean_videos'])} ± "
                             f"{100 * c['clean_videos_se']:.1f} | {_pct(c['clean_frames'])} | "
                             f"{_pct(group['accuracy']['all'])} |")
            acc = group["accuracy"]
            cells = [f"{100 * acc[k]:.1f}%" if acc.get(k) is not None else "n/a"
                     for k in ("all", "shape", "colour", "size", "direction", "speed")]
            lines.append(f"| {label} | {split} | {group['videos']} | " + " | ".join(cells) + " |")
    head = [", ".join(f"{k} {v}" for k, v in sampling.items()) + " for every setting.", ""] if sampling else []
    body = ["Clean: every frame holds just the captioned object, of its colour and area, moving as captioned "
            '(shapes.md, "Frame by frame").', "", *clean, "", "Video level (attributes read from medians over frames):",
            "", *lines] if len(clean) > 2 else lines
    return "\n".join(head + body)


def check_report(report: dict, generation: dict) -> None:
    """The card's figures must be of the settings the model ships with: every setting of the report sampled
    with the model's guidance, temperature, top-k and top-p, and one of them with its own schedule."""
    results = report.get("compare") or {report.get("label", "evaluated"): report}
    for label, result in results.items():
        sampling = sampling_of(result)
        differ = {k: sampling.get(k) for k in SAMPLING_KEYS if sampling.get(k) != generation.get(k)}
        if differ:
            raise ValueError(f"the report's {label!r} was sampled with {differ}, the model's settings are "
                             f"{ {k: generation.get(k) for k in differ} }: evaluate the model with its own settings")
    diagonal = generation["schedule"] == "diagonal"
    own = ("schedule", "window", "frame_window", "first_window") if diagonal else ("schedule",)
    if not any(all(sampling_of(r).get(k) == generation.get(k) for k in own) for r in results.values()):
        raise ValueError(f"the report has no result sampled with the model's own {', '.join(own)} "
                         f"({', '.join(f'{k} {generation.get(k)}' for k in own)})")


def switch_figures(table: dict) -> str:
    """Markdown from a `tools.switch_table` table.json: per method, clean before and after the change."""
    at = table["at"]
    lines = [f"A change at frame {at}, {table['per_split']} prompt pairs per test split (`python -m tools.switch_table`); "
             "a video follows B when every frame from the change on is clean against B.", "",
             f"| method | videos | clean before frame {at} (A) | follows B from frame {at} ± se | within 4 frames | "
             "mean frames to follow |", "|---|---|---|---|---|---|"]
    for r in table["rows"]:
        after = ["–"] * 3 if r["method"] == "plain A" else [
            f"{_pct(r['follows_b'])} ± {100 * r['follows_b_se']:.1f}", _pct(r["follows_b_within"]["4"]),
            "–" if r["mean_frames_to_follow"] is None else f"{r['mean_frames_to_follow']:.2f}"]
        lines.append(f"| {r['method']} | {r['videos']} | {_pct(r['clean_before'])} | " + " | ".join(after) + " |")
    return "\n".join(lines)


def ship(run: Path, out: Path = SHIPPED_MODEL, report: dict | None = None, note: str = "",
         switch: dict | None = None) -> Path:
    for sub in KEEP:
        if not (run / sub).is_dir():
            raise FileNotFoundError(f"{run} has no {sub}/ folder: not a model folder (stage 2 writes gpt/ + tokenizer/)")
    generation = VideoGenerator.from_pretrained(run).generation  # the pair must load and match before it is shipped
    if report is not None:
        check_report(report, generation.to_dict())
    with atomic_folder(out, marker=MODEL_GPT, durable=True) as tmp:
        for sub, names in KEEP.items():
            (tmp / sub).mkdir(parents=True)
            for name in names:
                if (run / sub / name).is_file():
                    shutil.copy2(run / sub / name, tmp / sub / name)
        size = folder_mb(tmp)
        if size > MAX_MB:
            raise ValueError(f"{run}: the model is {size:.1f} MB, over the {MAX_MB:.0f} MB budget of a shipped model")
        cut = (", with the cut decoder that draws the latent frame after a prompt change"
               if (tmp / MODEL_TOKENIZER / CUT_DECODER_NAME).is_file() else "")
        adapter = (", with the change adapter it samples with from a prompt change on"
                   if (tmp / MODEL_GPT / ADAPTER_FILE).is_file() else "")
        card = ["# The shipped Shapes model", "", f"{size:.1f} MB: `gpt/` (the prompt-conditioned GPT{adapter}) and "
                f"`tokenizer/` (the stage-1 video tokenizer{cut}).", "", HOW_MADE]
        card += ["## Generation settings", "", f"`gpt/{GENERATION_FILE}`: what `vidgpt-generate`, `vidgpt-evaluate` and "
                 "`VideoGenerator.generate(prompt)` sample with when an option is not given:", "",
                 ", ".join(f"{k} {v}" for k, v in generation.to_dict().items()), ""]
        if note:
            card += [note, ""]
        if switch is not None:
            card += ["## Prompt changes", "", switch_figures(switch), ""]
        if report is not None:
            card += ["## Prompt following (the project's Shapes evaluator)", "", figures(report), ""]
        (tmp / "MODEL_CARD.md").write_text("\n".join(card))
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--run", required=True, help="a model folder (gpt/ + tokenizer/), e.g. runs/gpt-shapes")
    parser.add_argument("--eval", default=None, help="a vidgpt-evaluate JSON report of this model, for the card")
    parser.add_argument("--switch", default=None, help="a tools.switch_table table.json of this model, for the card")
    parser.add_argument("--note", default="", help="a paragraph for the model card")
    parser.add_argument("--out", default=str(SHIPPED_MODEL))
    args = parser.parse_args(argv)
    try:
        report = json.loads(Path(args.eval).read_text()) if args.eval else None
        switch = json.loads(Path(args.switch).read_text()) if args.switch else None
        if switch is not None and not (isinstance(switch, dict) and {"at", "per_split", "rows"} <= set(switch)):
            raise ValueError(f"--switch {args.switch}: not a tools.switch_table table.json (no at, per_split, rows)")
        out = ship(Path(args.run), Path(args.out), report, args.note, switch)
    except (FileNotFoundError, ValueError) as err:
        parser.error(str(err))
    print(f"shipped {args.run} -> {out} ({folder_mb(out):.1f} MB)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
