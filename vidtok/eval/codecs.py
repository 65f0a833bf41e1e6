"""Tokenizers and learning-free codecs scored side by side on the same clips: PSNR (mean ± standard
error over clips), SSIM, and for tokenizers codebook usage, so that a tokenizer is judged against what
plain rescaling gives (`vidtok.eval.baselines`).

Every codec's output is rounded to uint8 first (what a user gets back), then scored against the clip.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch

from vidtok.data.convert import to_tensor, to_uint8
from vidtok.eval.tokenizer_metrics import CodebookUsage, psnr, ssim

Codec = Callable[[torch.Tensor], torch.Tensor]


def _as_delivered(video: torch.Tensor) -> torch.Tensor:
    return torch.stack([to_tensor(v) for v in to_uint8(video.cpu())])


def tokenizer_codec(tokenizer: torch.nn.Module, usage: CodebookUsage | None = None) -> Codec:
    """A codec that encodes and decodes with ``tokenizer``, counting its codes in ``usage``."""
    device = next(tokenizer.parameters()).device

    def code(x: torch.Tensor) -> torch.Tensor:
        with torch.no_grad():
            codes = tokenizer.encode(x.to(device))
            if usage is not None:
                usage.update(codes)
            return tokenizer.decode(codes, frames=x.shape[2])

    return code


def score_codecs(clips: torch.Tensor, codecs: dict[str, Codec], batch_size: int = 16) -> dict[str, dict]:
    """{codec name: {"psnr", "psnr_se", "ssim", "clips"}} over ``clips`` (N, 3, T, H, W) in [-1, 1]."""
    if clips.ndim != 5 or len(clips) == 0:
        raise ValueError(f"expected clips shaped (N, 3, T, H, W) with N >= 1, got {tuple(clips.shape)}")
    out = {}
    for name, codec in codecs.items():
        p, s = [], []
        for start in range(0, len(clips), batch_size):
            x = clips[start : start + batch_size]
            y = _as_delivered(codec(x))
            p.append(psnr(x, y))
            s.append(ssim(x, y))
        p, s = torch.cat(p), torch.cat(s)
        se = p.std().item() / math.sqrt(len(p)) if len(p) > 1 else float("nan")
        out[name] = {"psnr": p.mean().item(), "psnr_se": se, "ssim": s.mean().item(), "clips": len(p)}
    return out
