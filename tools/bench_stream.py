"""Real time: frames generated per second while streaming, tokenizer decoding included, against 8 fps playback.

17-frame clips at 64x64 (latent grid 5x8x8) and 128x128 (5x16x16): a demo-size VidGPT and a default-config
tokenizer, both with random weights (speed does not depend on training), batch 1, the generate command's
sampling (top-k 100, temperature 0.4) with classifier-free guidance 3, as for a plain model, and for the
default sampling also without guidance, as for a guidance-distilled model (one pass per step instead of
two; the method name ends in "distilled"). Per setting:
- `frames_per_s`: 17 pixel frames over the wall-clock time until the last streamed frame, decoding included;
  `x_playback` divides it by 8 fps (>= 1: faster than it plays);
- `cpu_frames_per_s`, `x_playback_cpu`: the same per CPU-second of this process, with one thread what one
  idle core would do; on a shared machine the wall-clock figures swing with the load, these less;
- `codes_only_fps`: the same without the tokenizer decoder (what the GPT alone allows);
- `first_frame_s`: time to the first streamed frame; `buffer_s`: the shortest wait before starting 8 fps
  playback that never stalls afterwards (0 when generation stays ahead of playback from the first frame).
Each setting runs on one core (`threads` 1: torch limited to one thread) and on all of them (`threads`
"auto": the GPT steps choose their thread count by timing, vidgpt/sampler/threads.py, and the tokenizer
decoder uses torch's default). Runs are interleaved, best of `repeats` (tools/bench_sampling.py's
best_times). `python -m tools.bench_stream`.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import torch

from vidgpt.sampler.threads import num_threads
from vidgpt.evaluate import sampling_label
from vidgpt.generator import VideoGenerator, gpt_dtype
from vidgpt.model.generation import WHOLE_FRAMES, GenerationConfig
from vidgpt.model import PromptVocab, VidGPT, tokenizer_identity
from vidtok.model import TokenizerConfig, VideoTokenizer

from tools.bench_sampling import PROMPT, best_times

PLAYBACK_FPS = 8
FRAMES = 17
SIZES = (64, 128)
DEFAULT = {k: getattr(GenerationConfig(), k) for k in ("schedule", "window", "frame_window")}
SETTINGS = tuple(dict(s, cfg_scale=GenerationConfig.cfg_scale) for s in (
    {"schedule": "raster"}, {"schedule": "diagonal", "window": 2, "frame_window": None},
    {"schedule": "diagonal", "window": 1, "frame_window": None},
    {"schedule": "diagonal", "window": 1, "frame_window": WHOLE_FRAMES}, DEFAULT)) + (dict(DEFAULT, cfg_scale=1.0),)
# ^ the last: vidgpt-generate's default for a guidance-distilled model (experiment=gpt_guidance_distill)
SAMPLING = {k: getattr(GenerationConfig(), k) for k in ("top_k", "temperature")}  # a model's defaults


def label(setting: dict) -> str:
    """sampling_label, plus "distilled" for a setting without guidance."""
    return sampling_label(setting) + (" distilled" if setting["cfg_scale"] == 1.0 else "")


def demo_generator(size: int, frames: int = FRAMES, device: str = "cpu", dtype: str = "float32") -> VideoGenerator:
    """Random-weight default tokenizer + demo GPT (in `dtype`) on its latent grid for `frames` x `size` x `size`
    clips, on `device`."""
    torch.manual_seed(0)
    tokenizer = VideoTokenizer(TokenizerConfig()).eval()
    grid = tuple(int(v) for v in tokenizer.latent_shape(frames, size, size))
    prompt = PromptVocab.fit([PROMPT] * 4, vocab_size=300)
    gpt = VidGPT.build(prompt, grid, tokenizer.codebook_size, prompt_length=16, preset="demo",
                       tokenizer=tokenizer_identity(tokenizer, frames, size, size)).eval()
    return VideoGenerator(gpt.to(device, gpt_dtype(dtype)), tokenizer.to(device))


def _stream(gen: VideoGenerator, setting: dict, decode: bool, fastest: dict,
            threads: int | None = None) -> Callable[[], None]:
    """One streamed generation with `threads` torch threads (None: unchanged); keeps the arrival times
    of the fastest run in `fastest`."""
    def run() -> None:
        with num_threads(threads):
            start, cpu = time.perf_counter(), time.process_time()
            arrivals = []  # (seconds, index of the first pixel frame this latent frame brings)
            shown = 0
            for latent in gen.generate(PROMPT, stream=True, decode=decode, seed=0, **setting, **SAMPLING):
                if latent.codes.is_cuda:
                    torch.cuda.synchronize()  # the codes exist when the device has computed them
                arrivals.append((time.perf_counter() - start, shown))
                shown += 0 if latent.frames is None else latent.frames.shape[1]
            cpu = time.process_time() - cpu
        fastest["cpu_seconds"] = min(cpu, fastest.get("cpu_seconds", float("inf")))
        if arrivals[-1][0] < fastest.get("seconds", float("inf")):
            fastest.update(seconds=arrivals[-1][0], arrivals=arrivals, frames=shown)
    return run


def buffer_seconds(arrivals: list[tuple[float, int]], fps: float = PLAYBACK_FPS) -> float:
    """Smallest start delay D such that pixel frame i, shown at D + i / fps, has always arrived by then."""
    return max(0.0, *(t - first / fps for t, first in arrivals))


def run(repeats: int = 2, threads: tuple[int | None, ...] = (1, None), sizes: tuple[int, ...] = SIZES,
        device: str = "cpu", dtype: str = "float32") -> list[dict]:
    """Rows per size, thread setting (1, or None: torch's default, the GPT steps choosing by timing; on a
    GPU only None) and sampling setting."""
    rows = []
    if device != "cpu":
        threads = (None,)
    for size in sizes:
        gen = demo_generator(size, device=device, dtype=dtype)
        fastest: dict[str, dict] = {}
        fns = {}
        for n in threads:
            for s in SETTINGS:
                for what, decode in (("pixels", True), ("codes", False)):
                    key = f"{n} {label(s)} {what}"
                    fastest[key] = {}
                    fns[key] = _stream(gen, s, decode, fastest[key], n)
        _stream(gen, SETTINGS[-1], True, {})()  # warm-up: lazy inits of the first call
        best_times(fns, repeats)
        for n in threads:
            for s in SETTINGS:
                full, codes = fastest[f"{n} {label(s)} pixels"], fastest[f"{n} {label(s)} codes"]
                fps, cpu_fps = full["frames"] / full["seconds"], full["frames"] / full["cpu_seconds"]
                rows.append(dict(bench="stream", size=f"{size}x{size}", grid="x".join(map(str, gen.gpt.config.grid)),
                                 threads=n or f"auto (<= {torch.get_num_threads()})", device=device, dtype=dtype,
                                 method=label(s), frames_per_s=round(fps, 2),
                                 x_playback=round(fps / PLAYBACK_FPS, 2), cpu_frames_per_s=round(cpu_fps, 2),
                                 x_playback_cpu=round(cpu_fps / PLAYBACK_FPS, 2),
                                 codes_only_fps=round(FRAMES / codes["seconds"], 2),
                                 first_frame_s=round(full["arrivals"][0][0], 2),
                                 buffer_s=round(buffer_seconds(full["arrivals"]), 2)))
    return rows


if __name__ == "__main__":
    import argparse

    from vidtok.eval.table import format_table

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--threads", type=int, nargs="+", default=[1, 0],
                        help="thread settings to compare: torch CPU threads, 0 = torch's default with the automatic choice")
    parser.add_argument("--device", default="cpu", help="e.g. cuda: the GPT and the tokenizer there")
    parser.add_argument("--dtype", default="float32", help="the GPT's: float32, bfloat16 or float16")
    args = parser.parse_args()
    threads = tuple(n or None for n in args.threads)
    print(format_table(run(args.repeats, threads, device=args.device, dtype=args.dtype)))
