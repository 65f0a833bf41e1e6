"""Bring arrays and images of any common layout to the project's uint8 RGB (T, H, W, 3) video."""

from __future__ import annotations

import numpy as np
from PIL import Image


def as_rgb_video(video: np.ndarray) -> np.ndarray:
    """uint8 (T, H, W), (T, H, W, 1), (T, H, W, 3) or (T, H, W, 4) -> contiguous uint8 (T, H, W, 3).

    Grayscale is repeated over the three channels; an alpha channel is dropped (colours are kept as
    stored, the same rule ``av`` applies when it decodes a video with alpha to rgb24).
    """
    v = np.asarray(video)
    if v.dtype != np.uint8:
        raise ValueError(
            f"expected a uint8 video shaped (T, H, W, 3), got dtype {v.dtype} shape {v.shape}"
            " (convert network output with vidtok.data.convert.to_uint8)"
        )
    if v.ndim == 3:
        v = v[..., None]
    if v.ndim != 4 or v.shape[-1] not in (1, 3, 4):
        raise ValueError(f"expected a video shaped (T, H, W, C) with C in 1, 3, 4, got shape {v.shape}")
    if v.shape[0] == 0 or v.shape[1] == 0 or v.shape[2] == 0:
        raise ValueError(f"expected a non-empty video, got shape {v.shape}")
    if v.shape[-1] == 1:
        v = np.repeat(v, 3, axis=-1)
    elif v.shape[-1] == 4:
        v = v[..., :3]
    return np.ascontiguousarray(v)


def image_to_rgb(image: Image.Image) -> np.ndarray:
    """Any PIL image (grayscale, 16-bit, palette, with alpha) -> uint8 (H, W, 3)."""
    if image.mode in ("I;16", "I;16B", "I;16L", "I"):
        # 16-bit grayscale PNGs: keep the top 8 bits rather than letting PIL clip at 255.
        a = np.asarray(image, dtype=np.uint32) >> 8
        return np.repeat(a.astype(np.uint8)[..., None], 3, axis=-1)
    if image.mode != "RGB":
        image = image.convert("RGB")
    return np.asarray(image, dtype=np.uint8)
