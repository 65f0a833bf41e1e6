"""`vidgpt-generate`: prompts in, mp4 + gif + PNG contact sheets and a samples.jsonl manifest out."""

from __future__ import annotations

from pathlib import Path

from omegaconf import DictConfig, OmegaConf

from vidgpt.cli.app import hydra_app
from vidgpt.cli.options import SAMPLING, Choice, Fields, Items, Number, Text, sampling_settings
from vidgpt.generator import DTYPES, SHIPPED_MODEL, VideoGenerator
from vidgpt.samples import FORMATS, SampleOptions, generate_samples, load_first_frames, read_prompts_file



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


OPTIONS = {
    **SAMPLING,
    "model": Text(optional=True),
    "prompt": Text(blank=True),  # blank: refused below with its own message
    "prompts_file": Text(optional=True),
    "samples": Number(int, minimum=1),
    "image": Text(optional=True),
    "video": Text(optional=True),
    "given_frames": Number(int, minimum=1),
    "max_prompt_chars": Number(int, minimum=1),
    "dtype": Choice(tuple(DTYPES)),
    "formats": Items(Choice(FORMATS)),
    "changes": Items(Fields({"frame": Number(int, minimum=1), "prompt": Text()}), least=0),
}


def command_prompt(prompt: object) -> str:
    """The `prompt=` of the command line; a blank one is refused, as a blank line of a prompts file is."""
    text = str(prompt).strip()
    if not text:
        raise ValueError(f"prompt={prompt!r}: empty (write what the video shows, e.g. prompt=\"a red circle moves up\"; "
                         "an unconditional video: VideoGenerator.generate(\"\") in Python)")
    return text


def generate(cfg: DictConfig) -> list[dict]:
    if cfg.image and cfg.video:
        raise ValueError("image= and video= both given: image-to-video or continuation, not both")
    changes = {int(c.frame): command_prompt(c.prompt) for c in cfg.changes}
    if len(changes) < len(cfg.changes):
        raise ValueError(f"changes: two changes at one frame ({[int(c.frame) for c in cfg.changes]})")
    options = SampleOptions(
        frames=cfg.frames, changes=changes, **sampling_settings(cfg),
        extra={**{k: cfg[k] for k in ("image", "video") if cfg[k]},
               **({"given_frames": cfg.given_frames} if cfg.video else {})},
    )
    samples, batch_size, seed, given_frames = cfg.samples, cfg.batch_size, cfg.seed, cfg.given_frames
    prompts = read_prompts_file(cfg.prompts_file, cfg.max_prompt_chars) if cfg.prompts_file else [command_prompt(cfg.prompt)]
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


main = hydra_app("generate", OPTIONS)(generate)

if __name__ == "__main__":
    main()
