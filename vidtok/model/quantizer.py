"""One interface over vector-quantize-pytorch's FSQ, VQ (EMA) and LFQ.

`Quantizer.forward(z (B, D, t, h, w)) -> (z_q, codes (B, t, h, w) long, aux_loss)`;
`Quantizer.lookup(codes) -> z_q`. Quantization always runs in float32 with autocast off: FSQ's
rounding and VQ's distances are unreliable in half precision.
"""

from __future__ import annotations

import math

import torch
import torch.distributed as dist
from torch import nn
from vector_quantize_pytorch import FSQ, LFQ, VectorQuantize

from vidtok.model.config import TokenizerConfig


def _to_tokens(z: torch.Tensor) -> torch.Tensor:
    """(B, D, t, h, w) -> (B, t*h*w, D)."""
    return z.flatten(2).transpose(1, 2)


def _from_tokens(x: torch.Tensor, shape: torch.Size) -> torch.Tensor:
    b, _, t, h, w = shape
    return x.transpose(1, 2).reshape(b, -1, t, h, w)


SATURATION = 2.0  # tanh(2) = 0.96: the outer FSQ levels stay reachable, the tanh's slope is still 0.07


def _fsq_pre_tanh(z: torch.Tensor, levels: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """FSQ.bound without the rounding: (value before the tanh, half range, offset); the bounded latent is
    tanh(pre) * half - offset, and level k of a dimension with L levels sits at k - L // 2."""
    half_l = (levels - 1) * (1 + 1e-3) / 2
    offset = torch.where(levels % 2 == 0, 0.5, 0.0)
    return z + torch.atanh(offset / half_l), half_l, offset


def fsq_saturation_loss(z: torch.Tensor, levels: list[int]) -> torch.Tensor:
    """Squared hinge on latents beyond +-`SATURATION` before FSQ's tanh (past the outer levels' edges,
    0.97-1.28). Without it a dimension can drift deep into the tanh, where no gradient reaches it, and
    stay on one level for nearly every token (measured: one of four dimensions 94% on its lowest level,
    37% codebook usage). z: (N, D) pre-bound latents, D = len(levels)."""
    pre, _, _ = _fsq_pre_tanh(z, torch.tensor(levels, device=z.device, dtype=z.dtype))
    return (pre.abs() - SATURATION).clamp_min(0).square().sum(-1).mean()


def fsq_entropy_loss(z: torch.Tensor, levels: list[int], temperature: float = 0.25, max_entries: int = 2**22) -> torch.Tensor:
    """LFQ's entropy loss for FSQ: mean per-token code entropy minus the entropy of the batch's mean code
    distribution, in nats, from soft assignments of the bounded latents to each dimension's levels.

    The batch term spreads the codes over the codebook, the per-token term keeps each latent near one
    level so rounding loses little. The joint distribution over all codes is the product of the
    per-dimension ones, held as a (tokens, codebook) matrix: a random subset of the tokens keeps it within
    `max_entries` (16 MB; 256 tokens at least) for large codebooks. z: (N, D) pre-bound latents.
    """
    keep = max(256, max_entries // math.prod(levels))
    if z.shape[0] > keep:
        z = z[torch.randperm(z.shape[0], device=z.device)[:keep]]
    pre, half_l, offset = _fsq_pre_tanh(z, torch.tensor(levels, device=z.device, dtype=z.dtype))
    bounded = torch.tanh(pre) * half_l - offset
    per_token, joint = z.new_zeros(()), z.new_ones(z.shape[0], 1)
    for d, n in enumerate(levels):
        centres = torch.arange(n, device=z.device, dtype=z.dtype) - n // 2
        p = torch.softmax(-((bounded[:, d:d + 1] - centres) ** 2) / temperature, dim=-1)  # (N, n)
        per_token = per_token - (p * p.clamp_min(1e-9).log()).sum(-1).mean()
        joint = (p[:, :, None] * joint[:, None, :]).flatten(1)  # dimension 0 varies fastest, as in FSQ's index
    mean = joint.mean(0)
    return per_token + (mean * mean.clamp_min(1e-9).log()).sum()


class Quantizer(nn.Module):
    """Quantizer selected by `cfg.quantizer`; `dim` is the channel count it expects."""

    def __init__(self, cfg: TokenizerConfig) -> None:
        super().__init__()
        self.kind = cfg.quantizer
        self.codebook_size = cfg.codebook_size
        if self.kind == "fsq":
            self.dim = len(cfg.fsq_levels)
            self.impl = FSQ(levels=list(cfg.fsq_levels))
            self.levels = list(cfg.fsq_levels)  # a Python list: reading FSQ's buffer would sync a GPU each step
            self.entropy_weight, self.saturation_weight = cfg.fsq_entropy_weight, cfg.fsq_saturation_weight
        elif self.kind == "vq":
            self.dim = cfg.latent_dim
            # library defaults (decay 0.8, random init) collapse the codebook; EMA 0.99 + k-means init +
            # dead-code replacement keep it in use. DDP sync is switched on per call (see _sync_ddp).
            self.impl = VectorQuantize(
                dim=self.dim,
                codebook_size=cfg.codebook_size,
                decay=cfg.vq_decay,
                kmeans_init=True,
                kmeans_iters=10,
                threshold_ema_dead_code=cfg.vq_dead_code_threshold,
                commitment_weight=cfg.vq_commitment_weight,
                sync_codebook=False,
            )
        else:
            self.dim = int(math.log2(cfg.codebook_size))
            self.impl = LFQ(dim=self.dim, codebook_size=cfg.codebook_size, entropy_loss_weight=cfg.lfq_entropy_weight)

    def _sync_ddp(self) -> None:
        """Make VQ's EMA statistics and k-means init all-reduce across ranks when a process group is up.

        The library decides `sync_codebook` once, at construction, which usually precedes the process
        group; deciding per call keeps the ranks' codebooks identical however the module was built.
        """
        if self.kind != "vq":
            return
        cb = self.impl._codebook
        on = dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1
        if on == cb.use_ddp:
            return
        from vector_quantize_pytorch.vector_quantize_pytorch import batched_sample_vectors, noop, sample_vectors_distributed

        cb.use_ddp = on
        cb.sample_fn = cb.replace_sample_fn = sample_vectors_distributed if on else batched_sample_vectors
        cb.kmeans_all_reduce_fn = cb.all_reduce_fn = dist.all_reduce if on else noop

    def forward(self, z: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        shape, dtype = z.shape, z.dtype
        with torch.autocast(z.device.type, enabled=False):
            x = _to_tokens(z.float())
            if self.kind == "fsq":
                q, idx = self.impl(x)
                aux = x.new_zeros(())
                if self.training:
                    tokens = x.flatten(0, 1)
                    if self.entropy_weight > 0:
                        aux = aux + self.entropy_weight * fsq_entropy_loss(tokens, self.levels)
                    if self.saturation_weight > 0:
                        aux = aux + self.saturation_weight * fsq_saturation_loss(tokens, self.levels)
            elif self.kind == "vq":
                self._sync_ddp()
                q, idx, aux = self.impl(x)
            else:
                q, idx, aux = self.impl(x)
        b, _, t, h, w = shape
        return _from_tokens(q, shape).to(dtype), idx.reshape(b, t, h, w).long(), aux.sum()

    def lookup(self, codes: torch.Tensor) -> torch.Tensor:
        """codes (B, t, h, w) -> quantized latents (B, D, t, h, w)."""
        b, t, h, w = codes.shape
        flat = codes.reshape(b, t * h * w)
        if self.kind == "fsq":
            q = self.impl.indices_to_codes(flat)  # (B, N, D): 2-D indices are not treated as an image
        elif self.kind == "vq":
            q = self.impl.get_output_from_indices(flat)
        else:
            q = self.impl.indices_to_codes(flat)
        return q.transpose(1, 2).reshape(b, self.dim, t, h, w)
