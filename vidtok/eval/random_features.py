"""Video features that need no download: a fixed-seed random 3D CNN, and hand-made statistics.

Random-CNN architecture (weights drawn in code, so every machine builds the same network):

- input uint8 (T, H, W, 3) -> float (3, T, 64, 64) in [-1, 1] (frames resized bilinearly with
  antialiasing when they are not 64x64; T is kept, any T >= 1 works);
- the three frame-difference channels ``x[t] - x[t-1]`` (zero at t = 0) are appended: a random
  network this shallow barely tells a frozen clip from a moving one on RGB alone;
- four stages ``Conv3d(kernel 3, padding 1) -> LeakyReLU(0.2)`` with 8, 16, 32, 64 channels and
  strides (1,2,2), (2,2,2), (2,2,2), (2,2,2): 17x64x64 -> 17x32x32 -> 9x16x16 -> 5x8x8 -> 3x4x4;
- the feature of a video is, for every stage, the mean and the maximum of each channel over
  (t, h, w): 2 * (8 + 16 + 32 + 64) = 240 numbers. Early stages see colour and texture, late
  ones shape and motion. The maxima keep a small object (and any stray artefact) visible that a
  mean over a black canvas washes out.

Choices measured on Shapes (64 vs 64 clips, distance / real-vs-real floor): mean + max tells
frozen, jittering and blurred clips from real ones 1.5-2.5x better than mean + std, and the
narrower net (240 rather than 480 numbers) gains ~1.4x because the covariance of a few hundred
videos is less noisy in fewer dimensions. Its blind spot is pixel noise and colour swaps, which
``hand_features`` (colour histogram, pixel statistics) see at once: report both.

Weights are uniform, He-scaled for LeakyReLU(0.2) (unit gain through depth), biases zero, drawn
from numpy's PCG64 ``default_rng(RANDOM_CNN_SEED)`` as float64 uniforms (a stream numpy keeps
stable across versions and platforms), layer after layer in order.
"""

from __future__ import annotations

import math
from typing import Iterable, Iterator

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

RANDOM_CNN_SEED = 20240611
RANDOM_CNN_SIDE = 64
RANDOM_CNN_CHANNELS = (8, 16, 32, 64)
RANDOM_CNN_STRIDES = ((1, 2, 2), (2, 2, 2), (2, 2, 2), (2, 2, 2))
_SLOPE = 0.2
FOREGROUND_THRESHOLD = 100  # brightest-channel level of an object pixel, as the Shapes reader uses


class RandomVideoCNN(nn.Module):
    """The fixed random 3D CNN described in the module docstring; ``forward`` gives (B, 240) features."""

    def __init__(self, seed: int = RANDOM_CNN_SEED) -> None:
        super().__init__()
        rng = np.random.default_rng(seed)
        convs, c_in = [], 6
        for c_out, stride in zip(RANDOM_CNN_CHANNELS, RANDOM_CNN_STRIDES):
            conv = nn.Conv3d(c_in, c_out, kernel_size=3, stride=stride, padding=1)
            fan_in = c_in * 27
            bound = math.sqrt(3.0) * math.sqrt(2.0 / (1 + _SLOPE**2)) / math.sqrt(fan_in)
            w = (rng.random(conv.weight.numel()) * 2 - 1) * bound
            with torch.no_grad():
                conv.weight.copy_(torch.from_numpy(w.reshape(conv.weight.shape)))
                conv.bias.zero_()
            convs.append(conv)
            c_in = c_out
        self.convs = nn.ModuleList(convs)
        self.requires_grad_(False)
        self.eval()

    @property
    def dim(self) -> int:
        return 2 * sum(RANDOM_CNN_CHANNELS)

    def forward(self, video: torch.Tensor) -> torch.Tensor:
        """float (B, 3, T, H, W) in [-1, 1] -> float (B, 240)."""
        b, c, t, h, w = video.shape
        if (h, w) != (RANDOM_CNN_SIDE, RANDOM_CNN_SIDE):
            frames = video.transpose(1, 2).reshape(b * t, c, h, w)
            frames = F.interpolate(frames, size=(RANDOM_CNN_SIDE,) * 2, mode="bilinear", antialias=True)
            video = frames.reshape(b, t, c, RANDOM_CNN_SIDE, RANDOM_CNN_SIDE).transpose(1, 2)
        # motion made explicit: a random net of this depth barely tells a frozen clip from a moving one
        motion = torch.cat([torch.zeros_like(video[:, :, :1]), video.diff(dim=2)], 2)
        feats, x = [], torch.cat([video, motion], 1)
        for conv in self.convs:
            x = F.leaky_relu(conv(x), _SLOPE)
            flat = x.flatten(2)
            feats += [flat.mean(2), flat.amax(2)]
        return torch.cat(feats, 1)


def _check(video: np.ndarray) -> np.ndarray:
    v = np.asarray(video)
    if v.dtype != np.uint8 or v.ndim != 4 or v.shape[-1] != 3 or min(v.shape[:3]) < 1:
        raise ValueError(f"expected uint8 videos shaped (T, H, W, 3), got {v.shape} {v.dtype}")
    return v


def same_shape_batches(videos: Iterable[np.ndarray], batch_size: int) -> Iterator[np.ndarray]:
    """Stack consecutive videos of one shape into uint8 batches (B, T, H, W, 3) of at most ``batch_size``."""
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    pending: list[np.ndarray] = []
    for video in videos:
        v = _check(video)
        if pending and (v.shape != pending[0].shape or len(pending) == batch_size):
            yield np.stack(pending)
            pending = []
        pending.append(v)
    if pending:
        yield np.stack(pending)


_CACHE: dict[tuple[int, str], RandomVideoCNN] = {}


def random_cnn_features(
    videos: Iterable[np.ndarray], batch_size: int = 32, device: str | torch.device = "cpu", seed: int = RANDOM_CNN_SEED
) -> np.ndarray:
    """Random-CNN features (N, 240) float64 of uint8 videos (T, H, W, 3) (an array (N, T, H, W, 3) works too)."""
    key = (seed, str(device))
    if key not in _CACHE:
        _CACHE[key] = RandomVideoCNN(seed).to(device)
    net = _CACHE[key]
    out = []
    with torch.no_grad():
        for batch in same_shape_batches(videos, batch_size):
            x = torch.from_numpy(batch).to(device).permute(0, 4, 1, 2, 3).float().div_(127.5).sub_(1.0)
            out.append(net(x).double().cpu().numpy())
    if not out:
        raise ValueError("no videos given")
    return np.concatenate(out)


def hand_features(videos: Iterable[np.ndarray]) -> np.ndarray:
    """Hand-made statistics (N, 75) float64 of uint8 videos (T, H, W, 3); any size and length.

    Per video: per-channel mean and std of all pixels (6); mean and std over frames of the
    foreground fraction (2); mean absolute frame difference and its std over frame pairs (2, 0 for
    one frame); mean spatial gradient magnitude (1); 4x4x4 RGB histogram of foreground pixels,
    normalised (64; all zero without foreground). Scaled so that every group is O(1).
    """
    rows = []
    for video in videos:
        v = _check(video)
        t, h, w, _ = v.shape
        # channel-first and contiguous: numpy reduces over a trailing axis of 3 very slowly
        c = np.ascontiguousarray(np.moveaxis(v, -1, 0)).reshape(3, t, h * w)
        cf = c.astype(np.float32) / 255.0
        fg = np.maximum(np.maximum(c[0], c[1]), c[2]) >= FOREGROUND_THRESHOLD
        frac = fg.mean(1)
        diff = np.abs(np.diff(cf, axis=1)).mean((0, 2)) if t > 1 else np.zeros(1, np.float32)
        img = cf.reshape(3, t, h, w)
        grad = np.abs(np.diff(img, axis=2)).mean() + np.abs(np.diff(img, axis=3)).mean()
        bins = (c[0] >> 6).astype(np.int64) * 16 + (c[1] >> 6) * 4 + (c[2] >> 6)  # 4 levels per channel
        hist = np.bincount(bins[fg], minlength=64).astype(np.float64)
        hist /= max(hist.sum(), 1.0)
        rows.append(
            np.concatenate(
                [cf.mean((1, 2)), cf.std((1, 2)), [frac.mean() * 10, frac.std() * 10],
                 [diff.mean() * 10, diff.std() * 10], [grad * 10], hist]
            )
        )
    if not rows:
        raise ValueError("no videos given")
    return np.asarray(rows, dtype=np.float64)
