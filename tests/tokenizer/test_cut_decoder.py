"""A tokenizer's cut decoder (vidtok/model/tokenizer.py, "Cuts"): the latent frame after a cut is drawn by it,
every other one by the decoder, in `decode`, in a stream, after a save and through a generation with a
prompt change; a model folder takes one with `vidgpt-replace-decoder --cut`."""

from __future__ import annotations

import shutil

import numpy as np
import pytest
import torch

from vidgpt.cli import replace_decoder
from vidgpt.generator import VideoGenerator
from vidtok.model import TokenizerConfig, VideoTokenizer
from vidtok.model.fingerprint import tokenizer_fingerprint
from vidtok.model.tokenizer import CUT_DECODER_NAME

CFG = TokenizerConfig(channels=[8, 16], blocks=1, pixel_channels=[8], codebook_size=64)


def _other_decoder_state(tok: VideoTokenizer, seed: int = 1) -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    return {k: v + 0.05 * torch.randn(v.shape, generator=g) for k, v in tok.state_dict().items()
            if k.startswith("decoder.")}


@pytest.fixture()
def tok():
    torch.manual_seed(0)
    return VideoTokenizer(CFG).eval()


@pytest.fixture()
def codes():
    return torch.randint(0, CFG.codebook_size, (2, 5, 4, 4), generator=torch.Generator().manual_seed(0))


def test_the_latent_frame_after_a_cut_is_the_cut_decoders_and_the_rest_the_decoders(tok, codes):
    plain = tok.decode(codes)
    assert torch.equal(tok.decode(codes, cuts=[3]), plain)  # no cut decoder: a cut changes nothing
    state = _other_decoder_state(tok)
    tok.attach_cut_decoder(state)
    cut = tok.decode(codes, cuts=[3])
    alone = VideoTokenizer(CFG).eval()
    alone.load_state_dict({**tok.state_dict(), **state}, strict=False)  # the cut decoder as the decoder
    drawn = alone.decode(codes)
    frames = slice(1 + 4 * 2, 1 + 4 * 3)  # latent frame 3 is pixel frames 9..12
    assert torch.allclose(cut[:, :, frames], drawn[:, :, frames], atol=1e-5)
    assert torch.equal(cut[:, :, :9], plain[:, :, :9]) and torch.equal(cut[:, :, 13:], plain[:, :, 13:])
    assert not torch.allclose(cut[:, :, frames], plain[:, :, frames], atol=1e-3)
    # several cuts, and a stream fed one latent frame at a time, draw the same frames as one decode
    both = tok.decode(codes, cuts=[1, 3])
    stream = tok.decode_stream()
    streamed = torch.cat([stream(codes[:, i:i + 1], cut=i in (1, 3)) for i in range(5)], dim=2)
    assert torch.allclose(streamed, both, atol=1e-6)
    assert torch.equal(both[:, :, 9:13], cut[:, :, 9:13]) and not torch.equal(both[:, :, 1:5], plain[:, :, 1:5])


def test_a_cut_decoder_is_saved_beside_the_weights_and_leaves_the_codes_identity(tmp_path, tok, codes):
    before = tokenizer_fingerprint(tok)
    tok.attach_cut_decoder(_other_decoder_state(tok))
    assert tokenizer_fingerprint(tok) == before  # it only draws codes: every GPT made on them stays valid
    tok.save_pretrained(tmp_path / "t")
    assert (tmp_path / "t" / CUT_DECODER_NAME).is_file()
    back = VideoTokenizer.from_pretrained(tmp_path / "t")
    assert back.cut_decoder is not None
    assert torch.equal(back.decode(codes, cuts=[2]), tok.decode(codes, cuts=[2]))
    (tmp_path / "t" / CUT_DECODER_NAME).write_bytes(b"not safetensors")
    with pytest.raises(ValueError, match="cut_decoder.safetensors is not a readable safetensors file"):
        VideoTokenizer.from_pretrained(tmp_path / "t")


def test_bad_cuts_and_foreign_cut_decoders_are_refused(tok, codes):
    for bad in ([0], [5], [2.5]):
        with pytest.raises(ValueError, match="cuts="):
            tok.decode(codes, cuts=bad)
    wider = VideoTokenizer(TokenizerConfig(channels=[8, 32], blocks=1, pixel_channels=[8], codebook_size=64))
    with pytest.raises(ValueError, match="not a decoder of this tokenizer .*shape mismatch"):
        tok.attach_cut_decoder(wider.state_dict())
    with pytest.raises(ValueError, match="not a decoder of this tokenizer .*missing"):
        tok.attach_cut_decoder({})
    assert tok.cut_decoder is None


def test_a_prompt_change_is_drawn_by_the_cut_decoder_and_a_plain_video_is_not(tmp_path, tiny_model_dir):
    model = tmp_path / "model"
    shutil.copytree(tiny_model_dir, model)
    tuned = VideoTokenizer.from_pretrained(model / "tokenizer")
    tuned.load_state_dict({**tuned.state_dict(), **_other_decoder_state(tuned)})
    tuned.save_pretrained(tmp_path / "cut")
    (model / "tokenizer" / "train_config.json").write_text("{}")  # a note the folder keeps
    before = VideoGenerator.from_pretrained(model)
    assert replace_decoder.main(["--model", str(model), "--tokenizer", str(tmp_path / "cut"), "--cut"]) == 0
    after = VideoGenerator.from_pretrained(model)
    assert after.tokenizer.cut_decoder is not None
    assert sorted(p.name for p in (model / "tokenizer").iterdir()) == sorted(
        [p.name for p in (tiny_model_dir / "tokenizer").iterdir()] + ["train_config.json", CUT_DECODER_NAME])
    assert torch.equal(after.tokenizer.decoder.conv_in.conv.weight, before.tokenizer.decoder.conv_in.conv.weight)

    a, b = "a large red circle moves right slowly", "a small blue square moves up quickly"
    kw = dict(seed=3, schedule="raster")
    assert np.array_equal(after.generate([a], **kw).videos, before.generate([a], **kw).videos)
    old = before.generate([a], changes={5: b}, **kw)
    new = after.generate([a], changes={5: b}, **kw)
    assert torch.equal(new.codes, old.codes)  # the GPT's codes are the same; only their drawing differs
    assert np.array_equal(new.videos[:, :5], old.videos[:, :5])  # before the change
    assert not np.array_equal(new.videos[:, 5:9], old.videos[:, 5:9])  # the latent frame after it
    streamed = np.concatenate([f.frames for f in after.generate([a], changes={5: b}, stream=True, **kw)], axis=1)
    assert np.array_equal(streamed, new.videos)


def test_replace_decoder_cut_refuses_another_tokenizers_decoder(tmp_path, tiny_model_dir):
    model = tmp_path / "model"
    shutil.copytree(tiny_model_dir, model)
    other = VideoTokenizer.from_pretrained(model / "tokenizer")
    with torch.no_grad():
        other.encoder.conv_in.conv.weight.add_(0.01)
    other.save_pretrained(tmp_path / "other")
    with pytest.raises(ValueError, match="makes other codes"):
        replace_decoder.replace_decoder(model, tmp_path / "other", cut=True)
    assert not (model / "tokenizer" / CUT_DECODER_NAME).exists()
