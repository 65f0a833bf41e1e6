"""`train_gpt`: the plain stage-2 entry point (the Hydra CLI only builds its arguments and calls it).

Stage 1 is named by one path, `tokenizer_dir`; the GPT records that tokenizer's identity, so nothing
else about stage 1 needs configuring. Training data is either a token-shard folder (pre-tokenized) or a
dataset of {"video", "caption"} items (encoded on the fly by the frozen tokenizer).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import lightning as L
import torch
from torch.utils.data import DataLoader, Dataset

from vidgpt.generator import gpt_folder
from vidgpt.model import PromptVocab, VidGPT, tokenizer_identity
from vidgpt.model.identity import check_trained_on
from vidgpt.train.batches import GPTCollate
from vidgpt.train.export import ExportCallback
from vidgpt.train.module import GPTModule, model_from_checkpoint
from vidgpt.train.shards import TokenShardDataset
from vidtok.model import VideoTokenizer
from vidtok.model.fingerprint import tokenizer_fingerprint
from vidtok.train.steps import check_fills_a_batch, check_trained
from vidtok.train.trainer import build_trainer

log = logging.getLogger(__name__)
EXPORT_NAME = "gpt"
SNAPSHOT_DIR = "snapshots"  # under the run folder: every periodic export, for learning curves


def train_gpt(
    tokenizer_dir: str | Path,
    train_data: Dataset | str | Path,
    out_dir: str | Path,
    *,
    val_data: Dataset | str | Path | None = None,
    preset: str = "demo",
    backbone: dict[str, Any] | None = None,
    prompt_length: int = 16,
    text_vocab_size: int = 512,
    captions: Iterable[str] | None = None,
    batch_size: int = 16,
    num_workers: int = 0,
    module: dict[str, Any] | None = None,
    trainer: L.Trainer | dict[str, Any] | None = None,
    ckpt_path: str | Path | None = None,
    init_from: str | Path | None = None,
    export_every_n_steps: int | None = None,
    snapshots: bool = False,
) -> VidGPT:
    """Train a VidGPT on `tokenizer_dir`'s codes and export it to `out_dir / "gpt"`; returns the model.

    - `train_data` / `val_data`: a token-shard folder from `pretokenize`, or a {"video", "caption"} dataset.
    - The prompt vocabulary is fitted on `captions` (default: every training caption; for the Shapes world
      the captions of all training combinations), with at most `text_vocab_size` ids.
    - `preset` names the backbone size (`vidgpt.model.PRESETS`); `backbone` overrides single fields.
    - `module`: `GPTModule` options (lr, warmup_steps, prompt_dropout, context_noise, ...).
    - `trainer`: a Lightning Trainer, or the keyword arguments for one (`vidtok.train.trainer.build_trainer`: logs
      and atomic checkpoints in `out_dir`, as the commands do).
    - `ckpt_path`: a Lightning checkpoint of an earlier run to resume (network rebuilt from it).
    - `init_from`: a GPT folder (or a model folder holding `gpt/`) to fine-tune: its weights and prompt
      tokenizer start this run, with a fresh optimizer and LR schedule (`preset`, `backbone`, `prompt_length`
      and `captions` are then unused). It must have been trained on `tokenizer_dir`'s tokenizer.
    - `export_every_n_steps`: also export periodically (each export replaces the last atomically).
    - `snapshots`: keep every periodic export under `out_dir/snapshots/` too (for learning curves).
    """
    tokenizer = VideoTokenizer.from_pretrained(tokenizer_dir)
    train_ds = _as_dataset(train_data, tokenizer, "train_data")
    val_ds = _as_dataset(val_data, tokenizer, "val_data") if val_data is not None else None
    on_the_fly = any(ds is not None and not isinstance(ds, TokenShardDataset) for ds in (train_ds, val_ds))
    frames, height, width = _video_shape(train_ds)

    if ckpt_path is not None and init_from is not None:
        raise ValueError("give either ckpt_path (resume a run) or init_from (fine-tune a model), not both")
    if ckpt_path is not None:
        # read as plain data (weights_only) before any Trainer does: FSDP's full checkpoints bypass the checkpoint IO
        model = model_from_checkpoint(ckpt_path)
        check_trained_on(model, tokenizer)
        if (module or {}).get("distill_cfg_scale") is not None:
            model.config.distilled_cfg_scale = None  # a resumed distillation: GPTModule marks it again, and
            # its teacher (the undistilled copy) comes back from the checkpoint
    elif init_from is not None:
        model = VidGPT.from_pretrained(gpt_folder(init_from))
        check_trained_on(model, tokenizer)
        model.train()
    else:
        prompt = PromptVocab.fit(list(captions) if captions is not None else dataset_captions(train_ds),
                                     vocab_size=text_vocab_size)
        identity = tokenizer_identity(tokenizer, frames, height, width)
        identity["fingerprint"] = identity["fingerprint"] or tokenizer_fingerprint(tokenizer)
        model = VidGPT.build(prompt, tokenizer.latent_shape(frames, height, width), tokenizer.codebook_size,
                             prompt_length=prompt_length, preset=preset, tokenizer=identity, **(backbone or {}))
    if tuple(model.config.grid) != tuple(tokenizer.latent_shape(frames, height, width)):
        raise ValueError(
            f"train_data gives code grid {tokenizer.latent_shape(frames, height, width)}, the model's is {model.config.grid}"
        )
    pl_module = GPTModule(model, tokenizer if on_the_fly else None, **(module or {}))

    collate = GPTCollate(model.prompt_vocab, model.config.prompt_length)
    loader = lambda ds, shuffle: DataLoader(  # noqa: E731
        ds, batch_size=batch_size, shuffle=shuffle, drop_last=shuffle, num_workers=num_workers,
        collate_fn=collate, persistent_workers=num_workers > 0, pin_memory=torch.cuda.is_available(),
    )
    if trainer is None or isinstance(trainer, dict):
        trainer = build_trainer(trainer or {}, out_dir)
    if not any(isinstance(cb, ExportCallback) for cb in trainer.callbacks):
        snapshot_dir = Path(out_dir) / SNAPSHOT_DIR if snapshots else None
        trainer.callbacks.append(ExportCallback(Path(out_dir) / EXPORT_NAME, export_every_n_steps, snapshot_dir))
    check_fills_a_batch(train_ds, batch_size, trainer.world_size)
    trainer.fit(
        pl_module,
        train_dataloaders=loader(train_ds, True),
        val_dataloaders=loader(val_ds, False) if val_ds is not None else None,
        ckpt_path=str(ckpt_path) if ckpt_path is not None else None,
    )
    check_trained(trainer)  # (the export callback skips step 0 too)
    return model


def _as_dataset(data: Dataset | str | Path, tokenizer: VideoTokenizer, name: str) -> Dataset:
    if isinstance(data, (str, Path)):
        return TokenShardDataset(data, tokenizer)
    if not isinstance(data, Dataset):
        raise ValueError(f"{name} must be a token-shard folder or a torch Dataset, got {type(data).__name__}")
    if len(data) < 1:
        raise ValueError(f"{name} is empty")
    return data


def _video_shape(ds: Dataset) -> tuple[int, int, int]:
    if isinstance(ds, TokenShardDataset):
        return ds.video_shape
    item = ds[0]
    if "video" not in item:
        raise ValueError(f"dataset items need 'video' and 'caption' keys, got {sorted(item)}")
    return tuple(int(s) for s in item["video"].shape[1:])


def dataset_captions(ds: Dataset) -> list[str]:
    """Every caption of a training dataset, cheaply where possible (shards hold them; Shapes enumerates them)."""
    if isinstance(ds, TokenShardDataset):
        return list(ds.captions)
    if hasattr(ds, "captions"):
        return list(ds.captions)
    from vidtok.shapes.world import ShapesDataset, split_combinations

    if isinstance(ds, ShapesDataset):
        return [a.caption for a in split_combinations(ds.split)]
    log.warning("fitting the prompt vocabulary by reading all %d items of %s", len(ds), type(ds).__name__)
    return [str(ds[i]["caption"]) for i in range(len(ds))]
