"""Diagonal sampling against raster on trained models: speed and Shapes prompt following per setting.

For each sampling setting (raster; diagonal window 1/2/4 with and without frame overlap; window 1 with
frame_window 2 and 4, the latter the generate default; window 1 keeping its stand-ins instead of replacing
them) this measures, on each `--model`:
- forward steps, tokens/s and the speedup over raster, batch 1, timed in this process with the settings'
  repeats interleaved (best of `--repeats`, as tools/bench_sampling.py does), codes only;
- all-attributes accuracy on test-iid and both composition splits (vidgpt/evaluate.py), `--clips` videos
  per split, the same prompts and seeds for every setting.
Random-weight demo models on `--speed-grids` (default 5x16x16) add speed rows (accuracy n/a) for grids
no model has. Writes table.md, table.json and accuracy_vs_speedup.png into `--out`.

    python -m tools.diagonal_table --model runs/gpt-shapes --clips 48 --out outputs/diagonal
    python -m tools.diagonal_table --model runs/gpt-causal --model runs/gpt-diagonal-ft  # the gap fine-tuning closes
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import torch
from matplotlib.figure import Figure

from vidgpt.sampler import StaticForward, sample_codes, make_schedule
from vidgpt.evaluate import EVAL_SPLITS, sampling_label, evaluate_generator
from vidgpt.generator import VideoGenerator, gpt_dtype
from vidgpt.model.generation import WHOLE_FRAMES, GenerationConfig
from vidgpt.model import VidGPT
from vidtok.shapes.report import write_json

from vidtok.eval.table import format_table
from tools.bench_sampling import PROMPT, best_times, demo_model

Setting = dict[str, Any]  # VideoGenerator.generate's schedule options
DEFAULTS = GenerationConfig()  # a model's default sampling


def settings() -> list[Setting]:
    """Raster first (the reference), then every diagonal setting, then window 1 without replacement."""
    out: list[Setting] = [{"schedule": "raster"}]
    out += [{"schedule": "diagonal", "window": w, "frame_window": fw} for fw in (None, WHOLE_FRAMES) for w in (1, 2, 4)]
    out += [{"schedule": "diagonal", "window": 1, "frame_window": fw} for fw in (2, 4)]
    out.append({"schedule": "diagonal", "window": 1, "frame_window": None, "replace_standins": False})
    return out


def parse_grid(text: str) -> tuple[int, int, int]:
    parts = text.lower().split("x")
    if len(parts) != 3 or not all(p.isdigit() and int(p) > 0 for p in parts):
        raise ValueError(f"grid {text!r} must be TxHxW with positive integers, e.g. 5x16x16")
    return tuple(int(p) for p in parts)  # type: ignore[return-value]


def schedule_of(s: Setting, grid: Sequence[int]) -> list[list[int]]:
    return make_schedule(s["schedule"], *grid, window=s.get("window", 1), frame_window=s.get("frame_window"))


def time_settings(gpt: VidGPT, chosen: Sequence[Setting], sampling: dict, repeats: int) -> dict[str, dict]:
    """{label: forward_steps, tokens_per_s, speedup over raster}, batch 1, codes only, interleaved repeats."""
    grid = gpt.config.grid
    prompt = gpt.encode_prompts([PROMPT])
    cfg_scale = sampling.get("cfg_scale", 1.0)
    null = gpt.null_prompts(1) if cfg_scale != 1.0 else None
    forward = StaticForward(gpt)  # made once, as VideoGenerator does: the weight re-layout is no sampling cost

    def run(s: Setting) -> Callable[[], torch.Tensor]:
        schedule = schedule_of(s, grid)
        # .cpu(): on a GPU the time counts until the codes exist, not until the last kernel is queued
        return lambda: sample_codes(gpt, prompt, schedule, null_prompt_ids=null, cfg_scale=cfg_scale,
                              temperature=sampling.get("temperature", 1.0), top_k=sampling.get("top_k"),
                              top_p=sampling.get("top_p"), replace_standins=s.get("replace_standins", True),
                              generator=torch.Generator(gpt.device).manual_seed(0), forward=forward).cpu()

    fns = {sampling_label(s): run(s) for s in chosen}
    steps = {sampling_label(s): len(schedule_of(s, grid)) + 1 for s in chosen}  # + the prefill
    fns[min(steps, key=steps.get)]()  # warm-up (lazy inits of the first call) on the shortest setting
    best = best_times(fns, repeats)
    n = gpt.config.num_codes
    return {k: {"forward_steps": steps[k], "tokens_per_s": n / t, "speedup": best["raster"] / t}
            for k, t in best.items()}


def accuracy(generator: VideoGenerator, s: Setting, sampling: dict, clips: int, batch_size: int,
             seed: int) -> dict[str, float | None]:
    """All-attributes accuracy per evaluation split for one setting (the evaluator's own seeds and prompts),
    and under "clean" the share of videos clean in every frame, over all splits."""
    options = {k: v for k, v in {**s, **sampling}.items() if k != "replace_standins"}
    generator.replace_standins = s.get("replace_standins", True)  # an ablation: an attribute, not an option
    try:
        result = next(iter(evaluate_generator(generator, EVAL_SPLITS, clips, [options], batch_size, seed,
                                              progress=False).values()))
    finally:
        generator.replace_standins = True
    out = {split: result["splits"].get(split, {}).get("accuracy", {}).get("all") for split in EVAL_SPLITS}
    return {**out, "clean": result["overall"]["clean"]["clean_videos"]}


def model_rows(name: str, gpt: VidGPT, chosen: Sequence[Setting], sampling: dict, repeats: int,
               acc: dict[str, dict] | None) -> list[dict]:
    speed = time_settings(gpt, chosen, sampling, repeats)
    rows = []
    for s in chosen:
        k = sampling_label(s)
        row = {"model": name, "grid": "x".join(map(str, gpt.config.grid)), "setting": k, **speed[k]}
        per_split = dict(acc[k]) if acc else dict.fromkeys(EVAL_SPLITS)
        row["clean"] = per_split.pop("clean", None)
        row.update(per_split)
        known = [v for v in per_split.values() if v is not None]
        row["mean"] = sum(known) / len(known) if acc and known else None
        rows.append(row)
    return rows


SHORT = {"test-iid": "iid", "test-comp-shape-colour": "comp shape-colour",
         "test-comp-colour-direction": "comp colour-direction"}


def display(rows: Sequence[dict]) -> list[dict]:
    """Rows for the printed / Markdown table: accuracies in %, n/a where not measured."""
    out = []
    for r in rows:
        d = {k: r[k] for k in ("model", "grid", "setting", "forward_steps")}
        d["tokens/s"] = round(r["tokens_per_s"], 1)
        d["speedup"] = round(r["speedup"], 2)
        d["clean videos"] = "n/a" if r["clean"] is None else f"{100 * r['clean']:.1f}%"
        for key in (*EVAL_SPLITS, "mean"):
            v = r[key]
            d[SHORT.get(key, key) + " acc"] = "n/a" if v is None else f"{100 * v:.1f}%"
        out.append(d)
    return out


def plot(rows: Sequence[dict], path: Path) -> Path:
    """All-attributes accuracy (per split, and their mean) against speedup over raster, one point per setting."""
    fig = Figure(figsize=(8, 5))
    ax = fig.subplots()
    scored = [r for r in rows if r["mean"] is not None]
    models = list(dict.fromkeys(r["model"] for r in scored))
    markers = "os^Dv<>p"
    for mi, model in enumerate(models):
        mine = [r for r in scored if r["model"] == model]
        x = [r["speedup"] for r in mine]
        for split, colour in zip(EVAL_SPLITS, ("tab:blue", "tab:orange", "tab:green")):
            ax.scatter(x, [100 * (r[split] or 0) for r in mine], color=colour, marker=markers[mi % len(markers)],
                       alpha=0.5, label=f"{SHORT[split]}" + (f" ({model})" if len(models) > 1 else ""))
        ax.scatter(x, [100 * r["mean"] for r in mine], color="black", marker=markers[mi % len(markers)],
                   label="mean of splits" + (f" ({model})" if len(models) > 1 else ""))
        for r in mine:
            ax.annotate(r["setting"].removeprefix("diagonal "), (r["speedup"], 100 * r["mean"]), fontsize=7,
                        xytext=(3, 3), textcoords="offset points")
    ax.set_ylim(-2, 102)
    ax.set_xlabel("speedup over raster (tokens/s ratio, batch 1)")
    ax.set_ylabel("all-attributes accuracy (%)")
    ax.set_title("Diagonal sampling: prompt following against speed")
    ax.grid(alpha=0.3)
    if scored:
        ax.legend(fontsize=7)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100)
    return path


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", action="append", required=True, help="model folder (gpt/ + tokenizer/); repeatable")
    parser.add_argument("--clips", type=int, default=48, help="generated videos per evaluation split and setting")
    parser.add_argument("--out", default="outputs/diagonal", help="folder for table.md, table.json and the plot")
    parser.add_argument("--repeats", type=int, default=2, help="timing rounds (best of)")
    parser.add_argument("--speed-grids", default="5x16x16",
                        help="comma-separated TxHxW grids timed on a random demo model ('' = none)")
    parser.add_argument("--cfg-scale", type=float, default=GenerationConfig.cfg_scale,
                        help="classifier-free guidance (vidgpt-generate's for a plain model; 1 for a guidance-distilled one)")
    parser.add_argument("--top-k", type=int, default=DEFAULTS.top_k)
    parser.add_argument("--temperature", type=float, default=DEFAULTS.temperature)
    parser.add_argument("--batch-size", type=int, default=16, help="prompts generated together for accuracy")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads while timing")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--dtype", default="float32", help="the GPTs': float32, bfloat16 or float16 (e.g. on a GPU)")
    parser.add_argument("--settings", default="",
                        help="comma-separated subset, e.g. 'raster,w=1,w=2,w=1 whole frames' ('' = all; raster always runs)")
    args = parser.parse_args(argv)
    if args.clips < 1 or args.repeats < 1:
        parser.error(f"--clips and --repeats must be >= 1, got {args.clips} and {args.repeats}")
    try:
        extra_grids = [parse_grid(g) for g in args.speed_grids.split(",") if g.strip()]
        names = [Path(m).name for m in args.model]
        names = names if len(set(names)) == len(names) else list(args.model)
        generators = {n: VideoGenerator.from_pretrained(m, device=args.device, dtype=args.dtype)
                      for n, m in zip(names, args.model)}
    except (FileNotFoundError, ValueError) as e:
        parser.error(str(e))
    sampling = {"cfg_scale": args.cfg_scale, "top_k": args.top_k, "temperature": args.temperature}
    chosen = settings()
    if args.settings.strip():
        wanted = {"raster"} | {w.strip().removeprefix("diagonal ") for w in args.settings.split(",") if w.strip()}
        known = {sampling_label(c).removeprefix("diagonal ") for c in chosen}
        if wanted - known:
            parser.error(f"unknown --settings {sorted(wanted - known)}; choose from {sorted(known)}")
        chosen = [c for c in chosen if sampling_label(c).removeprefix("diagonal ") in wanted]
    before = torch.get_num_threads()
    rows: list[dict] = []
    start = time.perf_counter()
    try:
        for name, gen in generators.items():
            acc = {}
            for s in chosen:
                k = sampling_label(s)
                acc[k] = accuracy(gen, s, sampling, args.clips, args.batch_size, args.seed)
                print(f"{name} {k}: " + ", ".join(f"{SHORT.get(split, split)} {v}" for split, v in acc[k].items()),
                      flush=True)
            torch.set_num_threads(args.threads)
            rows += model_rows(name, gen.gpt, chosen, sampling, args.repeats, acc)
            torch.set_num_threads(before)
        model_grids = {tuple(gen.gpt.config.grid) for gen in generators.values()}
        torch.set_num_threads(args.threads)
        for grid in extra_grids:
            if grid not in model_grids:
                gpt = demo_model(grid).to(args.device, gpt_dtype(args.dtype))
                rows += model_rows("random demo", gpt, chosen, sampling, args.repeats, None)
    finally:
        torch.set_num_threads(before)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    table = format_table(display(rows))
    notes = (f"{args.clips} clips per split and setting, seed {args.seed}, cfg_scale {args.cfg_scale}, "
             f"top_k {args.top_k}, temperature {args.temperature}; speed: batch 1, codes only (no pixel "
             f"decoding), {args.threads} thread(s), best of {args.repeats} interleaved rounds, "
             f"on {args.device} in {args.dtype}; clean videos = every frame clean (shapes.md, Frame by frame), over "
             "all splits; acc = all attributes read back from the pixels, video level.")
    (out / "table.md").write_text(f"# Diagonal sampling against raster\n\n{notes}\n\n{table}\n", encoding="utf-8")
    write_json({"settings": chosen, "sampling": sampling, "clips": args.clips, "seed": args.seed,
                "repeats": args.repeats, "threads": args.threads, "device": args.device,
                "dtype": args.dtype,
                "models": {name: str(m) for name, m in zip(generators, args.model)}, "rows": rows},
               out / "table.json")
    plot(rows, out / "accuracy_vs_speedup.png")
    print(table)
    print(f"{notes}\nwrote {out}/table.md, table.json, accuracy_vs_speedup.png ({time.perf_counter() - start:.0f} s)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
