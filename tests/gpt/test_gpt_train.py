"""Stage-2 training: LR schedule, prompt dropout, context noise, NaN stop, both data paths, export, resume."""

from __future__ import annotations

import json
import math

import lightning as L
import pytest
import torch
import torch.nn.functional as F
from lightning.pytorch.callbacks import Callback, ModelCheckpoint

from vidgpt.model import PromptVocab, VidGPT
from vidgpt.train.batches import GPTCollate, drop_prompts, encode_frozen
from vidtok.model.fingerprint import tokenizer_fingerprint
from vidgpt.train.fit import dataset_captions, train_gpt
from vidgpt.train.module import GPTModule, NonFiniteLossError, model_from_checkpoint
from vidgpt.train.pretokenize import pretokenize
from vidtok.train.lr_schedule import step_progress, warmup_cosine
from vidtok.shapes.world import ShapesDataset, split_combinations
from vidtok.model import TokenizerConfig, VideoTokenizer

FRAMES, SIZE, GRID, K = 5, 32, (2, 4, 4), 64
QUIET = dict(accelerator="cpu", logger=False, enable_progress_bar=False, enable_model_summary=False)


@pytest.fixture(scope="module")
def tokenizer() -> VideoTokenizer:
    torch.manual_seed(0)
    return VideoTokenizer(TokenizerConfig(channels=[8, 8], blocks=1, pixel_channels=[8], codebook_size=K)).eval()


@pytest.fixture(scope="module")
def tokenizer_dir(tmp_path_factory, tokenizer):
    return tokenizer.save_pretrained(tmp_path_factory.mktemp("tok"))


@pytest.fixture(scope="module")
def train_set() -> ShapesDataset:
    return ShapesDataset("train", length=8, frames=FRAMES, size=SIZE)


@pytest.fixture(scope="module")
def shard_dir(tmp_path_factory, train_set, tokenizer):
    out = tmp_path_factory.mktemp("shards")
    pretokenize(train_set, tokenizer, out, shard_size=4, progress=False)
    return out


@pytest.fixture(scope="module")
def prompt() -> PromptVocab:
    return PromptVocab.fit([a.caption for a in split_combinations("train")], vocab_size=512)


def tiny_model(prompt: PromptVocab, seed: int = 0) -> VidGPT:
    torch.manual_seed(seed)
    return VidGPT.build(prompt, GRID, K, prompt_length=12, preset="tiny")


def batch(prompt: PromptVocab, b: int = 4, seed: int = 0) -> dict:
    g = torch.Generator().manual_seed(seed)
    items = [{"codes": torch.randint(0, K, GRID, generator=g), "caption": c.caption}
             for c in split_combinations("train")[:b]]
    return GPTCollate(prompt, 12)(items)


# ---------------------------------------------------------------- schedule
def test_warmup_cosine_values():
    f = lambda s: warmup_cosine(s, 10, step_progress(s, 10, 110), min_ratio=0.1)  # noqa: E731
    assert [f(0), f(4), f(9)] == pytest.approx([0.1, 0.5, 1.0])
    assert f(10) == pytest.approx(1.0)
    assert f(60) == pytest.approx(0.55)  # half way down the cosine: (1 + 0.1) / 2
    assert f(35) == pytest.approx(0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi / 4)))
    assert f(110) == pytest.approx(0.1) and f(500) == pytest.approx(0.1)
    assert warmup_cosine(0, 0, 0.0, 0.0) == pytest.approx(1.0)
    assert warmup_cosine(3, 10, 0.5, 0.0) == pytest.approx(0.4 * 0.5)  # warm-up and a time-based cosine multiply
    with pytest.raises(ValueError, match="warmup_cosine"):
        step_progress(0, 10, 0)
    with pytest.raises(ValueError, match="warmup_cosine"):
        warmup_cosine(0, 10, float("nan"))


def test_module_scheduler_steps_per_optimizer_step(prompt):
    module = GPTModule(tiny_model(prompt), lr=1e-3, warmup_steps=4, total_steps=24, min_lr_ratio=0.0)
    conf = module.configure_optimizers()
    opt, sched = conf["optimizer"], conf["lr_scheduler"]["scheduler"]
    assert conf["lr_scheduler"]["interval"] == "step"
    lrs = []
    for _ in range(25):
        lrs.append(opt.param_groups[0]["lr"])
        opt.step()
        sched.step()
    assert lrs[:5] == pytest.approx([2.5e-4, 5e-4, 7.5e-4, 1e-3, 1e-3])
    assert lrs[14] == pytest.approx(5e-4) and lrs[24] == pytest.approx(0.0, abs=1e-12)
    decays = {g["weight_decay"] for g in opt.param_groups for _ in g["params"]}
    assert decays == {0.1, 0.0}  # matrices decay, norm gains do not
    assert all(p.ndim >= 2 for p in opt.param_groups[0]["params"])


# ---------------------------------------------------------------- prompt dropout and context noise
def test_prompt_dropout_drops_whole_prompts_at_rate_p(prompt):
    ids = prompt.encode([a.caption for a in split_combinations("train")] * 5, 12)  # 1000 prompts
    out = drop_prompts(ids, 0.3, prompt.pad_id, torch.Generator().manual_seed(0))
    dropped = (out == prompt.pad_id).all(1)
    assert 0.25 < dropped.float().mean() < 0.35
    assert torch.equal(out[~dropped], ids[~dropped])  # kept prompts untouched
    again = drop_prompts(ids, 0.3, prompt.pad_id, torch.Generator().manual_seed(0))
    assert torch.equal(out, again)
    assert drop_prompts(ids, 0.0, prompt.pad_id) is ids
    assert (drop_prompts(ids, 1.0, prompt.pad_id) == prompt.pad_id).all()


class Spy:
    """Wraps model.forward to record what the network was fed."""

    def __init__(self, model: VidGPT) -> None:
        self.calls, self.forward = [], model.forward
        model.forward = self

    def __call__(self, prompt_ids, codes, *a, **kw):
        logits = self.forward(prompt_ids, codes, *a, **kw)
        self.calls.append((prompt_ids.clone(), codes.clone(), logits))
        return logits


def fit_one_step(module: GPTModule, b: dict) -> L.Trainer:
    trainer = L.Trainer(max_steps=1, enable_checkpointing=False, **QUIET)
    trainer.fit(module, torch.utils.data.DataLoader([b], batch_size=None))
    return trainer


def test_training_step_applies_prompt_dropout(prompt):
    module = GPTModule(tiny_model(prompt), prompt_dropout=1.0, total_steps=10)
    spy = Spy(module.model)
    b = batch(prompt)
    fit_one_step(module, b)
    fed = spy.calls[0][0]
    assert (fed == prompt.pad_id).all() and not (b["prompt_ids"] == prompt.pad_id).all()


def test_context_noise_changes_inputs_not_targets(prompt):
    module = GPTModule(tiny_model(prompt), prompt_dropout=0.0, context_noise=0.5, total_steps=10)
    spy = Spy(module.model)
    b = batch(prompt, b=8)
    with torch.no_grad():
        before = module.model.loss(b["prompt_ids"], b["codes"])  # clean loss, before the step
    trainer = fit_one_step(module, b)
    prompt_ids, inputs, logits = spy.calls[-1]
    targets = b["codes"].flatten(1)
    changed = (inputs != targets).float().mean()
    assert 0.35 < changed < 0.6  # half replaced, 1/64 of those by the same code
    assert torch.equal(prompt_ids, b["prompt_ids"])
    logged = trainer.callback_metrics["train/loss"].item()
    assert logged == pytest.approx(F.cross_entropy(logits.flatten(0, 1), targets.flatten()).item(), rel=1e-5)

    module.hparams.context_noise = 0.0
    del spy.calls[:]
    module.model.load_state_dict(tiny_model(prompt).state_dict())  # the weights before the step
    loss0, _ = module.loss_and_accuracy(b["prompt_ids"], b["codes"])
    assert torch.equal(spy.calls[-1][1], targets)
    assert loss0.item() == pytest.approx(before.item(), rel=1e-6)  # parity with the model's own loss


def test_accuracy_counts_correct_next_codes(prompt):
    module = GPTModule(tiny_model(prompt))
    b = batch(prompt)
    spy = Spy(module.model)
    _, acc = module.loss_and_accuracy(b["prompt_ids"], b["codes"])
    logits = spy.calls[0][2]
    assert acc.item() == pytest.approx((logits.argmax(-1) == b["codes"].flatten(1)).float().mean().item())


# ---------------------------------------------------------------- NaN stop
class PoisonAt(Callback):
    def __init__(self, step: int) -> None:
        self.step = step

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx):
        if trainer.global_step == self.step:
            with torch.no_grad():
                pl_module.model.llama.model.norm.weight.fill_(float("nan"))


def test_nan_loss_stops_naming_the_step_and_keeps_last_good_checkpoint(tmp_path, prompt, shard_dir):
    from vidgpt.train.shards import TokenShardDataset

    module = GPTModule(tiny_model(prompt), warmup_steps=1)
    loader = torch.utils.data.DataLoader(TokenShardDataset(shard_dir), batch_size=2, collate_fn=GPTCollate(prompt, 12))
    ckpt = ModelCheckpoint(dirpath=tmp_path, save_last=True, every_n_train_steps=1)
    trainer = L.Trainer(max_steps=10, callbacks=[ckpt, PoisonAt(3)], **QUIET)
    with pytest.raises(NonFiniteLossError, match="at step 3 "):
        trainer.fit(module, loader)
    last = torch.load(tmp_path / "last.ckpt", weights_only=True)
    assert last["global_step"] == 3
    assert all(torch.isfinite(v).all() for v in last["state_dict"].values())


def test_nan_gradient_stops_when_clipping(prompt):
    module = GPTModule(tiny_model(prompt), warmup_steps=1, total_steps=10)
    module.model.llama.model.norm.weight.register_hook(lambda g: g * float("nan"))
    trainer = L.Trainer(max_steps=2, enable_checkpointing=False, gradient_clip_val=1.0, **QUIET)
    with pytest.raises(NonFiniteLossError, match="gradient norm is nan at step 0"):
        trainer.fit(module, torch.utils.data.DataLoader([batch(prompt)], batch_size=None))


# ---------------------------------------------------------------- end to end through train_gpt
def test_train_gpt_on_shards_exports_and_resumes(tmp_path, tokenizer_dir, tokenizer, shard_dir, train_set):
    ckpt = ModelCheckpoint(dirpath=tmp_path / "ckpt", save_last=True, every_n_train_steps=2)
    trainer = L.Trainer(max_steps=2, callbacks=[ckpt], **QUIET)
    model = train_gpt(tokenizer_dir, shard_dir, tmp_path, val_data=shard_dir, preset="tiny", batch_size=4,
                      trainer=trainer, module=dict(warmup_steps=1))
    metrics = trainer.callback_metrics
    for key in ("train/loss", "train/acc", "train/lr", "train/tokens_per_s", "val/loss", "val/acc"):
        assert key in metrics and torch.isfinite(metrics[key]), key
    assert metrics["train/tokens_per_s"] > 0

    assert sorted(p.name for p in tmp_path.iterdir()) == ["ckpt", "gpt"]  # no temp folders left behind
    exported = VidGPT.from_pretrained(tmp_path / "gpt")
    assert exported.config.grid == GRID and exported.config.codebook_size == K
    assert exported.config.tokenizer["fingerprint"] == tokenizer_fingerprint(tokenizer)
    assert exported.config.tokenizer["frames"] == FRAMES
    exported.check_tokenizer(tokenizer)
    # the prompt vocabulary was fitted on all 200 training captions, not only the 8 clips seen
    assert set(dataset_captions(train_set)) == {a.caption for a in split_combinations("train")}
    for name, p in model.state_dict().items():
        assert torch.equal(p, exported.state_dict()[name]), name

    rebuilt = model_from_checkpoint(tmp_path / "ckpt" / "last.ckpt")
    assert torch.equal(rebuilt.prompt_vocab.encode(["a red cat"], 12), model.prompt_vocab.encode(["a red cat"], 12))
    # a checkpoint written before the prompt vocabulary's rename names it "prompt_tokenizer": still rebuilt
    ckpt = torch.load(tmp_path / "ckpt" / "last.ckpt", map_location="cpu", weights_only=False)
    ckpt["vidgpt"]["prompt_tokenizer"] = ckpt["vidgpt"].pop("prompt_vocab")
    torch.save(ckpt, tmp_path / "old.ckpt")
    old = model_from_checkpoint(tmp_path / "old.ckpt")
    assert torch.equal(old.prompt_vocab.encode(["a red cat"], 12), model.prompt_vocab.encode(["a red cat"], 12))
    trainer2 = L.Trainer(max_steps=4, enable_checkpointing=False, **QUIET)
    train_gpt(tokenizer_dir, shard_dir, tmp_path / "resumed", preset="tiny", batch_size=4, trainer=trainer2,
              ckpt_path=tmp_path / "ckpt" / "last.ckpt", module=dict(warmup_steps=1))
    assert trainer2.global_step == 4  # continued from step 2, not restarted


def test_train_gpt_on_the_fly_encodes_with_frozen_tokenizer(tmp_path, tokenizer_dir, tokenizer, train_set):
    trainer = L.Trainer(fast_dev_run=True, precision="bf16-mixed", **QUIET)  # autocast as on a GPU
    model = train_gpt(tokenizer_dir, train_set, tmp_path, val_data=ShapesDataset("val", 4, FRAMES, SIZE),
                      preset="tiny", batch_size=4, trainer=trainer)
    module = trainer.lightning_module
    assert module.tokenizer is not None and not module.tokenizer.training
    assert all(not p.requires_grad for p in module.tokenizer.parameters())
    assert not any(k.startswith("_frozen") or "encoder" in k for k in module.state_dict())
    assert "val/loss" in trainer.callback_metrics
    assert (tmp_path / "gpt" / "vidgpt.json").is_file()

    videos = torch.stack([train_set[i]["video"] for i in range(2)])
    codes = module.batch_codes({"video": videos})
    assert torch.equal(codes, tokenizer.encode(videos))
    with torch.autocast("cpu", dtype=torch.bfloat16):  # the Trainer's precision must not change the codes
        assert torch.equal(encode_frozen(module.tokenizer, videos), codes)
    assert model is module.model


def test_module_rejects_a_tokenizer_with_other_weights(prompt, tokenizer):
    ident = {"codebook_size": K, "grid": list(GRID), "frames": FRAMES, "height": SIZE, "width": SIZE,
             "factors": None, "fingerprint": tokenizer_fingerprint(tokenizer)}
    torch.manual_seed(0)
    model = VidGPT.build(prompt, GRID, K, prompt_length=12, preset="tiny", tokenizer=ident)
    GPTModule(model, tokenizer)
    torch.manual_seed(1)
    other = VideoTokenizer(TokenizerConfig(channels=[8, 8], blocks=1, pixel_channels=[8], codebook_size=K))
    with pytest.raises(ValueError, match="tokenizer mismatch.*other weights"):
        GPTModule(model, other)


def test_video_batch_without_tokenizer_is_a_clear_error(prompt):
    module = GPTModule(tiny_model(prompt))
    with pytest.raises(ValueError, match="no tokenizer"):
        module.batch_codes({"video": torch.zeros(1, 3, FRAMES, SIZE, SIZE)})
    with pytest.raises(ValueError, match="prompt_dropout"):
        GPTModule(tiny_model(prompt), prompt_dropout=1.5)


def test_schedule_minutes_runs_the_cosine_over_training_time_and_is_checkpointed(prompt):
    module = GPTModule(tiny_model(prompt), lr=1e-3, warmup_steps=2, min_lr_ratio=0.0, schedule_minutes=10)
    conf = module.configure_optimizers()
    opt, sched = conf["optimizer"], conf["lr_scheduler"]["scheduler"]
    opt.step(), sched.step(), opt.step(), sched.step()  # past the warm-up; no time has passed yet
    assert opt.param_groups[0]["lr"] == pytest.approx(1e-3)
    module.train_seconds = 5 * 60  # half the budget: the cosine is at its middle whatever the step count
    opt.step(), sched.step()
    assert opt.param_groups[0]["lr"] == pytest.approx(5e-4, rel=1e-3)
    module.train_seconds = 11 * 60
    opt.step(), sched.step()
    assert opt.param_groups[0]["lr"] == pytest.approx(0.0, abs=1e-9)
    ckpt: dict = {}
    module.on_save_checkpoint(ckpt)
    resumed = GPTModule(tiny_model(prompt), schedule_minutes=10)
    resumed.on_load_checkpoint(ckpt)
    assert resumed.train_seconds == 11 * 60
    with pytest.raises(ValueError, match="schedule_minutes must be > 0"):
        GPTModule(tiny_model(prompt), schedule_minutes=0)


def test_snapshots_keep_every_periodic_export_with_its_step(tmp_path, tokenizer_dir, shard_dir):
    trainer = L.Trainer(max_steps=4, enable_checkpointing=False, **QUIET)
    model = train_gpt(tokenizer_dir, shard_dir, tmp_path, preset="tiny", batch_size=4, trainer=trainer,
                      module=dict(warmup_steps=1), export_every_n_steps=2, snapshots=True)
    snaps = sorted((tmp_path / "snapshots").iterdir())
    assert [p.name for p in snaps] == ["step00000002", "step00000004"]
    meta = json.loads((snaps[1] / "snapshot.json").read_text())
    assert meta["step"] == 4 and meta["train_minutes"] >= 0
    last = VidGPT.from_pretrained(snaps[1])
    for name, p in model.state_dict().items():
        assert torch.equal(p, last.state_dict()[name]), name
    first = VidGPT.from_pretrained(snaps[0])
    assert any(not torch.equal(p, first.state_dict()[n]) for n, p in model.state_dict().items())


# ---------------------------------------------------------------- prompt-change clips
def test_switch_clips_change_caption_at_a_latent_frame_start_and_are_deterministic():
    from vidtok.data.convert import to_tensor
    from vidtok.shapes.world import ShapesAttributes, render_switch_clip, sample_clip

    ds = ShapesDataset("train", length=200, frames=17, size=32, switch_share=0.5)
    items = [ds[i] for i in range(200)]
    switched = [it for it in items if it["switch"]]
    assert 70 < len(switched) < 130  # about the share asked for
    assert {it["switch"] for it in switched} == {1, 5, 9, 13}
    for it in switched[:5]:
        _, first, centre = sample_clip("train", it["index"], 17, 32)
        assert it["caption_before"] == first.caption
        want = render_switch_clip(first, ShapesAttributes.from_caption(it["caption"]), it["switch"], centre, 17, 32)
        assert torch.equal(it["video"], to_tensor(want))
    plain = [it for it in items if not it["switch"]]
    assert all(it["caption"] == it["caption_before"] for it in plain)
    assert torch.equal(ds[7]["video"], ds[7]["video"]) and ds[7]["caption"] == ds[7]["caption"]
    assert "switch" not in ShapesDataset("train", length=2, frames=17, size=32)[0]  # plain datasets as before
    with pytest.raises(ValueError, match="switch_share"):
        ShapesDataset("train", switch_share=1.5)


def test_the_loss_of_a_switch_clip_counts_from_its_change_on(prompt, tokenizer):
    model = tiny_model(prompt)
    module = GPTModule(model, tokenizer)
    ds = ShapesDataset("train", length=40, frames=FRAMES, size=SIZE, switch_share=1.0)
    items = [ds[i] for i in range(4)]
    b = GPTCollate(prompt, 12)(items)
    assert b["switch"].tolist() == [1] * 4  # 5 frames: the only latent-frame start after frame 0
    codes = module.batch_codes(b)
    counted = module.counted_codes(b, codes)
    per_frame = GRID[1] * GRID[2]
    assert counted.shape == (4, GRID[0] * per_frame)
    assert not counted[:, :per_frame].any() and counted[:, per_frame:].all()
    loss, _ = module.loss_and_accuracy(b["prompt_ids"], codes, counted=counted)
    logits = model(b["prompt_ids"], codes)
    targets = model.flat_codes(codes)
    want = F.cross_entropy(logits[:, per_frame:].flatten(0, 1), targets[:, per_frame:].flatten())
    assert loss.item() == pytest.approx(want.item(), rel=1e-5)
    plain = GPTCollate(prompt, 12)([dict(it, switch=0) for it in items])
    assert module.counted_codes(plain, codes) is None  # no change in the batch: every code counts


def test_train_gpt_runs_on_switch_clips(tmp_path, tokenizer_dir):
    trainer = L.Trainer(fast_dev_run=True, **QUIET)
    switch = ShapesDataset("train", length=8, frames=FRAMES, size=SIZE, switch_share=1.0)
    train_gpt(tokenizer_dir, switch, tmp_path, val_data=ShapesDataset("val", 4, FRAMES, SIZE), preset="tiny",
              batch_size=4, trainer=trainer)
    assert math.isfinite(float(trainer.callback_metrics["train/loss"]))
