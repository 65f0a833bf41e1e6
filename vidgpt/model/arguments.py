"""Checks for the arguments of the Python API (`VideoGenerator`, `GenerationConfig`): each refuses a bad value
before any work with one line naming the argument, the value and what is allowed.

The command line checks its options with its own rules (vidgpt/cli/options.py) in the same words; its device
rule is `check_device`. Wrong values and wrong types alike are ValueErrors, as the command line's are.
"""

from __future__ import annotations

import numbers
from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np


def shown(value: Any) -> str:
    """`value` as a message shows it: on one line, an array as its shape and dtype, a long repr cut short."""
    if hasattr(value, "shape") and hasattr(value, "dtype"):
        return f"<{type(value).__name__} {tuple(value.shape)} {value.dtype}>"
    text = " ".join(repr(value).split())
    return text if len(text) <= 80 else text[:77] + "..."


def refuse(name: str, value: Any, why: str, kind: type[Exception] = ValueError) -> Exception:
    """The error for argument `name` given `value`: "name=value: why"."""
    return kind(f"{name}={shown(value)}: {why}")


def is_int(value: Any) -> bool:
    """An integer (Python's or numpy's), not a bool."""
    return isinstance(value, numbers.Integral) and not isinstance(value, (bool, np.bool_))


def check_int(name: str, value: Any, minimum: int | None = None, maximum: int | None = None,
              optional: bool = False, note: str = "") -> int | None:
    """`value` as an int, ValueError unless it is an integer in [minimum, maximum] (or None where ``optional``)."""
    if value is None and optional:
        return None
    if is_int(value) and (minimum is None or value >= minimum) and (maximum is None or value <= maximum):
        return int(value)
    if minimum is not None and maximum is not None:
        allowed = f"an integer in [{minimum}, {maximum}]"
    elif minimum is not None:
        allowed = f"an integer >= {minimum}"
    elif maximum is not None:
        allowed = f"an integer <= {maximum}"
    else:
        allowed = "an integer"
    raise refuse(name, value, f"must be {allowed}" + (" or None" if optional else "") + (f" ({note})" if note else ""))


def check_flag(name: str, value: Any) -> bool:
    """`value` as a bool, ValueError unless it is True or False."""
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    raise refuse(name, value, "expected True or False")


def check_prompts(name: str, value: Any, batch: int | None = None) -> list[str]:
    """A prompt as a list of strings: with no ``batch``, a string or a non-empty sequence of strings (one
    video each); with one, a string (for every video) or ``batch`` strings (one per video)."""
    if batch is None:
        allowed = "expected a string or a non-empty list of strings"
    else:
        allowed = f"a prompt change needs one prompt, or {batch} (one per video), as text"
    if isinstance(value, str):
        return [value] if batch is None else [value] * batch
    if isinstance(value, (bytes, Mapping, set, frozenset)) or not isinstance(value, Iterable):
        raise refuse(name, value, f"{allowed}; got {type(value).__name__}")
    items = list(value)
    if not items:
        raise refuse(name, items, f"{allowed}; got none")
    if batch is not None and len(items) != batch:
        raise refuse(name, items, f"{allowed}; got {len(items)}")
    for i, item in enumerate(items):
        if not isinstance(item, str):
            raise refuse(name, items, f"{allowed} ({name}[{i}] is {type(item).__name__})")
    return items


def check_device(name: str, value: Any) -> Any:
    """A torch device this machine has (cpu, cuda, cuda:N or mps), ValueError naming `name` otherwise."""
    import torch  # noqa: PLC0415 - the command line's rules use this without loading torch up front

    try:
        device = value if isinstance(value, torch.device) else torch.device(str(value))
    except (RuntimeError, TypeError, ValueError):
        raise refuse(name, value, "not a device (cpu, cuda, cuda:N or mps)") from None
    if device.type == "cuda":
        if not torch.cuda.is_available():
            raise refuse(name, value, "this machine has no CUDA device (use cpu)")
        if device.index is not None and device.index >= torch.cuda.device_count():
            raise refuse(name, value, f"this machine has {torch.cuda.device_count()} CUDA device(s)")
    elif device.type == "mps" and not torch.backends.mps.is_available():
        raise refuse(name, value, "MPS is not available on this machine (use cpu)")
    elif device.type not in ("cpu", "cuda", "mps"):
        raise refuse(name, value, "choose cpu, cuda, cuda:N or mps")
    return device
