"""Decoding speed: our static-cache raster loop vs `transformers` generate(), and diagonal schedules.

CPU demo-size VidGPT with random weights (speed does not depend on training). `run()` returns rows
for tools/bench.py; `python tools/bench_decode.py` prints them.
"""

from __future__ import annotations

import time

import torch

from vidgpt.decode import decode, make_schedule
from vidgpt.model import PromptTokenizer, VidGPT

PROMPT = "a large blue triangle moves right slowly"


def _model(grid: tuple[int, int, int], codebook_size: int = 1000) -> tuple[VidGPT, torch.Tensor]:
    torch.manual_seed(0)
    tok = PromptTokenizer.fit([PROMPT] * 4, vocab_size=300)
    gpt = VidGPT.build(tok, grid, codebook_size, prompt_length=16, preset="demo").eval()
    return gpt, gpt.encode_prompts([PROMPT])


def _best_rate(fn, tokens: int, repeats: int) -> float:
    """Tokens per second of the fastest of `repeats` runs (the machine may be shared)."""
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - start)
    return tokens / best


def _hf_generate(gpt: VidGPT, prompt: torch.Tensor) -> None:
    ids = gpt.input_ids(prompt, torch.zeros(1, 0, dtype=torch.long))
    n = gpt.config.num_codes
    with torch.no_grad():
        gpt.llama.generate(input_ids=ids, max_new_tokens=n, min_new_tokens=n, do_sample=True, top_k=100,
                           pad_token_id=gpt.config.pad_id, eos_token_id=None)


def run(threads: int | None = 1, repeats: int = 2,
        grids: tuple[tuple[int, int, int], ...] = ((5, 8, 8), (5, 16, 16))) -> list[dict]:
    """Rows: raster ours vs HF generate (first grid), then diagonal windows 1/2/4 with and without
    frame overlap against our raster, per grid. `threads`: torch CPU threads (None = leave as is)."""
    before = torch.get_num_threads()
    if threads:
        torch.set_num_threads(threads)
    rows: list[dict] = []
    try:
        for gi, grid in enumerate(grids):
            gpt, prompt = _model(grid)
            n = gpt.config.num_codes
            name = "x".join(map(str, grid))

            def ours(schedule):
                return lambda: decode(gpt, prompt, schedule, top_k=100, generator=torch.Generator().manual_seed(0))

            raster = make_schedule("raster", *grid)
            ours(raster)()  # warm-up
            raster_rate = _best_rate(ours(raster), n, repeats)
            # forward passes: ours counts the prefill, generate() samples its first token from it
            row = dict(bench="decode", grid=name, method="raster, static cache (ours)", forward_steps=n + 1,
                       tokens_per_s=round(raster_rate, 1), speedup=1.0, vs="raster (ours)")
            if gi == 0:
                hf_rate = _best_rate(lambda: _hf_generate(gpt, prompt), n, repeats)
                rows.append(dict(bench="decode", grid=name, method="raster, transformers generate()",
                                 forward_steps=n, tokens_per_s=round(hf_rate, 1), speedup=1.0, vs="itself"))
                row.update(speedup=round(raster_rate / hf_rate, 2), vs="transformers generate()")
            rows.append(row)
            for overlap in (True, False):
                for window in (1, 2, 4):
                    sched = make_schedule("diagonal", *grid, window=window, frame_overlap=overlap)
                    rate = _best_rate(ours(sched), n, repeats)
                    rows.append(dict(bench="decode", grid=name,
                                     method=f"diagonal window={window} overlap={'on' if overlap else 'off'}",
                                     forward_steps=len(sched) + 1, tokens_per_s=round(rate, 1),
                                     speedup=round(rate / raster_rate, 2), vs="raster (ours)"))
    finally:
        torch.set_num_threads(before)
    return rows


if __name__ == "__main__":
    result = run()
    keys = list(result[0])
    print(" | ".join(keys))
    for r in result:
        print(" | ".join(str(r[k]) for k in keys))
