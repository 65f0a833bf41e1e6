"""vidtok.eval.baselines and codecs: rescaling baselines and codecs scored side by side."""

from __future__ import annotations

import pytest
import torch

from vidtok.eval.baselines import mean_colour, rescale
from vidtok.eval.codecs import score_codecs, tokenizer_codec
from vidtok.eval.tokenizer_metrics import MAX_PSNR, CodebookUsage
from vidtok.model import TokenizerConfig, VideoTokenizer


def _clips(n=4, size=32):
    torch.manual_seed(0)
    yy, xx = torch.meshgrid(torch.linspace(-1, 1, size), torch.linspace(-1, 1, size), indexing="ij")
    base = torch.stack([torch.sin(3 * xx + k) * torch.cos(2 * yy) for k in range(3)])  # smooth
    clips = base[None, :, None].expand(n, 3, 5, size, size).clone()
    return (0.8 * clips + 0.1 * torch.randn_like(clips)).clamp(-1, 1)


def test_rescale_keeps_flat_frames_and_loses_detail_with_the_factor():
    flat = torch.full((1, 3, 2, 16, 16), 0.25)
    assert torch.allclose(rescale(flat, 8), flat, atol=1e-5)
    x = _clips()
    errors = [(rescale(x, f) - x).pow(2).mean().item() for f in (1, 2, 4, 8)]
    assert errors[0] < 1e-10 and errors[1] < errors[2] < errors[3]
    with pytest.raises(ValueError, match="do not divide by factor 8"):
        rescale(torch.zeros(1, 3, 1, 12, 12), 8)
    assert torch.allclose(mean_colour(x)[0, :, 0, 0, 0], x[0].mean(dim=(1, 2, 3)))


def test_score_codecs_orders_codecs_and_gives_a_standard_error():
    x = _clips(n=6)
    scores = score_codecs(x, {"same": lambda v: v, "8x": lambda v: rescale(v, 8), "mean": mean_colour}, batch_size=4)
    assert scores["same"]["psnr"] > 50  # uint8 rounding only
    assert scores["same"]["psnr"] <= MAX_PSNR
    assert scores["same"]["psnr"] > scores["8x"]["psnr"] > scores["mean"]["psnr"]
    assert scores["8x"]["clips"] == 6 and scores["8x"]["psnr_se"] > 0
    with pytest.raises(ValueError, match="expected clips shaped"):
        score_codecs(x[:0], {"same": lambda v: v})


def test_tokenizer_codec_counts_its_codes():
    tok = VideoTokenizer(TokenizerConfig(codebook_size=64)).eval()
    usage = CodebookUsage(64)
    scores = score_codecs(_clips(n=2), {"tok": tokenizer_codec(tok, usage)})
    assert usage.counts.sum() == 2 * 2 * 4 * 4  # 2 clips x 2 latent frames x 4x4 positions
    assert scores["tok"]["clips"] == 2
