"""Guidance distillation: the target is the frozen teacher's guided distribution, training moves the model
towards it, the teacher stays frozen and checkpointed, and generation of a distilled model skips guidance."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from vidgpt.sampler.sampling import guide
from vidgpt.generator import VideoGenerator
from vidgpt.model.generation import GenerationConfig

GUIDANCE = GenerationConfig.cfg_scale
from vidgpt.model import PromptVocab, VidGPT, VidGPTConfig
from vidgpt.train.batches import GPTCollate
from vidgpt.train.module import GPTModule
from vidtok.shapes.world import split_combinations

GRID, K, L = (2, 4, 4), 64, 12


@pytest.fixture(scope="module")
def prompt() -> PromptVocab:
    return PromptVocab.fit([a.caption for a in split_combinations("train")], vocab_size=512)


def _model(prompt: PromptVocab, seed: int = 0) -> VidGPT:
    torch.manual_seed(seed)
    return VidGPT.build(prompt, GRID, K, prompt_length=L, preset="tiny")


def _batch(prompt: PromptVocab, b: int = 4) -> dict:
    g = torch.Generator().manual_seed(0)
    items = [{"codes": torch.randint(0, K, GRID, generator=g), "caption": c.caption}
             for c in split_combinations("train")[:b]]
    return GPTCollate(prompt, L)(items)


def _guided_kl(module: GPTModule, b: dict, scale: float) -> float:
    """KL(teacher guided || model prompted) over every code position of batch b."""
    with torch.no_grad():
        codes = module.model.flat_codes(b["codes"])
        n = b["prompt_ids"].shape[0]
        cond = module.teacher(b["prompt_ids"], codes).float()
        null = module.teacher(module.teacher.null_prompts(n), codes).float()
        target = guide(cond, null, scale).log_softmax(-1)
        student = module.model(b["prompt_ids"], codes).float().log_softmax(-1)
        return F.kl_div(student, target, log_target=True, reduction="batchmean").item()


def test_the_target_is_the_teachers_guided_distribution(prompt):
    b = _batch(prompt)
    # scale 1: the guided distribution is the teacher's prompted one, which the untrained copy already is,
    # so the loss is its entropy and no gradient moves the model
    module = GPTModule(_model(prompt), distill_cfg_scale=1.0)
    loss, _ = module.loss_and_accuracy(b["prompt_ids"], b["codes"], distill=True)
    loss.backward()
    logits = module.model(b["prompt_ids"], b["codes"]).detach().float()
    entropy = -(logits.softmax(-1) * logits.log_softmax(-1)).sum(-1).mean()
    assert loss.item() == pytest.approx(entropy.item(), rel=1e-4)
    assert max(p.grad.abs().max().item() for p in module.model.parameters() if p.grad is not None) < 1e-5
    # scale 3: a different target, so a gradient
    module = GPTModule(_model(prompt), distill_cfg_scale=3.0)
    loss, _ = module.loss_and_accuracy(b["prompt_ids"], b["codes"], distill=True)
    loss.backward()
    assert max(p.grad.abs().max().item() for p in module.model.parameters() if p.grad is not None) > 1e-4
    assert all(p.grad is None for p in module.teacher.parameters())


def test_distillation_moves_the_prompted_logits_to_the_guided_ones_and_keeps_the_teacher(prompt):
    b = _batch(prompt)
    module = GPTModule(_model(prompt), distill_cfg_scale=3.0, prompt_dropout=0.0)
    teacher_before = {k: v.clone() for k, v in module.teacher.state_dict().items()}
    before = _guided_kl(module, b, 3.0)
    opt = torch.optim.AdamW([p for p in module.model.parameters() if p.requires_grad], lr=3e-3)
    module.train()
    assert not module.teacher.training  # frozen: stays in eval mode
    for _ in range(30):
        loss, _ = module.loss_and_accuracy(b["prompt_ids"], b["codes"], distill=True)
        opt.zero_grad()
        loss.backward()
        opt.step()
    after = _guided_kl(module, b, 3.0)
    assert after < 0.3 * before, (before, after)
    assert all(torch.equal(v, teacher_before[k]) for k, v in module.teacher.state_dict().items())
    assert not any(p.requires_grad for p in module.teacher.parameters())
    # the teacher is part of the checkpoint (a resumed run keeps it) and the exported config says what was distilled
    assert any(k.startswith("teacher.") for k in module.state_dict())
    assert module.model.config.distilled_cfg_scale == 3.0
    assert module.teacher.config.distilled_cfg_scale is None


def test_distillation_settings_are_checked(prompt):
    with pytest.raises(ValueError, match="distill_cfg_scale must be >= 0"):
        GPTModule(_model(prompt), distill_cfg_scale=-1.0)
    distilled = GPTModule(_model(prompt), distill_cfg_scale=3.0).model
    for scale in (2.0, 3.0):  # the model's guided logits would guide twice
        with pytest.raises(ValueError, match="already has guidance 3.0 distilled in"):
            GPTModule(distilled, distill_cfg_scale=scale)
    config = distilled.config.to_dict()
    assert VidGPTConfig.from_dict(config).distilled_cfg_scale == 3.0
    with pytest.raises(ValueError, match="distilled_cfg_scale must be >= 0"):
        VidGPTConfig.from_dict(dict(config, distilled_cfg_scale=-2.0))


def test_generation_samples_a_distilled_model_without_guidance(tiny_model_dir):
    gen = VideoGenerator.from_pretrained(tiny_model_dir)
    kw = dict(schedule="diagonal", window=1, seed=0, temperature=0.7)
    assert gen.gpt.config.distilled_cfg_scale is None and gen.generation.cfg_scale == GUIDANCE
    assert torch.equal(gen.generate("a red circle", decode=False, **kw).codes,
                       gen.generate("a red circle", cfg_scale=GUIDANCE, decode=False, **kw).codes)
    gen.gpt.config.distilled_cfg_scale = 3.0
    gen.gpt.generation = GenerationConfig().merged(cfg_scale=1.0)  # what distillation records
    assert gen.generation.cfg_scale == 1.0
    calls = []
    original = gen.forward.__class__.__call__

    def spy(self, cache, tokens, *args, **kwargs):
        calls.append(tokens.shape[0])
        return original(self, cache, tokens, *args, **kwargs)

    gen.forward.__class__.__call__ = spy
    try:
        unguided = gen.generate("a red circle", decode=False, **kw).codes  # the model's own: 1
    finally:
        gen.forward.__class__.__call__ = original
    assert set(calls) == {1}  # one row per step: no null-prompt rows
    assert torch.equal(unguided, gen.generate("a red circle", cfg_scale=1.0, decode=False, **kw).codes)


def test_a_resumed_distillation_keeps_its_teacher_and_exports_a_distilled_model(tmp_path):
    """train_gpt with distill_cfg_scale from a plain model, checkpoint, resume: the teacher comes back from
    the checkpoint (not a copy of the half-distilled weights) and the export says what was distilled."""
    import lightning as L
    from lightning.pytorch.callbacks import ModelCheckpoint

    from vidgpt.train.fit import train_gpt
    from vidgpt.train.pretokenize import pretokenize
    from vidtok.shapes.world import ShapesDataset
    from vidtok.model import TokenizerConfig, VideoTokenizer

    quiet = dict(accelerator="cpu", logger=False, enable_progress_bar=False, enable_model_summary=False)
    torch.manual_seed(0)
    tokenizer = VideoTokenizer(TokenizerConfig(channels=[8, 8], blocks=1, pixel_channels=[8], codebook_size=K)).eval()
    tokenizer_dir = tokenizer.save_pretrained(tmp_path / "tok")
    shards = tmp_path / "shards"
    pretokenize(ShapesDataset("train", length=8, frames=5, size=32), tokenizer, shards, shard_size=4, progress=False)
    plain = train_gpt(tokenizer_dir, shards, tmp_path / "plain", preset="tiny", batch_size=4,
                      trainer=L.Trainer(max_steps=1, enable_checkpointing=False, **quiet))
    recipe = dict(warmup_steps=1, distill_cfg_scale=3.0, lr=1e-2)
    ckpt = ModelCheckpoint(dirpath=tmp_path / "ckpt", save_last=True, every_n_train_steps=2)
    trainer = L.Trainer(max_steps=2, callbacks=[ckpt], **quiet)
    train_gpt(tokenizer_dir, shards, tmp_path / "run", batch_size=4, trainer=trainer, module=recipe,
              init_from=tmp_path / "plain")
    assert VidGPT.from_pretrained(tmp_path / "run" / "gpt").config.distilled_cfg_scale == 3.0
    resumed = L.Trainer(max_steps=4, enable_checkpointing=False, **quiet)
    train_gpt(tokenizer_dir, shards, tmp_path / "run", batch_size=4, trainer=resumed, module=recipe,
              ckpt_path=tmp_path / "ckpt" / "last.ckpt")
    assert resumed.global_step == 4
    teacher = resumed.lightning_module.teacher
    for name, p in plain.state_dict().items():
        assert torch.equal(p, teacher.state_dict()[name]), name  # still the plain model, after 4 steps at lr 1e-2
    assert VidGPT.from_pretrained(tmp_path / "run" / "gpt").config.distilled_cfg_scale == 3.0
