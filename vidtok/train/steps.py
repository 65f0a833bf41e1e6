"""A run that can train no step, or trained none, says so instead of exporting the weights it started with.

The training loader drops an incomplete last batch (a full batch per step keeps steps alike), so a training
set smaller than one batch per process gives an epoch of zero steps: Lightning ends at once, without error.
"""

from __future__ import annotations

from typing import Any


def check_fills_a_batch(data: Any, batch_size: int, processes: int = 1) -> None:
    """ValueError when ``data`` (a Dataset) holds fewer items than one batch for each of ``processes``."""
    try:
        n = len(data)
    except TypeError:  # an iterable dataset: its length is unknown
        return
    need = batch_size * processes
    if n < need:
        per = f" x {processes} processes" if processes > 1 else ""
        raise ValueError(f"the training set has {n} usable clip(s), fewer than data.batch_size={batch_size}{per}: "
                         "no full batch, so no step would train (lower data.batch_size or add clips)")


def check_trained(trainer: Any) -> None:
    """ValueError when the run ended at step 0: there is nothing trained to export."""
    if trainer.global_step == 0:
        raise ValueError("training ended after 0 steps (no full batch was read, or the time budget ended first): "
                         "nothing exported")
