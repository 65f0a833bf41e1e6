"""VidGPT network: layout/config, presets, prompt vocabulary, tokenizer identity."""

from .config import Backbone, VidGPTConfig
from .gpt import VidGPT, corrupt_codes
from .identity import check_tokenizer_identity, tokenizer_identity
from .presets import PRESETS, preset
from .prompt import PromptVocab

__all__ = [
    "Backbone", "VidGPTConfig", "VidGPT", "corrupt_codes", "check_tokenizer_identity", "tokenizer_identity",
    "PRESETS", "preset", "PromptVocab",
]
