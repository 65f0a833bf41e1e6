"""Numbers from a config, checked where they are read.

Hydra configs carry no types, so without this `samples=abc` or `frames=0` would fail deep inside
(`'<' not supported between 'str' and 'int'`) instead of naming the key and the value.
"""

from __future__ import annotations

from typing import Any

from omegaconf import DictConfig


def number(cfg: DictConfig, key: str, kind: type = int, minimum: float | None = None,
           optional: bool = False) -> Any:
    """``cfg[key]`` as ``kind`` (int or float), at least ``minimum``; None allowed when ``optional``."""
    value = cfg[key]
    if value is None and optional:
        return None
    ok = isinstance(value, int) if kind is int else isinstance(value, (int, float))
    if isinstance(value, bool) or not ok:
        what = "an integer" if kind is int else "a number"
        raise ValueError(f"{key}={value!r}: expected {what}{' or null' if optional else ''}")
    if minimum is not None and value < minimum:
        raise ValueError(f"{key}={value}: must be >= {minimum}")
    return kind(value)
