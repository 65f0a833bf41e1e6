"""`train_tokenizer`: the plain-function entry point of stage 1 (the Hydra CLI only builds its arguments)."""

from __future__ import annotations

import json
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any

import lightning as L
import torch
from lightning.pytorch.callbacks import Callback
from torch.utils.data import DataLoader, Dataset

from vidtok.io.atomic import atomic_file
from vidtok.model import TokenizerConfig, VideoTokenizer
from vidtok.model.fingerprint import CUT_DECODER_PREFIX
from vidtok.train.checkpoint import load_checkpoint
from vidtok.train.module import TokenizerModule, TrainConfig
from vidtok.train.steps import check_fills_a_batch, check_trained
from vidtok.train.trainer import build_trainer


class PeriodicCheckpoint(Callback):
    """Write `path` every `minutes` of training wall clock.

    Lightning's ModelCheckpoint(train_time_interval=...) never fires under manual optimization (which
    the tokenizer uses for its optional discriminator), so the timing is done here.
    """

    def __init__(self, path: Path, minutes: float) -> None:
        self.path, self.seconds = Path(path), 60 * minutes
        self._last = time.monotonic()

    def on_train_batch_end(self, trainer: L.Trainer, *args: Any) -> None:
        if time.monotonic() - self._last >= self.seconds:
            trainer.save_checkpoint(str(self.path), weights_only=False)  # every rank calls it; only rank 0 writes
            self._last = time.monotonic()


def _loader(data: Dataset | DataLoader | None, batch_size: int, shuffle: bool, workers: int) -> DataLoader | None:
    if data is None or isinstance(data, DataLoader):
        return data
    return DataLoader(
        data, batch_size=batch_size, shuffle=shuffle, num_workers=workers, drop_last=shuffle, persistent_workers=workers > 0
    )


def train_tokenizer(
    model_cfg: TokenizerConfig,
    train_data: Dataset | DataLoader | L.LightningDataModule,
    val_data: Dataset | DataLoader | None = None,
    out_dir: str | Path = "runs/tokenizer",
    train_cfg: TrainConfig | None = None,
    batch_size: int = 16,
    num_workers: int = 0,
    checkpoint_every_minutes: float = 5.0,
    resume: str | Path | None = None,
    trainer_kwargs: dict[str, Any] | None = None,
    trainer: L.Trainer | None = None,
    init_from: VideoTokenizer | None = None,
) -> VideoTokenizer:
    """Train a tokenizer and export it to `out_dir/tokenizer` (config.json + model.safetensors).

    `train_data`/`val_data` are datasets of {"video": (3, T, H, W)} items, ready DataLoaders, or
    (train_data only) a LightningDataModule. Lightning checkpoints go to `out_dir/checkpoints`
    (`last.ckpt` every `checkpoint_every_minutes`); pass `resume=` a checkpoint path, or "last" to pick
    up `out_dir/checkpoints/last.ckpt` (an error if it does not exist, rather than silently restarting).
    With `train_cfg.max_minutes` set, training also stops at that wall-clock budget.
    `trainer`: a ready Trainer (the CLI's, with its loggers and atomic checkpoints) instead of the one
    built here from `trainer_kwargs`.
    `init_from`: a tokenizer whose weights start this run (a fine-tune: fresh optimizer and schedule); its
    config must be `model_cfg`. Needed by `train_cfg.freeze_encoder` (a decoder-only fine-tune).
    """
    out_dir = Path(out_dir)
    train_cfg = train_cfg or TrainConfig()
    if train_cfg.freeze_encoder and init_from is None and resume is None:
        raise ValueError("recipe.freeze_encoder=true trains the decoder of an existing tokenizer: "
                         "name it with init_from=<tokenizer folder>")
    module = TokenizerModule(model_cfg, train_cfg)
    if init_from is not None:
        if init_from.cfg.to_dict() != model_cfg.to_dict():
            raise ValueError("init_from: the tokenizer's config differs from the run's model config")
        # its cut decoder, if it has one, stays behind: a run trains the decoder and exports no cut decoder
        module.tokenizer.load_state_dict({k: v for k, v in init_from.state_dict().items() if not k.startswith(CUT_DECODER_PREFIX)})
    ckpt_dir = out_dir / "checkpoints"
    ckpt_path = None
    if resume is not None:
        ckpt_path = ckpt_dir / "last.ckpt" if str(resume) == "last" else Path(resume)
        if not ckpt_path.is_file():
            raise FileNotFoundError(f"resume checkpoint not found: {ckpt_path}")
        load_checkpoint(ckpt_path)  # plain data only, before a Trainer's own torch.load (unsafe in some versions)

    if trainer is None:
        kwargs: dict[str, Any] = dict(max_steps=train_cfg.max_steps, log_every_n_steps=25, enable_progress_bar=False,
                                      num_sanity_val_steps=0)
        if train_cfg.max_minutes:
            kwargs["max_time"] = {"minutes": train_cfg.max_minutes}
        kwargs.update(trainer_kwargs or {})
        trainer = build_trainer(kwargs, out_dir, callbacks=[
            PeriodicCheckpoint(ckpt_dir / "last.ckpt", checkpoint_every_minutes)])

    if isinstance(train_data, L.LightningDataModule):
        trainer.fit(module, datamodule=train_data, ckpt_path=ckpt_path)
    else:
        if not isinstance(train_data, DataLoader):
            check_fills_a_batch(train_data, batch_size, trainer.world_size)
        trainer.fit(
            module,
            train_dataloaders=_loader(train_data, batch_size, True, num_workers),
            val_dataloaders=_loader(val_data, batch_size, False, num_workers),
            ckpt_path=ckpt_path,
        )
    check_trained(trainer)
    # every rank must call it (it holds a barrier); only rank 0 writes
    trainer.save_checkpoint(str(ckpt_dir / "last.ckpt"), weights_only=False)  # a full one, to resume from
    tokenizer = module.tokenizer.eval()
    if trainer.is_global_zero:
        tokenizer.save_pretrained(out_dir / "tokenizer")  # atomic; train_config.json is a note, not needed to load
        with atomic_file(out_dir / "tokenizer" / "train_config.json", durable=True) as tmp:
            tmp.write_text(json.dumps(asdict(train_cfg), indent=2))
    return tokenizer
