"""The one sampling loop, for every schedule: run a plan's steps over a static KV cache and sample.

Classifier-free guidance doubles the batch: rows [0, B) carry the prompts, rows [B, 2B) the null
(all-PAD) prompts; both halves are fed the same sampled codes. The first latent frame's codes are guided
with `cfg_scale`, the later ones with `later_cfg_scale` (a step of the diagonal schedule that draws codes
of both takes each code's own scale).
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Sequence
from itertools import accumulate

import torch

from ..model.generation import check_sampling
from ..model.gpt import VidGPT
from .forward import StaticForward
from .plan import MaskTracker, Step, build_plan
from .sampling import guide, sample
from .threads import ThreadChooser, num_threads


def _known_prefix(gpt: VidGPT, known: torch.Tensor | None, batch: int) -> torch.Tensor:
    """Given codes as (B, t0, h, w) whole latent frames or a raster prefix (B, n0) -> (B, n0)."""
    _, h, w = gpt.config.grid
    if known is None:
        return torch.zeros(batch, 0, dtype=torch.long, device=gpt.device)
    if known.ndim == 4:
        if tuple(known.shape[2:]) != (h, w) or known.shape[1] > gpt.config.grid[0]:
            raise ValueError(f"known codes {tuple(known.shape)} must be (B, t0<={gpt.config.grid[0]}, {h}, {w})")
        known = known.flatten(1)
    known = gpt.flat_codes(known.to(gpt.device))
    if known.shape[0] != batch:
        raise ValueError(f"known codes have batch {known.shape[0]}, prompts have {batch}")
    return known


class _Tensors:
    """A plan's per-step index tensors, made in one go: each is a view into one flat tensor, so
    building them costs a slice per step instead of a host-to-tensor copy per step."""

    def __init__(self, plan: list[Step], prompt_length: int, device: torch.device) -> None:
        self.slots = self._flat([s.slots for s in plan], device)
        self.sources = self._flat([s.sources for s in plan], device)
        self.rows = self._flat([s.rows for s in plan], device)
        self.newly = self._flat([s.newly_visible for s in plan], device)
        self.produce = self._flat([[prompt_length + 1 + p for p in s.produce] for s in plan], device)

    @staticmethod
    def scales(plan: list[Step], first_frame: int, first: float, later: float,
               device: torch.device) -> list[float | torch.Tensor]:
        """Each step's guidance scale: a number, or (m, 1) per code where a step draws codes of the first
        latent frame (positions below `first_frame`) and later ones."""
        out: list[float | torch.Tensor] = []
        for step in plan:
            in_first = [p < first_frame for p in step.produce]
            if all(in_first) or not any(in_first):
                out.append(first if all(in_first) else later)
            else:
                out.append(torch.tensor([first if f else later for f in in_first], device=device).view(-1, 1))
        return out

    @staticmethod
    def _flat(lists: list[list[int]], device: torch.device) -> list[torch.Tensor]:
        flat = torch.tensor([v for xs in lists for v in xs], dtype=torch.long, device=device)
        ends = list(accumulate(len(xs) for xs in lists))
        return [flat[e - len(xs): e] for xs, e in zip(lists, ends)]


def _run(gpt: VidGPT, prompt_ids: torch.Tensor, schedule: Sequence[Sequence[int]], *,
         known: torch.Tensor | None = None, null_prompt_ids: torch.Tensor | None = None,
         cfg_scale: float = 1.0, later_cfg_scale: float | None = None, temperature: float = 1.0,
         top_k: int | None = None, top_p: float | None = None, generator: torch.Generator | None = None,
         replace_standins: bool = True, latent_frames: int | None = None,
         forward: StaticForward | None = None, threads: int | None = None,
         ) -> Iterator[tuple[list[int], torch.Tensor, torch.Tensor]]:
    """sample_steps' engine; yields (positions, codes, seq) after each sampling step, where seq
    (batch rows, L + 1 + n) holds every slot's real token so far (so `sample_codes` needs no copies)."""
    cfg = gpt.config
    L, seq_len, device = cfg.prompt_length, cfg.seq_len, gpt.device
    t, h, w = cfg.grid
    latent_frames = t if latent_frames is None else latent_frames
    if not 1 <= latent_frames <= t:
        raise ValueError(f"latent_frames must lie in [1, {t}] (the trained grid), got {latent_frames}")
    check_sampling(temperature, top_k, top_p, cfg_scale, later_cfg_scale)
    if threads is not None and threads < 1:
        raise ValueError(f"threads must be >= 1 or None (automatic), got {threads}")
    prompt_ids = gpt.check_prompts(prompt_ids.to(device))
    batch = prompt_ids.shape[0]
    known = _known_prefix(gpt, known, batch)
    grid = (latent_frames, h, w)
    plan = build_plan(schedule, grid, L, known=known.shape[1], replace_standins=replace_standins)

    seq = torch.empty(batch, seq_len, dtype=torch.long, device=device)  # every slot's real token
    seq[:, :L] = prompt_ids
    seq[:, L] = cfg.bov_id
    seq[:, L + 1: L + 1 + known.shape[1]] = known + cfg.code_offset
    guided = null_prompt_ids is not None
    if guided:
        null = gpt.check_prompts(null_prompt_ids.to(device)).expand(batch, -1)
        seq = torch.cat([seq, torch.cat([null, seq[:, L:]], dim=1)])
    copies = seq.shape[0] // batch
    chooser = None
    if device.type != "cpu":
        threads = None  # host threads only launch kernels there
    elif threads is None:
        chooser = ThreadChooser.for_this_machine()
        threads = chooser.chosen  # for the set-up and the prefill, which the chooser does not time
    forward = forward or StaticForward(gpt)
    with num_threads(threads):
        cache = forward.new_cache(seq.shape[0])
        tracker = MaskTracker(seq_len, device)
        steps = _Tensors(plan, L, device)  # all steps' tensors up front: per step only tensor ops remain
        scales = _Tensors.scales(plan, h * w, cfg_scale, cfg_scale if later_cfg_scale is None else later_cfg_scale,
                                 device) if guided else []
    offset = torch.tensor(cfg.code_offset, device=device)  # a Python scalar operand costs more than the add
    unseen: list[torch.Tensor] = []  # newly visible slots not yet marked: only masked steps need them
    for j, step in enumerate(plan):
        n = len(step.slots)
        slots = steps.slots[j]
        if step.newly_visible:
            unseen.append(steps.newly[j])
        timed = chooser is not None and j > 0  # step 0 is the prefill, far larger than the rest
        start = time.perf_counter()
        codes = None
        # per step, not around the yield: grad mode and the thread count must not leak to the caller
        with torch.no_grad(), num_threads(chooser.threads() if timed else threads):
            mask, is_causal = None, False
            if step.causal and n > 1 and step.slots[-1] == n - 1 and step.slots == list(range(n)):
                is_causal = True  # a block at slots 0..n-1: SDPA's own causal mask
            elif not step.causal or n > 1:
                if unseen:
                    tracker.update(unseen[0] if len(unseen) == 1 else torch.cat(unseen))
                    unseen = []
                mask = tracker.mask(slots, step.kv_len)
            rows = None if len(step.rows) == n else steps.rows[j]
            logits = forward(cache, seq.index_select(1, steps.sources[j]), slots, step.kv_len, mask, is_causal, rows)
            if step.produce:
                if guided:
                    # in float32: a half-precision model's logits would lose bits to the scaled difference
                    logits = guide(logits[:batch].float(), logits[batch:].float(), scales[j])
                codes = sample(logits, temperature, top_k, top_p, generator)
                ids = codes + offset
                seq.index_copy_(1, steps.produce[j], ids if copies == 1 else ids.repeat(copies, 1))
        if timed:
            chooser.record(time.perf_counter() - start)
        if codes is not None:
            yield step.produce, codes, seq


def sample_steps(gpt: VidGPT, prompt_ids: torch.Tensor, schedule: Sequence[Sequence[int]], *,
                 known: torch.Tensor | None = None, null_prompt_ids: torch.Tensor | None = None,
                 cfg_scale: float = 1.0, later_cfg_scale: float | None = None, temperature: float = 1.0,
                 top_k: int | None = None, top_p: float | None = None, generator: torch.Generator | None = None,
                 replace_standins: bool = True, latent_frames: int | None = None,
                 forward: StaticForward | None = None,
                 threads: int | None = None) -> Iterator[tuple[list[int], torch.Tensor]]:
    """Sample the grid of `gpt` step by step; yields (positions, codes (B, m)) after each sampling step.

    prompt_ids (B, L); `schedule` covers the (latent_frames, h, w) grid (latent_frames defaults to the
    trained t); `known`: given leading codes (image / continuation), kept as they are;
    `null_prompt_ids` (B or 1, L): enables classifier-free guidance with `cfg_scale` (the first latent
    frame's codes) and `later_cfg_scale` (the later codes; None: `cfg_scale`).
    `threads`: torch CPU threads while a step runs (None: chosen by timing steps, see threads.py);
    the caller's setting is restored before each yield.
    """
    for positions, codes, _ in _run(gpt, prompt_ids, schedule, known=known, null_prompt_ids=null_prompt_ids,
                                    cfg_scale=cfg_scale, later_cfg_scale=later_cfg_scale, temperature=temperature,
                                    top_k=top_k, top_p=top_p,
                                    generator=generator, replace_standins=replace_standins,
                                    latent_frames=latent_frames, forward=forward, threads=threads):
        yield positions, codes


def sample_codes(gpt: VidGPT, prompt_ids: torch.Tensor, schedule: Sequence[Sequence[int]], **kwargs) -> torch.Tensor:
    """All codes (B, latent_frames, h, w) of one grid; keyword arguments as for `sample_steps`."""
    batch = prompt_ids.shape[0]
    cfg = gpt.config
    _, h, w = cfg.grid
    t = kwargs.get("latent_frames") or cfg.grid[0]
    seq = None
    for _, _, seq in _run(gpt, prompt_ids, schedule, **kwargs):
        pass
    if seq is None:  # nothing to generate: every code was given
        return _known_prefix(gpt, kwargs.get("known"), batch).view(batch, t, h, w)
    start = cfg.prompt_length + 1
    return (seq[:batch, start: start + t * h * w] - cfg.code_offset).view(batch, t, h, w)
