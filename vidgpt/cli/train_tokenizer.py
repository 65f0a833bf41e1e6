"""`vidtok-train`: stage 1, the causal VQ video tokenizer. Exports ``<run>/tokenizer/``."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import lightning as L
from omegaconf import DictConfig, OmegaConf

from vidgpt.cli.app import hydra_app
from vidgpt.cli.common import check_size, dataset, is_rank_zero, run_dir, trainer_from_config
from vidgpt.cli.options import TRAINING, Choice, Flag, Number, Steps
from vidgpt.cli.runs import resume_checkpoint
from vidgpt.cli.sweep import objective
from vidtok.model import TokenizerConfig, VideoTokenizer
from vidtok.model.config import PADDINGS
from vidtok.train.fit import train_tokenizer
from vidtok.train.module import TrainConfig


OPTIONS = {
    **TRAINING,
    "frames": Number(int, minimum=1),
    "size": Number(int, minimum=8),
    "decoder_padding": Choice(PADDINGS, optional=True),
    "recipe.code_noise": Number(float, minimum=0, maximum=1),
    "recipe.crop": Number(int, minimum=8, optional=True),
    "recipe.crop_uniform": Number(float, minimum=0, maximum=1),
    "recipe.grad_clip": Number(float, minimum=0, optional=True, note="0: no clipping"),
    "recipe.max_steps": Steps(),
    "recipe.l1_weight": Number(float, minimum=0),
    "recipe.l1_start": Number(int, minimum=0),
    "recipe.l2_weight": Number(float, minimum=0),
    "recipe.saliency": Number(float, minimum=0),
    "recipe.saliency_spread": Number(int, minimum=0),
    "recipe.quantizer_weight": Number(float, minimum=0),
    "recipe.adversarial_weight": Number(float, minimum=0),
    "recipe.adversarial_start": Number(int, minimum=0),
    "recipe.disc_lr": Number(float, minimum=0),
    "recipe.disc_channels": Number(int, minimum=1),
    "recipe.log_images_every": Number(int, minimum=0, note="0: never"),
    "recipe.freeze_encoder": Flag(),
}


def train(cfg: DictConfig) -> Path | float:
    run = run_dir()
    ckpt = resume_checkpoint(cfg.resume)
    L.seed_everything(cfg.seed, workers=True)
    model_cfg = TokenizerConfig.from_dict(OmegaConf.to_container(cfg.tokenizer, resolve=True), source="tokenizer")
    start = None
    if cfg.init_from is not None:  # the architecture is the starting tokenizer's: tokenizer.* is not used
        folder = Path(cfg.init_from).expanduser()
        if not (folder / "config.json").is_file():
            raise FileNotFoundError(f"init_from={cfg.init_from}: not a tokenizer folder (no config.json)")
        model_cfg = TokenizerConfig.load(folder / "config.json")
        if cfg.get("decoder_padding") is not None:  # no weights of its own: the same ones, drawn another way
            model_cfg = dataclasses.replace(model_cfg, decoder_padding=str(cfg.decoder_padding))
        start = None
        if not ckpt:  # a resumed fine-tune has its checkpoint
            start = VideoTokenizer(model_cfg)
            start.load_state_dict(VideoTokenizer.from_pretrained(folder).state_dict())
    check_size(cfg.size, model_cfg.spatial_factor)
    recipe = OmegaConf.to_container(cfg.recipe, resolve=True)
    train_tokenizer(
        model_cfg,
        dataset(cfg.data.train, "data.train", required=True),
        dataset(cfg.data.val, "data.val"),
        out_dir=run,
        train_cfg=TrainConfig(**recipe),
        batch_size=cfg.data.batch_size,
        num_workers=cfg.data.num_workers,
        resume=ckpt,
        trainer=trainer_from_config(cfg, run),
        init_from=start,
    )
    if is_rank_zero():
        print(f"tokenizer: {run / 'tokenizer'}  (stage 2: vidgpt-train tokenizer_dir={run / 'tokenizer'})")
    return objective(run, cfg.objective) if cfg.objective and is_rank_zero() else run


main = hydra_app("train_tokenizer", OPTIONS)(train)

if __name__ == "__main__":
    main()
