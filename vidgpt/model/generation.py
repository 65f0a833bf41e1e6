"""A model's generation settings: the one place their defaults live, saved in its folder as `generation.json`.

`VideoGenerator.generate(prompt)` with no options, `vidgpt-generate` and `vidgpt-evaluate` all sample with
these (a setting given explicitly wins), so Python and the command line make the same video from the same
prompt and seed. The file travels with the GPT (`gpt/generation.json`): fine-tuning keeps it, and a model
with guidance distilled in records guidance 1. (transformers' `generation_config.json` beside it belongs to
the backbone and is not read.)
"""

from __future__ import annotations

import dataclasses
import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .arguments import check_int, refuse

GENERATION_FILE = "generation.json"
SCHEDULES = ("raster", "diagonal")


class _ModelDefault:
    """The value of an option left to the model's `GenerationConfig` (spelt `model` on the command line)."""

    def __repr__(self) -> str:
        return "model"

    def __reduce__(self) -> str:
        return "MODEL"


MODEL: Any = _ModelDefault()


def check_sampling(temperature: Any, top_k: Any, top_p: Any, cfg_scale: Any = 1.0,
                   later_cfg_scale: Any = None) -> None:
    """ValueError naming the first bad sampling setting (NaN and infinity included: they sample noise)."""
    def number(name: str, value: Any, low: float, high: float, optional: bool = False) -> None:
        if value is None and optional:
            return
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
            raise refuse(name, value, "must be a finite number")
        if name == "top_p" and not low < value <= high:
            raise refuse(name, value, "must lie in (0, 1]")
        if value < low:
            raise refuse(name, value, f"must be >= {low:g}" + (" (0 = greedy)" if name == "temperature" else ""))

    number("temperature", temperature, 0.0, math.inf)
    number("cfg_scale", cfg_scale, 0.0, math.inf)
    number("later_cfg_scale", later_cfg_scale, 0.0, math.inf, optional=True)
    number("top_p", top_p, 0.0, 1.0, optional=True)
    check_int("top_k", top_k, minimum=1, optional=True)


@dataclass(frozen=True)
class GenerationConfig:
    """How to sample a model. The defaults are measured on the shipped Shapes model, on clean videos
    (docs/clean_videos.md, docs/sampling.md): diagonal sampling with frame window 4 at a fraction of raster's
    steps; guidance 2 on the first latent frame and 1.5 after it (2 throughout draws more objects that swell
    or shrink, 1.5 throughout more wrong colours); temperature 0.25. The shipped model's own file also sets
    `first_window` 8 (its first latent frame in raster order); the default leaves it off, since its cost
    grows with the grid."""

    schedule: str = "diagonal"  # raster | diagonal
    window: int = 1  # diagonal: row r+1 starts once row r has this many tokens (1: anti-diagonals)
    # diagonal: a frame starts once the previous frame's last row has this many tokens (None: the window;
    # the code grid's width or more: once the previous frame is complete)
    frame_window: int | None = 4
    # diagonal: the window inside the first latent frame, where the picture is set (None: the window; the code
    # grid's width or more: raster order there)
    first_window: int | None = None
    cfg_scale: float = 2.0  # classifier-free guidance; 1 = off (one pass per step instead of two)
    # guidance for the codes after the first latent frame, once the picture is set (None: cfg_scale throughout);
    # the first latent frame is drawn at cfg_scale, and an image-to-video or a continuation draws only later codes
    later_cfg_scale: float | None = 1.5
    temperature: float = 0.25  # 0 = greedy
    top_k: int | None = 100  # None = off
    top_p: float | None = None  # None = off

    def __post_init__(self) -> None:
        if not isinstance(self.schedule, str) or self.schedule not in SCHEDULES:
            raise refuse("schedule", self.schedule, f"choose one of {', '.join(SCHEDULES)}")
        # a numpy int is kept as an int
        for name, optional in (("window", False), ("frame_window", True), ("first_window", True)):
            object.__setattr__(self, name, check_int(name, getattr(self, name), minimum=1, optional=optional))
        check_sampling(self.temperature, self.top_k, self.top_p, self.cfg_scale, self.later_cfg_scale)
        object.__setattr__(self, "top_k", check_int("top_k", self.top_k, minimum=1, optional=True))

    @property
    def guidance_after_first(self) -> float:
        """The guidance scale of the codes after the first latent frame."""
        return self.cfg_scale if self.later_cfg_scale is None else self.later_cfg_scale

    @property
    def guided(self) -> bool:
        """Whether any code is drawn with guidance (then each step runs the null prompts too)."""
        return self.cfg_scale != 1.0 or self.guidance_after_first != 1.0

    def merged(self, **given: Any) -> "GenerationConfig":
        """These settings with those ``given`` that are not `MODEL`. A ``cfg_scale`` given without a
        ``later_cfg_scale`` sets the guidance of every code: `cfg_scale=1` turns guidance off."""
        given = {k: v for k, v in given.items() if v is not MODEL}
        if "cfg_scale" in given:
            given.setdefault("later_cfg_scale", None)
        return dataclasses.replace(self, **given)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any], source: str = GENERATION_FILE) -> "GenerationConfig":
        d = _current(d)
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(d) - names)
        if unknown:
            raise ValueError(f"{source}: unknown key(s) {unknown}")
        try:
            return cls(**d)
        except ValueError as e:
            raise ValueError(f"{source}: {e}") from None

    def save(self, folder: str | Path) -> Path:
        path = Path(folder) / GENERATION_FILE
        path.write_text(json.dumps(self.to_dict(), indent=2) + "\n")
        return path

    @classmethod
    def load(cls, folder: str | Path, distilled: bool = False) -> "GenerationConfig":
        """`<folder>/generation.json`; without one, the defaults (guidance 1 for a ``distilled`` model)."""
        path = Path(folder) / GENERATION_FILE
        if not path.is_file():
            return cls().merged(cfg_scale=1.0) if distilled else cls()
        try:
            d = json.loads(path.read_text())
        except json.JSONDecodeError as e:
            raise ValueError(f"{path}: not valid JSON ({e})") from None
        if not isinstance(d, dict):
            raise ValueError(f"{path}: expected a JSON object")
        return cls.from_dict(d, source=str(path))


WHOLE_FRAMES = 1 << 16  # a frame window wider than any code grid: each frame waits for the previous one


def _current(d: dict[str, Any]) -> dict[str, Any]:
    """Settings saved by earlier releases, read as they sampled: before `frame_overlap` folded into
    `frame_window` (false meant whole frames in turn), and before `later_cfg_scale` (one scale throughout) and
    `first_window` (the window throughout)."""
    d = dict(d)
    d.setdefault("later_cfg_scale", None)
    d.setdefault("first_window", None)
    if d.pop("frame_overlap", None) is False:
        d["frame_window"] = WHOLE_FRAMES
    return d

