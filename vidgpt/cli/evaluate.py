"""`vidgpt-evaluate`: Shapes prompt following, temporal quality and distribution distance, as a report."""

from __future__ import annotations

from pathlib import Path

from omegaconf import DictConfig

from vidgpt.cli.app import hydra_app
from vidgpt.sampler.bucketed import COMPILE_MODES
from vidgpt.cli.options import SAMPLING, Choice, Flag, Items, Number, Text, sampling_settings
from vidgpt.cli.generate import model_folder
from vidgpt.evaluate import evaluate_generator
from vidgpt.evaluate import EVAL_SPLITS
from vidgpt.generator import DTYPES, VideoGenerator
from vidtok.shapes.evaluate import evaluate_folder
from vidtok.eval.reconstruction import evaluate_tokenizer
from vidtok.shapes.report import write_report


OPTIONS = {
    **SAMPLING,
    "model": Text(optional=True),
    "folder": Text(optional=True),
    "manifest": Text(optional=True),
    "splits": Items(Choice(EVAL_SPLITS + ("train", "val"))),
    "schedules": Items(Choice(("model", "raster", "diagonal"))),
    "per_split": Number(int, minimum=1),
    "frechet": Flag(),
    "i3d": Text(optional=True),
    "tokenizer_clips": Number(int, minimum=0),
    "dtype": Choice(tuple(DTYPES)),
    "compile": Choice(tuple(m for m in COMPILE_MODES if m), optional=True),
}


def evaluate(cfg: DictConfig) -> dict:
    if cfg.i3d is not None:
        if not cfg.frechet or cfg.folder:
            raise ValueError(f"i3d={cfg.i3d}: real FVD is part of the Fréchet scores of generated videos "
                             "(frechet=true, no folder=)")
        if not Path(cfg.i3d).expanduser().is_file():
            raise FileNotFoundError(f"i3d={cfg.i3d}: no such file (a local i3d_torchscript.pt)")
    if cfg.manifest is not None and not cfg.folder:
        raise ValueError(f"manifest={cfg.manifest}: lists the videos of folder=, which is not given")
    if cfg.folder:
        results = {"videos": evaluate_folder(cfg.folder, cfg.manifest)}
    else:
        generator = VideoGenerator.from_pretrained(model_folder(cfg.model), device=cfg.device, dtype=cfg.dtype,
                                                   compile=cfg.compile)
        settings = sampling_settings(cfg)
        schedules = [dict(settings, schedule=settings["schedule"] if s == "model" else s, frames=cfg.frames)
                     for s in cfg.schedules]
        results = evaluate_generator(generator, list(cfg.splits), cfg.per_split, schedules, cfg.batch_size, cfg.seed,
                                     frechet=cfg.frechet, i3d_path=cfg.i3d)
    label, main_result = next(iter(results.items()))
    if cfg.tokenizer_clips and not cfg.folder:
        frames = (generator.gpt.config.tokenizer or {}).get("frames", 17)
        main_result["tokenizer"] = evaluate_tokenizer(generator.tokenizer, cfg.tokenizer_clips, tuple(cfg.splits), frames)
        for row in main_result["tokenizer"]:
            print(f"tokenizer on {row['split']}: PSNR {row['psnr']:.2f} dB, SSIM {row['ssim']:.3f}, "
                  f"clean reconstructions {_pct(row['clean'])}, attributes read back {_pct(row['read_back'])}, "
                  f"codebook usage {_pct(row['codebook_usage'])}")
    paths = write_report(main_result, cfg.out_dir, title=f"Evaluation ({label})",
                         compare=results if len(results) > 1 else None)
    for name, result in results.items():
        clean = {s: g["clean"]["clean_videos"] for s, g in result["splits"].items()}
        acc = {s: g["accuracy"]["all"] for s, g in result["splits"].items()}
        print(f"{name}: clean videos " + ", ".join(f"{s} {_pct(a)}" for s, a in clean.items())
              + "; video-level all-attributes " + ", ".join(f"{s} {_pct(a)}" for s, a in acc.items()))
    print(f"report: {paths['markdown']}")
    return results


def _pct(x) -> str:
    return "n/a" if x is None else f"{100 * x:.1f}%"


main = hydra_app("evaluate", OPTIONS)(evaluate)

if __name__ == "__main__":
    main()
