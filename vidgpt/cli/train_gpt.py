"""`vidgpt-train`: stage 2, the prompt-conditioned GPT on a stage-1 tokenizer's codes.

The run folder becomes a complete model folder: ``gpt/`` (exported during and after training) and a
copy of the stage-1 ``tokenizer/``, so ``vidgpt-generate model=<run folder>`` needs nothing else.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import lightning as L
from omegaconf import DictConfig, OmegaConf

from vidgpt.cli.app import hydra_app
from vidgpt.cli.common import check_size, dataset, is_rank_zero, run_dir, trainer_from_config
from vidgpt.cli.options import TRAINING, Flag, Number, Text
from vidgpt.cli.runs import resume_checkpoint
from vidgpt.cli.sweep import objective
from vidgpt.generator import MODEL_GPT, MODEL_TOKENIZER
from vidgpt.model.gpt import CONFIG_FILE
from vidgpt.train.fit import train_gpt
from vidtok.io.atomic import atomic_folder
from vidtok.train.steps import check_fills_a_batch
from vidtok.model import TokenizerConfig
from vidtok.model.pretrained import resolve as resolve_tokenizer


OPTIONS = {
    **TRAINING,
    "tokenizer_dir": Text(),
    "frames": Number(int, minimum=1),
    "size": Number(int, minimum=8),
    "export_every_n_steps": Number(int, minimum=1, optional=True),
    "snapshots": Flag(),
    "gpt.prompt_length": Number(int, minimum=1),
    "gpt.text_vocab_size": Number(int, minimum=8),
    "recipe.prompt_dropout": Number(float, minimum=0, maximum=1),
    "recipe.context_noise": Number(float, minimum=0, maximum=1),
    "recipe.diagonal_mask_prob": Number(float, minimum=0, maximum=1),
    "recipe.schedule_minutes": Number(float, above=0, optional=True),
    "recipe.distill_cfg_scale": Number(float, minimum=0, optional=True),
    "recipe.total_steps": Number(int, minimum=1, optional=True),
    "recipe.fused": Flag(optional=True),
    "recipe.diagonal_window": Number(int, minimum=1),
    "recipe.diagonal_frame_window": Number(int, minimum=1, optional=True),
    "recipe.change_adapter_rank": Number(int, minimum=1, optional=True),
}


def train(cfg: DictConfig) -> Path | float:
    run = run_dir()
    ckpt = resume_checkpoint(cfg.resume)
    init_from = None if cfg.init_from is None else Path(cfg.init_from).expanduser()
    if init_from is not None:
        if not init_from.is_dir():
            raise FileNotFoundError(f"init_from={cfg.init_from}: no such model folder")
        if not (init_from / MODEL_GPT / CONFIG_FILE).is_file():
            raise FileNotFoundError(f"init_from={cfg.init_from}: not a model folder (no {MODEL_GPT}/{CONFIG_FILE}; "
                                    "vidgpt-train writes gpt/ + tokenizer/)")
        if OmegaConf.is_missing(cfg, "tokenizer_dir"):
            cfg.tokenizer_dir = str(init_from / MODEL_TOKENIZER)  # the model's own stage 1
    elif OmegaConf.is_missing(cfg, "tokenizer_dir") and ckpt and (run / MODEL_TOKENIZER / "config.json").is_file():
        cfg.tokenizer_dir = str(run / MODEL_TOKENIZER)  # a resumed run goes on with the stage 1 it copied
    elif OmegaConf.is_missing(cfg, "tokenizer_dir"):
        raise ValueError("name stage 1 with tokenizer_dir=<tokenizer folder>, or a model to fine-tune with "
                         "init_from=<model folder>")
    tokenizer_dir = resolve_tokenizer(cfg.tokenizer_dir)  # a folder, or a shipped tokenizer's name
    if not (tokenizer_dir / "config.json").is_file():
        raise FileNotFoundError(f"tokenizer_dir={cfg.tokenizer_dir}: not a tokenizer folder (no config.json)")
    check_size(cfg.size, TokenizerConfig.load(tokenizer_dir / "config.json").spatial_factor)
    train_data, val_data = dataset(cfg.data.train, "data.train", required=True), dataset(cfg.data.val, "data.val")
    check_fills_a_batch(train_data, cfg.data.batch_size)  # before the tokenizer is copied into the run folder
    L.seed_everything(cfg.seed, workers=True)
    if is_rank_zero():
        with atomic_folder(run / MODEL_TOKENIZER, marker="config.json", durable=True) as tmp:  # never a half copy, even if killed
            shutil.copytree(tokenizer_dir, tmp, dirs_exist_ok=True)
    train_gpt(
        tokenizer_dir,
        train_data,
        run,
        val_data=val_data,
        preset=cfg.gpt.preset,
        backbone=OmegaConf.to_container(cfg.gpt.backbone),
        prompt_length=cfg.gpt.prompt_length,
        text_vocab_size=cfg.gpt.text_vocab_size,
        batch_size=cfg.data.batch_size,
        num_workers=cfg.data.num_workers,
        module=OmegaConf.to_container(cfg.recipe),
        trainer=trainer_from_config(cfg, run),
        ckpt_path=ckpt,
        init_from=None if ckpt else init_from,  # a resumed fine-tune continues from its checkpoint
        export_every_n_steps=cfg.export_every_n_steps,
        snapshots=cfg.snapshots,
    )
    if is_rank_zero():
        print(f"model folder: {run}  (generate with: vidgpt-generate model={run})")
    return objective(run, cfg.objective) if cfg.objective and is_rank_zero() else run


main = hydra_app("train_gpt", OPTIONS)(train)

if __name__ == "__main__":
    main()
