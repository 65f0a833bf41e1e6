"""Reconstruction losses for the tokenizer.

Small objects on a flat background are a few per cent of the pixels: an unweighted loss lets the
network paint the background and drop them (a black canvas scores ~21 dB on Shapes). `saliency_weights`
up-weights each pixel by how far it is from its clip's median colour, a generic "foreground" measure
that needs no labels and works on any video (a textured clip just gets flatter weights).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def saliency_weights(video: torch.Tensor, strength: float) -> torch.Tensor:
    """Per-pixel weights (B, 1, T, H, W) = 1 + strength * max_c |video - median colour of the clip|.

    `video` is (B, 3, T, H, W) in [-1, 1]; the median is per clip and channel over all frames and pixels.
    """
    if strength == 0:
        return video.new_ones(video.shape[0], 1, *video.shape[2:])
    median = video.flatten(2).median(dim=2).values[:, :, None, None, None]
    return 1 + strength * (video - median).abs().amax(dim=1, keepdim=True)


def reconstruction_loss(
    recon: torch.Tensor, target: torch.Tensor, weights: torch.Tensor, l1: float = 1.0, l2: float = 1.0
) -> torch.Tensor:
    """Weighted L1 + L2 (L1 keeps edges sharp, L2 is what PSNR measures)."""
    err = recon.float() - target.float()
    loss = recon.new_zeros((), dtype=torch.float32)
    if l1:
        loss = loss + l1 * (weights * err.abs()).mean()
    if l2:
        loss = loss + l2 * (weights * err.square()).mean()
    return loss


def hinge_d_loss(real_logits: torch.Tensor, fake_logits: torch.Tensor) -> torch.Tensor:
    """Discriminator hinge loss."""
    return 0.5 * (F.relu(1 - real_logits).mean() + F.relu(1 + fake_logits).mean())


def hinge_g_loss(fake_logits: torch.Tensor) -> torch.Tensor:
    """Generator side of the hinge GAN loss."""
    return -fake_logits.mean()
