"""The tokenizer network: `VideoTokenizer` built from a `TokenizerConfig` (no Lightning, no Hydra)."""

from vidtok.model.config import TokenizerConfig, fsq_levels_for
from vidtok.model.tokenizer import VideoTokenizer

__all__ = ["TokenizerConfig", "VideoTokenizer", "fsq_levels_for"]
