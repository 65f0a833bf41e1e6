"""BucketedForward: steps padded to a few static shapes give the eager path's codes, and compile once per shape."""

from __future__ import annotations

import pytest
import torch

from tools.bench_sampling import PROMPT, demo_model
from vidgpt.sampler import StaticForward, make_schedule, sample_codes
from vidgpt.sampler.bucketed import BucketedForward, bucket, default_buckets

GRID = (3, 4, 4)


@pytest.fixture(scope="module")
def gpt():
    model = demo_model(GRID, codebook_size=64)
    with torch.no_grad():  # peaked distributions: a wrong context changes the greedy codes
        for p in model.parameters():
            p.mul_(2.0)
    return model


def test_buckets():
    assert default_buckets(49) == (1, 2, 4, 8, 16, 32, 64)
    assert [bucket(n, (1, 2, 4, 8)) for n in (1, 2, 3, 5, 8)] == [1, 2, 4, 8, 8]
    with pytest.raises(ValueError, match="exceeds the largest bucket 8"):
        bucket(9, (1, 2, 4, 8))
    with pytest.raises(ValueError, match="compile='fast'"):
        BucketedForward(demo_model((1, 2, 2), codebook_size=16), compile="fast")


@pytest.mark.parametrize("schedule, window, frame_window", [("raster", 1, None), ("diagonal", 1, None),
                                                            ("diagonal", 2, 2)])
@pytest.mark.parametrize("cfg_scale", [1.0, 3.0])
def test_padded_steps_give_the_eager_codes(gpt, schedule, window, frame_window, cfg_scale):
    sched = make_schedule(schedule, *GRID, window=window, frame_window=frame_window)
    prompts = gpt.encode_prompts([PROMPT, "a small red circle moves up quickly"])
    null = gpt.null_prompts(1) if cfg_scale != 1.0 else None
    kwargs = dict(null_prompt_ids=null, cfg_scale=cfg_scale, temperature=0.0)
    eager = sample_codes(gpt, prompts, sched, forward=StaticForward(gpt), **kwargs)
    padded = BucketedForward(gpt, compile=None, buckets=(1, 4, 16, 64))
    assert torch.equal(sample_codes(gpt, prompts, sched, forward=padded, **kwargs), eager)
    assert {n for _, n in padded.shapes_seen} <= {1, 4, 16, 64}
    # given leading codes (image-to-video / continuation): the prefill then holds them too
    known = eager[:, :1]
    assert torch.equal(sample_codes(gpt, prompts, sched, forward=padded, known=known, **kwargs),
                       sample_codes(gpt, prompts, sched, known=known, **kwargs))


def test_sampled_codes_match_with_one_seed(gpt):
    sched = make_schedule("diagonal", *GRID)
    prompts = gpt.encode_prompts([PROMPT])
    draw = lambda forward: sample_codes(gpt, prompts, sched, forward=forward, temperature=1.0, top_k=8,
                                        generator=torch.Generator().manual_seed(5))
    assert torch.equal(draw(BucketedForward(gpt, compile=None)), draw(StaticForward(gpt)))


@pytest.mark.slow
def test_compiled_steps_give_the_eager_codes_and_compile_once_per_shape(gpt):
    """torch.compile on this machine's CPU (inductor): the graph a GPU captures with CUDA graphs."""
    sched = make_schedule("raster", *GRID)
    prompts = gpt.encode_prompts([PROMPT])
    compiled = BucketedForward(gpt, compile="default")
    eager = sample_codes(gpt, prompts, sched, temperature=0.0)
    assert torch.equal(sample_codes(gpt, prompts, sched, forward=compiled, temperature=0.0), eager)
    assert torch.equal(sample_codes(gpt, prompts, sched, forward=compiled, temperature=0.0), eager)
    import torch._dynamo as dynamo

    assert dynamo.utils.counters["stats"]["unique_graphs"] <= len(compiled.shapes_seen)
