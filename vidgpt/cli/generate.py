"""`vidgpt-generate`: prompts in, mp4 + gif + PNG contact sheets and a samples.jsonl manifest out."""

from __future__ import annotations

from pathlib import Path

from omegaconf import DictConfig, OmegaConf

from vidgpt.cli.app import hydra_app
from vidgpt.cli.values import number
from vidgpt.generator import VideoGenerator
from vidgpt.samples import SampleOptions, generate_samples, load_first_frames, read_prompts_file

# The shipped model lives inside the package so an installed command finds it.
SHIPPED_MODEL = Path(__file__).resolve().parents[1] / "pretrained" / "shapes"


def model_folder(model: str | None) -> Path:
    """The model folder to load: the one named, else the shipped one."""
    if model:
        path = Path(model).expanduser()
        if not path.is_dir():
            raise FileNotFoundError(f"model={model}: no such folder")
        return path
    if not (SHIPPED_MODEL / "gpt").is_dir():
        raise FileNotFoundError(
            f"model= not given and no shipped model at {SHIPPED_MODEL}: train one (README, 'Training') and pass model=<run folder>"
        )
    return SHIPPED_MODEL


def generate(cfg: DictConfig) -> list[dict]:
    samples, batch_size = number(cfg, "samples", minimum=1), number(cfg, "batch_size", minimum=1)
    seed = number(cfg, "seed")
    options = SampleOptions(
        frames=number(cfg, "frames", minimum=1, optional=True), schedule=cfg.schedule,
        window=number(cfg, "window", minimum=1), frame_overlap=cfg.frame_overlap,
        frame_window=number(cfg, "frame_window", minimum=1, optional=True),
        cfg_scale=number(cfg, "cfg_scale", float, optional=True), temperature=number(cfg, "temperature", float, minimum=0),
        top_k=number(cfg, "top_k", minimum=1, optional=True), top_p=number(cfg, "top_p", float, optional=True),
        extra={k: cfg[k] for k in ("image", "video") if cfg[k]},
    )
    given_frames = number(cfg, "given_frames", minimum=1)
    prompts = read_prompts_file(cfg.prompts_file, cfg.max_prompt_chars) if cfg.prompts_file else [str(cfg.prompt)]
    generator = VideoGenerator.from_pretrained(model_folder(cfg.model), device=cfg.device, dtype=cfg.dtype)
    size = int((generator.gpt.config.tokenizer or {}).get("height", 64))
    image = load_first_frames(cfg.image, size) if cfg.image else None
    video = load_first_frames(cfg.video, size, frames=given_frames) if cfg.video else None
    records = generate_samples(
        generator, prompts, cfg.out_dir, options, samples=samples, seed=seed, batch_size=batch_size,
        formats=list(cfg.formats), image=image, video=video,
    )
    out = Path(cfg.out_dir)
    for r in records:
        print(f"{r['prompt']!r} (seed {r['seed']}): " + ", ".join(str(out / f) for f in r["files"]))
    print(f"manifest: {out / 'samples.jsonl'}")
    return records


main = hydra_app("generate")(generate)

if __name__ == "__main__":
    main()
