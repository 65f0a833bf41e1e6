"""What a VidGPT checkpoint needs to rebuild itself: the sequence layout and the backbone size.

Sequence: [prompt ids (prompt_length, PAD-padded) | BOV | codes of the (t, h, w) grid in raster order].
One embedding table covers [text vocab | BOV | codebook], so a code c has token id code_offset + c.
Positions are raster indices: prompt 0..L-1, BOV L, code j at L + 1 + j.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from transformers import LlamaConfig

from .presets import preset

FORMAT = 1  # bump when vidgpt.json changes incompatibly
DERIVED = ("bov_id", "code_offset", "vocab_size")  # written for readers, checked on load


@dataclass
class Backbone:
    """Llama sizes; see presets.py for named sizes."""

    layers: int
    hidden: int
    heads: int
    kv_heads: int
    intermediate: int
    rope_theta: float = 10000.0
    rms_norm_eps: float = 1e-5

    def __post_init__(self) -> None:
        if self.hidden % self.heads or self.heads % self.kv_heads:
            raise ValueError(
                f"backbone: hidden {self.hidden} must divide by heads {self.heads}, "
                f"and heads by kv_heads {self.kv_heads}"
            )


@dataclass
class VidGPTConfig:
    prompt_length: int
    grid: tuple[int, int, int]  # latent (t, h, w) the model was trained on
    codebook_size: int
    text_vocab_size: int  # prompt vocabulary ids, PAD included
    backbone: Backbone = field(default_factory=lambda: Backbone(**preset("demo")))
    pad_id: int = 0
    # Identity of the stage-1 tokenizer whose codes this model speaks (see identity.py).
    tokenizer: dict[str, Any] | None = None
    # The classifier-free guidance scale built into the weights by guidance distillation (GPTModule's
    # distill_cfg_scale): sampling it without guidance (cfg_scale 1) follows the guided distribution at
    # half the cost. None: a plain model, guided at sampling time.
    distilled_cfg_scale: float | None = None

    def __post_init__(self) -> None:
        self.grid = tuple(int(g) for g in self.grid)
        if isinstance(self.backbone, dict):
            self.backbone = Backbone(**self.backbone)
        if len(self.grid) != 3 or min(self.grid) < 1:
            raise ValueError(f"grid must be three positive ints (t, h, w), got {self.grid}")
        if self.distilled_cfg_scale is not None and self.distilled_cfg_scale < 0:
            raise ValueError(f"distilled_cfg_scale must be >= 0 or null, got {self.distilled_cfg_scale}")
        for name in ("prompt_length", "codebook_size", "text_vocab_size"):
            if int(getattr(self, name)) < 1:
                raise ValueError(f"{name} must be positive, got {getattr(self, name)}")

    @property
    def bov_id(self) -> int:
        return self.text_vocab_size

    @property
    def code_offset(self) -> int:
        return self.text_vocab_size + 1

    @property
    def vocab_size(self) -> int:
        return self.text_vocab_size + 1 + self.codebook_size

    @property
    def num_codes(self) -> int:
        t, h, w = self.grid
        return t * h * w

    @property
    def seq_len(self) -> int:
        return self.prompt_length + 1 + self.num_codes

    def llama_config(self) -> LlamaConfig:
        b = self.backbone
        cfg = LlamaConfig(
            vocab_size=self.vocab_size,
            hidden_size=b.hidden,
            intermediate_size=b.intermediate,
            num_hidden_layers=b.layers,
            num_attention_heads=b.heads,
            num_key_value_heads=b.kv_heads,
            head_dim=b.hidden // b.heads,
            max_position_embeddings=self.seq_len,
            rms_norm_eps=b.rms_norm_eps,
            rope_parameters={"rope_type": "default", "rope_theta": b.rope_theta},
            pad_token_id=self.pad_id,
            bos_token_id=self.bov_id,
            eos_token_id=None,
            tie_word_embeddings=False,
        )
        cfg._attn_implementation = "sdpa"
        return cfg

    def to_dict(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        d["grid"] = list(self.grid)
        # Derived ids are written out too, so the file alone documents the token layout.
        d.update(format=FORMAT, bov_id=self.bov_id, code_offset=self.code_offset, vocab_size=self.vocab_size)
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any], source: str = "vidgpt.json") -> "VidGPTConfig":
        if d.get("format") != FORMAT:
            raise ValueError(f"{source}: format {d.get('format')!r} is not the supported {FORMAT}")
        names = [f.name for f in dataclasses.fields(cls)]
        missing = [n for n in ("prompt_length", "grid", "codebook_size", "text_vocab_size", "backbone") if n not in d]
        if missing:
            raise ValueError(f"{source}: missing key(s) {missing}")
        unknown = sorted(set(d) - set(names) - {"format", *DERIVED})
        if unknown:  # a typo, or a file from a newer version whose meaning this code would silently drop
            raise ValueError(f"{source}: unknown key(s) {unknown}")
        cfg = cls(**{n: d[n] for n in names if n in d})
        for key in DERIVED:
            if key in d and d[key] != getattr(cfg, key):
                raise ValueError(f"{source}: {key}={d[key]} disagrees with the layout ({getattr(cfg, key)})")
        return cfg

    def save(self, path: str | Path) -> None:
        Path(path).write_text(json.dumps(self.to_dict(), indent=2) + "\n")

    @classmethod
    def load(cls, path: str | Path) -> "VidGPTConfig":
        path = Path(path)
        if not path.is_file():
            raise FileNotFoundError(f"vidgpt config not found: {path}")
        try:
            d = json.loads(path.read_text())
        except json.JSONDecodeError as e:
            raise ValueError(f"{path}: not valid JSON ({e})") from None
        return cls.from_dict(d, source=str(path))
