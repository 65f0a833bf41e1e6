"""vidgpt/cli/replace_decoder.py: a decoder fine-tune goes into a model folder and the GPT still pairs with it."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import torch

from vidgpt.cli import replace_decoder
from vidgpt.generator import VideoGenerator
from vidtok.model.fingerprint import _weights_hash, tokenizer_fingerprint
from vidtok.model import VideoTokenizer


def _tweaked(model: Path, out: Path, part: str) -> VideoTokenizer:
    tok = VideoTokenizer.from_pretrained(model / "tokenizer")
    with torch.no_grad():
        getattr(tok, part).conv_in.conv.weight.add_(0.01)
    tok.save_pretrained(out)
    return tok


def test_a_decoder_fine_tune_replaces_the_tokenizer_and_keeps_the_pair(tmp_path, tiny_model_dir):
    model = tmp_path / "model"
    shutil.copytree(tiny_model_dir, model)
    # a GPT exported before the fingerprint left the decoder out recorded the whole-weights hash
    meta = model / "gpt" / "vidgpt.json"
    config = json.loads(meta.read_text())
    config["tokenizer"]["fingerprint"] = _weights_hash(VideoTokenizer.from_pretrained(model / "tokenizer"), skip=())
    meta.write_text(json.dumps(config))
    VideoGenerator.from_pretrained(model)

    tuned = _tweaked(model, tmp_path / "dec", "decoder")
    fingerprint = replace_decoder.replace_decoder(model, tmp_path / "dec")
    assert fingerprint == tokenizer_fingerprint(tuned)
    assert json.loads(meta.read_text())["tokenizer"]["fingerprint"] == fingerprint
    swapped = VideoGenerator.from_pretrained(model).tokenizer  # the pair loads: the GPT accepts the new decoder
    assert torch.equal(swapped.decoder.conv_in.conv.weight, tuned.decoder.conv_in.conv.weight)


def test_a_tokenizer_with_other_codes_is_refused(tmp_path, tiny_model_dir):
    model = tmp_path / "model"
    shutil.copytree(tiny_model_dir, model)
    _tweaked(model, tmp_path / "enc", "encoder")
    with pytest.raises(ValueError, match="makes other codes than .* only a decoder fine-tune"):
        replace_decoder.replace_decoder(model, tmp_path / "enc")
    assert torch.equal(VideoTokenizer.from_pretrained(model / "tokenizer").encoder.conv_in.conv.weight,
                       VideoTokenizer.from_pretrained(tiny_model_dir / "tokenizer").encoder.conv_in.conv.weight)
    with pytest.raises(FileNotFoundError, match="--tokenizer a tokenizer folder"):
        replace_decoder.replace_decoder(model, tmp_path / "missing")
