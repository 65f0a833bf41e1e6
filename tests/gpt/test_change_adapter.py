"""The change adapter: low-rank deltas the GPT uses only from a prompt change on."""

from __future__ import annotations

import shutil

import lightning as L
import numpy as np
import pytest
import torch

from vidgpt.generator import VideoGenerator
from vidgpt.model import PromptVocab, VidGPT
from vidgpt.model.change_adapter import ADAPTER_FILE, ChangeAdapter
from vidgpt.sampler.bucketed import BucketedForward
from vidgpt.sampler.forward import StaticForward
from vidgpt.train.batches import GPTCollate
from vidgpt.train.module import GPTModule, model_from_checkpoint
from vidtok.shapes.world import split_combinations

GRID, K = (2, 2, 2), 16
QUIET = dict(accelerator="cpu", logger=False, enable_progress_bar=False, enable_model_summary=False)


@pytest.fixture(scope="module")
def prompt() -> PromptVocab:
    return PromptVocab.fit([a.caption for a in split_combinations("train")], vocab_size=512)


def tiny(prompt: PromptVocab) -> VidGPT:
    torch.manual_seed(0)
    return VidGPT.build(prompt, GRID, K, prompt_length=12, preset="tiny").eval()


def trained_adapter(gpt: VidGPT, rank: int = 4, seed: int = 1) -> VidGPT:
    """Give `gpt` an adapter whose deltas are not zero (as training leaves it)."""
    gpt.attach_change_adapter(rank)
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for b in gpt.change_adapter.b:
            b.copy_(torch.randn(b.shape, generator=g) * 0.05)
    return gpt


def logits(gpt: VidGPT, prompt: PromptVocab, adapted: bool) -> torch.Tensor:
    ids = gpt.encode_prompts(["a large red circle moves right slowly"])
    codes = torch.arange(8).remainder(K).view(1, *GRID)
    with torch.no_grad(), gpt.adapted(adapted):
        return gpt(ids, codes)


def test_a_new_adapter_changes_nothing_and_a_trained_one_changes_the_logits(prompt):
    gpt = tiny(prompt)
    plain = logits(gpt, prompt, False)
    gpt.attach_change_adapter(4)
    assert torch.equal(logits(gpt, prompt, True), plain)  # B starts at zero
    trained_adapter(gpt)
    assert not torch.allclose(logits(gpt, prompt, True), plain, atol=1e-3)
    assert torch.equal(logits(gpt, prompt, False), plain)  # off, the base is untouched
    with pytest.raises(ValueError, match="no change adapter"):
        with tiny(prompt).adapted():
            pass


def test_the_sampling_forward_with_the_adapter_merged_equals_the_adapted_model(prompt):
    gpt = trained_adapter(tiny(prompt))
    ids = gpt.input_ids(gpt.encode_prompts(["a small blue square moves up quickly"]),
                        torch.arange(7).remainder(K)[None])
    n = ids.shape[1]
    for adapted in (False, True):
        with torch.no_grad(), gpt.adapted(adapted):
            want = gpt.sequence_logits(ids)
        fwd = StaticForward(gpt, adapted=adapted)
        with torch.no_grad():
            got = fwd(fwd.new_cache(1), ids, torch.arange(n), n, is_causal=True)
        torch.testing.assert_close(got, want, atol=1e-4, rtol=1e-4)
        padded = BucketedForward(gpt, compile=None, adapted=adapted)  # the forward `compile=` generation uses
        with torch.no_grad():
            got = padded(padded.new_cache(1), ids, torch.arange(n), n, is_causal=True)
        torch.testing.assert_close(got, want, atol=1e-4, rtol=1e-4)
    with pytest.raises(ValueError, match="no change adapter"):
        StaticForward(tiny(prompt), adapted=True)


def test_the_adapter_is_saved_beside_the_weights_small_and_refused_when_broken(tmp_path, prompt):
    gpt = trained_adapter(tiny(prompt))
    gpt.save_pretrained(tmp_path / "gpt")
    path = tmp_path / "gpt" / ADAPTER_FILE
    back = VidGPT.from_pretrained(tmp_path / "gpt")
    assert back.change_adapter.rank == 4 and back.change_adapter.alpha == 4.0
    for a, b in zip(back.change_adapter.parameters(), gpt.change_adapter.parameters()):
        torch.testing.assert_close(a, b, atol=1e-3, rtol=1e-3)  # stored in float16
    assert path.stat().st_size < 0.6 * sum(p.numel() for p in gpt.change_adapter.parameters()) * 4
    assert VidGPT.from_pretrained(tmp_path / "gpt").change_adapter is not None

    path.write_bytes(path.read_bytes()[:100])
    with pytest.raises(ValueError, match="not a readable change adapter"):
        VidGPT.from_pretrained(tmp_path / "gpt")
    torch.manual_seed(0)
    other = VidGPT.build(prompt, GRID, K, prompt_length=12, preset="tiny", layers=1)
    trained_adapter(other).change_adapter.save(path)
    with pytest.raises(ValueError, match="does not fit this GPT"):
        VidGPT.from_pretrained(tmp_path / "gpt")
    (tmp_path / "gpt" / ADAPTER_FILE).unlink()
    assert VidGPT.from_pretrained(tmp_path / "gpt").change_adapter is None
    with pytest.raises(ValueError, match="rank must be an integer"):
        ChangeAdapter({"x": (2, 2)}, 0)


def test_only_the_adapter_trains_and_a_resumed_run_gets_it_back(tmp_path, prompt):
    gpt = tiny(prompt).train()
    base = {k: v.clone() for k, v in gpt.state_dict().items()}
    module = GPTModule(gpt, change_adapter_rank=4, total_steps=10, lr=1e-2, prompt_dropout=0.0)
    optimised = {id(p) for group in module.configure_optimizers()["optimizer"].param_groups for p in group["params"]}
    assert optimised == {id(p) for p in gpt.change_adapter.parameters()}
    g = torch.Generator().manual_seed(0)
    items = [{"codes": torch.randint(0, K, GRID, generator=g), "caption": c.caption}
             for c in split_combinations("train")[:4]]
    loader = torch.utils.data.DataLoader([GPTCollate(prompt, 12)(items)] * 3, batch_size=None)
    trainer = L.Trainer(max_steps=3, default_root_dir=tmp_path, **QUIET)
    trainer.fit(module, loader)
    assert all(torch.equal(gpt.state_dict()[k], v) for k, v in base.items())  # the base is frozen
    assert any(b.abs().sum() > 0 for b in gpt.change_adapter.b)  # the adapter learnt
    trainer.save_checkpoint(tmp_path / "last.ckpt")
    back = model_from_checkpoint(tmp_path / "last.ckpt")
    for a, b in zip(back.change_adapter.parameters(), gpt.change_adapter.parameters()):
        assert torch.equal(a, b)
    with pytest.raises(ValueError, match="not both"):
        GPTModule(tiny(prompt), change_adapter_rank=4, distill_cfg_scale=2.0, total_steps=10)


def test_training_the_base_leaves_a_stale_adapter_out(prompt, caplog):
    gpt = trained_adapter(tiny(prompt))
    with caplog.at_level("WARNING"):
        GPTModule(gpt, total_steps=10)
    assert gpt.change_adapter is None and "change adapter is left out" in caplog.text
    gpt = trained_adapter(tiny(prompt))
    GPTModule(gpt, change_adapter_rank=4, total_steps=10)  # training the adapter goes on with the one there is
    assert any(b.abs().sum() > 0 for b in gpt.change_adapter.b)


def test_generation_uses_the_adapter_from_a_change_on_and_never_without_one(tmp_path, tiny_model_dir):
    model = tmp_path / "model"
    shutil.copytree(tiny_model_dir, model)
    before = VideoGenerator.from_pretrained(model)
    trained_adapter(VidGPT.from_pretrained(model / "gpt"), rank=4).save_pretrained(model / "gpt")
    after = VideoGenerator.from_pretrained(model)
    assert after.gpt.change_adapter is not None

    a, b = "a large red circle moves right slowly", "a small blue square moves up quickly"
    for schedule in ("raster", "diagonal"):
        kw = dict(seed=3, schedule=schedule)
        plain = after.generate([a], **kw)
        assert torch.equal(plain.codes, before.generate([a], **kw).codes)  # no change: the base's, to the bit
        assert np.array_equal(plain.videos, before.generate([a], **kw).videos)
        old = before.generate([a], changes={5: b}, **kw)
        new = after.generate([a], changes={5: b}, **kw)
        assert torch.equal(new.codes[:, :1], old.codes[:, :1])  # before the change: the same
        assert not torch.equal(new.codes[:, 1:], old.codes[:, 1:])  # from it on: the adapter's
        streamed = after.generate([a], changes={5: b}, stream=True, **kw)
        assert torch.equal(torch.stack([f.codes for f in streamed], dim=1), new.codes)
