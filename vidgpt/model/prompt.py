"""Prompt vocabulary: a byte-level BPE fitted on the training captions, turning a prompt into text ids.

("Tokenizer" in this project is the video tokenizer, vidtok; the prompt's side is its vocabulary.)

Byte level means every string has an encoding (unknown words, accents, emoji), so the text side
never fails; the empty string encodes to nothing, i.e. the all-PAD prompt, which is also the
unconditional (null) prompt used by classifier-free guidance.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterable, Sequence
from pathlib import Path

import torch
from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, trainers

PAD = "<pad>"
PAD_ID = 0  # PAD is the first special token, so its id is fixed whatever the captions


class PromptVocab:
    """Wraps a byte-level BPE (a `tokenizers.Tokenizer`, `bpe`); ids are 0..vocab_size-1 with PAD = 0."""

    def __init__(self, bpe: Tokenizer) -> None:
        if bpe.token_to_id(PAD) != PAD_ID:
            raise ValueError(f"prompt vocabulary must have {PAD!r} as id {PAD_ID}, got {bpe.token_to_id(PAD)}")
        self.bpe = bpe

    @classmethod
    def fit(cls, captions: Iterable[str], vocab_size: int = 512, lowercase: bool = True) -> "PromptVocab":
        """Fit a byte-level BPE with at most `vocab_size` ids (>= 257: the 256 bytes and PAD)."""
        if vocab_size < 257:
            raise ValueError(f"vocab_size must be >= 257 (256 bytes + PAD), got {vocab_size}")
        bpe = Tokenizer(models.BPE())
        norms = [normalizers.NFKC()] + ([normalizers.Lowercase()] if lowercase else [])
        bpe.normalizer = normalizers.Sequence(norms)
        bpe.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
        bpe.decoder = decoders.ByteLevel()
        trainer = trainers.BpeTrainer(
            vocab_size=vocab_size,
            special_tokens=[PAD],
            initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
            show_progress=False,
        )
        bpe.train_from_iterator(list(captions), trainer=trainer)
        return cls(bpe)

    @property
    def vocab_size(self) -> int:
        return self.bpe.get_vocab_size()

    @property
    def pad_id(self) -> int:
        return PAD_ID

    def encode(self, texts: str | Sequence[str], length: int) -> torch.Tensor:
        """Strings -> LongTensor (B, length), right-padded with PAD; longer prompts are cut with a warning."""
        if isinstance(texts, str):
            texts = [texts]
        out = torch.full((len(texts), length), PAD_ID, dtype=torch.long)
        for i, text in enumerate(texts):
            if not isinstance(text, str):
                raise ValueError(f"prompts must be strings, got {type(text).__name__} at index {i}")
            ids = self.bpe.encode(text).ids
            if len(ids) > length:
                warnings.warn(f"prompt {text!r} has {len(ids)} tokens; truncated to the model's {length}", stacklevel=2)
                ids = ids[:length]
            out[i, : len(ids)] = torch.tensor(ids, dtype=torch.long)
        return out

    def decode(self, ids: Sequence[int] | torch.Tensor) -> str:
        """Ids (PAD skipped) -> string; for inspection and tests."""
        ids = [int(i) for i in ids if int(i) != PAD_ID]
        return self.bpe.decode(ids)

    def save(self, path: str | Path) -> None:
        self.bpe.save(str(path))

    @classmethod
    def load(cls, path: str | Path) -> "PromptVocab":
        path = Path(path)
        if not path.is_file():
            raise FileNotFoundError(f"prompt vocabulary file not found: {path}")
        return cls(Tokenizer.from_file(str(path)))
