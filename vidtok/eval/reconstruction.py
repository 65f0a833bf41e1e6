"""A tokenizer scored on the Shapes splits: PSNR, SSIM, codebook usage and perplexity, and how often the
Shapes attributes read back from its reconstructions match the clip's caption.

Reconstructions are rounded to uint8 first (what a user gets back), then scored against the clip.
Codebook usage is the fraction of codes used at least once over all clips of all evaluated splits.
"""

from __future__ import annotations

import numpy as np
import torch

from vidtok.data.convert import to_tensor, to_uint8
from vidtok.data.shapes import SPLITS, sample_clip, spread_indices
from vidtok.eval.shapes_reader import judge
from vidtok.eval.tokenizer_metrics import CodebookUsage, ReconstructionStats


def evaluate_tokenizer(
    tokenizer: torch.nn.Module, clips: int = 256, splits: tuple[str, ...] = tuple(SPLITS), frames: int = 17,
    batch_size: int = 32,
) -> list[dict]:
    """One row per split plus an "all splits" row: psnr, ssim, read_back, codebook usage, perplexity."""
    tokenizer = tokenizer.eval()
    device = next(tokenizer.parameters()).device
    total_usage = CodebookUsage(tokenizer.codebook_size)
    rows = []
    for split in splits:
        stats, usage, read = ReconstructionStats(), CodebookUsage(tokenizer.codebook_size), []
        indices = spread_indices(split, clips)  # the first clips of a split are all circles
        for start in range(0, clips, batch_size):
            items = [sample_clip(split, i, frames=frames) for i in indices[start:start + batch_size]]
            x = torch.stack([to_tensor(v) for v, _, _ in items]).to(device)
            with torch.no_grad():
                codes = tokenizer.encode(x)
                recon = to_uint8(tokenizer.decode(codes, frames=frames))
            usage.update(codes)
            total_usage.update(codes)
            stats.update(x.cpu(), torch.stack([to_tensor(r) for r in recon]))
            read += [judge(r, attrs)["all"] for r, (_, attrs, _) in zip(recon, items)]
        rec, use = stats.compute(), usage.compute()
        rows.append({
            "split": split, "clips": len(read), "psnr": rec["psnr"], "ssim": rec["ssim"],
            "read_back": float(np.mean(read)), "codebook_usage": use["used_fraction"], "perplexity": use["perplexity"],
        })
    use = total_usage.compute()
    rows.append({
        "split": "all splits", "clips": sum(r["clips"] for r in rows),
        "psnr": float(np.mean([r["psnr"] for r in rows])), "ssim": float(np.mean([r["ssim"] for r in rows])),
        "read_back": min(r["read_back"] for r in rows),  # the bar is per split: report the worst
        "codebook_usage": use["used_fraction"], "perplexity": use["perplexity"],
    })
    return rows
