"""Token sampling: classifier-free guidance, temperature, top-k, top-p, seeded."""

from __future__ import annotations

import torch


def guide(cond: torch.Tensor, uncond: torch.Tensor, scale: float) -> torch.Tensor:
    """u + s (c - u), written so that s = 1 returns `cond` bit for bit (and s = 0 returns `uncond`)."""
    return cond * scale + uncond * (1.0 - scale)


def filter_logits(logits: torch.Tensor, top_k: int | None = None, top_p: float | None = None) -> torch.Tensor:
    """Set logits outside the top-k / nucleus (top-p) set to -inf; the best token always survives."""
    if top_k is not None and top_k < logits.shape[-1]:
        kth = torch.topk(logits, top_k, dim=-1).values[..., -1:]
        logits = logits.masked_fill(logits < kth, float("-inf"))
    if top_p is not None and top_p < 1.0:
        sorted_logits, order = torch.sort(logits, dim=-1, descending=True)
        probs = sorted_logits.softmax(dim=-1)
        # drop a token when the tokens ranked above it already hold top_p of the mass
        drop_sorted = (probs.cumsum(dim=-1) - probs) >= top_p
        drop = torch.zeros_like(drop_sorted).scatter(-1, order, drop_sorted)
        logits = logits.masked_fill(drop, float("-inf"))
    return logits


def sample(logits: torch.Tensor, temperature: float = 1.0, top_k: int | None = None, top_p: float | None = None,
           generator: torch.Generator | None = None) -> torch.Tensor:
    """Logits (..., K) -> Long (...). temperature 0 = greedy.

    Uses the exponential-race form of categorical sampling (argmax p / E, E ~ Exp(1)): one random
    number per candidate from `generator`, no host sync, same draws for the same shapes. With top_k
    the candidates are only the k best tokens, so the race (the costly part: a log per draw) runs
    over k instead of K entries.
    """
    if temperature == 0:
        return logits.argmax(dim=-1)
    if top_k is None or top_k >= logits.shape[-1]:
        logits = filter_logits(logits.float() / temperature, None, top_p)
        probs = logits.softmax(dim=-1)
        race = torch.empty_like(probs).exponential_(1.0, generator=generator)
        return (probs / race).argmax(dim=-1)
    values, index = torch.topk(logits.float(), top_k, dim=-1)  # sorted, best first
    values = values / temperature
    if top_p is not None and top_p < 1.0:
        probs = values.softmax(dim=-1)
        values = values.masked_fill((probs.cumsum(dim=-1) - probs) >= top_p, float("-inf"))
    probs = values.softmax(dim=-1)
    race = torch.empty_like(probs).exponential_(1.0, generator=generator)
    return index.gather(-1, (probs / race).argmax(dim=-1, keepdim=True)).squeeze(-1)
