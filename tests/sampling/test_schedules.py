"""Schedules and sampling plans: coverage, step counts, stand-ins, and exact visibility (property test)."""

from __future__ import annotations

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from vidgpt.sampler.plan import MaskTracker, build_plan, standin, training_mask
from vidgpt.sampler.schedules import diagonal_schedule, make_schedule, raster_schedule, step_of


def _positions(schedule):
    return sorted(p for step in schedule for p in step)


@pytest.mark.parametrize("grid", [(1, 1, 1), (2, 3, 4), (3, 5, 2), (5, 8, 8)])
@pytest.mark.parametrize("window", [1, 2, 3, 100])
@pytest.mark.parametrize("overlap", [True, False])
def test_diagonal_produces_every_position_once_in_the_documented_number_of_steps(grid, window, overlap):
    t, h, w = grid
    sched = diagonal_schedule(t, h, w, window, None if overlap else w)  # the window's frame window, or whole frames
    assert _positions(sched) == list(range(t * h * w))
    win = min(window, w)
    expected = (t * h - 1) * win + w if overlap else t * ((h - 1) * win + w)
    assert len(sched) == expected


@pytest.mark.parametrize("grid", [(1, 1, 1), (2, 3, 4), (3, 5, 2), (5, 8, 8)])
@pytest.mark.parametrize("window", [1, 2, 100])
@pytest.mark.parametrize("frame_window", [1, 2, 3, 4, 100])
def test_frame_window_spans_overlap_to_no_overlap(grid, window, frame_window):
    t, h, w = grid
    sched = diagonal_schedule(t, h, w, window, frame_window)
    assert _positions(sched) == list(range(t * h * w))
    win, fw = min(window, w), min(frame_window, w)
    assert len(sched) == (t - 1) * ((h - 1) * win + fw) + (h - 1) * win + w  # the docstring's count
    if fw == win:  # the previous frame's last row has as many tokens as any row waits for: plain overlap
        assert sched == diagonal_schedule(t, h, w, window)
    if fw == w:  # the previous frame's last row is complete: no overlap
        assert sched == diagonal_schedule(t, h, w, window, w)


def test_frame_window_starts_the_next_frame_once_the_last_row_has_that_many_tokens():
    t, h, w = 2, 3, 6
    k = step_of(diagonal_schedule(t, h, w, 1, frame_window=4), t * h * w)
    last_row = [(h - 1) * w + c for c in range(w)]
    assert k[h * w] == k[last_row[3]] + 1  # frame 1 starts the step after the 4th token of frame 0's last row
    assert k[h * w] < k[last_row[-1]]  # ... before that row is done
    assert k[h * w + w] == k[h * w] + 1  # inside a frame rows still follow `window`


@pytest.mark.parametrize("grid", [(1, 3, 4), (2, 3, 4), (5, 8, 8)])
@pytest.mark.parametrize("first_window", [1, 2, 8, 100])
def test_first_window_draws_the_first_frame_alone_and_the_rest_as_before(grid, first_window):
    t, h, w = grid
    window, frame_window = 1, 4
    sched = diagonal_schedule(t, h, w, window, frame_window, first_window)
    assert _positions(sched) == list(range(t * h * w))
    first, fw = min(first_window, w), min(frame_window, w)
    steps_before = (h - 1) * (first - window)  # the first frame's rows start that much later in all
    assert len(sched) == len(diagonal_schedule(t, h, w, window, frame_window)) + steps_before
    k = step_of(sched, t * h * w)
    assert [k[r * w] for r in range(h)] == [r * first for r in range(h)]  # the first frame's rows
    if first >= w:  # raster order inside the first frame
        assert sched[:(h - 1) * w + fw] == [[i] for i in range((h - 1) * w + fw)]
    if t > 1:  # the later frames: the same steps as without first_window, shifted
        plain = step_of(diagonal_schedule(t, h, w, window, frame_window), t * h * w)
        assert all(k[p] - plain[p] == steps_before for p in range(h * w, t * h * w))
    assert diagonal_schedule(t, h, w, window, frame_window, window) == diagonal_schedule(t, h, w, window, frame_window)
    with pytest.raises(ValueError, match="first_window must be >= 1"):
        diagonal_schedule(t, h, w, window, frame_window, 0)


def test_raster_and_full_window_diagonal_are_one_token_per_step_in_order():
    assert raster_schedule(2, 2, 3) == [[i] for i in range(12)]
    for frame_window in (None, 3, 99):  # the window (= the width), the width, wider
        assert diagonal_schedule(2, 2, 3, window=3, frame_window=frame_window) == raster_schedule(2, 2, 3)
        assert diagonal_schedule(2, 2, 3, window=7, frame_window=frame_window) == raster_schedule(2, 2, 3)


def test_window_one_is_anti_diagonals_and_overlap_starts_next_frame_early():
    t, h, w = 2, 3, 4
    k = step_of(diagonal_schedule(t, h, w, 1, frame_window=w), t * h * w)
    for r in range(h):
        for c in range(w):
            assert k[r * w + c] == r + c
    # with a frame window of the width, frame 1 starts after frame 0's last token; with the window's (the
    # default), right after its last row starts; any wider frame window is the width's
    assert k[h * w] == k[h * w - 1] + 1
    assert diagonal_schedule(t, h, w, 1, frame_window=w + 5) == diagonal_schedule(t, h, w, 1, frame_window=w)
    k2 = step_of(diagonal_schedule(t, h, w, 1), t * h * w)
    assert k2[h * w] == k2[(h - 1) * w] + 1 < k2[h * w - 1]


def test_window_two_waits_for_two_tokens():
    k = step_of(diagonal_schedule(1, 3, 5, 2), 15)
    assert [k[5 * r] for r in range(3)] == [0, 2, 4]
    assert k[5 + 1] == 3  # row 1, column 1 comes one step after row 1 starts


def test_schedule_errors_are_clear():
    with pytest.raises(ValueError, match="window"):
        diagonal_schedule(1, 2, 2, window=0)
    with pytest.raises(ValueError, match="frame_window must be >= 1"):
        make_schedule("diagonal", 2, 2, 2, frame_window=0)
    with pytest.raises(ValueError, match="unknown schedule"):
        make_schedule("zigzag", 1, 2, 2)
    with pytest.raises(ValueError, match="twice"):
        step_of([[0, 1], [1, 2, 3]], 4)
    with pytest.raises(ValueError, match="never produces"):
        step_of([[0, 1]], 4)
    with pytest.raises(ValueError, match="outside the grid"):
        step_of([[0, 1, 2, 3, 4]], 4)


def test_standin_prefers_previous_frame_then_above_then_nearest_ready():
    grid = (2, 3, 4)
    every = lambda q: True  # noqa: E731
    assert standin(12 + 3, every, grid) == 3  # frame 1: same place in frame 0
    assert standin(7, every, grid) == 3  # frame 0: the token above
    assert standin(3, every, grid) == 2  # first row of frame 0: nearest ready before it
    only_left = lambda q: q in (0, 1)  # noqa: E731
    assert standin(3, only_left, grid) == 1
    assert standin(0, lambda q: False, grid) == -1  # nothing ready: BOV


# ----------------------------------------------------------------------------- visibility property


def _check_plan(plan, grid, prompt_length, known, replace):
    """Simulate cache contents along the plan with the engine's MaskTracker and check, for every
    produced token, that it sees exactly the already generated tokens preceding it in raster order."""
    t, h, w = grid
    n, L = t * h * w, prompt_length
    size = L + 1 + n
    content = [None] * size
    tracker = MaskTracker(size)
    produced_step = {q: -1 for q in range(known)}
    produced_step[-1] = -1  # BOV
    for j, step in enumerate(plan):
        assert len(set(step.slots)) == len(step.slots)
        for slot, src in zip(step.slots, step.sources):
            src_code = src - L - 1
            assert src < L or produced_step.get(src_code, j) < j, "fed a token that is not generated yet"
            content[slot] = src
        tracker.update(torch.tensor(step.newly_visible, dtype=torch.long))
        slots = torch.tensor(step.slots, dtype=torch.long)
        mask = tracker.mask(slots, step.kv_len)
        if step.causal:  # the engine then skips the explicit mask: it must be plain causal
            ar = torch.arange(step.kv_len)
            assert torch.equal(mask, ar[None] <= slots[:, None])
        for p, row in zip(step.produce, step.rows):
            own = step.slots[row]
            assert own == L + p
            attended = mask[row].nonzero().flatten().tolist()
            assert all(content[s] is not None for s in attended), "attended an unwritten slot"
            assert set(range(L + 1)) <= set(attended)  # prompt and BOV always seen
            ready = {q for q, k in produced_step.items() if k < j and 0 <= q < p}
            codes_seen = {s - L - 1 for s in attended if s > L and s != own}
            real_own = {p - 1} if content[own] == own and p >= 1 else set()
            if replace:
                # real tokens only, except the query's own (stand-in) input
                assert all(content[s] == s for s in attended if s > L and s != own)
                assert codes_seen | real_own == ready
            else:
                assert codes_seen | real_own == ready  # positions right; a slot may still hold a stand-in
        for p in step.produce:
            assert p not in produced_step, f"position {p} produced twice"
            produced_step[p] = j
    assert sorted(q for q in produced_step if q >= 0) == list(range(n))


@st.composite
def _cases(draw):
    t, h, w = draw(st.integers(1, 3)), draw(st.integers(1, 4)), draw(st.integers(1, 5))
    n = t * h * w
    kind = draw(st.sampled_from(["diagonal", "raster", "random"]))
    if kind == "random":  # any partition into steps must work too
        labels = draw(st.lists(st.integers(0, n), min_size=n, max_size=n))
        sched = [[p for p in range(n) if labels[p] == k] for k in range(n + 1)]
        sched = [s for s in sched if s]
    else:
        sched = make_schedule(kind, t, h, w, draw(st.integers(1, 7)), draw(st.none() | st.integers(1, 6)))
    known = draw(st.integers(0, t - 1)) * h * w
    return (t, h, w), sched, draw(st.integers(1, 3)), known, draw(st.booleans())


@settings(max_examples=150, deadline=None)
@given(_cases())
def test_every_produced_token_sees_exactly_the_generated_tokens_before_it(case):
    grid, sched, prompt_length, known, replace = case
    plan = build_plan(sched, grid, prompt_length, known=known, replace_standins=replace)
    _check_plan(plan, grid, prompt_length, known, replace)


def test_standins_are_fed_and_replaced_in_the_diagonal_plan():
    grid, L = (2, 2, 3), 2
    plan = build_plan(diagonal_schedule(*grid, window=1), grid, L)
    # step producing row 1's first token (code 3) feeds a stand-in for code 2 (not generated yet)
    step = next(s for s in plan if 3 in s.produce)
    i = step.slots.index(L + 3)
    assert step.sources[i] != L + 3  # a stand-in
    # once code 2 exists, its slot gets the real token in the next step
    k2 = next(j for j, s in enumerate(plan) if 2 in s.produce)
    assert L + 3 in plan[k2 + 1].slots and plan[k2 + 1].sources[plan[k2 + 1].slots.index(L + 3)] == L + 3
    plan_no = build_plan(diagonal_schedule(*grid, window=1), grid, L, replace_standins=False)
    assert sum(len(s.slots) for s in plan_no) < sum(len(s.slots) for s in plan)


def test_prefill_covers_prompt_bov_and_known_codes_once():
    grid, L = (3, 2, 2), 4
    plan = build_plan(raster_schedule(*grid), grid, L, known=4)
    assert plan[0].slots == list(range(L + 4)) and plan[0].produce == []
    assert plan[1].slots == [L + 4] and plan[1].produce == [4]  # known code 3 is fed as the input of code 4
    assert len(plan) == 1 + 12 - 4
    with pytest.raises(ValueError, match="known prefix"):
        build_plan(raster_schedule(*grid), grid, L, known=13)


def test_training_mask_is_causal_for_raster_and_matches_sampling_visibility_for_diagonal():
    grid, L = (2, 2, 3), 3
    n = 12
    causal = torch.ones(L + n, L + n, dtype=torch.bool).tril()
    assert torch.equal(training_mask(raster_schedule(*grid), grid, L), causal)
    sched = diagonal_schedule(*grid, window=1)
    mask = training_mask(sched, grid, L)
    k = step_of(sched, n)
    for p in range(n):
        seen = {j - L - 1 for j in mask[L + p].nonzero().flatten().tolist() if L < j < L + p}
        if p >= 1 and k[p - 1] < k[p]:
            seen.add(p - 1)
        assert seen == {q for q in range(p) if k[q] < k[p]}
