"""Training with the visibility of diagonal sampling (GPTModule's diagonal_mask_prob): masks and wiring."""

from __future__ import annotations

import lightning as L
import pytest
import torch
from torch.utils.data import DataLoader

from vidgpt.sampler import sample_codes
from vidgpt.sampler.plan import build_plan, training_mask, training_view
from vidgpt.sampler.schedules import diagonal_schedule, raster_schedule, step_of
from vidgpt.model import PromptVocab, VidGPT
from vidgpt.train.batches import GPTCollate
from vidgpt.train.module import GPTModule
from vidtok.shapes.world import split_combinations

GRID, K, PROMPT_LEN = (2, 4, 4), 64, 12
QUIET = dict(accelerator="cpu", logger=False, enable_progress_bar=False, enable_model_summary=False,
             enable_checkpointing=False)


@pytest.fixture(scope="module")
def prompt() -> PromptVocab:
    return PromptVocab.fit([a.caption for a in split_combinations("train")], vocab_size=512)


def _model(prompt: PromptVocab) -> VidGPT:
    torch.manual_seed(0)
    return VidGPT.build(prompt, GRID, K, prompt_length=PROMPT_LEN, preset="tiny")


def _items(n: int = 8) -> list[dict]:
    g = torch.Generator().manual_seed(0)
    return [{"codes": torch.randint(0, K, GRID, generator=g), "caption": c.caption}
            for c in split_combinations("train")[:n]]


def test_raster_mask_gives_the_default_causal_loss(prompt):
    module = GPTModule(_model(prompt)).eval()
    batch = GPTCollate(prompt, PROMPT_LEN)(_items(4))
    raster = training_view(raster_schedule(*GRID), GRID, PROMPT_LEN)
    assert raster.targets.numel() == 0  # raster order never needs a stand-in
    with torch.no_grad():
        default, acc = module.loss_and_accuracy(batch["prompt_ids"], batch["codes"])
        masked, acc_masked = module.loss_and_accuracy(batch["prompt_ids"], batch["codes"], view=raster)
        diagonal, _ = module.loss_and_accuracy(batch["prompt_ids"], batch["codes"],
                                               view=module.diagonal_view())
    # transformers takes our 4D bool mask as given: the raster mask reproduces its own causal mask
    assert masked.item() == pytest.approx(default.item(), abs=1e-5) and acc_masked == acc
    assert abs(diagonal.item() - default.item()) > 1e-4  # the diagonal mask does hide something


@pytest.mark.parametrize("window,frame_window", [(1, None), (2, None), (1, GRID[2]), (1, 2)])
def test_training_view_predicts_what_diagonal_sampling_predicts(prompt, window, frame_window):
    # greedy sampling picks each code as the argmax of the engine's logits: teacher-forced on those codes,
    # the view must give the same argmax at every position, stand-in row starts included
    model = _model(prompt).double().eval()
    module = GPTModule(model, diagonal_window=window, diagonal_frame_window=frame_window).eval()
    schedule = diagonal_schedule(*GRID, window=window, frame_window=frame_window)
    prompts = model.encode_prompts([c.caption for c in split_combinations("train")[:3]])
    codes = sample_codes(model, prompts, schedule, temperature=0)
    view = module.diagonal_view()
    assert view.targets.numel() > 0  # rows start before the previous one ends: there are stand-ins
    size = view.mask.shape[0] - view.targets.numel()
    with torch.no_grad():
        exact = model(prompts, codes, view=view)
        # each query fed its real previous code, as training_mask alone does: the view without its extra queries
        mask_only = model(prompts, codes, attention_mask=view.mask[:size, :size])
    assert torch.equal(exact.argmax(-1), codes.flatten(1))
    assert not torch.equal(mask_only[:, view.targets].argmax(-1), codes.flatten(1)[:, view.targets])
    with pytest.raises(ValueError, match="not both"):
        model(prompts, codes, attention_mask=view.mask[:size, :size], view=view)
    # and loss_and_accuracy uses exactly these logits
    _, accuracy = module.loss_and_accuracy(prompts, codes, view=view)
    assert accuracy.item() == 1.0


def test_training_view_extra_queries_sit_at_their_slot_and_see_its_visible_set():
    grid, L = (2, 3, 4), 5
    schedule = diagonal_schedule(*grid, window=1)
    view = training_view(schedule, grid, L)
    base = training_view(raster_schedule(*grid), grid, L).mask  # causal
    size = L + 24
    plan = {p: (step.slots[r], step.sources[r]) for step in build_plan(schedule, grid, L)
            for p, r in zip(step.produce, step.rows)}
    standins = sorted(p for p, (slot, src) in plan.items() if slot != src)
    causal_view, step = training_mask(schedule, grid, L), step_of(schedule, 24)
    assert view.targets.tolist() == standins and view.mask.shape == (size + len(standins),) * 2
    for e, p in enumerate(standins):
        slot, src = plan[p]
        assert view.positions[size + e] == slot == L + p and view.sources[e] == src
        row = view.mask[size + e]
        assert not row[slot] and row[size + e] and row[size:].sum() == 1  # itself instead of its slot
        assert torch.equal(row[:slot], causal_view[slot, :slot]) and not row[slot + 1: size].any()
        # its slot holds the real code as sampling writes it once ready: seeing every code made up to then
        seen = view.mask[slot, L + 1: slot]
        assert torch.equal(seen, torch.tensor([step[c] <= step[p - 1] for c in range(p - 1)]))
        assert seen.sum() > causal_view[slot, L + 1: slot].sum()  # more than code p's query saw
    assert not view.mask[:size, size:].any()  # no real query sees an extra one
    assert torch.equal(view.mask[:size, :size] | base[:size, :size], base[:size, :size])  # never beyond causal


@pytest.mark.parametrize("window,frame_window", [(1, None), (2, GRID[2])])
def test_diagonal_mask_hides_codes_made_in_the_same_or_a_later_step(prompt, window, frame_window):
    module = GPTModule(_model(prompt)).eval()
    n = GRID[0] * GRID[1] * GRID[2]
    schedule = diagonal_schedule(*GRID, window=window, frame_window=frame_window)
    mask = training_mask(schedule, GRID, PROMPT_LEN)  # what each query sees (training_view adds the stand-ins)
    step = step_of(schedule, n)
    batch = GPTCollate(prompt, PROMPT_LEN)(_items(2))
    codes = batch["codes"].flatten(1)
    q = 2  # row 0, column 2: made in the same step as, or after, the start of the next rows
    changed = codes.clone()
    changed[:, q] = (changed[:, q] + 1) % K
    with torch.no_grad():
        before = module.model(batch["prompt_ids"], codes, attention_mask=mask)
        after = module.model(batch["prompt_ids"], changed, attention_mask=mask)
        causal_after = module.model(batch["prompt_ids"], changed)
        causal_before = module.model(batch["prompt_ids"], codes)
    moved = (after - before).abs().amax(dim=(0, 2)) > 1e-6
    # code p's query holds code p - 1 as its input; the other codes before p it sees are those made earlier
    hidden = [p for p in range(q + 2, n) if step[q] >= step[p]]
    assert hidden, "the grid must have a code that may not see code q"
    assert not moved[hidden].any()
    assert (causal_after - causal_before).abs().amax(dim=(0, 2))[hidden].gt(1e-6).all()  # causally they would
    seen = [p for p in range(q + 1, n) if p == q + 1 or step[q] < step[p]]
    assert moved[seen].all()
    assert not moved[: q + 1].any()  # nothing before q depends on it either way


class _Recorder(GPTModule):
    """Notes which visibility each training batch was given."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.masks: list[str] = []

    def loss_and_accuracy(self, prompt_ids, codes, context_noise=0.0, view=None, **kwargs):
        if self.training:
            self.masks.append("causal" if view is None else "diagonal" if view is self.diagonal_view() else "other")
        return super().loss_and_accuracy(prompt_ids, codes, context_noise, view, **kwargs)


@pytest.mark.parametrize("prob,expected", [(0.0, {"causal"}), (1.0, {"diagonal"}), (0.5, {"causal", "diagonal"})])
def test_diagonal_mask_prob_sets_the_share_of_masked_batches(prompt, prob, expected):
    module = _Recorder(_model(prompt), diagonal_mask_prob=prob, warmup_steps=1, total_steps=12)
    loader = DataLoader(_items(8), batch_size=2, collate_fn=GPTCollate(prompt, PROMPT_LEN))
    torch.manual_seed(0)
    L.Trainer(max_steps=12, **QUIET).fit(module, loader)
    assert len(module.masks) == 12 and set(module.masks) == expected


def test_bad_diagonal_options_are_named(prompt):
    with pytest.raises(ValueError, match="diagonal_mask_prob"):
        GPTModule(_model(prompt), diagonal_mask_prob=1.5)
    with pytest.raises(ValueError, match="diagonal_window"):
        GPTModule(_model(prompt), diagonal_window=0)
