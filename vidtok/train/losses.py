"""Reconstruction losses for the tokenizer.

Small objects on a flat background are a few per cent of the pixels: an unweighted loss lets the
network paint the background and drop them (a black canvas scores ~21 dB on Shapes). `saliency_weights`
up-weights each pixel by how far it is from its clip's median colour, a generic "foreground" measure
that needs no labels and works on any video (a textured clip just gets flatter weights).

The weights must be symmetric across an object's edge (`spread_saliency`): weighting only the object's
own pixels makes painting a background pixel cheaper than missing an object pixel, so wherever the edge
is uncertain the weighted-L2 optimum is the object colour, and every object comes back dilated
(measured: small circles about 17 pixels too big per frame, read back as squares).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def saliency(video: torch.Tensor) -> torch.Tensor:
    """(B, 1, T, H, W) = max over channels of |video - the clip's median colour|, in [0, 2].

    The median (per clip and channel) is taken over every 2nd frame and every 4th row and column: the
    background colour of a clip does not need every pixel, and the full median was a tenth of a step.
    """
    sample = video[:, :, ::2, ::4, ::4].flatten(2)
    median = sample.median(dim=2).values[:, :, None, None, None]
    return (video - median).abs().amax(dim=1, keepdim=True)


def spread_saliency(saliency_map: torch.Tensor, pixels: int) -> torch.Tensor:
    """Each pixel takes the largest saliency within `pixels` of it in its frame (a max filter): the band
    around an object weighs as much as the object, so a wrong pixel costs the same on either side of an
    edge and uncertain edges come back at the mean colour instead of the object's."""
    if pixels <= 0:
        return saliency_map
    k = 2 * pixels + 1
    return F.max_pool3d(saliency_map, (1, k, k), stride=1, padding=(0, pixels, pixels))


def saliency_weights(video: torch.Tensor, strength: float, saliency_map: torch.Tensor | None = None) -> torch.Tensor:
    """Per-pixel weights (B, 1, T, H, W) = 1 + strength * saliency (see `saliency`; pass `saliency_map`
    when it is already computed, e.g. cropped along with the video)."""
    if strength == 0:
        return video.new_ones(video.shape[0], 1, *video.shape[2:])
    return 1 + strength * (saliency(video) if saliency_map is None else saliency_map)


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
