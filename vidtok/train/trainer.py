"""The Lightning `Trainer` of both stages, for the commands and the Python entry points alike.

What every run gets, whatever the stage: CSV + TensorBoard logs in the run folder, a progress bar,
the learning rate logged, and checkpoints written atomically to ``<run>/checkpoints`` (``last.ckpt``
every ``checkpoint_every_n_steps`` and at the end), so a kill never leaves a half-written "last", never
with weights that are not finite, and read back (on resume) as plain data only.
"""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any, Iterable

import lightning as L
from lightning.pytorch.callbacks import Callback, LearningRateMonitor, ModelCheckpoint, TQDMProgressBar
from lightning.pytorch.loggers import CSVLogger, TensorBoardLogger
from lightning.fabric.loggers.logger import rank_zero_experiment
from lightning.pytorch.loggers.csv_logs import ExperimentWriter

from vidtok.train.checkpoint import AtomicCheckpointIO
from vidtok.train.faults import FiniteCheckpoints

__all__ = ["AtomicCheckpointIO", "CHECKPOINT_DIR", "build_trainer"]

CHECKPOINT_DIR = "checkpoints"


class _ContinuingWriter(ExperimentWriter):
    """Lightning's CSV writer deletes an existing metrics.csv; a resumed run appends to it instead."""

    def _check_log_dir_exists(self) -> None:
        if self._fs.isfile(self.metrics_file_path):
            with self._fs.open(self.metrics_file_path, "r", newline="") as f:
                self.metrics_keys = next(csv.reader(f), [])


class ContinuingCSVLogger(CSVLogger):
    """`CSVLogger` whose `logs/metrics.csv` survives a resume: the history before the kill is kept.

    (Rows between the last checkpoint and the kill appear twice, once per attempt, like the steps themselves.)
    """

    @property
    @rank_zero_experiment
    def experiment(self) -> ExperimentWriter:
        if self._experiment is None:
            self._fs.makedirs(self.root_dir, exist_ok=True)
            self._experiment = _ContinuingWriter(log_dir=self.log_dir)
        return self._experiment


def build_trainer(
    trainer_kwargs: dict[str, Any],
    run_dir: str | Path,
    *,
    checkpoint_every_n_steps: int = 500,
    callbacks: Iterable[Callback] = (),
) -> L.Trainer:
    """A Trainer logging and checkpointing into ``run_dir``; ``trainer_kwargs`` are plain Trainer arguments.

    They override the defaults above: ``logger=False`` logs nothing, ``enable_checkpointing=False`` writes
    no periodic checkpoint; the atomic checkpoint IO cannot be replaced.
    """
    run_dir = Path(run_dir)
    kwargs = dict(trainer_kwargs)
    if kwargs.pop("plugins", None):
        raise ValueError("trainer.plugins is reserved: checkpoints are always written atomically")
    own = [FiniteCheckpoints(), *callbacks]
    if kwargs.get("enable_checkpointing", True):
        own.insert(0, ModelCheckpoint(
            dirpath=run_dir / CHECKPOINT_DIR,
            filename="step{step:08d}",
            auto_insert_metric_name=False,
            save_last=True,
            save_top_k=1,  # with no monitor: keep only the newest numbered checkpoint beside last.ckpt
            every_n_train_steps=checkpoint_every_n_steps,
        ))
    if kwargs.get("logger", True) is not False:
        kwargs.setdefault("logger", [
            ContinuingCSVLogger(run_dir, name="logs", version=""),
            TensorBoardLogger(run_dir, name="tensorboard", version="", default_hp_metric=False),
        ])
        own.append(LearningRateMonitor("step"))
    if kwargs.get("enable_progress_bar", True):
        own.append(TQDMProgressBar(refresh_rate=10))
    return L.Trainer(
        default_root_dir=run_dir,
        callbacks=[*own, *kwargs.pop("callbacks", [])],
        plugins=[AtomicCheckpointIO()],
        **kwargs,
    )
