"""`vidgpt-generate`: prompts in, mp4 + gif + PNG contact sheets and a samples.jsonl manifest out."""

from __future__ import annotations

from pathlib import Path

from omegaconf import DictConfig, OmegaConf

from vidgpt.cli.app import hydra_app
from vidgpt.sampler.bucketed import COMPILE_MODES
from vidgpt.cli.options import SAMPLING, Choice, Fields, Items, Number, Text, sampling_settings
from vidgpt.generator import DTYPES, MODEL_GPT, MODEL_TOKENIZER, SHIPPED_MODEL, VideoGenerator
from vidgpt.samples import (FORMATS, MAX_PROMPT_CHARS, SampleOptions, generate_samples, load_first_frames,
                            read_prompts_file)



def model_folder(model: str | None) -> Path:
    """The model folder to load: the one named, else the shipped one."""
    if model:
        path = Path(model).expanduser()
        if not path.is_dir():
            raise FileNotFoundError(f"model={model}: no such folder")
        missing = [name for name in (MODEL_GPT, MODEL_TOKENIZER) if not (path / name).is_dir()]
        if missing:
            inside = " (it is one of a model folder's parts: name the folder above it)" if (
                path.name in (MODEL_GPT, MODEL_TOKENIZER)) else ""
            raise FileNotFoundError(f"model={model}: not a model folder, no {' or '.join(m + '/' for m in missing)}"
                                    f" in it (vidgpt-train writes gpt/ + tokenizer/){inside}")
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
    "compile": Choice(tuple(m for m in COMPILE_MODES if m), optional=True),
    "formats": Items(Choice(FORMATS), unique=True),
    "changes": Items(Fields({"frame": Number(int, minimum=1), "prompt": Text()}), least=0),
}


def command_prompt(prompt: object, max_chars: int = MAX_PROMPT_CHARS, key: str = "prompt") -> str:
    """The `prompt=` of the command line; a blank or over-long one is refused, as such a line of a prompts file is."""
    text = str(prompt).strip()
    if not text:
        raise ValueError(f"{key}={prompt!r}: empty (write what the video shows, e.g. prompt=\"a red circle moves up\"; "
                         "an unconditional video: VideoGenerator.generate(\"\") in Python)")
    if len(text) > max_chars:
        raise ValueError(f"{key}={text[:20]!r}...: a prompt of {len(text)} characters (limit max_prompt_chars={max_chars})")
    return text


def check_changes(changes: dict[int, str], generator: VideoGenerator, frames: int | None, size: int) -> None:
    """Each change's frame against this model's video: inside it, and starting a latent frame (1, 5, 9, ...)."""
    frames = frames or int((generator.gpt.config.tokenizer or {}).get("frames", 0)) or None
    if frames is None:
        return  # the generator asks for frames= itself
    latents = [int(generator.tokenizer.latent_shape(n, size, size)[0]) for n in range(1, frames + 1)]
    starts = [n for n in range(1, frames) if latents[n] > latents[n - 1]]  # pixel frame n opens a latent frame
    for i, frame in enumerate(changes):
        if frame >= frames:
            raise ValueError(f"changes[{i}].frame={frame}: past the video's end (frames={frames}, pixel frames "
                             f"0..{frames - 1}); a change starts at one of {starts}")
        if frame not in starts:
            raise ValueError(f"changes[{i}].frame={frame}: does not start a latent frame; use one of {starts}")


def generate(cfg: DictConfig) -> list[dict]:
    if cfg.image and cfg.video:
        raise ValueError("image= and video= both given: image-to-video or continuation, not both")
    changes = {int(c.frame): command_prompt(c.prompt, cfg.max_prompt_chars, f"changes[{i}].prompt")
               for i, c in enumerate(cfg.changes)}
    if len(changes) < len(cfg.changes):
        raise ValueError(f"changes: two changes at one frame ({[int(c.frame) for c in cfg.changes]})")
    options = SampleOptions(
        frames=cfg.frames, changes=changes, **sampling_settings(cfg),
        extra={**{k: cfg[k] for k in ("image", "video") if cfg[k]},
               **({"given_frames": cfg.given_frames} if cfg.video else {})},
    )
    samples, batch_size, seed, given_frames = cfg.samples, cfg.batch_size, cfg.seed, cfg.given_frames
    prompts = (read_prompts_file(cfg.prompts_file, cfg.max_prompt_chars) if cfg.prompts_file
               else [command_prompt(cfg.prompt, cfg.max_prompt_chars)])
    generator = VideoGenerator.from_pretrained(model_folder(cfg.model), device=cfg.device, dtype=cfg.dtype,
                                                   compile=cfg.compile)
    size = int((generator.gpt.config.tokenizer or {}).get("height", 64))
    check_changes(changes, generator, cfg.frames, size)
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
