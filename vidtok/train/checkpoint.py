"""Lightning checkpoint files: written atomically, read as plain data only.

A `.ckpt` is a pickle, and unpickling can run any code the file names. Ours hold only tensors, numbers,
strings and containers of them, so they load with `torch.load(weights_only=True)`, which refuses anything
else before running it. Every checkpoint is read by `load_checkpoint` before anything else reads it:
Lightning's resume through `AtomicCheckpointIO`, and both stages' entry points check the file first, for
Trainers built elsewhere and for strategies that bypass the checkpoint IO (FSDP's full checkpoints).
"""

from __future__ import annotations

import os
import pickle
import re
from pathlib import Path
from typing import Any

import torch
from lightning.pytorch.plugins.io import TorchCheckpointIO

from vidtok.io.errors import WriteError
from vidtok.io.atomic import replace_file, sweep_dead, temp_beside


def load_checkpoint(path: str | Path, map_location: Any = "cpu") -> dict[str, Any]:
    """The checkpoint at `path` as a dict; a ValueError naming the file if it is not plain data or not readable."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"checkpoint not found: {path}")
    try:
        ckpt = torch.load(path, map_location=map_location, weights_only=True)
    except pickle.UnpicklingError as e:
        found = re.search(r"(Unsupported global: GLOBAL \S+|Unsupported operand \S+)", str(e))
        raise ValueError(
            f"refused to load checkpoint {path}: it holds pickled objects that could run code "
            f"({found.group(1) if found else 'not plain data'}); only tensors, numbers and strings are loaded"
        ) from None
    except PermissionError:
        raise
    except (RuntimeError, OSError, EOFError, KeyError, ValueError) as e:  # torch on truncated or foreign bytes
        first = str(e).strip().splitlines()[0] if str(e).strip() else ""
        raise ValueError(f"checkpoint {path} is damaged or not a checkpoint ({type(e).__name__}: {first})") from None
    if not isinstance(ckpt, dict):
        raise ValueError(f"checkpoint {path} is not a Lightning checkpoint (holds a {type(ckpt).__name__}, not a dict)")
    return ckpt


class AtomicCheckpointIO(TorchCheckpointIO):
    """Checkpoints written atomically and read as plain data only.

    Writing: to a temporary file beside the target, flushed, then renamed (`replace_file`): readers and
    resumed runs never see a partial file, and the temporaries of killed writers are swept on the next save.
    Reading (Lightning's resume): `load_checkpoint`, i.e. `torch.load(weights_only=True)` whatever the
    Lightning and torch versions default to, so a crafted checkpoint is refused before it can run code.
    """

    def save_checkpoint(self, checkpoint: dict[str, Any], path: str | os.PathLike, storage_options: Any = None) -> None:
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        sweep_dead(path.parent)  # also the numbered checkpoints' temporaries, whose names never recur
        tmp = temp_beside(path)
        try:
            super().save_checkpoint(checkpoint, tmp, storage_options)
            replace_file(tmp, path)
        except OSError as e:
            raise WriteError.wrap(path, e) from e
        except RuntimeError as e:  # torch's zip writer reports a failed write (a full disk) as a RuntimeError
            if "writ" not in str(e).lower():
                raise
            raise WriteError.wrap(path, e) from e
        finally:
            tmp.unlink(missing_ok=True)

    def load_checkpoint(
        self, path: str | os.PathLike, map_location: Any = None, weights_only: bool | None = None
    ) -> dict[str, Any]:
        return load_checkpoint(path, map_location=map_location if map_location is not None else "cpu")
