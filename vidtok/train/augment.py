"""Salient crops: train on small windows that usually contain the moving content.

A conv tokenizer is translation-equivariant, so it can train on crops and code full frames. On clips
whose content is a few small objects, a random crop is mostly background; sampling the crop position in
proportion to the saliency (distance from the clip's median colour) it contains spends the compute
where the reconstruction is hard. A share of crops stays uniform so that plain background and
borders keep being seen.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def salient_crop(
    video: torch.Tensor, size: int, uniform: float = 0.25, generator: torch.Generator | None = None
) -> torch.Tensor:
    """(B, C, T, H, W) -> (B, C, T, size, size) crops; position drawn by saliency or, with prob. `uniform`, uniformly."""
    b, _, _, h, w = video.shape
    if size > min(h, w):
        raise ValueError(f"crop size {size} exceeds the frame size {h}x{w}")
    if size == h and size == w:
        return video
    median = video.flatten(2).median(dim=2).values[:, :, None, None, None]
    saliency = (video - median).abs().amax(dim=1).mean(dim=1)  # (B, H, W)
    mass = F.avg_pool2d(saliency[:, None], size, stride=1)[:, 0].flatten(1).double()  # (B, positions)
    positions = w - size + 1
    crops = []
    for i in range(b):
        p = mass[i]
        if torch.rand((), generator=generator) < uniform or p.sum() <= 0:
            p = torch.ones_like(p)
        k = int(torch.multinomial(p / p.sum(), 1, generator=generator))
        y, x = divmod(k, positions)
        crops.append(video[i, :, :, y : y + size, x : x + size])
    return torch.stack(crops)
