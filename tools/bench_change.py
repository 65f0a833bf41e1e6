"""What a prompt change costs, and what the change adapter adds to it.

The shipped model (or `--model`), one prompt change at frame 9 of 17, per setting (batch, codes only or
decoded): the best wall-clock seconds of a plain generation, of the same generation with a change without
the GPT's change adapter, and with it, interleaved over `repeats` rounds (tools/bench_sampling.py's
best_times), one torch thread. `adapter_ratio` = with / without the adapter (what the adapter costs: its
steps cost what plain ones do); `change_ratio` = with the adapter / plain (the prefill again, the redrawn
overlap and the cut decoder). `merge_s`: the one-off cost of merging the adapter into a sampling forward,
paid at a generator's first change. `python -m tools.bench_change`, or `make bench` (topic "change").
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Sequence

import torch

from vidgpt.cli.generate import SHIPPED_MODEL
from vidgpt.generator import VideoGenerator
from vidgpt.sampler.forward import StaticForward
from vidgpt.sampler.threads import num_threads

from tools.bench_sampling import best_times
from tools.switch_table import without_adapter

PROMPT, CHANGE = "a large red circle moves right slowly", "a small blue square moves up quickly"
SETTINGS = ((1, False), (1, True), (8, True))  # (batch, decoded)


def run(model: str | None = None, repeats: int = 5, at: int = 9, frames: int | None = None,
        settings: Sequence[tuple[int, bool]] = SETTINGS) -> list[dict]:
    generator = VideoGenerator.from_pretrained(model)
    if generator.gpt.change_adapter is None:
        raise ValueError(f"{model or SHIPPED_MODEL}: the GPT has no change adapter to measure")
    rows = []
    with num_threads(1):
        start = time.perf_counter()
        StaticForward(generator.gpt, adapted=True)
        merge = time.perf_counter() - start
        for batch, decode in settings:
            kw = dict(seed=0, frames=frames, decode=decode, threads=1)
            change = {at: [CHANGE] * batch}

            def unadapted() -> None:
                with without_adapter(generator):
                    generator.generate([PROMPT] * batch, changes=change, **kw)

            best = best_times({"plain": lambda: generator.generate([PROMPT] * batch, **kw),
                               "no adapter": unadapted,
                               "adapter": lambda: generator.generate([PROMPT] * batch, changes=change, **kw)},
                              repeats)
            rows.append({"batch": batch, "decoded": decode, "plain_s": round(best["plain"], 4),
                         "change_no_adapter_s": round(best["no adapter"], 4),
                         "change_adapter_s": round(best["adapter"], 4),
                         "adapter_ratio": round(best["adapter"] / best["no adapter"], 3),
                         "change_ratio": round(best["adapter"] / best["plain"], 3), "merge_s": round(merge, 3)})
    return rows


def main(argv: list[str] | None = None) -> int:
    from vidtok.eval.table import format_table

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default=None, help="a model folder whose GPT has a change adapter (default: shipped)")
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args(argv)
    if args.repeats < 1:
        parser.error(f"--repeats must be >= 1, got {args.repeats}")
    try:
        rows = run(args.model, args.repeats)
    except (FileNotFoundError, ValueError) as e:
        parser.error(str(e))
    print(format_table(rows))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
