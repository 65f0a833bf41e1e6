"""A tokenizer scored on held-out clips: PSNR, SSIM, codebook usage and perplexity per group of clips.

`evaluate_tokenizer` scores the Shapes splits and also how often the reconstructions are clean in every
frame (clean_frames: what a viewer sees) and how often the Shapes attributes read back from them match the
clip's caption (read_back: the lenient video-level reading). `evaluate_dataset` scores any dataset of {"video", "caption"}
items (the ffmpeg sources, a user's folder), grouped by caption (for `LavfiDataset`, the source name).

Reconstructions are rounded to uint8 first (what a user gets back), then scored against the clip.
Codebook usage is the fraction of codes used at least once over all clips of all evaluated groups.
"""

from __future__ import annotations

from collections import defaultdict

import numpy as np
import torch

from vidtok.data.convert import to_tensor, to_uint8
from vidtok.shapes.world import SPLITS, sample_clip, spread_indices
from vidtok.shapes.clean_frames import is_clean
from vidtok.shapes.reader import judge
from vidtok.eval.tokenizer_metrics import CodebookUsage, ReconstructionStats


class _Scores:
    """Running PSNR / SSIM / usage of one group of clips, and the Shapes read-back when there is one."""

    def __init__(self, codebook_size: int) -> None:
        self.stats, self.usage, self.clips = ReconstructionStats(), CodebookUsage(codebook_size), 0
        self.clean: list[bool] = []
        self.read: list[bool] = []

    def row(self, name: str) -> dict:
        rec, use = self.stats.compute(), self.usage.compute()
        row = {"split": name, "clips": self.clips, "psnr": rec["psnr"], "ssim": rec["ssim"]}
        if self.read:
            row["clean"] = float(np.mean(self.clean))
            row["read_back"] = float(np.mean(self.read))
        return {**row, "codebook_usage": use["used_fraction"], "perplexity": use["perplexity"]}


def reconstruct(tokenizer: torch.nn.Module, x: torch.Tensor, cuts: tuple[int, ...] = ()) -> tuple[torch.Tensor, list[np.ndarray]]:
    """Codes and the uint8 (T, H, W, 3) reconstructions of a batch of clips (B, 3, T, H, W); cuts: latent
    frames that start after a cut in every clip (`VideoTokenizer.decode`)."""
    device = next(tokenizer.parameters()).device
    with torch.no_grad():
        codes = tokenizer.encode(x.to(device))
        extra = {"cuts": cuts} if cuts else {}
        return codes, to_uint8(tokenizer.decode(codes, frames=x.shape[2], **extra))


def _score(group: _Scores, total: CodebookUsage, x: torch.Tensor, codes: torch.Tensor, recon: list[np.ndarray]) -> None:
    group.stats.update(x.cpu(), torch.stack([to_tensor(r) for r in recon]))
    group.usage.update(codes)
    group.clips += len(recon)
    total.update(codes)


def _total_row(name: str, rows: list[dict], total: CodebookUsage) -> dict:
    """Means over the groups (each group counts once), usage over all clips; read-back: the worst group."""
    row = {"split": name, "clips": sum(r["clips"] for r in rows),
           "psnr": float(np.mean([r["psnr"] for r in rows])), "ssim": float(np.mean([r["ssim"] for r in rows]))}
    if all("read_back" in r for r in rows):  # bars are per split: report the worst
        row["clean"] = min(r["clean"] for r in rows)
        row["read_back"] = min(r["read_back"] for r in rows)
    use = total.compute()
    return {**row, "codebook_usage": use["used_fraction"], "perplexity": use["perplexity"]}


def evaluate_tokenizer(
    tokenizer: torch.nn.Module, clips: int = 256, splits: tuple[str, ...] = tuple(SPLITS), frames: int = 17,
    batch_size: int = 32,
) -> list[dict]:
    """One row per Shapes split plus an "all splits" row: psnr, ssim, clean, read_back, codebook usage, perplexity."""
    tokenizer = tokenizer.eval()
    total, rows = CodebookUsage(tokenizer.codebook_size), []
    for split in splits:
        group = _Scores(tokenizer.codebook_size)
        indices = spread_indices(split, clips)  # the first clips of a split are all circles
        for start in range(0, clips, batch_size):
            items = [sample_clip(split, i, frames=frames) for i in indices[start:start + batch_size]]
            x = torch.stack([to_tensor(v) for v, _, _ in items])
            codes, recon = reconstruct(tokenizer, x)
            _score(group, total, x, codes, recon)
            group.clean += [is_clean(r, attrs) for r, (_, attrs, _) in zip(recon, items)]
            group.read += [judge(r, attrs)["all"] for r, (_, attrs, _) in zip(recon, items)]
        rows.append(group.row(split))
    return rows + [_total_row("all splits", rows, total)]


def evaluate_dataset(tokenizer: torch.nn.Module, dataset, clips: int | None = None, batch_size: int = 16) -> list[dict]:
    """One row per caption of the first `clips` items of `dataset` (all by default), plus an "all" row.

    Items are {"video": float (3, T, H, W) in [-1, 1], "caption": str}, as every dataset of `vidtok.data` gives.
    """
    tokenizer = tokenizer.eval()
    n = len(dataset) if clips is None else min(clips, len(dataset))
    if n == 0:
        raise ValueError("evaluate_dataset needs at least one clip")
    total, groups = CodebookUsage(tokenizer.codebook_size), defaultdict(lambda: _Scores(tokenizer.codebook_size))
    for start in range(0, n, batch_size):
        items = [dataset[i] for i in range(start, min(start + batch_size, n))]
        for caption in dict.fromkeys(item["caption"] for item in items):  # a group's sums need its own clips
            x = torch.stack([item["video"] for item in items if item["caption"] == caption])
            codes, recon = reconstruct(tokenizer, x)
            _score(groups[caption], total, x, codes, recon)
    rows = [groups[c].row(c) for c in sorted(groups)]
    return rows + [_total_row("all", rows, total)]
