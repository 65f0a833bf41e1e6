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


class Quantizer(nn.Module):
    """Quantizer selected by `cfg.quantizer`; `dim` is the channel count it expects."""

    def __init__(self, cfg: TokenizerConfig) -> None:
        super().__init__()
        self.kind = cfg.quantizer
        self.codebook_size = cfg.codebook_size
        if self.kind == "fsq":
            self.dim = len(cfg.fsq_levels)
            self.impl = FSQ(levels=list(cfg.fsq_levels))
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
