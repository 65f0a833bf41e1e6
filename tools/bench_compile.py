"""Compiled sampling steps against the eager path: raster tokens/s at batch 1, the default diagonal
sampling with guidance (pixels included, against 8 fps playback), and videos/s against batch size.

Methods, measured in one process with their repeats interleaved (best of `repeats`):
- `eager`: `StaticForward`, each step reading only the cache prefix it needs (the default path);
- `bucketed`: `BucketedForward(compile=None)`: steps padded to static shapes over the whole cache, eager;
- `compiled`: the same under `torch.compile` (`reduce-overhead`, i.e. CUDA graphs, on a GPU; `default`
  on a CPU). Its compile time (first run minus a steady run) is paid once per step shape and batch size
  and kept in inductor's cache across runs.
Demo-size VidGPT with random weights (speed does not depend on training) on 5x8x8 and 5x16x16 grids
(64x64 and 128x128 clips); greedy codes of every method are checked equal.

`python -m tools.bench_compile [--quick] [--batches 1 4 16 64]`.
"""

from __future__ import annotations

import argparse
import time

import torch

from vidgpt.model.generation import GenerationConfig
from vidgpt.sampler import StaticForward, make_schedule, sample_codes
from vidgpt.sampler.bucketed import BucketedForward
from vidtok.model import TokenizerConfig, VideoTokenizer

from tools.bench_sampling import PROMPT, best_times, demo_model

PLAYBACK_FPS = 8
FRAMES = 17


def _mode(device: torch.device) -> str:
    return "reduce-overhead" if device.type == "cuda" else "default"


def _forwards(gpt, device: torch.device) -> dict:
    return {"eager": StaticForward(gpt), "bucketed": BucketedForward(gpt, compile=None),
            "compiled": BucketedForward(gpt, compile=_mode(device))}


def _sampler(gpt, forward, schedule, batch: int, cfg_scale: float, sampling: dict):
    prompt = gpt.encode_prompts([PROMPT] * batch)
    null = gpt.null_prompts(1) if cfg_scale != 1.0 else None

    def run() -> torch.Tensor:
        codes = sample_codes(gpt, prompt, schedule, forward=forward, null_prompt_ids=null, cfg_scale=cfg_scale,
                             generator=torch.Generator(gpt.device).manual_seed(0), **sampling)
        if gpt.device.type == "cuda":
            torch.cuda.synchronize()
        return codes

    return run


def _first_runs(runs: dict) -> tuple[dict[str, float], dict[str, bool]]:
    """Each method's first run time (compiling, for the compiled one) and whether its codes equal the eager
    path's (greedy: they must; sampled: float rounding may flip a rare draw)."""
    first, codes = {}, {}
    for name, run in runs.items():
        start = time.perf_counter()
        codes[name] = run()
        first[name] = time.perf_counter() - start
    return first, {name: torch.equal(c, codes["eager"]) for name, c in codes.items()}


def raster_rows(grid, device, repeats: int) -> list[dict]:
    gpt = demo_model(grid).to(device)
    schedule = make_schedule("raster", *grid)
    greedy = {"temperature": 0.0}
    runs = {name: _sampler(gpt, f, schedule, 1, 1.0, greedy) for name, f in _forwards(gpt, device).items()}
    first, same = _first_runs(runs)
    if not all(same.values()):
        raise AssertionError(f"greedy codes differ from the eager path's: {same}")
    best = best_times(runs, repeats)
    n = gpt.config.num_codes
    return [{"grid": "x".join(map(str, grid)), "sampling": "raster, greedy, batch 1", "method": name,
             "tokens/s": round(n / best[name], 1), "x eager": round(best["eager"] / best[name], 2),
             "compile s": round(first[name] - best[name], 1) if name == "compiled" else None,
             "device": device.type} for name in runs]


def diagonal_rows(grid, size: int, device, repeats: int, batches: tuple[int, ...]) -> list[dict]:
    """The default diagonal sampling with guidance, pixels decoded by a default-size tokenizer."""
    gpt = demo_model(grid).to(device)
    torch.manual_seed(0)
    tokenizer = VideoTokenizer(TokenizerConfig()).to(device).eval()
    d = GenerationConfig()
    schedule = make_schedule(d.schedule, *grid, window=d.window, frame_window=d.frame_window)
    sampling = {"temperature": d.temperature, "top_k": d.top_k}
    rows = []
    forwards = _forwards(gpt, device)
    for batch in batches:
        runs = {}
        for name, f in forwards.items():
            sample = _sampler(gpt, f, schedule, batch, d.cfg_scale, sampling)

            def with_pixels(sample=sample) -> torch.Tensor:
                codes = sample()
                with torch.no_grad():
                    tokenizer.decode(codes, frames=FRAMES)
                if device.type == "cuda":
                    torch.cuda.synchronize()
                return codes

            runs[name] = with_pixels
        first, same = _first_runs(runs)
        best = best_times(runs, repeats)
        for name in runs:
            video_s = FRAMES / PLAYBACK_FPS
            rows.append({"grid": f"{'x'.join(map(str, grid))} ({size}x{size})",
                         "sampling": f"default diagonal, CFG {d.cfg_scale}, pixels, batch {batch}", "method": name,
                         "videos/s": round(batch / best[name], 2), "x playback": round(batch * video_s / best[name], 2),
                         "x eager": round(best["eager"] / best[name], 2),
                         "compile s": round(first[name] - best[name], 1) if name == "compiled" else None,
                         "same codes": same[name], "device": device.type})
    return rows


def run(quick: bool = True, batches: tuple[int, ...] | None = None) -> list[dict]:
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    repeats = 2 if quick else 5
    batches = batches or ((1, 4) if device.type == "cpu" else (1, 4, 16, 64))
    rows = raster_rows((5, 8, 8), device, repeats)
    rows += diagonal_rows((5, 16, 16), 128, device, repeats, (1,) if quick else batches)
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer repeats, batch 1 only for the diagonal rows")
    parser.add_argument("--batches", type=int, nargs="+", help="batch sizes of the videos/s table")
    args = parser.parse_args(argv)
    from vidtok.eval.table import format_table

    print(format_table(run(args.quick, tuple(args.batches) if args.batches else None)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
