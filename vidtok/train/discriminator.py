"""A small 3D patch discriminator for the optional adversarial loss (hinge GAN)."""

from __future__ import annotations

import torch
from torch import nn


class PatchDiscriminator3D(nn.Module):
    """video (B, 3, T, H, W) -> logits (B, 1, T', H', W'), one per space-time patch.

    Strided 3D convs with GroupNorm; no spectral norm (hinge loss plus a warm-up is enough at this size).
    """

    def __init__(self, channels: int = 32, layers: int = 3) -> None:
        super().__init__()
        mods: list[nn.Module] = [nn.Conv3d(3, channels, (3, 4, 4), stride=(1, 2, 2), padding=(1, 1, 1)), nn.LeakyReLU(0.2)]
        c = channels
        for _ in range(layers - 1):
            mods += [
                nn.Conv3d(c, 2 * c, (3, 4, 4), stride=(2, 2, 2), padding=(1, 1, 1)),
                nn.GroupNorm(8, 2 * c),
                nn.LeakyReLU(0.2),
            ]
            c *= 2
        mods.append(nn.Conv3d(c, 1, 3, padding=1))
        self.net = nn.Sequential(*mods)

    def forward(self, video: torch.Tensor) -> torch.Tensor:
        return self.net(video)
