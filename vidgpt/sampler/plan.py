"""From a schedule to what each forward pass feeds, writes and may attend to.

Sequence positions ("slots", also the static KV cache's slots): prompt 0..L-1, BOV at L, code q at
L + 1 + q. Producing code p means feeding the token of position p - 1 (BOV for p = 0) at slot L + p
and sampling from that query's logits. The plan depends only on the schedule, never on token values,
so it is built once, before sampling, and can be checked on its own (tests/sampling/test_schedules.py).

Rules (step j >= 1 runs schedule step j - 1; step 0 is the prefill):
- A code is *ready* from the step after the one that produced it (known codes and BOV: from step 0).
- Producing p when p - 1 is not ready (first token of a row whose previous row is unfinished): feed a
  *stand-in* at slot L + p: the ready token at the same place in the previous latent frame, else the
  one above, else the nearest ready token before it in raster order.
- A code that becomes ready while its slot holds nothing (or, with `replace_standins`, a stand-in) and
  is not being fed anyway gets a *context entry*: its real token is fed at its own slot, with no
  sampling, overwriting the stand-in's cache entry.
- Visibility: a query at slot i attends to its own slot and to every slot j < i whose code is ready
  and written. So a produced token sees exactly the already generated tokens that precede it in raster
  order; unwritten slots are masked, never attended as zeros. (Without `replace_standins` a stand-in
  stays in the cache and is attended in place of its ready code.)
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch

from vidgpt.model.view import TrainingView

from .schedules import step_of


@dataclass(frozen=True)
class Step:
    """One forward pass."""

    slots: list[int]  # slots fed, i.e. positions of the inputs and cache slots written
    sources: list[int]  # slot whose token is fed at each fed slot (a stand-in's differs from its slot)
    produce: list[int]  # code indices sampled from this pass
    rows: list[int]  # for each produced code, the index in `slots` of the query that predicts it
    newly_visible: list[int]  # slots that queries may attend from this step on
    causal: bool  # every slot before the largest fed one is visible: the mask is plain j <= i

    @property
    def kv_len(self) -> int:
        """No query attends beyond its own slot, so the cache is only read up to the largest fed slot."""
        return max(self.slots) + 1


def standin(q: int, ready: Callable[[int], bool], grid: tuple[int, int, int]) -> int:
    """The ready code fed in place of code q (-1 means BOV)."""
    _, h, w = grid
    for c in (q - h * w, q - w):  # same place one latent frame earlier, then the row above
        if c >= 0 and ready(c):
            return c
    for c in range(q - 1, -1, -1):
        if ready(c):
            return c
    return -1


def build_plan(schedule: Sequence[Sequence[int]], grid: tuple[int, int, int], prompt_length: int,
               known: int = 0, replace_standins: bool = True) -> list[Step]:
    """Steps for sampling `grid` after a prompt of `prompt_length` tokens.

    `known`: number of codes given in raster order (image / continuation prefix); the schedule's own
    entries for them are ignored. The first step is the prefill of the prompt, BOV and known codes.
    """
    t, h, w = grid
    n, L = t * h * w, prompt_length
    if not 0 <= known <= n:
        raise ValueError(f"known prefix {known} must lie in [0, {n}]")
    sched_step = step_of(schedule, n, known)
    num_steps = 1 + max(sched_step, default=-1) + 1
    by_step: list[list[int]] = [[] for _ in range(num_steps)]
    for p, k in enumerate(sched_step):
        if k >= 0:
            by_step[k + 1].append(p)
    ready_at = [0 if k < 0 else k + 2 for k in sched_step]  # plan step from which each code is ready

    def slot(q: int) -> int:
        return L + 1 + q

    content: list[int | None] = [None] * (L + 1 + n)  # source currently in each slot
    visible = [False] * (L + 1 + n)
    prefix = 0  # slots [0, prefix) are all visible
    pending: list[int] = []  # ready codes (and BOV, -1) not yet visible
    plan: list[Step] = []
    first = set(by_step[1]) if num_steps > 1 else set()
    for j in range(num_steps):
        fed: dict[int, int] = {}
        rows: list[int] = []
        if j == 0:
            fed.update((s, s) for s in range(L))
            ready_codes = [-1] + list(range(known))
        else:
            ready_codes = by_step[j - 1] if j >= 2 else []

            def ready(q: int, j: int = j) -> bool:
                return q < 0 or ready_at[q] <= j

            for p in by_step[j]:
                q = p - 1
                rows.append(len(fed))
                fed[slot(q)] = slot(q) if ready(q) else slot(standin(q, ready, grid))
        for q in ready_codes:
            s = slot(q)
            if j == 0 and q + 1 in first:
                continue  # fed in step 1 anyway, as the input that produces q + 1
            if s not in fed and (content[s] is None or (replace_standins and content[s] != s)):
                fed[s] = s
        for s, src in fed.items():
            content[s] = src
        pending += ready_codes
        newly = [slot(q) for q in pending if content[slot(q)] is not None]
        pending = [q for q in pending if content[slot(q)] is None]
        if j == 0:
            newly = list(range(L)) + newly
        for s in newly:
            visible[s] = True
        while prefix < len(visible) and visible[prefix]:
            prefix += 1
        slots = list(fed)
        causal = bool(slots) and prefix >= max(slots)
        plan.append(Step(slots, list(fed.values()), list(by_step[j]), rows, newly, causal))
    return plan


class MaskTracker:
    """Running visibility over the cache slots, turned into each step's boolean attention mask."""

    def __init__(self, seq_len: int, device: torch.device | str = "cpu") -> None:
        self.visible = torch.zeros(seq_len, dtype=torch.bool, device=device)
        self.arange = torch.arange(seq_len, device=device)

    def update(self, newly_visible: torch.Tensor) -> None:
        self.visible[newly_visible] = True

    def mask(self, slots: torch.Tensor, kv_len: int) -> torch.Tensor:
        """(n, kv_len) bool, True = attend: own slot, and visible slots before it."""
        ar = self.arange[:kv_len]
        return (self.visible[:kv_len] & (ar < slots[:, None])) | (ar == slots[:, None])


def training_mask(schedule: Sequence[Sequence[int]], grid: tuple[int, int, int], prompt_length: int) -> torch.Tensor:
    """Bool (S, S), S = L + t*h*w, for teacher-forced training ([prompt | BOV | codes[:-1]]) with the
    visibility that `schedule` gives at sampling time: the query predicting code p sees code q < p
    only if q is produced in an earlier step. For the raster schedule this is the causal mask.
    (Stand-in inputs are not emulated: the query's own input stays the real previous code.)
    """
    t, h, w = grid
    n, L = t * h * w, prompt_length
    k = torch.tensor(step_of(schedule, n), dtype=torch.long)
    size = L + n
    causal = torch.ones(size, size, dtype=torch.bool).tril()
    q_step = torch.cat([torch.full((L,), -1), k])  # step of the code each query slot predicts
    key_step = torch.cat([torch.full((L + 1,), -2), k[:-1]])  # step of the code each key slot holds
    seen = key_step[None, :] < q_step[:, None]
    return causal & (seen | torch.eye(size, dtype=torch.bool))


def training_view(schedule: Sequence[Sequence[int]], grid: tuple[int, int, int], prompt_length: int) -> TrainingView:
    """The `TrainingView` of sampling `grid` with `schedule` (stand-ins replaced, as `sample_codes` does by default)."""
    L = prompt_length
    base = training_mask(schedule, grid, L)
    extras = [(p, step.sources[row]) for step in build_plan(schedule, grid, L)
              for p, row in zip(step.produce, step.rows) if step.sources[row] != step.slots[row]]
    size, e = base.shape[0], len(extras)
    mask = torch.zeros(size + e, size + e, dtype=torch.bool)
    mask[:size, :size] = base
    targets = torch.tensor([p for p, _ in extras], dtype=torch.long)
    slots = L + targets  # the slot whose input code p's query is fed (slot of code p - 1)
    if e:
        mask[size:, :size] = base[slots]
        mask[size + torch.arange(e), slots] = False  # the stand-in, not the real code, sits at its own slot
        mask[size:, size:] = torch.eye(e, dtype=torch.bool)
        step = torch.tensor(step_of(schedule, size - L), dtype=torch.long)
        for p in targets.tolist():  # the context entry of code p - 1, written in the step after it is made
            mask[L + p, L + 1: L + p] = step[: p - 1] <= step[p - 1]
    sources = torch.tensor([src for _, src in extras], dtype=torch.long)
    return TrainingView(mask, sources, torch.cat([torch.arange(size), slots]), targets)
