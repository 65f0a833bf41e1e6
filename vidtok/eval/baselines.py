"""What a tokenizer must beat: codecs with no learning, scored like one.

`rescale`: each frame shrunk by ``factor`` (antialiased bicubic) and enlarged back (bicubic), the
classic yardstick of a tokenizer's spatial compression (8x keeps 24 bits per 8x8 pixels per frame, about
10x what a 4x8x8 tokenizer with 2^16 codes keeps). `mean_colour`: each clip painted its mean colour.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def rescale(video: torch.Tensor, factor: int) -> torch.Tensor:
    """float (B, 3, T, H, W) in [-1, 1] -> the same, each frame shrunk ``factor`` times and enlarged back."""
    b, c, t, h, w = video.shape
    if h % factor or w % factor:
        raise ValueError(f"frames of {h}x{w} do not divide by factor {factor}")
    frames = video.transpose(1, 2).reshape(b * t, c, h, w)
    small = F.interpolate(frames, size=(h // factor, w // factor), mode="bicubic", antialias=True, align_corners=False)
    back = F.interpolate(small, size=(h, w), mode="bicubic", align_corners=False).clamp(-1, 1)
    return back.reshape(b, t, c, h, w).transpose(1, 2)


def mean_colour(video: torch.Tensor) -> torch.Tensor:
    """float (B, 3, T, H, W) -> each clip its mean colour everywhere."""
    return video.mean(dim=(2, 3, 4), keepdim=True).expand_as(video)
