"""Run folders and resuming.

Hydra makes a new run folder per launch, so Lightning's ``ckpt_path="last"`` would silently start
from scratch. Instead ``resume=<old run folder>`` makes Hydra reuse that folder (see the
``hydra.run.dir`` of each command's config, through `run_folder`) and we continue from its
``checkpoints/last.ckpt``. ``resume=<file.ckpt>`` continues that checkpoint, in its own run folder
when it lies in one's ``checkpoints/``, else in a new one.
"""

from __future__ import annotations

import zipfile
from pathlib import Path

from vidtok.train.trainer import CHECKPOINT_DIR

LAST = "last.ckpt"


def resume_checkpoint(resume: str | None) -> str | None:
    """The Lightning checkpoint to continue from, or None for a fresh run.

    ``resume`` is a run folder (its ``checkpoints/last.ckpt`` is used) or a ``.ckpt`` file.
    """
    if resume in (None, "", "null"):
        return None
    path = Path(resume).expanduser()
    if path.is_dir():
        ckpt = path / CHECKPOINT_DIR / LAST
        if not ckpt.is_file():
            raise FileNotFoundError(f"resume={resume}: no {CHECKPOINT_DIR}/{LAST} in that run folder")
    elif path.is_file() and path.suffix == ".ckpt":
        ckpt = path
    else:
        raise FileNotFoundError(f"resume={resume}: not a run folder or a .ckpt file")
    if not zipfile.is_zipfile(ckpt):  # what torch.save writes; a truncated or foreign file is not one
        raise ValueError(f"resume={resume}: {ckpt} is not a readable checkpoint (truncated, or not written by training)")
    return str(ckpt)


def run_folder(resume: str | None) -> str | None:
    """The run folder a launch with `resume` continues in (None: a new one); Hydra's `hydra.run.dir` asks it."""
    if resume in (None, "", "null"):
        return None
    path = Path(resume).expanduser()
    if path.suffix == ".ckpt" and not path.is_dir():
        return str(path.parent.parent) if path.parent.name == CHECKPOINT_DIR else None
    return str(resume)
