"""Stage-1 training: `TokenizerModule` (Lightning), `TrainConfig`, and the `train_tokenizer` entry point.

Shared with stage 2: `checkpoint` (checkpoint files written atomically, read as plain data only) and
`faults` (NaN/inf losses and weights stop a run before they reach a checkpoint or an export).
"""

from vidtok.train.fit import train_tokenizer
from vidtok.train.module import TokenizerModule, TrainConfig

__all__ = ["TokenizerModule", "TrainConfig", "train_tokenizer"]
