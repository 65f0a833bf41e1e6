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

from vidtok.train.losses import saliency


def crop_positions(
    saliency_map: torch.Tensor, size: int, uniform: float = 0.25, generator: torch.Generator | None = None
) -> list[tuple[int, int]]:
    """Top-left (y, x) of a size x size crop per clip of `saliency_map` (B, 1, T, H, W): drawn in proportion
    to the saliency the crop holds or, with probability `uniform`, uniformly."""
    b, _, _, h, w = saliency_map.shape
    if size > min(h, w):
        raise ValueError(f"crop size {size} exceeds the frame size {h}x{w}")
    s = saliency_map.mean(dim=(1, 2)).double()  # (B, H, W)
    # every window's sum from an integral image: a 32x32 average pool over the frame cost 25 ms a step
    integral = F.pad(s.cumsum(1).cumsum(2), (1, 0, 1, 0))
    mass = (integral[:, size:, size:] - integral[:, :-size, size:] - integral[:, size:, :-size]
            + integral[:, :-size, :-size]).clamp_min(0).flatten(1)
    positions = w - size + 1
    out = []
    for i in range(b):
        p = mass[i]
        if torch.rand((), generator=generator) < uniform or p.sum() <= 0:
            p = torch.ones_like(p)
        k = int(torch.multinomial(p / p.sum(), 1, generator=generator))
        out.append(divmod(k, positions))
    return out


def crop_at(x: torch.Tensor, positions: list[tuple[int, int]], size: int) -> torch.Tensor:
    """(B, C, T, H, W) -> (B, C, T, size, size): clip i cropped at positions[i] = (y, x)."""
    return torch.stack([x[i, :, :, y : y + size, c : c + size] for i, (y, c) in enumerate(positions)])


def salient_crop(
    video: torch.Tensor, size: int, uniform: float = 0.25, generator: torch.Generator | None = None
) -> torch.Tensor:
    """(B, C, T, H, W) -> (B, C, T, size, size) crops; position drawn by saliency or, with prob. `uniform`, uniformly."""
    if size == video.shape[-2] == video.shape[-1]:
        return video
    return crop_at(video, crop_positions(saliency(video), size, uniform, generator), size)
