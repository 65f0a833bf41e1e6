"""Tokenizer quality: reconstruction PSNR / SSIM and codebook usage.

Pure functions on network tensors (float (B, 3, T, H, W) in [-1, 1], codes (B, t, h, w) long),
plus two small accumulators so that the stage-1 LightningModule and an eval tool can sum over many
batches and read the totals once. Nothing here knows about Lightning.
"""

from __future__ import annotations

import math

import torch
from torchmetrics.functional.image import structural_similarity_index_measure

DATA_RANGE = 2.0  # videos live in [-1, 1]
MAX_PSNR = 100.0  # identical videos would give +inf, which poisons every mean it enters


def _check_pair(x: torch.Tensor, x_hat: torch.Tensor) -> None:
    if x.shape != x_hat.shape or x.ndim != 5 or x.shape[1] != 3:
        raise ValueError(
            f"expected two float videos shaped (B, 3, T, H, W), got {tuple(x.shape)} and {tuple(x_hat.shape)}"
        )


def psnr(x: torch.Tensor, x_hat: torch.Tensor, data_range: float = DATA_RANGE) -> torch.Tensor:
    """Per-video PSNR in dB (B,) over all frames and pixels, capped at ``MAX_PSNR``."""
    _check_pair(x, x_hat)
    mse = (x.float() - x_hat.float()).pow(2).flatten(1).mean(1)
    floor = data_range**2 * 10 ** (-MAX_PSNR / 10)
    return 10 * torch.log10(data_range**2 / mse.clamp_min(floor))


def ssim(x: torch.Tensor, x_hat: torch.Tensor, data_range: float = DATA_RANGE) -> torch.Tensor:
    """Per-video SSIM (B,): 2D SSIM (Gaussian window 11, sigma 1.5) on every frame, averaged over frames."""
    _check_pair(x, x_hat)
    b, c, t, h, w = x.shape
    if min(h, w) < 11:
        raise ValueError(f"SSIM needs frames of at least 11x11 pixels, got {h}x{w}")
    frames = lambda v: v.float().transpose(1, 2).reshape(b * t, c, h, w)
    per_frame = structural_similarity_index_measure(
        frames(x_hat), frames(x), data_range=data_range, reduction="none"
    )
    return per_frame.reshape(b, t).mean(1)


def reconstruction_metrics(x: torch.Tensor, x_hat: torch.Tensor) -> dict[str, float]:
    """Batch means of PSNR and SSIM between originals ``x`` and reconstructions ``x_hat``."""
    with torch.no_grad():
        return {"psnr": psnr(x, x_hat).mean().item(), "ssim": ssim(x, x_hat).mean().item()}


def codebook_counts(codes: torch.Tensor, codebook_size: int) -> torch.Tensor:
    """How often each code occurs in ``codes`` (any shape of integer indices): long (codebook_size,)."""
    if codes.dtype.is_floating_point or codes.dtype == torch.bool:
        raise ValueError(f"codes must be integer indices, got dtype {codes.dtype}")
    flat = codes.reshape(-1).long()
    if flat.numel() and (int(flat.min()) < 0 or int(flat.max()) >= codebook_size):
        raise ValueError(
            f"codes out of range for a codebook of {codebook_size}: min {int(flat.min())}, max {int(flat.max())}"
        )
    return torch.bincount(flat.cpu(), minlength=codebook_size)


def codebook_usage(counts: torch.Tensor) -> dict[str, float]:
    """Usage summary of code counts (codebook_size,).

    ``used_fraction``: share of codes seen at least once. ``perplexity``: exp of the entropy of the
    empirical code distribution (codebook_size when all codes are equally used, 1 when one is).
    """
    counts = counts.double()
    total = counts.sum().item()
    if total == 0:
        raise ValueError("codebook usage of zero codes is undefined; accumulate some batches first")
    p = counts[counts > 0] / total
    entropy = -(p * p.log()).sum().item()
    return {
        "used_fraction": (counts > 0).double().mean().item(),
        "perplexity": math.exp(entropy),
        "used": int((counts > 0).sum()),
        "codebook_size": int(counts.numel()),
    }


class CodebookUsage:
    """Code counts summed over batches; ``compute()`` gives ``codebook_usage`` of the total."""

    def __init__(self, codebook_size: int) -> None:
        if codebook_size < 1:
            raise ValueError(f"codebook_size must be >= 1, got {codebook_size}")
        self.codebook_size = codebook_size
        self.counts = torch.zeros(codebook_size, dtype=torch.long)

    def update(self, codes: torch.Tensor) -> None:
        self.counts += codebook_counts(codes, self.codebook_size)

    def compute(self) -> dict[str, float]:
        return codebook_usage(self.counts)

    def reset(self) -> None:
        self.counts.zero_()


class ReconstructionStats:
    """Per-video PSNR and SSIM summed over batches; ``compute()`` gives the means over all videos."""

    def __init__(self) -> None:
        self.reset()

    def update(self, x: torch.Tensor, x_hat: torch.Tensor) -> None:
        with torch.no_grad():
            self.psnr_sum += psnr(x, x_hat).sum().item()
            self.ssim_sum += ssim(x, x_hat).sum().item()
        self.count += x.shape[0]

    def compute(self) -> dict[str, float]:
        if self.count == 0:
            raise ValueError("no videos accumulated yet")
        return {"psnr": self.psnr_sum / self.count, "ssim": self.ssim_sum / self.count, "videos": self.count}

    def reset(self) -> None:
        self.psnr_sum = self.ssim_sum = 0.0
        self.count = 0
