"""The one decoding loop, for every schedule: run a plan's steps over a static KV cache and sample.

Classifier-free guidance doubles the batch: rows [0, B) carry the prompts, rows [B, 2B) the null
(all-PAD) prompts; both halves are fed the same sampled codes.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import torch

from ..model.gpt import VidGPT
from .forward import StaticForward
from .plan import MaskTracker, build_plan
from .sampling import check_sampling, guide, sample


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


def decode_steps(gpt: VidGPT, prompt_ids: torch.Tensor, schedule: Sequence[Sequence[int]], *,
                 known: torch.Tensor | None = None, null_prompt_ids: torch.Tensor | None = None,
                 cfg_scale: float = 1.0, temperature: float = 1.0, top_k: int | None = None,
                 top_p: float | None = None, generator: torch.Generator | None = None,
                 replace_standins: bool = True, latent_frames: int | None = None,
                 forward: StaticForward | None = None) -> Iterator[tuple[list[int], torch.Tensor]]:
    """Decode the grid of `gpt` step by step; yields (positions, codes (B, m)) after each sampling step.

    prompt_ids (B, L); `schedule` covers the (latent_frames, h, w) grid (latent_frames defaults to the
    trained t); `known`: given leading codes (image / continuation), kept as they are;
    `null_prompt_ids` (B or 1, L): enables classifier-free guidance with `cfg_scale`.
    """
    cfg = gpt.config
    L, seq_len, device = cfg.prompt_length, cfg.seq_len, gpt.device
    t, h, w = cfg.grid
    latent_frames = t if latent_frames is None else latent_frames
    if not 1 <= latent_frames <= t:
        raise ValueError(f"latent_frames must lie in [1, {t}] (the trained grid), got {latent_frames}")
    check_sampling(temperature, top_k, top_p, cfg_scale)
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
    forward = forward or StaticForward(gpt)
    cache = forward.new_cache(seq.shape[0])
    tracker = MaskTracker(seq_len, device)

    def as_tensor(xs: list[int]) -> torch.Tensor:
        return torch.tensor(xs, dtype=torch.long, device=device)

    # tensors for all steps up front: the per-step Python work is then a handful of tensor ops
    steps = [(step, as_tensor(step.slots), as_tensor(step.sources),
              None if step.rows == list(range(len(step.slots))) else as_tensor(step.rows),
              as_tensor(step.newly_visible) if step.newly_visible else None,
              as_tensor([L + 1 + p for p in step.produce])) for step in plan]
    copies = seq.shape[0] // batch
    for step, slots, sources, rows, newly, produce in steps:
        n = len(step.slots)
        with torch.no_grad():  # per step, not around the yield: grad mode must not leak to the caller
            if newly is not None:
                tracker.update(newly)
            mask, is_causal = None, False
            if not step.causal:
                mask = tracker.mask(slots, step.kv_len)
            elif n > 1:
                if step.slots == list(range(n)):
                    is_causal = True  # a block at slots 0..n-1: SDPA's own causal mask
                else:
                    mask = tracker.mask(slots, step.kv_len)
            logits = forward(cache, seq[:, sources], slots, step.kv_len, mask, is_causal, rows)
            if not step.produce:
                continue
            if guided:
                logits = guide(logits[:batch], logits[batch:], cfg_scale)
            codes = sample(logits, temperature, top_k, top_p, generator)
            ids = codes + cfg.code_offset
            seq[:, produce] = ids if copies == 1 else ids.repeat(copies, 1)
        yield step.produce, codes


def decode(gpt: VidGPT, prompt_ids: torch.Tensor, schedule: Sequence[Sequence[int]], **kwargs) -> torch.Tensor:
    """All codes (B, latent_frames, h, w) of one grid; keyword arguments as for `decode_steps`."""
    batch = prompt_ids.shape[0]
    t, h, w = gpt.config.grid
    t = kwargs.get("latent_frames") or t
    out = torch.empty(batch, t * h * w, dtype=torch.long, device=gpt.device)
    known = _known_prefix(gpt, kwargs.get("known"), batch)
    out[:, : known.shape[1]] = known
    for positions, codes in decode_steps(gpt, prompt_ids, schedule, **kwargs):
        out[:, positions] = codes
    return out.view(batch, t, h, w)
