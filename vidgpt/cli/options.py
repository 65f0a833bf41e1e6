"""Every option of a command, checked before any work: its type, range, choices, and that numbers are finite.

Hydra configs carry no types: without these rules `samples=abc`, `cfg_scale=nan` or `trainer.max_steps=-5`
would fail deep inside a run (`'<' not supported between 'str' and 'int'`), or not at all and give a
black video. Each command names its rules (`hydra_app(..., options=...)`); a rule's message names the key,
the value and what is allowed. A key a config does not have (another trainer preset, say) is not checked.
"""

from __future__ import annotations

import dataclasses
import math
import re
from dataclasses import dataclass
from typing import Any, Iterator, Mapping

from omegaconf import DictConfig, ListConfig, OmegaConf

ABSENT = object()  # a key the config does not have


def _fail(key: str, value: Any, why: str) -> ValueError:
    return ValueError(f"{key}={value!r}: {why}" if isinstance(value, str) else f"{key}={value}: {why}")


@dataclass(frozen=True)
class Number:
    """An int (``kind=int``) or any real number (``kind=float``) within ``[minimum, maximum]``, above ``above``."""

    kind: type = int
    minimum: float | None = None
    maximum: float | None = None
    above: float | None = None  # an exclusive lower bound
    below: float | None = None  # an exclusive upper bound
    optional: bool = False  # null allowed
    note: str = ""  # what the allowed values mean, appended to the message
    from_text: bool = False  # an integer's text allowed too (what `${oc.env:RANK,0}` gives)

    def check(self, key: str, value: Any) -> None:
        if value is None and self.optional:
            return
        if self.from_text and isinstance(value, str) and re.fullmatch(r"\s*-?\d+\s*", value):
            value = int(value)
        ok = isinstance(value, int) if self.kind is int else isinstance(value, (int, float))
        if isinstance(value, bool) or not ok:
            what = "an integer" if self.kind is int else "a number"
            raise _fail(key, value, f"expected {what}{' or null' if self.optional else ''}")
        if not math.isfinite(value):
            raise _fail(key, value, "must be a finite number")
        bad = ((self.minimum is not None and value < self.minimum and f"must be >= {self.minimum}")
               or (self.above is not None and value <= self.above and f"must be > {self.above}")
               or (self.maximum is not None and value > self.maximum and f"must be <= {self.maximum}")
               or (self.below is not None and value >= self.below and f"must be < {self.below}"))
        if bad:
            raise _fail(key, value, bad + (f" ({self.note})" if self.note else ""))


@dataclass(frozen=True)
class Steps:
    """A step count for Lightning: a positive integer, or -1 for no limit."""

    def check(self, key: str, value: Any) -> None:
        Number(int).check(key, value)
        if value < 1 and value != -1:
            raise _fail(key, value, "must be >= 1, or -1 for no limit")


@dataclass(frozen=True)
class Choice:
    """One of ``choices``."""

    choices: tuple[Any, ...]
    optional: bool = False

    def check(self, key: str, value: Any) -> None:
        if (value is None and self.optional) or value in self.choices:
            return
        raise _fail(key, value, f"choose one of {', '.join(map(str, self.choices))}")


@dataclass(frozen=True)
class Flag:
    """true or false (or null, where ``optional``)."""

    optional: bool = False

    def check(self, key: str, value: Any) -> None:
        if value is None and self.optional:
            return
        if not isinstance(value, bool):
            raise _fail(key, value, "expected true or false" + (" or null" if self.optional else ""))


@dataclass(frozen=True)
class Text:
    """A string (an int or float given on the command line is read as its text), non-blank unless ``blank``."""

    optional: bool = False
    blank: bool = False

    def check(self, key: str, value: Any) -> None:
        if value is None and self.optional:
            return
        if isinstance(value, bool) or not isinstance(value, (str, int, float)):
            raise _fail(key, value, "expected a text value" + (" or null" if self.optional else ""))
        if not self.blank and not str(value).strip():
            raise _fail(key, value, "is empty")


@dataclass(frozen=True)
class Items:
    """A list whose every item passes ``item``; at least ``least`` of them, at most ``most``; no repeats if ``unique``."""

    item: Any
    least: int = 1
    most: int | None = None
    unique: bool = False

    def check(self, key: str, value: Any) -> None:
        if isinstance(value, str) or not isinstance(value, (list, tuple, ListConfig)):
            raise _fail(key, value, "expected a list, e.g. [a,b]")
        if self.most == self.least and len(value) != self.least:
            raise _fail(key, list(value), f"needs exactly {self.least} item(s)")
        if len(value) < self.least:
            raise _fail(key, list(value), f"needs at least {self.least} item(s)")
        if self.most is not None and len(value) > self.most:
            raise _fail(key, list(value), f"takes at most {self.most} item(s)")
        for i, v in enumerate(value):
            self.item.check(f"{key}[{i}]", v)
        if self.unique:
            seen = [v for i, v in enumerate(value) if v in list(value)[:i]]
            if seen:
                raise _fail(key, list(value), f"names {seen[0]} twice")


@dataclass(frozen=True)
class Fields:
    """A mapping with exactly the keys of ``fields``, each value passing its rule."""

    fields: Mapping[str, Any]

    def check(self, key: str, value: Any) -> None:
        if not isinstance(value, (dict, DictConfig)):
            raise _fail(key, value, f"expected {{{', '.join(f'{k}: ...' for k in self.fields)}}}")
        missing, unknown = set(self.fields) - set(value), set(value) - set(self.fields)
        if missing or unknown:
            raise _fail(key, dict(value), f"expected the keys {', '.join(self.fields)}" +
                        (f" (unknown: {', '.join(sorted(map(str, unknown)))})" if unknown else ""))
        for name, rule in self.fields.items():
            rule.check(f"{key}.{name}", value[name])


@dataclass(frozen=True)
class Duration:
    """Lightning's ``max_time``: "DD:HH:MM:SS", or null."""

    def check(self, key: str, value: Any) -> None:
        if value is None or isinstance(value, (dict, DictConfig)):
            return
        if not (isinstance(value, str) and re.fullmatch(r"\d+:\d\d:\d\d:\d\d", value)):
            raise _fail(key, value, 'expected "DD:HH:MM:SS" (e.g. "00:01:30:00"), or null')


@dataclass(frozen=True)
class Device:
    """A torch device this machine has: cpu, cuda, cuda:N or mps."""

    optional: bool = False

    def check(self, key: str, value: Any) -> None:
        if value is None and self.optional:
            return
        from vidgpt.model.arguments import check_device  # noqa: PLC0415 - the other rules need no torch

        check_device(key, value)


@dataclass(frozen=True)
class Accelerator:
    """Lightning's ``trainer.accelerator``, refused up front when the machine lacks it."""

    def check(self, key: str, value: Any) -> None:
        import torch  # noqa: PLC0415

        Choice(("cpu", "gpu", "cuda", "mps", "tpu", "auto")).check(key, value)
        if value in ("gpu", "cuda") and not torch.cuda.is_available():
            raise _fail(key, value, "this machine has no CUDA device (use trainer=cpu)")


@dataclass(frozen=True)
class Devices:
    """Lightning's ``trainer.devices``: a count (>= 1, or -1 for all), "auto", or a list of device indices."""

    def check(self, key: str, value: Any) -> None:
        if value == "auto" or (isinstance(value, int) and not isinstance(value, bool) and (value >= 1 or value == -1)):
            return
        if isinstance(value, (list, tuple)) and value and all(
                isinstance(v, int) and not isinstance(v, bool) and v >= 0 for v in value):
            return
        if isinstance(value, str) and re.fullmatch(r"\d+(,\d*)*", value.strip()):  # Lightning's "0,1" / "2"
            return
        raise _fail(key, value, "expected a device count >= 1 (-1: all), auto, or a list of indices, e.g. [0,1]")


MODEL_WORD = "model"  # a sampling option left to the model folder's generation.json


@dataclass(frozen=True)
class OrModel:
    """``rule``, or the word `model`: the model's own setting."""

    rule: Any

    def check(self, key: str, value: Any) -> None:
        if value == MODEL_WORD:
            return
        try:
            self.rule.check(key, value)
        except ValueError:
            if value is None:  # `null` once meant the model's own guidance
                raise _fail(key, value, f"null is not allowed here: write {key}=model for the model's own") from None
            raise


def sampling_settings(cfg: DictConfig) -> dict[str, Any]:
    """The sampling options of a command's config for `VideoGenerator.generate`: `model` -> `MODEL`."""
    from vidgpt.model.generation import MODEL, GenerationConfig  # noqa: PLC0415

    names = [f.name for f in dataclasses.fields(GenerationConfig)]
    values = {k: cfg.get(k, MODEL_WORD) for k in names}
    return {k: MODEL if v == MODEL_WORD else v for k, v in values.items()}


def check_options(cfg: DictConfig, rules: Mapping[str, Any]) -> None:
    """Raise ValueError for the first option breaking its rule, then for any number anywhere that is not finite."""
    for key, rule in rules.items():
        value = OmegaConf.select(cfg, key, default=ABSENT, throw_on_missing=False)
        if value is ABSENT or value == "???":  # not in this config, or a mandatory value the command asks for
            continue
        rule.check(key, OmegaConf.to_object(value) if isinstance(value, (DictConfig, ListConfig)) else value)
    for key, value in _leaves(cfg, ""):
        if isinstance(value, float) and not math.isfinite(value):
            raise _fail(key, value, "must be a finite number")


def _leaves(node: Any, prefix: str) -> Iterator[tuple[str, Any]]:
    if isinstance(node, DictConfig):
        for k in node.keys():
            if OmegaConf.is_missing(node, k):
                continue
            yield from _leaves(node[k], f"{prefix}.{k}" if prefix else str(k))
    elif isinstance(node, ListConfig):
        for i, v in enumerate(node):
            yield from _leaves(v, f"{prefix}[{i}]")
    else:
        yield prefix, node


# ---- the rules the commands share
# numpy and Lightning's seed_everything take seeds in [0, 2**32): a larger one would be replaced by 0
SEED = Number(int, minimum=0, maximum=2**32 - 1)
SAMPLING = {
    "frames": Number(int, minimum=1, optional=True),
    "schedule": OrModel(Choice(("raster", "diagonal"))),
    "window": OrModel(Number(int, minimum=1)),
    "frame_window": OrModel(Number(int, minimum=1, optional=True)),
    "first_window": OrModel(Number(int, minimum=1, optional=True)),
    "cfg_scale": OrModel(Number(float, minimum=0, note="1: no guidance; model: the model's own")),
    "later_cfg_scale": OrModel(Number(float, minimum=0, optional=True,
                                      note="null: cfg_scale throughout; model: the model's own")),
    "temperature": OrModel(Number(float, minimum=0, note="0: greedy")),
    "top_k": OrModel(Number(int, minimum=1, optional=True)),
    "top_p": OrModel(Number(float, above=0, maximum=1, optional=True)),
    "batch_size": Number(int, minimum=1),
    "seed": SEED,
    "device": Device(),
    "out_dir": Text(),
}

TRAINING = {
    "seed": SEED,
    "objective": Text(optional=True),
    "checkpoint_every_n_steps": Number(int, minimum=1),
    "resume": Text(optional=True),
    "init_from": Text(optional=True),
    "data.batch_size": Number(int, minimum=1),
    "data.num_workers": Number(int, minimum=0),
    "trainer.max_steps": Steps(),
    "trainer.max_time": Duration(),
    "trainer.accelerator": Accelerator(),
    "trainer.devices": Devices(),
    "trainer.num_nodes": Number(int, minimum=1),
    "trainer.log_every_n_steps": Number(int, minimum=1),
    "trainer.val_check_interval": Number(float, above=0, optional=True),
    "trainer.check_val_every_n_epoch": Number(int, minimum=1, optional=True),
    "trainer.limit_val_batches": Number(float, minimum=0),
    "trainer.num_sanity_val_steps": Number(int, minimum=-1),
    "trainer.gradient_clip_val": Number(float, minimum=0, optional=True),
    "trainer.accumulate_grad_batches": Number(int, minimum=1),
    "trainer.enable_progress_bar": Flag(),
    "recipe.lr": Number(float, minimum=0),
    "recipe.min_lr_ratio": Number(float, minimum=0, maximum=1, note="the LR at the schedule's end, as a share of recipe.lr"),
    "recipe.betas": Items(Number(float, minimum=0, below=1), least=2, most=2),
    "recipe.warmup_steps": Number(int, minimum=0),
    "recipe.weight_decay": Number(float, minimum=0),
    "recipe.max_minutes": Number(float, above=0, optional=True),
}
