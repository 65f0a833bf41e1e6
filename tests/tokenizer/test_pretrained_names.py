"""Shipped tokenizers load by name; a path wins over a name; an unknown name says which names exist."""

from __future__ import annotations

import pytest

from vidtok.model import TokenizerConfig, VideoTokenizer
from vidtok.model import pretrained
from vidtok.model.pretrained import resolve, shipped_names


def test_a_shipped_name_loads(tmp_path, monkeypatch):
    shelf = tmp_path / "shelf"
    VideoTokenizer(TokenizerConfig(codebook_size=64)).save_pretrained(shelf / "tiny")
    monkeypatch.setattr(pretrained, "PRETRAINED_DIR", shelf)
    monkeypatch.chdir(tmp_path)
    assert shipped_names() == ["tiny"]
    assert VideoTokenizer.from_pretrained("tiny").codebook_size == 64


def test_a_path_wins_over_a_name(tmp_path, monkeypatch):
    shelf = tmp_path / "shelf"
    VideoTokenizer(TokenizerConfig(codebook_size=64)).save_pretrained(shelf / "tiny")
    VideoTokenizer(TokenizerConfig(codebook_size=125)).save_pretrained(tmp_path / "tiny")
    monkeypatch.setattr(pretrained, "PRETRAINED_DIR", shelf)
    monkeypatch.chdir(tmp_path)
    assert resolve("tiny").resolve() == (tmp_path / "tiny").resolve()
    assert VideoTokenizer.from_pretrained("tiny").codebook_size == 125


def test_an_unknown_name_lists_the_shipped_ones(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(FileNotFoundError, match=r"nonesuch/model.safetensors \(shipped tokenizers load by name"):
        VideoTokenizer.from_pretrained("nonesuch")


def test_the_natural_tokenizer_ships():
    if "natural" not in shipped_names():
        pytest.fail("vidtok/pretrained/natural is missing: make natural-tokenizer writes it")
    tok = VideoTokenizer.from_pretrained("natural")
    assert tok.codebook_size >= 2**14
