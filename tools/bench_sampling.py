"""Sampling speed: our static-cache raster loop vs `transformers` generate(), and diagonal schedules;
with the matmul ceiling that bounds a diagonal speedup on a CPU (`ceiling_rows`).

CPU demo-size VidGPT (~6M parameters, codebook 1000) with random weights (speed does not depend on
training), batch 1, top-k 100 sampling. Every figure of one table comes from the same process, and
the repeats of all methods are interleaved (best of `repeats` per method), so the ratios hold on a
shared, noisy machine. `run()` returns rows for tools/bench.py; `python -m tools.bench_sampling
[--quick] [--threads-table]` prints them.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable

import torch

from vidgpt.sampler import StaticForward, sample_codes, make_schedule
from vidgpt.evaluate import sampling_label
from vidgpt.model import PromptVocab, VidGPT
from vidgpt.model.generation import WHOLE_FRAMES, GenerationConfig

PROMPT = "a large blue triangle moves right slowly"
GRIDS = ((5, 8, 8), (5, 16, 16))
_DEFAULT = GenerationConfig()  # a model's default sampling
# diagonal settings timed against raster: windows 1/2/4 with full frame overlap (frame window = the window)
# and with whole frames in turn, then the default
DIAGONALS = tuple({"window": w, "frame_window": fw} for fw in (None, WHOLE_FRAMES) for w in (1, 2, 4)) + (
    {"window": _DEFAULT.window, "frame_window": _DEFAULT.frame_window},
    # the shipped model's own: the first latent frame in raster order
    {"window": _DEFAULT.window, "frame_window": _DEFAULT.frame_window, "first_window": WHOLE_FRAMES})


def demo_model(grid: tuple[int, int, int], codebook_size: int = 1000) -> VidGPT:
    torch.manual_seed(0)
    tok = PromptVocab.fit([PROMPT] * 4, vocab_size=300)
    return VidGPT.build(tok, grid, codebook_size, prompt_length=16, preset="demo").eval()


def _hf_generate(gpt: VidGPT, prompt: torch.Tensor, n: int) -> None:
    ids = gpt.input_ids(prompt, torch.zeros(prompt.shape[0], 0, dtype=torch.long))
    with torch.no_grad():
        gpt.llama.generate(input_ids=ids, max_new_tokens=n, min_new_tokens=n, do_sample=True, top_k=100,
                           pad_token_id=gpt.config.pad_id, eos_token_id=None)


def best_times(fns: dict[str, Callable[[], object]], repeats: int) -> dict[str, float]:
    """Fastest wall-clock seconds of each function over `repeats` rounds, the functions interleaved
    within each round so that a busy spell of the machine hits all of them alike."""
    best = {name: float("inf") for name in fns}
    for _ in range(repeats):
        for name, fn in fns.items():
            start = time.perf_counter()
            fn()
            best[name] = min(best[name], time.perf_counter() - start)
    return best


def _grid_rows(grid: tuple[int, int, int], repeats: int, with_hf: bool, batch: int = 1,
               cfg_scale: float = 1.0, threads: int | None = None,
               configs: tuple[dict, ...] | None = None) -> list[dict]:
    gpt = demo_model(grid)
    prompt = gpt.encode_prompts([PROMPT] * batch)
    null = gpt.null_prompts(1) if cfg_scale != 1.0 else None
    n = gpt.config.num_codes
    name = "x".join(map(str, grid))
    configs = configs if configs is not None else DIAGONALS

    def ours(schedule: list[list[int]]) -> Callable[[], torch.Tensor]:
        return lambda: sample_codes(gpt, prompt, schedule, top_k=100, generator=torch.Generator().manual_seed(0),
                              null_prompt_ids=null, cfg_scale=cfg_scale, threads=threads)

    schedules = {"raster": make_schedule("raster", *grid)}
    for options in configs:
        schedules[sampling_label({"schedule": "diagonal", **options})] = make_schedule("diagonal", *grid, **options)
    fns: dict[str, Callable[[], object]] = {k: ours(s) for k, s in schedules.items()}
    if with_hf:
        fns["hf"] = lambda: _hf_generate(gpt, prompt, n)
        _hf_generate(gpt, prompt, 4)  # warm-up: lazy inits of the first call
    fns[min(schedules, key=lambda k: len(schedules[k]))]()
    best = best_times(fns, repeats)
    rate = {k: batch * n / t for k, t in best.items()}
    rows = []
    if with_hf:
        rows.append(dict(bench="sampling", grid=name, method="raster, transformers generate()", forward_steps=n,
                         tokens_per_s=round(rate["hf"], 1), ms_per_step=round(1000 * best["hf"] / n, 2),
                         speedup=1.0, vs="itself"))
    for key, schedule in schedules.items():
        steps = len(schedule) + 1  # + the prefill; generate() samples its first token from its prefill
        if key == "raster":
            method, speedup, vs = "raster, static cache (ours)", 1.0, "raster (ours)"
            if with_hf:
                speedup, vs = rate["raster"] / rate["hf"], "transformers generate()"
        else:
            method, speedup, vs = key, rate[key] / rate["raster"], "raster (ours)"
        rows.append(dict(bench="sampling", grid=name, method=method, forward_steps=steps,
                         tokens_per_s=round(rate[key], 1), ms_per_step=round(1000 * best[key] / steps, 2),
                         speedup=round(speedup, 2), vs=vs))
    return rows


def thread_rows(grid: tuple[int, int, int] = (5, 8, 8), repeats: int = 1) -> list[dict]:
    """1 vs 2 torch threads for batch 1 and batch 8 with classifier-free guidance (16 rows), raster
    and diagonal window 2: the measurements behind the default of vidgpt/sampler/threads.py."""
    rows = []
    for batch, cfg_scale in ((1, 1.0), (8, 3.0)):
        for threads in (1, 2):
            for r in _grid_rows(grid, repeats, False, batch, cfg_scale, threads, configs=({"window": 2},)):
                rows.append(dict(r, method=f"{r['method']} batch={batch} cfg={cfg_scale} threads={threads}"))
    return rows


def ceiling_rows(grid: tuple[int, int, int] = (5, 16, 16), window: int = 1, repeats: int = 20) -> list[dict]:
    """Why a diagonal speedup has a ceiling on a CPU: one sampling step's matmuls (the demo model's, as
    StaticForward runs them), timed for the rows a raster step feeds (2: the prompt row and its CFG null
    row) and for the mean rows of a diagonal step. Both schedules do the same FLOPs per token; a raster step
    streams every weight for 2 rows (memory-bound), a diagonal one reuses it for ~28 (compute-bound, near
    the core's peak), so the raster/diagonal time per token bounds the wall-clock speedup of these matmuls,
    about half of a step's time (attention, the other large part, has the same FLOPs in both too)."""
    gpt = demo_model(grid)
    forward = StaticForward(gpt)
    weights = [w for layer in forward.layers for w in (layer.qkv, layer.out, layer.gate_up, layer.down)]
    weights.append(forward.head)
    steps = len(make_schedule("diagonal", *grid, window=window))
    diagonal_rows = round(2 * gpt.config.num_codes / steps)
    flops_per_row = 2 * sum(w.numel() for w in weights)
    inputs = {m: [torch.randn(m, w.shape[0]) for w in weights] for m in (2, diagonal_rows)}

    def step(m: int) -> Callable[[], None]:
        return lambda: [torch.mm(x, w) for x, w in zip(inputs[m], weights)]

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        best = best_times({m: step(m) for m in inputs}, repeats)
    finally:
        torch.set_num_threads(before)
    per_token = {m: best[m] / (m / 2) for m in best}
    rows = []
    for m, name in ((2, "raster step"), (diagonal_rows, f"diagonal w={window} step (mean)")):
        rows.append(dict(bench="sampling matmul ceiling", grid="x".join(map(str, grid)), method=f"{name}, CFG",
                         rows=m, gflop_per_s=round(m * flops_per_row / best[m] / 1e9, 1),
                         us_per_token=round(1e6 * per_token[m], 1),
                         ceiling_speedup=round(per_token[2] / per_token[m], 2)))
    return rows


def run(quick: bool = False, threads: int | None = 1, repeats: int | None = None,
        grids: tuple[tuple[int, int, int], ...] = GRIDS, threads_table: bool = False) -> list[dict]:
    """Rows: raster ours vs HF generate() (first grid), then diagonal windows 1/2/4 with and without
    frame overlap, and the generate default (w=1, frame_window 4), against our raster, per grid.
    `threads`: torch CPU threads (None = leave as is);
    quick: one repeat instead of two (about 1 minute instead of 2 on a loaded 2-core machine);
    threads_table: also 1 vs 2 threads, batch 1 and 8 with CFG (slow where cores are busy)."""
    repeats = repeats or (1 if quick else 2)
    before = torch.get_num_threads()
    if threads:
        torch.set_num_threads(threads)
    try:
        rows = []
        for gi, grid in enumerate(grids):
            rows += _grid_rows(grid, repeats, with_hf=gi == 0, threads=threads)
        if threads_table:
            rows += thread_rows()
        rows += ceiling_rows()
    finally:
        torch.set_num_threads(before)
    return rows


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="one repeat instead of two")
    parser.add_argument("--threads-table", action="store_true", help="also 1 vs 2 threads, batch 1 and 8 + CFG")
    args = parser.parse_args()
    result = run(quick=args.quick, threads_table=args.threads_table)
    keys = list(dict.fromkeys(k for r in result for k in r))
    print(" | ".join(keys))
    for r in result:
        print(" | ".join(str(r.get(k, "")) for k in keys))
