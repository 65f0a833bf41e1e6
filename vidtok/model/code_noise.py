"""Corrupted codes for training: what a sampler's few wrong draws look like.

A network trained only on the codes an encoder makes has never seen a code out of place, as a sampled
GPT's video holds a few of. Trained on codes of which a share is replaced, against clean targets, it
learns to carry on from them: the GPT from noisy context (`context_noise`), the tokenizer's decoder
drawing what the surrounding codes agree on instead of a blob (`code_noise`).
"""

from __future__ import annotations

import torch


def corrupt_codes(codes: torch.Tensor, rate: float | torch.Tensor, codebook_size: int,
                  generator: torch.Generator | None = None, from_batch: float = 0.0) -> torch.Tensor:
    """Replace each code, independently with probability `rate`, by another code.

    rate: a number, or a tensor broadcastable to `codes` (e.g. one rate per clip). A replacement is a
    uniformly random code, or with probability `from_batch` a code taken from a random position of
    `codes`: a plausible code in the wrong place, as a sampler's wrong draws mostly are.
    """
    top = float(rate.max()) if torch.is_tensor(rate) else float(rate)
    low = float(rate.min()) if torch.is_tensor(rate) else float(rate)
    if not (0.0 <= low and top <= 1.0):
        raise ValueError(f"the share of codes replaced (context_noise, code_noise) must lie in [0, 1], got {rate}")
    if not 0.0 <= from_batch <= 1.0:
        raise ValueError(f"from_batch must lie in [0, 1], got {from_batch}")
    if top == 0.0:
        return codes
    dev = codes.device
    hit = torch.rand(codes.shape, generator=generator, device=dev) < rate
    noise = torch.randint(0, codebook_size, codes.shape, generator=generator, device=dev)
    if from_batch > 0:
        flat = codes.flatten()
        picked = flat[torch.randint(0, flat.numel(), (flat.numel(),), generator=generator, device=dev)].view_as(codes)
        take = torch.rand(codes.shape, generator=generator, device=dev) < from_batch
        noise = torch.where(take, picked, noise)
    return torch.where(hit, noise, codes)
