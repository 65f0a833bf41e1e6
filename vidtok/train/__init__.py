"""Stage-1 training: `TokenizerModule` (Lightning), `TrainConfig`, and the `train_tokenizer` entry point."""

from vidtok.train.fit import train_tokenizer
from vidtok.train.module import TokenizerModule, TrainConfig

__all__ = ["TokenizerModule", "TrainConfig", "train_tokenizer"]
