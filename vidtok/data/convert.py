"""Conversions between the two video layouts used across the project.

- Files and evaluators speak ``uint8`` arrays shaped (T, H, W, 3): what ``av`` decodes and encodes.
- Networks speak ``float32`` tensors shaped (C, T, H, W) (or batched (B, C, T, H, W)) in [-1, 1].
"""

from __future__ import annotations

import numpy as np
import torch


def to_tensor(video: np.ndarray | torch.Tensor) -> torch.Tensor:
    """uint8 (T, H, W, 3) -> float32 (3, T, H, W) in [-1, 1]."""
    v = video.numpy() if isinstance(video, torch.Tensor) else np.asarray(video)
    if v.dtype != np.uint8 or v.ndim != 4 or v.shape[-1] != 3:
        raise ValueError(f"expected a uint8 video shaped (T, H, W, 3), got {tuple(v.shape)} {v.dtype}")
    # numpy, not torch: torch's intra-op threads make this small elementwise op ~10x slower on a
    # busy machine when data is loaded in the main process.
    out = v.transpose(3, 0, 1, 2).astype(np.float32, order="C")
    out /= 127.5
    out -= 1.0
    return torch.from_numpy(out)


def to_uint8(video: torch.Tensor) -> np.ndarray:
    """float (3, T, H, W) or (B, 3, T, H, W) in [-1, 1] -> uint8 (T, H, W, 3) or (B, T, H, W, 3).

    Values outside [-1, 1] are clipped; rounding is to nearest so that
    ``to_uint8(to_tensor(x)) == x`` exactly.
    """
    if video.ndim not in (4, 5) or video.shape[-4] != 3:
        raise ValueError(f"expected a float video shaped (3, T, H, W) or (B, 3, T, H, W), got {tuple(video.shape)}")
    v = video.detach().float().add(1.0).mul(127.5).round_().clamp_(0, 255).to(torch.uint8)
    v = v.movedim(-4, -1)
    return v.cpu().numpy()
