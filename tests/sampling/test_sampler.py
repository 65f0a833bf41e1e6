"""Sampling engine and VideoGenerator: cache parity, schedule parity, sampling, CFG, given frames, streaming."""

from __future__ import annotations

import math
import os

import numpy as np
import pytest
import torch

from transformers import LlamaForCausalLM

from vidgpt.sampler import StaticForward, sample_codes, sample_steps, diagonal_schedule, raster_schedule
from vidgpt.sampler.sampling import filter_logits, guide, sample
from vidgpt.sampler.threads import ThreadChooser
from vidgpt.generator import VideoGenerator
from vidgpt.model import PromptVocab, VidGPT, tokenizer_identity
from vidgpt.model.generation import WHOLE_FRAMES, GenerationConfig

CAPTIONS = ["a large blue triangle moves right slowly", "a small red circle moves up quickly",
            "a small green square moves left slowly", "a large cyan circle moves down quickly"]
GRID, K, L = (3, 2, 3), 16, 16
FRAMES, SIZE = 9, (8, 12)  # FakeTokenizer: 9 frames -> 3 latent frames, 8x12 -> 2x3


class FakeTokenizer:
    """Duck-typed stage-1 tokenizer, lossless on its own outputs: a code is the grey level of a 4x4
    block of the last frame of its group (frame 0 alone, then groups of 4 frames)."""

    codebook_size, factors, fingerprint = K, (4, 4, 4), "fake-1"

    def latent_shape(self, frames, height, width):
        return 1 + math.ceil((frames - 1) / 4), height // 4, width // 4

    def encode(self, video):
        b, _, t, hh, ww = video.shape
        keys = [0] + [min(4 * j, t - 1) for j in range(1, self.latent_shape(t, hh, ww)[0])]
        x = video[:, 0, keys]  # (B, t, H, W)
        x = x.reshape(b, len(keys), hh // 4, 4, ww // 4, 4).mean(dim=(3, 5))
        return ((x + 1) / 2 * (K - 1)).round().clamp(0, K - 1).long()

    def decode(self, codes, frames=None):
        x = codes.float() / (K - 1) * 2 - 1  # 17 * code / 255 exactly after uint8 rounding
        x = x.repeat_interleave(4, 2).repeat_interleave(4, 3)
        x = torch.cat([x[:, :1], x[:, 1:].repeat_interleave(4, 1)], dim=1)
        x = x[:, : frames or x.shape[1]]
        return x[:, None].expand(-1, 3, -1, -1, -1)


@pytest.fixture(scope="module")
def model():
    torch.manual_seed(0)
    tok = PromptVocab.fit(CAPTIONS * 3, vocab_size=300)
    ident = tokenizer_identity(FakeTokenizer(), FRAMES, *SIZE)
    # a large init scale makes the random model's distributions peaked, so different contexts give
    # visibly different samples and parity tests can fail when they should
    gpt = VidGPT.build(tok, GRID, K, prompt_length=L, preset="tiny", tokenizer=ident).eval()
    with torch.no_grad():
        for p in gpt.parameters():
            if p.ndim == 2:
                p.mul_(5.0)
    return gpt


def _prompts(model, n=2):
    return model.encode_prompts(CAPTIONS[:n])


def _naive_raster(model, prompt_ids, generator, **kw):
    """Reference: no cache, full forward over the whole prefix for every token."""
    codes = torch.zeros(prompt_ids.shape[0], 0, dtype=torch.long)
    with torch.no_grad():
        for _ in range(model.config.num_codes):
            logits = model.sequence_logits(model.input_ids(prompt_ids, codes))[:, -1]
            codes = torch.cat([codes, sample(logits, generator=generator, **kw)[:, None]], dim=1)
    return codes.view(-1, *GRID)


# ----------------------------------------------------------------------------- static-cache forward


def test_cached_steps_equal_full_forward_and_hf_llama(model):
    prompt = _prompts(model)
    codes = torch.randint(0, K, (2, *GRID), generator=torch.Generator().manual_seed(1))
    ids = model.input_ids(prompt, codes)
    fwd = StaticForward(model)
    cache = fwd.new_cache(2)
    n = model.config.num_codes
    with torch.no_grad():
        steps = [fwd(cache, ids[:, : L + 1], torch.arange(L + 1), L + 1, is_causal=True, rows=torch.tensor([L]))]
        for s in range(L + 1, L + n):
            steps.append(fwd(cache, ids[:, s: s + 1], torch.tensor([s]), s + 1))
        cached = torch.cat(steps, dim=1)
        full = model(prompt, codes)
        hf = model.llama(input_ids=ids[:, :-1]).logits[:, L:, model.config.code_offset:]
    assert cached.shape == full.shape == (2, n, K)
    assert torch.allclose(cached, full, atol=1e-4)
    assert torch.allclose(full, hf, atol=1e-4)


def test_out_of_order_feeding_with_masks_equals_full_forward(model):
    """Feed the second half of a sequence first (masked off), then the first half: explicit positions
    and masks over cache slots make the result independent of the feeding order."""
    prompt = _prompts(model, 1)
    codes = torch.randint(0, K, (1, *GRID), generator=torch.Generator().manual_seed(2))
    ids = model.input_ids(prompt, codes)[:, :-1]
    size = ids.shape[1]
    fwd = StaticForward(model)
    cache = fwd.new_cache(1)
    half = size // 2
    late, early = torch.arange(half, size), torch.arange(half)
    causal = torch.ones(size, size, dtype=torch.bool).tril()
    with torch.no_grad():
        # garbage in the late slots first, then the real early half, then the real late half
        fwd(cache, torch.zeros_like(ids[:, half:]), late, size, mask=torch.eye(size, dtype=torch.bool)[half:])
        first = fwd(cache, ids[:, :half], early, half, is_causal=True)
        second = fwd(cache, ids[:, half:], late, size, mask=causal[half:])
        full = model.sequence_logits(ids)
    assert torch.allclose(torch.cat([first, second], dim=1), full, atol=1e-4)


def _cached_logits(model, ids):
    """Prefill prompt + BOV, then one token per step: logits predicting every code."""
    fwd = StaticForward(model)
    cache = fwd.new_cache(ids.shape[0])
    with torch.no_grad():
        steps = [fwd(cache, ids[:, : L + 1], torch.arange(L + 1), L + 1, is_causal=True, rows=torch.tensor([L]))]
        for s in range(L + 1, ids.shape[1] - 1):
            steps.append(fwd(cache, ids[:, s: s + 1], torch.tensor([s]), s + 1))
    return torch.cat(steps, dim=1), fwd


@pytest.mark.parametrize("dtype", [torch.float64, torch.bfloat16])
def test_cached_steps_equal_full_forward_with_biases_and_other_dtypes(model, dtype):
    """Biased projections take their own code paths; float64 runs RoPE in complex128, bfloat16 on a
    float32 copy (there is no bfloat16 complex dtype) with float32 norms, as transformers does."""
    cfg = model.config.llama_config()
    cfg.attention_bias = cfg.mlp_bias = True
    torch.manual_seed(3)
    biased = VidGPT(model.config, model.prompt_vocab, LlamaForCausalLM(cfg)).eval()
    with torch.no_grad():
        for name, p in biased.named_parameters():
            p.normal_() if name.endswith("bias") else p.mul_(5.0 if p.ndim == 2 else 1.0)
    prompt = _prompts(model)
    codes = torch.randint(0, K, (2, *GRID), generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        reference = biased.double()(prompt, codes)
        full = biased.to(dtype)(prompt, codes)
    cached, _ = _cached_logits(biased, model.input_ids(prompt, codes))
    assert cached.dtype == dtype
    if dtype == torch.float64:  # transformers' RMSNorm reduces in float32 even for a float64 model
        assert torch.allclose(cached, reference, atol=1e-5)
    else:  # as close to the float64 result as transformers' own bfloat16 forward, give or take
        own = (full.double() - reference).abs().max()
        assert (cached.double() - reference).abs().max() <= 2 * own


def test_fused_weights_follow_in_place_weight_changes(model):
    prompt = _prompts(model, 1)
    codes = torch.randint(0, K, (1, *GRID), generator=torch.Generator().manual_seed(6))
    ids = model.input_ids(prompt, codes)
    fwd = StaticForward(model)
    weight = model.llama.model.layers[0].mlp.down_proj.weight
    before = weight.detach().clone()
    try:
        with torch.no_grad():
            weight.mul_(-1.5)  # e.g. an optimizer step between two generations
        cache = fwd.new_cache(1)  # refreshes the fused copies
        with torch.no_grad():
            cached = fwd(cache, ids[:, :-1], torch.arange(ids.shape[1] - 1), ids.shape[1] - 1, is_causal=True)
            full = model.sequence_logits(ids[:, :-1])
        assert torch.allclose(cached, full, atol=1e-4)
    finally:
        with torch.no_grad():
            weight.copy_(before)


# ----------------------------------------------------------------------------- sampling


def test_sampling_filters():
    logits = torch.tensor([[3.0, 1.0, 2.0, 0.0]])
    assert torch.equal(sample(logits, temperature=0), torch.tensor([0]))
    g = torch.Generator().manual_seed(0)
    draws = torch.stack([sample(logits, top_k=2, generator=g) for _ in range(200)])
    assert set(draws.flatten().tolist()) == {0, 2}
    assert torch.isinf(filter_logits(logits, top_p=0.5)).sum() == 3  # the top token alone holds > 0.5
    kept = ~torch.isinf(filter_logits(logits, top_p=0.85))
    assert kept.tolist() == [[True, False, True, False]]  # probabilities .64 .09 .24 .03: two reach .85
    probs = torch.tensor([0.7, 0.2, 0.1])
    many = sample(probs.log().expand(20000, 3), generator=torch.Generator().manual_seed(1))
    freq = torch.bincount(many, minlength=3).float() / 20000
    assert torch.allclose(freq, probs, atol=0.02)


def test_guide_is_exact_at_scale_one():
    c, u = torch.randn(4, 16), torch.randn(4, 16)
    assert torch.equal(guide(c, u, 1.0), c)
    assert torch.allclose(guide(c, u, 3.0), u + 3.0 * (c - u), atol=1e-5)


def test_top_k_sampling_races_only_the_k_best_with_the_filtered_distribution():
    logits = torch.tensor([0.5, 2.0, -1.0, 1.5, 1.0, -3.0])
    for top_k, top_p in ((3, None), (4, 0.8), (6, 0.8)):
        kept = ~torch.isinf(filter_logits(logits[None] / 0.7, top_k, top_p))[0]  # top-p after temperature
        expected = torch.where(kept, logits / 0.7, torch.tensor(float("-inf"))).softmax(-1)
        many = sample(logits.expand(30000, 6), temperature=0.7, top_k=top_k, top_p=top_p,
                      generator=torch.Generator().manual_seed(2))
        freq = torch.bincount(many, minlength=6).float() / 30000
        assert torch.allclose(freq, expected, atol=0.015), (top_k, top_p)
        assert set(many.tolist()) == set(kept.nonzero().flatten().tolist())


# ----------------------------------------------------------------------------- the sampling loop


def test_raster_engine_equals_naive_uncached_loop(model):
    prompt = _prompts(model)
    kw = dict(temperature=0.9, top_k=10, top_p=0.95)
    engine = sample_codes(model, prompt, raster_schedule(*GRID), generator=torch.Generator().manual_seed(5), **kw)
    naive = _naive_raster(model, prompt, torch.Generator().manual_seed(5), **kw)
    assert torch.equal(engine, naive)


@pytest.mark.parametrize("frame_window", [None, GRID[2]])
def test_diagonal_with_full_window_equals_raster(model, frame_window):
    prompt = _prompts(model)
    raster = sample_codes(model, prompt, raster_schedule(*GRID), generator=torch.Generator().manual_seed(7))
    diag = sample_codes(model, prompt, diagonal_schedule(*GRID, window=GRID[2], frame_window=frame_window),
                  generator=torch.Generator().manual_seed(7))
    assert torch.equal(raster, diag)


def test_diagonal_window_one_runs_fewer_steps_and_differs(model):
    prompt = _prompts(model)
    sched = diagonal_schedule(*GRID, window=1)
    steps = list(sample_steps(model, prompt, sched, temperature=0))
    assert len(steps) == len(sched) < model.config.num_codes
    assert sorted(p for pos, _ in steps for p in pos) == list(range(model.config.num_codes))
    # greedy: the first row is identical to raster (same visible context), later rows start earlier
    raster = sample_codes(model, prompt, raster_schedule(*GRID), temperature=0)
    diag = sample_codes(model, prompt, sched, temperature=0)
    assert torch.equal(raster[:, 0, 0], diag[:, 0, 0])
    assert not torch.equal(raster, diag)
    # replacing stand-ins changes what later tokens condition on
    no_replace = sample_codes(model, prompt, sched, temperature=0, replace_standins=False)
    assert torch.equal(no_replace[:, 0, 0], diag[:, 0, 0]) and not torch.equal(no_replace, diag)


def test_same_seed_same_tokens_and_seed_matters(model):
    prompt = _prompts(model)
    sched = diagonal_schedule(*GRID, window=2)
    a = sample_codes(model, prompt, sched, generator=torch.Generator().manual_seed(11))
    b = sample_codes(model, prompt, sched, generator=torch.Generator().manual_seed(11))
    c = sample_codes(model, prompt, sched, generator=torch.Generator().manual_seed(12))
    assert torch.equal(a, b) and not torch.equal(a, c)


def test_cfg_scale_one_equals_no_guidance_and_guidance_mixes_logits(model):
    prompt = _prompts(model)
    null = model.null_prompts(1)
    sched = raster_schedule(*GRID)
    plain = sample_codes(model, prompt, sched, generator=torch.Generator().manual_seed(3))
    one = sample_codes(model, prompt, sched, null_prompt_ids=null, cfg_scale=1.0, generator=torch.Generator().manual_seed(3))
    assert torch.equal(plain, one)
    # greedy first token under guidance = argmax of u + s (c - u) from full forwards
    first = sample_codes(model, prompt, sched, null_prompt_ids=null, cfg_scale=4.0, temperature=0)[:, 0, 0, 0]
    no_codes = torch.zeros(2, 0, dtype=torch.long)
    with torch.no_grad():
        c = model.sequence_logits(model.input_ids(prompt, no_codes))[:, -1]
        u = model.sequence_logits(model.input_ids(model.null_prompts(2), no_codes))[:, -1]
    assert torch.equal(first, (u + 4.0 * (c - u)).argmax(-1))


def test_later_cfg_scale_guides_only_the_codes_after_the_first_latent_frame(model):
    prompt, null = _prompts(model), model.null_prompts(1)
    raster = raster_schedule(*GRID)
    split = sample_codes(model, prompt, raster, null_prompt_ids=null, cfg_scale=4.0, later_cfg_scale=1.0, temperature=0)
    flat = sample_codes(model, prompt, raster, null_prompt_ids=null, cfg_scale=4.0, temperature=0)
    assert torch.equal(split[:, 0], flat[:, 0]) and not torch.equal(split, flat)
    # scale 1 after the first frame is the unguided model continuing that frame, to the bit
    assert torch.equal(split, sample_codes(model, prompt, raster, known=split[:, :1], temperature=0))
    same = sample_codes(model, prompt, raster, null_prompt_ids=null, cfg_scale=4.0, later_cfg_scale=4.0, temperature=0)
    assert torch.equal(same, flat)


def test_a_diagonal_step_across_two_frames_guides_each_code_with_its_own_scale():
    from vidgpt.sampler.loop import _Tensors
    from vidgpt.sampler.plan import build_plan

    t, h, w = GRID
    plan = build_plan(diagonal_schedule(*GRID, window=1, frame_window=1), GRID, 4)
    scales = _Tensors.scales(plan, h * w, 2.0, 1.5, torch.device("cpu"))
    mixed = [(step, s) for step, s in zip(plan, scales) if isinstance(s, torch.Tensor)]
    assert mixed  # frame 1 starts before frame 0 ends
    for step, s in mixed:
        assert s.tolist() == [[2.0 if p < h * w else 1.5] for p in step.produce]
    for step, s in zip(plan, scales):
        if step.produce and not isinstance(s, torch.Tensor):
            assert s == (2.0 if step.produce[0] < h * w else 1.5)


def test_cfg_scale_given_alone_sets_the_guidance_of_every_code():
    own = GenerationConfig(cfg_scale=2.0, later_cfg_scale=1.5)
    assert own.guidance_after_first == 1.5 and own.guided
    assert own.merged(cfg_scale=3.0).guidance_after_first == 3.0
    assert not own.merged(cfg_scale=1.0).guided  # guidance off: one pass per step
    assert own.merged(cfg_scale=1.0, later_cfg_scale=1.5).guided
    assert own.merged(temperature=0.5).later_cfg_scale == 1.5
    # settings saved before the later scale existed sample as they did: one scale throughout
    assert GenerationConfig.from_dict({"cfg_scale": 3.0}).guidance_after_first == 3.0
    assert GenerationConfig.from_dict({"window": 2}).first_window is None  # and one window throughout
    with pytest.raises(ValueError, match="later_cfg_scale=nan: must be a finite number"):
        GenerationConfig(later_cfg_scale=float("nan"))


def test_known_prefix_is_kept_for_every_schedule(model):
    prompt = _prompts(model)
    known = torch.randint(0, K, (2, 1, *GRID[1:]), generator=torch.Generator().manual_seed(4))
    for sched in (raster_schedule(*GRID), diagonal_schedule(*GRID, window=1)):
        out = sample_codes(model, prompt, sched, known=known, generator=torch.Generator().manual_seed(0))
        assert torch.equal(out[:, :1], known)
    # the raster engine with a given prefix equals the naive loop started from that prefix
    with torch.no_grad():
        logits = model.sequence_logits(model.input_ids(prompt, known.flatten(1)))[:, -1]
    out = sample_codes(model, prompt, raster_schedule(*GRID), known=known, temperature=0)
    assert torch.equal(out.flatten(1)[:, 6], logits.argmax(-1))


def test_sample_codes_rejects_bad_arguments(model):
    prompt = _prompts(model)
    with pytest.raises(ValueError, match="temperature"):
        sample_codes(model, prompt, raster_schedule(*GRID), temperature=-1)
    with pytest.raises(ValueError, match="top_p"):
        sample_codes(model, prompt, raster_schedule(*GRID), top_p=0)
    with pytest.raises(ValueError, match="never produces"):
        sample_codes(model, prompt, raster_schedule(1, 2, 3))
    with pytest.raises(ValueError, match="known codes"):
        sample_codes(model, prompt, raster_schedule(*GRID), known=torch.zeros(2, 1, 3, 3, dtype=torch.long))


def test_threads_are_set_per_step_and_restored_before_each_yield(model):
    prompt = _prompts(model)
    before = torch.get_num_threads()
    seen = [torch.get_num_threads() for _ in sample_steps(model, prompt, raster_schedule(*GRID), threads=2)]
    assert seen == [before] * model.config.num_codes
    a = sample_codes(model, prompt, diagonal_schedule(*GRID, window=2), threads=1, temperature=0)
    torch.set_num_threads(2)  # let the automatic choice use two threads where two cores are free
    try:
        assert ThreadChooser.for_this_machine().counts[0] == min(2, len(os.sched_getaffinity(0)))
        assert ThreadChooser.for_this_machine() is ThreadChooser.for_this_machine()  # one per process
        auto = [torch.get_num_threads() for _ in sample_steps(model, prompt, raster_schedule(*GRID))]
        assert auto == [2] * model.config.num_codes  # the caller's setting, whatever the steps used
        b = sample_codes(model, prompt, diagonal_schedule(*GRID, window=2), temperature=0)
        c = sample_codes(model, prompt, diagonal_schedule(*GRID, window=2), threads=2, temperature=0)
    finally:
        torch.set_num_threads(before)
    assert torch.equal(a, b) and torch.equal(a, c)  # the thread count never changes the codes
    with pytest.raises(ValueError, match="threads"):
        sample_codes(model, prompt, raster_schedule(*GRID), threads=0)


class _Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def _run_steps(chooser: ThreadChooser, clock: _Clock, seconds: dict[int, float], n: int) -> list[int]:
    """n steps, each taking seconds[threads]; the thread count of each."""
    used = []
    for _ in range(n):
        k = chooser.threads()
        used.append(k)
        clock.now += seconds[k]
        chooser.record(seconds[k])
    return used


def test_thread_chooser_keeps_the_faster_count_and_retries_less_often_while_it_stands():
    clock = _Clock()
    chooser = ThreadChooser(2, first_interval=1.0, max_interval=4.0, clock=clock)
    # idle machine: two threads are faster; the first steps are a trial in the order 2, 1, 1, 2
    used = _run_steps(chooser, clock, {2: 0.1, 1: 0.15}, 40)
    assert used[:4] == [2, 1, 1, 2]
    trials = [i for i in range(len(used)) if used[i] == 1]
    assert used[4:trials[2]] == [2] * (trials[2] - 4)  # then two threads until the next trial
    assert chooser.interval == 4.0  # the choice stood at every trial: 1 -> 2 -> 4 s (capped)
    # a competitor takes the other core: two threads become 10x slower; the next trial flips to one
    # and the first slow step (> 4x the typical one) starts that trial at once
    used = _run_steps(chooser, clock, {2: 1.0, 1: 0.15}, 40)
    assert used[:9] == [2, 2, 1, 1, 2, 1, 1, 1, 1] and chooser.choice == 1
    assert used.count(2) <= 2 + 2 * 3  # later trials (at 1, 2, 4 s) cost two slow steps each
    # the competitor leaves: a later trial goes back to two threads
    used = _run_steps(chooser, clock, {2: 0.1, 1: 0.15}, 60)
    assert chooser.choice == 0 and used[-5:] == [2] * 5


def test_thread_chooser_starting_with_one_thread_still_tries_more():
    clock = _Clock()
    chooser = ThreadChooser(4, start_with_most=False, clock=clock)  # the load average says cores are busy
    assert chooser.chosen == 1
    used = _run_steps(chooser, clock, {4: 0.05, 1: 0.15}, 10)  # they were not: four threads win
    assert used[:4] == [4, 1, 1, 4] and used[4:] == [4] * 6 and chooser.chosen == 4


def test_thread_chooser_with_one_core_never_tries_more():
    chooser = ThreadChooser(1, clock=_Clock())
    assert _run_steps(chooser, chooser.clock, {1: 0.1}, 10) == [1] * 10
    assert chooser.trial is None and chooser.typical == float("inf")  # nothing to time


def test_fully_given_codes_are_returned_as_they_are(model):
    prompt = _prompts(model)
    known = torch.randint(0, K, (2, *GRID), generator=torch.Generator().manual_seed(8))
    assert torch.equal(sample_codes(model, prompt, raster_schedule(*GRID), known=known), known)


# ----------------------------------------------------------------------------- VideoGenerator


@pytest.fixture(scope="module")
def generator(model):
    return VideoGenerator(model, FakeTokenizer())


def test_generate_returns_codes_and_uint8_videos(generator):
    out = generator.generate(CAPTIONS[:2], schedule="diagonal", window=1, seed=0, top_k=8)
    assert out.codes.shape == (2, *GRID)
    assert out.videos.shape == (2, FRAMES, *SIZE, 3) and out.videos.dtype == np.uint8
    assert np.array_equal(out.videos, FakeTokenizer().decode(out.codes, FRAMES).add(1).mul(127.5).round()
                          .byte().permute(0, 2, 3, 4, 1).numpy())
    again = generator.generate(CAPTIONS[:2], schedule="diagonal", window=1, seed=0, top_k=8)
    assert torch.equal(out.codes, again.codes)


def test_image_and_video_given_frames_are_reproduced_exactly(generator):
    tok = FakeTokenizer()
    source = torch.randint(0, K, (2, *GRID), generator=torch.Generator().manual_seed(9))
    pixels = ((tok.decode(source, FRAMES) + 1) * 127.5).round().byte().permute(0, 2, 3, 4, 1).numpy()
    img = generator.generate(CAPTIONS[:2], image=pixels[:, 0], seed=1)
    assert torch.equal(img.codes[:, 0], source[:, 0])
    assert np.array_equal(img.videos[:, 0], pixels[:, 0])
    vid = generator.generate(CAPTIONS[:2], video=pixels[:, :5], seed=1, schedule="diagonal", window=2)
    assert torch.equal(vid.codes[:, :2], source[:, :2])
    assert np.array_equal(vid.videos[:, :5], pixels[:, :5])
    one = generator.generate(CAPTIONS[0], image=pixels[0, 0], seed=1)  # one image, one prompt
    assert torch.equal(one.codes[0, 0], source[0, 0])


def test_stream_yields_each_latent_frame_in_order_and_matches_batch_mode(generator):
    kw = dict(schedule="diagonal", window=1, seed=3)
    full = generator.generate(CAPTIONS[:2], **kw)
    chunks = list(generator.generate(CAPTIONS[:2], stream=True, **kw))
    assert [c.index for c in chunks] == [0, 1, 2]
    assert torch.equal(torch.stack([c.codes for c in chunks], dim=1), full.codes)
    assert [c.frames.shape[1] for c in chunks] == [1, 4, 4]
    assert np.array_equal(np.concatenate([c.frames for c in chunks], axis=1), full.videos)


def test_settings_saved_with_frame_overlap_read_as_frame_windows():
    assert GenerationConfig.from_dict({"frame_overlap": True, "frame_window": 4}).frame_window == 4
    assert GenerationConfig.from_dict({"frame_overlap": False, "frame_window": 4}).frame_window == WHOLE_FRAMES


def test_frame_window_reaches_generate_and_spans_overlap_to_no_overlap(generator):
    row = generator.gpt.config.grid[2]
    kw = dict(schedule="diagonal", window=1, seed=4, top_k=8)
    overlap = generator.generate(CAPTIONS[:2], frame_window=None, **kw)  # None: the window
    whole = generator.generate(CAPTIONS[:2], frame_window=row, **kw)  # the width: whole frames in turn
    assert torch.equal(generator.generate(CAPTIONS[:2], frame_window=1, **kw).codes, overlap.codes)
    assert torch.equal(generator.generate(CAPTIONS[:2], frame_window=WHOLE_FRAMES, **kw).codes, whole.codes)
    assert not torch.equal(whole.codes, overlap.codes)
    middle = generator.generate(CAPTIONS[:2], frame_window=2, **kw)
    streamed = list(generator.generate(CAPTIONS[:2], frame_window=2, stream=True, **kw))
    assert torch.equal(torch.stack([c.codes for c in streamed], dim=1), middle.codes)
    with pytest.raises(ValueError, match="frame_window=0: must be an integer >= 1"):
        generator.generate(CAPTIONS[:2], frame_window=0, **kw)


def test_stream_with_a_real_tokenizer_decodes_each_latent_frame_once(tiny_model_dir, monkeypatch):
    gen = VideoGenerator.from_pretrained(tiny_model_dir)
    kw = dict(schedule="diagonal", window=1, seed=3, frames=11)  # 4 latent frames, though trained on 3
    with pytest.warns(UserWarning, match="sliding window"):
        full = gen.generate(CAPTIONS[:2], **kw)
    calls = []
    decoder_forward = gen.tokenizer.decoder.forward
    monkeypatch.setattr(gen.tokenizer.decoder, "forward",
                        lambda z, **k: calls.append(z.shape[2]) or decoder_forward(z, **k))
    with pytest.warns(UserWarning, match="sliding window"):
        chunks = list(gen.generate(CAPTIONS[:2], stream=True, **kw))
    assert calls == [1, 1, 1, 1]  # each latent frame once, not the codes so far each time
    assert [c.frames.shape[1] for c in chunks] == [1, 4, 4, 2]  # the last one trimmed to 11 frames
    streamed = np.concatenate([c.frames for c in chunks], axis=1).astype(int)
    assert np.abs(streamed - full.videos).max() <= 1  # float rounding of chunked decoding, at most


def test_half_precision_generation(tiny_model_dir):
    full = VideoGenerator.from_pretrained(tiny_model_dir)
    half = VideoGenerator.from_pretrained(tiny_model_dir, dtype="bfloat16")
    assert {p.dtype for p in half.gpt.parameters()} == {torch.bfloat16}
    assert half.forward.new_cache(1).kv.dtype == torch.bfloat16
    assert next(half.tokenizer.parameters()).dtype == torch.float32  # pixels stay float32
    kw = dict(schedule="diagonal", window=1, seed=0, cfg_scale=3.0, temperature=0)
    a, b = full.generate(CAPTIONS[:2], **kw), half.generate(CAPTIONS[:2], **kw)
    assert b.codes.shape == a.codes.shape and b.videos.shape == a.videos.shape and b.videos.dtype == np.uint8
    # greedy: the first codes agree until a rounding flips one near-tie, after which the videos drift apart
    assert torch.equal(b.codes.flatten(1)[:, :4], a.codes.flatten(1)[:, :4])
    with pytest.raises(ValueError, match="choose one of float32, bfloat16, float16"):
        VideoGenerator.from_pretrained(tiny_model_dir, dtype="float8")


def test_first_window_reaches_generate_and_raster_orders_the_first_frame(generator):
    _, h, w = generator.gpt.config.grid
    kw = dict(seed=4, temperature=0.8, decode=False)
    raster = generator.generate("a small red circle moves up quickly", schedule="raster", **kw).codes
    first = generator.generate("a small red circle moves up quickly", schedule="diagonal", window=1,
                               first_window=w, **kw).codes
    plain = generator.generate("a small red circle moves up quickly", schedule="diagonal", window=1, **kw).codes
    assert torch.equal(first[:, 0], raster[:, 0])  # the same steps and draws in the first latent frame
    assert not torch.equal(plain[:, 0], raster[:, 0])


def test_longer_than_trained_uses_a_sliding_window(generator):
    kw = dict(seed=5, schedule="diagonal", window=2)
    short = generator.generate(CAPTIONS[:2], **kw)
    long = generator.generate(CAPTIONS[:2], frames=FRAMES + 8, **kw)
    assert long.codes.shape == (2, GRID[0] + 2, *GRID[1:])
    assert long.videos.shape[1] == FRAMES + 8
    assert torch.equal(long.codes[:, : GRID[0]], short.codes)  # the first window is the short video
    streamed = list(generator.generate(CAPTIONS[:2], frames=FRAMES + 8, stream=True, decode=False, **kw))
    assert [c.index for c in streamed] == [0, 1, 2, 3, 4] and streamed[0].frames is None
    assert torch.equal(torch.stack([c.codes for c in streamed], dim=1), long.codes)
    single = generator.generate(CAPTIONS[0], frames=FRAMES + 4, **kw)  # batch of one: codes are views
    assert single.codes.shape == (1, GRID[0] + 1, *GRID[1:])


def test_generator_errors(generator, model, tmp_path):
    with pytest.raises(ValueError, match="not both"):
        generator.generate("x", image=np.zeros((*SIZE, 3), np.uint8), video=np.zeros((5, *SIZE, 3), np.uint8))
    with pytest.raises(ValueError, match="8x12"):
        generator.generate("x", image=np.zeros((16, 16, 3), np.uint8))
    with pytest.raises(ValueError, match="whole latent frames"):
        generator.generate("x", video=np.zeros((3, *SIZE, 3), np.uint8))
    with pytest.raises(ValueError, match="uint8"):
        generator.generate("x", image=np.zeros((*SIZE, 3), np.float32))
    with pytest.raises(ValueError, match="prompts"):
        generator.generate([])
    model.save_pretrained(tmp_path / "gpt")

    class Other(FakeTokenizer):
        codebook_size = 32

    with pytest.raises(ValueError, match="codebook_size"):
        VideoGenerator.from_pretrained(tmp_path / "gpt", tokenizer=Other())
    loaded = VideoGenerator.from_pretrained(tmp_path / "gpt", tokenizer=FakeTokenizer())
    assert torch.equal(loaded.generate("x", seed=0).codes, generator.generate("x", seed=0).codes)


# ---------------------------------------------------------------- prompt changes
@pytest.mark.parametrize("schedule", ["raster", "diagonal"])
def test_a_prompt_change_keeps_the_codes_before_it_and_changes_those_after(generator, schedule):
    kw = dict(schedule=schedule, window=1, frame_window=2, seed=3, top_k=8, cfg_scale=1.0)
    plain = generator.generate(CAPTIONS[:2], **kw).codes
    changed = generator.generate(CAPTIONS[:2], changes={5: CAPTIONS[2]}, **kw).codes  # latent frame 2 on
    assert torch.equal(changed[:, :2], plain[:, :2])  # identical up to the change, diagonal overlap included
    assert not torch.equal(changed[:, 2:], plain[:, 2:])
    per_video = generator.generate(CAPTIONS[:2], changes={1: [CAPTIONS[2], CAPTIONS[3]]}, **kw).codes
    assert torch.equal(per_video[:, :1], plain[:, :1]) and not torch.equal(per_video[:, 1:], plain[:, 1:])


def test_a_streamed_prompt_change_equals_the_same_change_given_up_front(generator):
    kw = dict(schedule="diagonal", window=1, seed=5, top_k=8)
    stream = generator.generate(CAPTIONS[:2], stream=True, **kw)
    frames = [next(stream)]
    assert stream.change_prompt(CAPTIONS[3]) == 1  # from the next latent frame: pixel frame 1
    frames += list(stream)
    streamed = torch.stack([f.codes for f in frames], dim=1)
    assert torch.equal(streamed, generator.generate(CAPTIONS[:2], changes={1: CAPTIONS[3]}, **kw).codes)
    assert np.array_equal(np.concatenate([f.frames for f in frames], axis=1),
                          generator.generate(CAPTIONS[:2], changes={1: CAPTIONS[3]}, **kw).videos)


class _Hooked:
    """A forward that calls `hook` before each step (the studio's other thread, changing the prompt)."""

    def __init__(self, inner, hook):
        self.inner, self.hook = inner, hook

    def __getattr__(self, name):
        return getattr(self.inner, name)

    def __call__(self, *args, **kwargs):
        self.hook()
        return self.inner(*args, **kwargs)


def test_a_change_made_while_a_frame_is_drawn_takes_effect_from_that_frame(generator):
    kw = dict(schedule="raster", seed=2, top_k=8, decode=False)
    plain = generator.generate(CAPTIONS[:1], **kw).codes
    frames, returned = [], []

    def change_once() -> None:  # once frame 0 is out, i.e. while latent frame 1 is being drawn
        if len(frames) == 1 and not returned:
            returned.append(stream.change_prompt(CAPTIONS[3]))
    inner = generator.forward
    generator.forward = _Hooked(inner, change_once)
    try:
        stream = generator.generate(CAPTIONS[:1], stream=True, **kw)
        for frame in stream:
            frames.append(frame)
    finally:
        generator.forward = inner
    assert returned == [1]
    assert torch.equal(frames[0].codes, plain[:, 0])
    assert not torch.equal(frames[1].codes, plain[:, 1])  # drawn again under the new prompt, as returned


def test_prompt_changes_in_a_sliding_window_video(generator):
    kw = dict(schedule="diagonal", window=1, seed=1, top_k=8, frames=17)  # 5 latent frames, window 3
    with pytest.warns(UserWarning, match="sliding window"):
        plain = generator.generate(CAPTIONS[:1], **kw).codes
    with pytest.warns(UserWarning, match="sliding window"):
        changed = generator.generate(CAPTIONS[:1], changes={13: CAPTIONS[1], 5: CAPTIONS[2]}, **kw).codes
    assert changed.shape == plain.shape == (1, 5, *GRID[1:])
    assert torch.equal(changed[:, :2], plain[:, :2]) and not torch.equal(changed[:, 2:], plain[:, 2:])


@pytest.mark.parametrize("changes,message", [
    ({4: "x"}, r"changes: frame 4 does not start a latent frame; use one of \[1, 5\]"),
    ({9: "x"}, r"frame 9 does not start a latent frame"),  # the end of the video
    ({0: "x"}, r"frame 0 does not start a latent frame"),
    ({"5": "x"}, r"frame '5' does not start"),
    ({5: ["a", "b", "c"]}, r"a prompt change needs one prompt, or 2 \(one per video\)"),
])
def test_bad_prompt_changes_are_refused_before_any_work(generator, changes, message):
    with pytest.raises(ValueError, match=message):
        generator.generate(CAPTIONS[:2], changes=changes, seed=0)
