"""VidGPT: a Llama over [prompt | BOV | video codes], predicting each code from everything before it.

The backbone is a plain `transformers.LlamaForCausalLM` built from a config (never downloaded), so a
checkpoint folder is its `save_pretrained` output plus vidgpt.json (layout + tokenizer identity) and
prompt_vocab.json (the prompt vocabulary), and change_adapter.safetensors where the model has a change adapter
(change_adapter.py: used only from a prompt change on). Logits are only ever taken over the codebook rows of the output head: the model
is never asked to emit text, BOV or PAD.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from safetensors import SafetensorError
from torch import nn
from torch.func import functional_call
from transformers import LlamaForCausalLM
from transformers.utils import logging as hf_logging

from vidtok.model.code_noise import corrupt_codes
from vidtok.io.atomic import atomic_folder

from .change_adapter import ADAPTER_FILE, ChangeAdapter
from .config import Backbone, VidGPTConfig
from .generation import GenerationConfig
from .identity import check_tokenizer_identity
from .presets import preset as preset_fields
from .prompt import PromptVocab
from .view import TrainingView

CONFIG_FILE = "vidgpt.json"
PROMPT_FILE = "prompt_vocab.json"
# The prompt vocabulary's file name in folders saved before it was renamed (the shipped model's included):
# read when PROMPT_FILE is absent, never written.
OLD_PROMPT_FILES = ("prompt_tokenizer.json",)
WEIGHTS_FILE = "model.safetensors"  # what transformers' save_pretrained writes


class VidGPT(nn.Module):
    """Prompt-conditioned causal transformer over video codes."""

    def __init__(self, config: VidGPTConfig, prompt_vocab: PromptVocab | None = None,
                 llama: LlamaForCausalLM | None = None, generation: GenerationConfig | None = None) -> None:
        super().__init__()
        # how to sample it (generation.json): saved and loaded with the weights, kept through fine-tuning
        self.generation = generation if generation is not None else (
            GenerationConfig().merged(cfg_scale=1.0) if config.distilled_cfg_scale is not None else GenerationConfig())
        if prompt_vocab is not None and prompt_vocab.vocab_size != config.text_vocab_size:
            raise ValueError(
                f"prompt vocabulary has {prompt_vocab.vocab_size} ids but config.text_vocab_size is "
                f"{config.text_vocab_size}"
            )
        self.config = config
        self.prompt_vocab = prompt_vocab
        self.llama = llama if llama is not None else LlamaForCausalLM(config.llama_config())
        if self.llama.config.vocab_size != config.vocab_size:
            raise ValueError(f"backbone vocab {self.llama.config.vocab_size} != layout vocab {config.vocab_size}")
        # low-rank deltas used only from a prompt change on (change_adapter.py); None: the base serves all
        self.change_adapter: ChangeAdapter | None = None
        self._adapted = False

    def attach_change_adapter(self, rank: int, alpha: float | None = None) -> ChangeAdapter:
        """A new change adapter (a no-op until trained: its B starts at zero), replacing any there was."""
        self.change_adapter = ChangeAdapter.for_backbone(self.llama.model, rank, alpha)
        return self.change_adapter

    @contextmanager
    def adapted(self, on: bool = True) -> Iterator["VidGPT"]:
        """Forward passes inside run with the change adapter's deltas added (on=False: as they are)."""
        if on and self.change_adapter is None:
            raise ValueError("this VidGPT has no change adapter")
        before, self._adapted = self._adapted, on
        try:
            yield self
        finally:
            self._adapted = before

    @classmethod
    def build(cls, prompt_vocab: PromptVocab, grid: tuple[int, int, int], codebook_size: int,
              prompt_length: int = 16, preset: str = "demo", tokenizer: dict[str, Any] | None = None,
              **backbone: Any) -> "VidGPT":
        """A randomly initialised model; `backbone` entries override the preset's fields."""
        config = VidGPTConfig(
            prompt_length=prompt_length,
            grid=grid,
            codebook_size=codebook_size,
            text_vocab_size=prompt_vocab.vocab_size,
            backbone=Backbone(**{**preset_fields(preset), **backbone}),
            pad_id=prompt_vocab.pad_id,
            tokenizer=tokenizer,
        )
        return cls(config, prompt_vocab)

    # ---------------------------------------------------------------- token layout
    def encode_prompts(self, texts: str | list[str]) -> torch.Tensor:
        """Strings -> prompt ids (B, prompt_length) on the model's device."""
        if self.prompt_vocab is None:
            raise ValueError("this VidGPT has no prompt vocabulary; build it with one or load a checkpoint")
        return self.prompt_vocab.encode(texts, self.config.prompt_length).to(self.device)

    def null_prompts(self, batch: int) -> torch.Tensor:
        """The all-PAD prompt: the unconditional input of classifier-free guidance."""
        return torch.full((batch, self.config.prompt_length), self.config.pad_id, dtype=torch.long, device=self.device)

    def check_prompts(self, prompt_ids: torch.Tensor) -> torch.Tensor:
        c = self.config
        if prompt_ids.ndim != 2 or prompt_ids.shape[1] != c.prompt_length:
            raise ValueError(f"prompt_ids must be (B, {c.prompt_length}), got {tuple(prompt_ids.shape)}")
        if prompt_ids.numel() and (prompt_ids.min() < 0 or prompt_ids.max() >= c.text_vocab_size):
            raise ValueError(f"prompt ids must lie in [0, {c.text_vocab_size})")
        return prompt_ids.long()

    def flat_codes(self, codes: torch.Tensor) -> torch.Tensor:
        """(B, t, h, w) on the trained grid, or (B, n) raster-order prefix with n <= t*h*w -> (B, n)."""
        c = self.config
        if codes.ndim == 4:
            if tuple(codes.shape[1:]) != c.grid:
                raise ValueError(f"codes grid {tuple(codes.shape[1:])} != the model's grid {c.grid}")
            codes = codes.flatten(1)
        if codes.ndim != 2 or codes.shape[1] > c.num_codes:
            raise ValueError(f"codes must be (B, t, h, w) or (B, n<={c.num_codes}), got {tuple(codes.shape)}")
        if codes.numel() and (codes.min() < 0 or codes.max() >= c.codebook_size):
            raise ValueError(f"codes must lie in [0, {c.codebook_size}), got [{int(codes.min())}, {int(codes.max())}]")
        return codes.long()

    def input_ids(self, prompt_ids: torch.Tensor, codes: torch.Tensor) -> torch.Tensor:
        """[prompt | BOV | codes + code_offset] as token ids (B, L + 1 + n)."""
        prompt_ids, codes = self.check_prompts(prompt_ids), self.flat_codes(codes)
        bov = torch.full_like(prompt_ids[:, :1], self.config.bov_id)
        return torch.cat([prompt_ids, bov, codes + self.config.code_offset], dim=1)

    # ---------------------------------------------------------------- forward passes
    @property
    def device(self) -> torch.device:
        return self.llama.lm_head.weight.device

    @property
    def dtype(self) -> torch.dtype:
        return self.llama.lm_head.weight.dtype

    def code_head(self) -> torch.Tensor:
        """The output-head rows of the codebook tokens: (codebook_size, hidden)."""
        return self.llama.lm_head.weight[self.config.code_offset:]

    def sequence_logits(self, input_ids: torch.Tensor, attention_mask: torch.Tensor | None = None,
                        position_ids: torch.Tensor | None = None) -> torch.Tensor:
        """Code logits (B, S, K) at every position of a token sequence starting at position 0.

        `attention_mask`: optional bool (S, S) or (B, S, S), True = may attend; None = causal.
        `position_ids`: optional (S,) or (B, S) RoPE positions; None = 0..S-1.
        """
        if attention_mask is not None:
            s = input_ids.shape[1]
            if attention_mask.shape[-2:] != (s, s) or attention_mask.ndim not in (2, 3):
                raise ValueError(
                    f"attention_mask must be (S, S) or (B, S, S) with S={s}, got {tuple(attention_mask.shape)}"
                )
            attention_mask = attention_mask.to(device=input_ids.device, dtype=torch.bool)
            attention_mask = attention_mask.reshape(-1, 1, s, s)
        if position_ids is not None:
            position_ids = position_ids.to(input_ids.device).expand(input_ids.shape[0], -1)
        inputs = dict(input_ids=input_ids, attention_mask=attention_mask, position_ids=position_ids, use_cache=False)
        if self._adapted:
            backbone = self.llama.model
            hidden = functional_call(backbone, self.change_adapter.merged(backbone), (), inputs).last_hidden_state
        else:
            hidden = self.llama.model(**inputs).last_hidden_state
        return F.linear(hidden, self.code_head())

    def forward(self, prompt_ids: torch.Tensor, codes: torch.Tensor, attention_mask: torch.Tensor | None = None,
                view: TrainingView | None = None) -> torch.Tensor:
        """Teacher-forced logits (B, n, K): entry j predicts code j from the prompt and codes < j.

        `attention_mask` (optional, bool (S, S), S = L + n): training-time visibility.
        `view` (optional, instead): `vidgpt.sampler.plan.training_view` of a diagonal schedule, exactly what
        sampling shows each code, stand-ins included: the queries fed a stand-in run as extra positions
        and their logits replace those of the codes they predict.
        """
        codes = self.flat_codes(codes)
        ids = self.input_ids(prompt_ids, codes[:, :-1])  # the last code is only ever a target
        L = self.config.prompt_length
        if view is None:
            return self.sequence_logits(ids, attention_mask)[:, L:]
        if attention_mask is not None:
            raise ValueError("pass attention_mask or view, not both")
        logits = self.sequence_logits(torch.cat([ids, ids[:, view.sources]], dim=1), view.mask, view.positions)[:, L:]
        n = codes.shape[1]
        return logits[:, :n].index_copy(1, view.targets, logits[:, n:])

    def loss(self, prompt_ids: torch.Tensor, codes: torch.Tensor, context_noise: float = 0.0,
             attention_mask: torch.Tensor | None = None, generator: torch.Generator | None = None,
             view: TrainingView | None = None, teacher: Callable[[torch.Tensor], torch.Tensor] | None = None,
             counted: torch.Tensor | None = None) -> torch.Tensor:
        """Mean next-token cross-entropy over the video tokens (see `loss_and_logits`)."""
        return self.loss_and_logits(prompt_ids, codes, context_noise, attention_mask, generator, view, teacher,
                                    counted)[0]

    def loss_and_logits(self, prompt_ids: torch.Tensor, codes: torch.Tensor, context_noise: float = 0.0,
                        attention_mask: torch.Tensor | None = None, generator: torch.Generator | None = None,
                        view: TrainingView | None = None,
                        teacher: Callable[[torch.Tensor], torch.Tensor] | None = None,
                        counted: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """The training objective of every recipe, and the logits (B, n, K) it was computed from.

        `context_noise`: fraction of input codes replaced by random codes; targets stay clean.
        `attention_mask` / `view`: what each query sees (see `forward`).
        `teacher`: maps the (noisy) input codes (B, n) to target distributions (B, n, K), e.g. a guided
        teacher's (distillation); by default the targets are the true codes.
        `counted`: bool (B, n), the codes whose loss counts (e.g. those after a prompt change); default all.
        """
        codes = self.flat_codes(codes)
        inputs = corrupt_codes(codes, context_noise, self.config.codebook_size, generator)
        logits = self(prompt_ids, inputs, attention_mask, view)  # logit j sees inputs < j at most: no target leaks in
        target = codes.reshape(-1) if teacher is None else teacher(inputs).flatten(0, 1)
        if counted is None:
            return F.cross_entropy(logits.flatten(0, 1).float(), target), logits
        losses = F.cross_entropy(logits.flatten(0, 1).float(), target, reduction="none")
        weights = counted.reshape(-1).to(losses.dtype)
        return (losses * weights).sum() / weights.sum().clamp_min(1), logits

    # ---------------------------------------------------------------- checkpoints
    def check_tokenizer(self, tokenizer: Any) -> None:
        """Raise ValueError if `tokenizer` does not produce the codes this model was trained on."""
        ident = self.config.tokenizer
        if ident is not None:
            check_tokenizer_identity(ident, tokenizer)
        if int(tokenizer.codebook_size) != self.config.codebook_size:
            raise ValueError(
                f"tokenizer mismatch: codebook_size {tokenizer.codebook_size} != the GPT's {self.config.codebook_size}"
            )

    def save_pretrained(self, directory: str | Path) -> Path:
        """Write weights (safetensors) + config.json, vidgpt.json and prompt_vocab.json as `directory`,
        and change_adapter.safetensors when the model has one.

        Atomic: the folder is written beside `directory` and then replaces it whole (see `atomic_folder`).
        """
        directory = Path(directory)
        with atomic_folder(directory, marker=CONFIG_FILE, durable=True) as tmp:
            self.llama.save_pretrained(tmp)
            self.config.save(tmp / CONFIG_FILE)
            self.generation.save(tmp)
            if self.prompt_vocab is not None:
                self.prompt_vocab.save(tmp / PROMPT_FILE)
            if self.change_adapter is not None:
                self.change_adapter.save(tmp / ADAPTER_FILE)
        return directory

    @classmethod
    def from_pretrained(cls, directory: str | Path, map_location: str | torch.device = "cpu") -> "VidGPT":
        directory = Path(directory)
        if not directory.is_dir():
            raise FileNotFoundError(f"VidGPT checkpoint folder not found: {directory}")
        config = VidGPTConfig.load(directory / CONFIG_FILE)
        prompt_file = next((directory / name for name in (PROMPT_FILE, *OLD_PROMPT_FILES)
                            if (directory / name).is_file()), None)
        prompt_vocab = PromptVocab.load(prompt_file) if prompt_file is not None else None
        weights = directory / WEIGHTS_FILE
        if not weights.is_file() and not (directory / f"{WEIGHTS_FILE}.index.json").is_file():  # one file or shards
            raise FileNotFoundError(f"VidGPT weights not found: {weights}")
        bar = hf_logging.is_progress_bar_enabled()
        hf_logging.disable_progress_bar()  # a "Loading weights" bar on every load is noise: it takes ms
        try:
            llama = LlamaForCausalLM.from_pretrained(directory, attn_implementation="sdpa")
        except SafetensorError as e:
            raise ValueError(f"{weights} is not a readable safetensors file ({e}): it is corrupt or truncated") from None
        finally:
            if bar:
                hf_logging.enable_progress_bar()
        generation = GenerationConfig.load(directory, distilled=config.distilled_cfg_scale is not None)
        model = cls(config, prompt_vocab, llama, generation)
        if (directory / ADAPTER_FILE).is_file():
            model.change_adapter = ChangeAdapter.load(directory / ADAPTER_FILE, llama.model)
        return model.to(map_location).eval()
