"""Numerical faults that stop a training run of either stage, before they reach a checkpoint or an export.

A NaN or inf loss (or gradient) stops training with a message naming the step. The check on the loss alone
comes one step late for weights broken by a step whose loss was still finite, so checkpoints and exports
also refuse weights that are not finite: the last one written is always the last good one.
"""

from __future__ import annotations

from itertools import chain
from typing import Any

import lightning as L
import torch
from lightning.pytorch.callbacks import Callback
from torch import nn


class NonFiniteLossError(FloatingPointError):
    """The loss, a gradient norm or the weights became NaN/inf; training stops rather than save broken weights."""


def check_finite_loss(value: torch.Tensor, what: str, step: int, strategy: Any = None, where: str = "") -> None:
    """NonFiniteLossError naming `what` (e.g. "training loss") and the step if `value` is NaN or inf.

    `strategy` (the Trainer's): decide on every rank together. A rank that stopped alone would leave the
    others waiting in the next gradient all-reduce; launchers without an agent that tears the group down
    (srun, Lightning's own) would hang there. `where`: more of the place, e.g. " (epoch 0, batch 3)".
    """
    finite = bool(torch.isfinite(value))
    everywhere = finite if strategy is None else strategy.reduce_boolean_decision(finite, all=True)
    if not everywhere:
        state = f"is {value.item()}" if not finite else "is finite here but not on another rank"
        raise NonFiniteLossError(
            f"{what} {state} at step {step}{where}; stopped: the last checkpoint written before this step "
            "is the last good one"
        )


def nonfinite_weights(module: nn.Module) -> list[str]:
    """Names of the floating-point parameters and buffers of `module` holding a NaN or inf."""
    tensors = chain(module.named_parameters(), module.named_buffers())
    return [name for name, t in tensors if t.is_floating_point() and not bool(torch.isfinite(t).all())]


def check_finite_weights(module: nn.Module, step: int, writing: str) -> None:
    """NonFiniteLossError instead of `writing` (a checkpoint, an export) weights that are not finite."""
    bad = nonfinite_weights(module)
    if bad:
        more = f" and {len(bad) - 3} more" if len(bad) > 3 else ""
        raise NonFiniteLossError(
            f"weights not finite at step {step} ({', '.join(bad[:3])}{more}); stopped without the {writing}: "
            "the last one written is the last good one"
        )


class FiniteCheckpoints(Callback):
    """Refuse to write a checkpoint whose weights are not finite (checked on every rank, so all ranks stop)."""

    def on_save_checkpoint(self, trainer: L.Trainer, pl_module: L.LightningModule, checkpoint: dict[str, Any]) -> None:
        check_finite_weights(pl_module, trainer.global_step, "checkpoint")
