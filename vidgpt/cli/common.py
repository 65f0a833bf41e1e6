"""Small pieces the training commands share: the run folder, datasets and Trainer from a config."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import lightning as L
from hydra.core.hydra_config import HydraConfig
from hydra.utils import instantiate
from lightning.pytorch.utilities import rank_zero_only
from omegaconf import DictConfig, OmegaConf

from vidtok.train.trainer import build_trainer


def run_dir() -> Path:
    """This launch's run folder (the old one when resuming: see `hydra.run.dir` in the configs)."""
    return Path(HydraConfig.get().runtime.output_dir)


def is_rank_zero() -> bool:
    """Whether this process speaks for the launch: under torchrun/srun every rank runs the command."""
    return rank_zero_only.rank == 0


def dataset(node: Any, key: str = "data", required: bool = False) -> Any:
    """A dataset config (`_target_`), a path string (token shards), or None (refused when `required`)."""
    if node is None and required:
        raise ValueError(f"{key}=null: training needs a dataset here (e.g. data=shapes, or data=folder data.root=<videos>)")
    if node is None or isinstance(node, str):
        return node
    if isinstance(node, DictConfig) and "_target_" in node:
        return instantiate(node)
    raise ValueError(f"data: expected a dataset config with _target_ or a path, got {OmegaConf.to_yaml(node)!r}")


def check_size(size: int, spatial_factor: int, key: str = "size") -> None:
    """The frame side against the tokenizer's spatial factor, before any clip is made at that size."""
    if size % spatial_factor:
        raise ValueError(f"{key}={size}: must be a multiple of the tokenizer's spatial_factor {spatial_factor} "
                         f"(e.g. {max(spatial_factor, size // spatial_factor * spatial_factor)})")


def trainer_from_config(cfg: DictConfig, run: Path) -> L.Trainer:
    """The Lightning Trainer of `cfg.trainer` (nested `_target_`s such as an FSDP strategy built)."""
    kwargs = instantiate(cfg.trainer, _convert_="all")
    return build_trainer(kwargs, run, checkpoint_every_n_steps=cfg.checkpoint_every_n_steps)
