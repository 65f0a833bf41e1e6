"""`GPTModule`: the stage-2 training recipe around a `VidGPT` (which itself knows nothing of Lightning).

Per training step: codes (from the batch, or encoded on the fly by the frozen tokenizer) -> prompt dropout
(CFG's null prompt) -> context noise on the *input* codes only -> next-code cross-entropy against the clean
codes. AdamW with per-step warm-up + cosine; gradient clipping and precision come from the Trainer.

Diagonal visibility (`diagonal_mask_prob` > 0): a diagonal schedule makes a code without seeing the codes
produced in the same step, although they precede it in raster order; a model trained only causally has never
met that context, nor the stand-in sampling feeds the first code of a row in place of its unready predecessor.
That share of batches is trained with `vidgpt.sampler.plan.training_view` of the diagonal schedule
(`diagonal_window`, `diagonal_frame_window`): exactly what each code's query sees
at sampling time, stand-ins included. The rest train causally, so the model stays a raster model too.

Guidance distillation (`distill_cfg_scale` = s): classifier-free guidance runs the model twice per sampling
step (prompt and null prompt). Distillation trains the model's prompted logits towards a frozen copy's
guided ones, u + s (c - u), with soft-target cross-entropy on the same inputs and view; sampled without
guidance afterwards it follows the guided distribution in one pass (half the rows per sampling step). The
exported config records s (`VidGPTConfig.distilled_cfg_scale`), so generation knows to skip guidance.

Change adapter (`change_adapter_rank` = r): only the model's change adapter (vidgpt/model/change_adapter.py,
attached with rank r where the model has none) is trained, every forward pass running with its deltas and
the base frozen; on switch clips this is what generation uses from a prompt change on.
"""

from __future__ import annotations

import copy
import logging
import time
from pathlib import Path
from typing import Any

import lightning as L
import torch
from tokenizers import Tokenizer
from torch import nn

from vidgpt.sampler.plan import training_view
from vidgpt.model.view import TrainingView
from vidgpt.sampler.sampling import guide
from vidgpt.sampler.schedules import diagonal_schedule
from vidgpt.model import PromptVocab, VidGPT, VidGPTConfig
from vidgpt.train.batches import drop_prompts, encode_frozen
from vidgpt.model.identity import check_trained_on
from vidtok.train.lr_schedule import step_progress, warmup_cosine
from vidtok.train.checkpoint import load_checkpoint
from vidtok.train.faults import NonFiniteLossError, check_finite_loss

log = logging.getLogger(__name__)
CHECKPOINT_KEY = "vidgpt"  # where a Lightning checkpoint keeps what rebuilds the network (config + prompt vocabulary)


class GPTModule(L.LightningModule):
    """Trains `model` on batches {"prompt_ids", "codes"} or {"prompt_ids", "video"} (see `batches.GPTCollate`).

    `tokenizer`: the frozen stage-1 tokenizer, only for on-the-fly training from videos; it is kept out of
    the state dict and the optimizer. `total_steps`: length of the cosine (default: the Trainer's
    estimated optimizer steps). `fused`: AdamW's fused kernel (default: on CUDA and CPU).
    `diagonal_mask_prob`: share of training batches that see only what diagonal sampling with
    `diagonal_window` / `diagonal_frame_window` lets them see (0 = plain causal training).
    `schedule_minutes`: run the cosine over this much training wall clock instead of `total_steps`; for
    time-budgeted recipes, where a step count guessed in advance is wrong on a busy or faster machine
    and a cosine cut short never anneals. The clock is checkpointed, so a resumed run continues it.
    `distill_cfg_scale`: train towards the guided logits of a frozen copy of `model` at this scale
    (module docstring); the copy is checkpointed with the run, so a resumed run keeps its teacher.
    `change_adapter_rank`: train only the model's change adapter, of this rank where it has none yet
    (module docstring); null: train the model itself.
    """

    def __init__(
        self,
        model: VidGPT,
        tokenizer: nn.Module | None = None,
        lr: float = 3e-4,
        weight_decay: float = 0.1,
        betas: tuple[float, float] = (0.9, 0.95),
        warmup_steps: int = 100,
        total_steps: int | None = None,
        min_lr_ratio: float = 0.1,
        prompt_dropout: float = 0.1,
        context_noise: float = 0.0,
        fused: bool | None = None,
        diagonal_mask_prob: float = 0.0,
        diagonal_window: int = 1,
        diagonal_frame_window: int | None = None,
        schedule_minutes: float | None = None,
        distill_cfg_scale: float | None = None,
        change_adapter_rank: int | None = None,
    ) -> None:
        super().__init__()
        for name, value in (("prompt_dropout", prompt_dropout), ("context_noise", context_noise),
                            ("diagonal_mask_prob", diagonal_mask_prob)):
            if not 0.0 <= value <= 1.0:
                raise ValueError(f"{name} must lie in [0, 1], got {value}")
        if schedule_minutes is not None and schedule_minutes <= 0:
            raise ValueError(f"schedule_minutes must be > 0 or null, got {schedule_minutes}")
        if diagonal_window < 1:
            raise ValueError(f"diagonal_window must be >= 1, got {diagonal_window}")
        if diagonal_frame_window is not None and diagonal_frame_window < 1:
            raise ValueError(f"diagonal_frame_window must be >= 1 or null, got {diagonal_frame_window}")
        if distill_cfg_scale is not None:
            if distill_cfg_scale < 0:
                raise ValueError(f"distill_cfg_scale must be >= 0 or null, got {distill_cfg_scale}")
            if model.config.distilled_cfg_scale is not None:  # its guided logits would guide twice
                raise ValueError(f"this model already has guidance {model.config.distilled_cfg_scale} distilled in; "
                                 "distil from a plain (undistilled) model")
        if change_adapter_rank is None and model.change_adapter is not None:
            # trained for the weights this run changes: kept, it would steer the new ones by the old ones' deltas
            log.warning("the model's change adapter is left out: it was trained for the weights this run changes; "
                        "train a new one afterwards (experiment=gpt_change_adapter)")
            model.change_adapter = None
        if change_adapter_rank is not None:
            if distill_cfg_scale is not None:
                raise ValueError("train either a change adapter or a guidance distillation, not both at once")
            if model.change_adapter is None:
                model.attach_change_adapter(change_adapter_rank)
            model.requires_grad_(False)
            model.change_adapter.requires_grad_(True)
        self.save_hyperparameters(ignore=["model", "tokenizer"])
        self.model = model
        self.teacher: VidGPT | None = None
        if distill_cfg_scale is not None:
            # a registered, frozen copy: in the checkpoint (resume keeps the teacher), not in the optimizer
            self.teacher = copy.deepcopy(model).requires_grad_(False).eval()
            model.config.distilled_cfg_scale = float(distill_cfg_scale)
            model.generation = model.generation.merged(cfg_scale=1.0)  # guided already: one pass
        if tokenizer is not None:
            check_trained_on(model, tokenizer)
            tokenizer.requires_grad_(False).eval()
        # a tuple, not an attribute nn.Module would register: the frozen tokenizer is no part of the checkpoint
        self._frozen = (tokenizer,) if tokenizer is not None else ()
        self._last_step_time: float | None = None
        self.train_seconds = 0.0  # training wall clock so far (steps only, not validation), checkpointed
        self._diagonal_view: TrainingView | None = None

    @property
    def tokenizer(self) -> nn.Module | None:
        return self._frozen[0] if self._frozen else None

    # ---------------------------------------------------------------- steps
    def batch_codes(self, batch: dict) -> torch.Tensor:
        """The batch's codes (B, t, h, w): given, or encoded from its videos by the frozen tokenizer."""
        if "codes" in batch:
            return batch["codes"]
        if self.tokenizer is None:
            raise ValueError("batch holds videos but GPTModule has no tokenizer: pass tokenizer= or use token shards")
        tok = self.tokenizer
        if next(tok.parameters()).device != self.device:
            tok.to(self.device)
        return encode_frozen(tok, batch["video"])

    def diagonal_view(self) -> TrainingView:
        """What sampling with the configured diagonal schedule shows each query, built once per device."""
        if self._diagonal_view is None or self._diagonal_view.mask.device != self.device:
            cfg, hp = self.model.config, self.hparams
            schedule = diagonal_schedule(*cfg.grid, window=hp.diagonal_window, frame_window=hp.diagonal_frame_window)
            self._diagonal_view = training_view(schedule, cfg.grid, cfg.prompt_length).to(self.device)
        return self._diagonal_view

    def loss_and_accuracy(
        self, prompt_ids: torch.Tensor, codes: torch.Tensor, context_noise: float = 0.0,
        view: TrainingView | None = None, distill: bool = False, counted: torch.Tensor | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Cross-entropy and top-1 accuracy of the next code, with `context_noise` on the inputs only.
        `view`: what each query sees (None = causal), e.g. `diagonal_view()`. `distill`: the cross-entropy
        against the teacher's guided distribution at `distill_cfg_scale` (same inputs, same view) instead of
        the true codes; the accuracy stays against the true codes. `counted`: bool (B, n), the codes that
        count (`counted_codes`; default all)."""
        if distill and self.teacher is None:
            raise ValueError("distillation needs distill_cfg_scale")

        def guided(inputs: torch.Tensor) -> torch.Tensor:
            b = prompt_ids.shape[0]
            with torch.no_grad():  # prompt and null prompt in one batch: one pass over the teacher's weights
                both = self.teacher(torch.cat([prompt_ids, self.teacher.null_prompts(b)]), inputs.repeat(2, 1),
                                    view=view)
                return guide(both[:b].float(), both[b:].float(), self.hparams.distill_cfg_scale).softmax(-1)

        with self.model.adapted(self.hparams.change_adapter_rank is not None):
            loss, logits = self.model.loss_and_logits(prompt_ids, codes, context_noise, view=view,
                                                      teacher=guided if distill else None, counted=counted)
        hits = (logits.detach().argmax(-1) == self.model.flat_codes(codes)).float()
        accuracy = hits.mean() if counted is None else hits[counted].mean()
        return loss, accuracy

    def counted_codes(self, batch: dict, codes: torch.Tensor) -> torch.Tensor | None:
        """bool (B, n): for a batch with prompt changes ("switch": the pixel frame each clip's caption changes
        at, 0 for none) the codes from the change's latent frame on, else None (all count)."""
        if "switch" not in batch or not bool((batch["switch"] > 0).any()):
            return None
        if self.tokenizer is None:
            raise ValueError("prompt-change clips need on-the-fly training (GPTModule with a tokenizer)")
        b, t, h, w = codes.shape
        size = batch["video"].shape[-2:]
        first = torch.tensor([int(self.tokenizer.latent_shape(int(s), *size)[0]) if s > 0 else 0
                              for s in batch["switch"].tolist()], device=codes.device)
        frame = torch.arange(t * h * w, device=codes.device) // (h * w)
        return frame[None, :] >= first[:, None]

    def train(self, mode: bool = True) -> "GPTModule":
        super().train(mode)
        if self.teacher is not None:
            self.teacher.eval()  # frozen: never in training mode
        return self

    def training_step(self, batch: dict, batch_idx: int) -> torch.Tensor:
        codes = self.batch_codes(batch)
        prompt_ids = drop_prompts(batch["prompt_ids"], self.hparams.prompt_dropout, self.model.config.pad_id)
        diagonal = self.hparams.diagonal_mask_prob > 0 and bool(torch.rand(()) < self.hparams.diagonal_mask_prob)
        loss, accuracy = self.loss_and_accuracy(prompt_ids, codes, self.hparams.context_noise,
                                                self.diagonal_view() if diagonal else None,
                                                distill=self.teacher is not None,
                                                counted=self.counted_codes(batch, codes))
        check_finite_loss(loss.detach(), "training loss", self.global_step, self.trainer.strategy,
                          f" (epoch {self.current_epoch}, batch {batch_idx})")
        b = codes.shape[0]
        self.log("train/loss", loss, prog_bar=True, batch_size=b)
        self.log("train/acc", accuracy, batch_size=b)
        self.log("train/lr", self.trainer.optimizers[0].param_groups[0]["lr"], batch_size=b)
        now = time.perf_counter()
        if self._last_step_time is not None:
            tokens = batch["prompt_ids"].numel() + codes.numel()  # sequence positions this step
            self.log("train/tokens_per_s", tokens / (now - self._last_step_time), batch_size=b)
            self.train_seconds += now - self._last_step_time
        self.log("train/minutes", self.train_seconds / 60, batch_size=b)
        self._last_step_time = now
        return loss

    def on_train_epoch_start(self) -> None:
        self._last_step_time = None  # the gap over validation / epoch end is no training step

    def on_validation_end(self) -> None:
        self._last_step_time = None

    def validation_step(self, batch: dict, batch_idx: int) -> None:
        codes = self.batch_codes(batch)
        counted = self.counted_codes(batch, codes)  # of a clip whose caption changes, the codes from the change on
        loss, accuracy = self.loss_and_accuracy(batch["prompt_ids"], codes, counted=counted)
        b = batch["prompt_ids"].shape[0]
        self.log("val/loss", loss, prog_bar=True, sync_dist=True, batch_size=b)
        self.log("val/acc", accuracy, sync_dist=True, batch_size=b)
        if self.teacher is not None:  # what distillation minimises: the gap to the teacher's guided distribution
            loss, _ = self.loss_and_accuracy(batch["prompt_ids"], codes, distill=True)
            self.log("val/loss_distill", loss, sync_dist=True, batch_size=b)
        if self.hparams.diagonal_mask_prob > 0:  # the gap to causal is what diagonal training is meant to close
            loss, accuracy = self.loss_and_accuracy(batch["prompt_ids"], codes, view=self.diagonal_view(),
                                                    counted=counted)
            self.log("val/loss_diagonal", loss, sync_dist=True, batch_size=b)
            self.log("val/acc_diagonal", accuracy, sync_dist=True, batch_size=b)

    # ---------------------------------------------------------------- optimisation
    def configure_optimizers(self) -> dict:
        hp = self.hparams
        params = [p for p in self.model.parameters() if p.requires_grad]
        # decay matrices and embeddings, not gains/biases (nanoGPT's split)
        groups = [
            {"params": [p for p in params if p.ndim >= 2], "weight_decay": hp.weight_decay},
            {"params": [p for p in params if p.ndim < 2], "weight_decay": 0.0},
        ]
        # the fused kernel: one pass over all parameters (also on CPU, where it beats foreach; tools/bench_train.py)
        fused = hp.fused if hp.fused is not None else self.device.type in ("cuda", "cpu")
        optimizer = torch.optim.AdamW(groups, lr=hp.lr, betas=tuple(hp.betas), fused=fused or None)
        warmup, floor = hp.warmup_steps, hp.min_lr_ratio
        if hp.schedule_minutes:
            def factor(step: int) -> float:
                return warmup_cosine(step, warmup, self.train_seconds / (60 * hp.schedule_minutes), floor)
        else:
            total = hp.total_steps or self.trainer.estimated_stepping_batches
            if not 0 < total < float("inf"):
                raise ValueError("GPTModule needs total_steps, schedule_minutes, or a Trainer with max_steps / max_epochs "
                                 "for its LR schedule")

            def factor(step: int) -> float:
                return warmup_cosine(step, warmup, step_progress(step, warmup, int(total)), floor)

        scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, factor)
        return {"optimizer": optimizer, "lr_scheduler": {"scheduler": scheduler, "interval": "step"}}

    def configure_gradient_clipping(
        self, optimizer: torch.optim.Optimizer, gradient_clip_val: float | None = None,
        gradient_clip_algorithm: str | None = None,
    ) -> None:
        if not gradient_clip_val or gradient_clip_algorithm == "value":
            return super().configure_gradient_clipping(optimizer, gradient_clip_val, gradient_clip_algorithm)
        norm = torch.nn.utils.clip_grad_norm_(self.model.parameters(), gradient_clip_val)
        self.log("train/grad_norm", norm)
        scaler = getattr(self.trainer.precision_plugin, "scaler", None)
        if scaler is None and not torch.isfinite(norm):  # fp16's GradScaler skips such steps by itself
            raise NonFiniteLossError(
                f"gradient norm is {norm.item()} at step {self.global_step}; stopped: the last checkpoint "
                "written before this step is the last good one"
            )

    # ---------------------------------------------------------------- checkpoints
    def on_load_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        self.train_seconds = float(checkpoint.get("train_seconds", 0.0))

    def on_save_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        checkpoint["train_seconds"] = self.train_seconds
        prompt = self.model.prompt_vocab
        checkpoint[CHECKPOINT_KEY] = {
            "config": self.model.config.to_dict(),
            "prompt_vocab": prompt.bpe.to_str() if prompt is not None else None,
        }
        if self.model.change_adapter is not None:
            checkpoint[CHECKPOINT_KEY]["change_adapter_alpha"] = self.model.change_adapter.alpha


def model_from_checkpoint(path: str | Path) -> VidGPT:
    """Rebuild the `VidGPT` (config, prompt vocabulary and weights) from a `GPTModule` Lightning checkpoint."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"checkpoint not found: {path}")
    ckpt = load_checkpoint(path)
    if CHECKPOINT_KEY not in ckpt:
        raise ValueError(f"{path} is not a GPTModule checkpoint (no {CHECKPOINT_KEY!r} entry)")
    saved = ckpt[CHECKPOINT_KEY]
    prompt = saved["prompt_vocab"] if "prompt_vocab" in saved else saved.get("prompt_tokenizer")  # the older name
    prompt = PromptVocab(Tokenizer.from_str(prompt)) if prompt is not None else None
    model = VidGPT(VidGPTConfig.from_dict(saved["config"], source=str(path)), prompt)
    state = {k.removeprefix("model."): v for k, v in ckpt["state_dict"].items() if k.startswith("model.")}
    if "change_adapter.a.0" in state:  # a run that trained a change adapter: its rank is A's first dimension
        model.attach_change_adapter(int(state["change_adapter.a.0"].shape[0]))
        model.change_adapter.alpha = float(saved.get("change_adapter_alpha", model.change_adapter.rank))
    model.load_state_dict(state)
    return model
