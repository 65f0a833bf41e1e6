"""Sampling steps with static shapes, so that each step shape is compiled or captured once.

A plan's steps feed 1 to a few dozen rows and read a growing part of the cache: every step has its own
shapes, which `torch.compile` would recompile and a CUDA graph could not replay. `BucketedForward`
pads each step to a bucket of rows (1, 2, 4, ... a power of two) and always attends over the whole
cache under the step's mask, so a whole video needs one graph per bucket (about six), each compiled
once and reused by every later step, batch and video of the same batch size.

Padding rows feed token 0 at a spare cache slot past the sequence (never attended by a real row) and
attend to slot 0 only (the first prompt token, always written), so they stay finite and change nothing.
With ``compile=None`` the padded step runs eagerly: the same arithmetic, used to check the padding.

On a GPU, ``compile="reduce-overhead"`` (CUDA graphs via `torch.compile`) removes the per-kernel launch
cost that bounds a small model's step. On a CPU the eager `StaticForward` reads only the cache prefix
a step needs and stays the faster choice (tools/bench_compile.py measures both).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from .forward import KVCache, StaticForward

COMPILE_MODES = (None, "default", "reduce-overhead", "max-autotune")


def bucket(n: int, buckets: Sequence[int]) -> int:
    """The smallest bucket that holds ``n`` rows."""
    for b in buckets:
        if n <= b:
            return b
    raise ValueError(f"a step of {n} rows exceeds the largest bucket {buckets[-1]}")


def default_buckets(seq_len: int) -> tuple[int, ...]:
    """Powers of two up to the first that holds a whole sequence (the prefill)."""
    out = [1]
    while out[-1] < seq_len:
        out.append(out[-1] * 2)
    return tuple(out)


class BucketedForward:
    """A drop-in for `StaticForward` in the sampling loop whose every call has one of a few shapes.

    ``compile``: None (eager), or a `torch.compile` mode; ``buckets``: the padded row counts (default:
    powers of two up to the sequence length). The cache has one slot more than the sequence: the spare
    slot that padding rows write.
    """

    def __init__(self, gpt, compile: str | None = "reduce-overhead", buckets: Sequence[int] | None = None,
                 adapted: bool = False) -> None:
        if compile not in COMPILE_MODES:
            raise ValueError(f"compile={compile!r}: expected one of {COMPILE_MODES}")
        self.seq_len = gpt.config.seq_len
        self.inner = StaticForward(gpt, max_len=self.seq_len + 1, adapted=adapted)
        self.spare = self.seq_len  # the slot padding rows write
        self.buckets = tuple(sorted(buckets)) if buckets else default_buckets(self.seq_len)
        self.mode = compile
        self._step = self._padded if compile is None else torch.compile(self._padded, mode=compile, dynamic=False,
                                                                        fullgraph=True)
        self.shapes_seen: set[tuple[int, int]] = set()  # (batch, bucket): each compiled once

    def new_cache(self, batch: int) -> KVCache:
        cache = self.inner.new_cache(batch)
        if self.mode is not None:
            # one buffer written in place every step: a static address lets CUDA graphs replay over it
            # instead of skipping a graph whose input is mutated
            torch._dynamo.mark_static_address(cache.kv)
        return cache

    def _padded(self, kv: torch.Tensor, tokens: torch.Tensor, slots: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        # the forward reads and writes the cache through `kv` alone: no per-layer views to build
        return self.inner(KVCache([], [], kv), tokens, slots, self.seq_len + 1, mask)

    def __call__(self, cache: KVCache, tokens: torch.Tensor, slots: torch.Tensor, kv_len: int,
                 mask: torch.Tensor | None = None, is_causal: bool = False,
                 rows: torch.Tensor | None = None) -> torch.Tensor:
        """As `StaticForward.__call__`: code logits (B, m, K) for the queries ``rows`` (all n when None)."""
        b, n = tokens.shape
        nb = bucket(n, self.buckets)
        width = self.seq_len + 1
        device = tokens.device
        full = torch.zeros(nb, width, dtype=torch.bool, device=device)
        if mask is not None:
            full[:n, :kv_len] = mask if mask.dtype == torch.bool else mask > float("-inf")
        elif is_causal:
            full[:n, :n] = torch.ones(n, n, dtype=torch.bool, device=device).tril()
        else:
            full[:n, :kv_len] = True
        full[n:, 0] = True  # padding rows: see the module docstring
        padded_tokens = torch.zeros(b, nb, dtype=tokens.dtype, device=device)
        padded_tokens[:, :n] = tokens
        padded_slots = torch.full((nb,), self.spare, dtype=slots.dtype, device=device)
        padded_slots[:n] = slots
        additive = torch.zeros(full.shape, dtype=self.inner.embed.dtype, device=device).masked_fill_(~full, float("-inf"))
        self.shapes_seen.add((b, nb))
        logits = self._step(cache.kv, padded_tokens, padded_slots, additive)
        picked = logits[:, :n] if rows is None else logits.index_select(1, rows)
        return picked.clone()  # CUDA-graph outputs are overwritten by the next replay
