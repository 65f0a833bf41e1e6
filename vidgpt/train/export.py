"""Exporting the trained network as a self-describing `save_pretrained` folder during and after training.

`save_pretrained` writes atomically (the folder is written beside its target and swapped in), so a reader, or
a run killed mid-export, never finds a half-written `gpt/`: it sees the previous export or the new one. An
export whose weights are no longer finite is refused rather than replacing the last good one.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import lightning as L
from lightning.pytorch.callbacks import Callback

from vidtok.io.atomic import atomic_folder
from vidtok.train.faults import check_finite_weights

SNAPSHOT_FILE = "snapshot.json"  # step and training minutes of a snapshot


class ExportCallback(Callback):
    """Export `pl_module.model` to `directory` every `every_n_steps` optimizer steps and when training ends.

    A run stopped by an error (e.g. a NaN loss) does not export at its end: the last export stays the last good one.
    `snapshot_dir`: also keep a copy of every export as `<snapshot_dir>/step<N>/` with a `snapshot.json`
    (step, training minutes), which is what a learning curve (vidgpt/cli/learning_curve.py) is drawn from.
    """

    def __init__(self, directory: str | Path, every_n_steps: int | None = None,
                 snapshot_dir: str | Path | None = None) -> None:
        if every_n_steps is not None and every_n_steps < 1:
            raise ValueError(f"export every_n_steps must be >= 1 or None, got {every_n_steps}")
        self.directory = Path(directory)
        self.every_n_steps = every_n_steps
        self.snapshot_dir = Path(snapshot_dir) if snapshot_dir is not None else None
        self._exported_step = -1

    def _export(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if trainer.global_step in (self._exported_step, 0):  # step 0: nothing trained, nothing to export
            return
        check_finite_weights(pl_module.model, trainer.global_step, f"export to {self.directory}")  # every rank alike
        if trainer.is_global_zero:
            pl_module.model.save_pretrained(self.directory)
            if self.snapshot_dir is not None:
                self._snapshot(trainer.global_step, getattr(pl_module, "train_seconds", None))
        self._exported_step = trainer.global_step

    def _snapshot(self, step: int, train_seconds: float | None) -> None:
        minutes = None if train_seconds is None else round(train_seconds / 60, 2)
        with atomic_folder(self.snapshot_dir / f"step{step:08d}", marker=SNAPSHOT_FILE, durable=True) as tmp:
            shutil.copytree(self.directory, tmp, dirs_exist_ok=True)
            (tmp / SNAPSHOT_FILE).write_text(json.dumps({"step": step, "train_minutes": minutes}))

    def on_train_batch_end(self, trainer: L.Trainer, pl_module: L.LightningModule, *args) -> None:
        step = trainer.global_step
        if self.every_n_steps and step > 0 and step % self.every_n_steps == 0:
            self._export(trainer, pl_module)

    def on_train_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self._export(trainer, pl_module)
