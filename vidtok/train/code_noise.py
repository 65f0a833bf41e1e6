"""Corrupted codes for decoder training: a GPT's sample holds a few codes that are out of place.

A decoder trained only on the codes its encoder makes has never seen such a code, and draws it as a
visible blob (on Shapes, replacing 1% of a clip's codes at random leaves about half of the
reconstructions clean). Training the decoder on codes of which a share is replaced, against the clean
clip, teaches it to draw what the surrounding codes agree on instead.

Half of the replacements are uniform over the codebook, half are codes taken from elsewhere in the
batch: those are plausible codes in the wrong place, as a sampler's wrong draws mostly are.
"""

from __future__ import annotations

import torch


def corrupt_codes(codes: torch.Tensor, max_share: float, codebook_size: int,
                  generator: torch.Generator | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """(codes with a share of each clip's entries replaced, bool mask of the replaced ones).

    codes: (B, t, h, w). Each clip draws its share uniformly in [0, max_share], so the decoder keeps
    seeing clean clips too.
    """
    if not 0 <= max_share <= 1:
        raise ValueError(f"code noise share must lie in [0, 1], got {max_share}")
    b = codes.shape[0]
    dev = codes.device
    share = torch.rand(b, 1, 1, 1, device=dev, generator=generator) * max_share
    mask = torch.rand(codes.shape, device=dev, generator=generator) < share
    uniform = torch.randint(0, codebook_size, codes.shape, device=dev, generator=generator)
    flat = codes.flatten()
    elsewhere = flat[torch.randint(0, flat.numel(), (flat.numel(),), device=dev, generator=generator)].view_as(codes)
    pick_uniform = torch.rand(codes.shape, device=dev, generator=generator) < 0.5
    replacement = torch.where(pick_uniform, uniform, elsewhere)
    return torch.where(mask, replacement, codes), mask
