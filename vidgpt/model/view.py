"""A teacher-forced pass that sees what sampling with a schedule sees: the model's input for training
sampling-faithful logits (`VidGPT.forward(..., view=...)`), built by `vidgpt.sampler.plan.training_view`."""

from __future__ import annotations

from dataclasses import dataclass

import torch


@dataclass(frozen=True)
class TrainingView:
    """What each code's query sees when sampling with a schedule, stand-ins included, as one teacher-forced
    pass over [prompt | BOV | codes[:-1] | E extra queries] (S + E tokens, S = L + t*h*w).

    `training_mask` alone feeds every query its real previous code, but sampling feeds the first code of
    a row a stand-in (plan.py): the real previous code is not ready yet. Feeding the stand-in at that
    slot would also show it to every later query, which at sampling time sees the real code there. So
    each such query gets an extra token instead: fed the stand-in (`sources`), at its own slot's position
    (`positions`), seeing what its slot's query sees but with itself in place of that slot. Its logits
    replace the slot's for code `targets`. The slot itself then holds what sampling writes there once the
    real code is ready (the context entry): the real code, seeing every code made up to that step."""

    mask: torch.Tensor  # bool (S + E, S + E), True = may attend
    sources: torch.Tensor  # (E,) sequence index of the token each extra query is fed
    positions: torch.Tensor  # (S + E,) position ids: 0..S-1, then each extra query's slot
    targets: torch.Tensor  # (E,) code index each extra query predicts

    def to(self, device: torch.device | str) -> "TrainingView":
        return TrainingView(*(x.to(device) for x in (self.mask, self.sources, self.positions, self.targets)))
