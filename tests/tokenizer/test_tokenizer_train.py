"""Stage-1 recipe: losses, salient crops, the LightningModule, train_tokenizer export/resume, DDP codebook sync."""

from __future__ import annotations

import math
import os
import socket

import pytest
import torch
from torch.utils.data import DataLoader, Dataset

from vidtok.model.fingerprint import _weights_hash, fingerprint_matches, tokenizer_fingerprint
from vidtok.model import TokenizerConfig, VideoTokenizer
from vidtok.model.code_noise import corrupt_codes
from vidtok.train.augment import crop_positions, salient_crop
from vidtok.train.fit import PeriodicCheckpoint, train_tokenizer
from vidtok.train.losses import reconstruction_loss, saliency, saliency_weights, spread_saliency
from vidtok.train.module import TokenizerModule, TrainConfig

TINY = TokenizerConfig(channels=[8, 16], blocks=1, pixel_channels=[8])


class Boxes(Dataset):
    """A red box on black at a per-index position: {"video": (3, 5, 32, 32)}."""

    def __init__(self, n: int = 8) -> None:
        self.n = n

    def __len__(self) -> int:
        return self.n

    def __getitem__(self, i: int) -> dict:
        v = torch.full((3, 5, 32, 32), -1.0)
        y, x = (7 * i) % 24, (5 * i) % 24
        v[0, :, y : y + 6, x : x + 6] = 0.8
        return {"video": v, "caption": "box"}


def test_saliency_weights_single_out_the_object() -> None:
    v = Boxes()[1]["video"][None]  # box at rows 7..12, columns 5..10
    w = saliency_weights(v, 8.0)
    assert w.shape == (1, 1, 5, 32, 32)
    assert torch.allclose(w[0, 0, :, 0, 0], torch.ones(5))  # background: weight 1
    assert torch.allclose(w[0, 0, :, 8, 6], torch.full((5,), 1 + 8 * 1.8))  # red box: 1 + 8 * |0.8 - (-1)|
    assert torch.equal(saliency_weights(v, 0.0), torch.ones_like(w))


def test_spread_saliency_weighs_both_sides_of_an_edge_alike() -> None:
    v = Boxes()[1]["video"][None]  # box at rows 7..12, columns 5..10
    w = saliency_weights(v, 8.0, spread_saliency(saliency(v), 3))
    box = 1 + 8 * 1.8
    # the band up to 3 px outside the box weighs as much as the box: a wrong pixel costs the same on
    # either side of the edge, so an uncertain edge is not pushed outward (dilated objects)
    assert torch.allclose(w[0, 0, :, 7 - 3 : 13 + 3, 5 - 3 : 11 + 3], torch.tensor(box))
    assert torch.allclose(w[0, 0, :, 7 - 4, 8], torch.ones(5))  # 4 px away: background again
    assert torch.allclose(w[0, 0, :, 8, 11 + 3], torch.ones(5))
    assert torch.equal(spread_saliency(saliency(v), 0), saliency(v))


def test_reconstruction_loss_weights_and_terms() -> None:
    x = torch.zeros(1, 3, 1, 2, 2)
    y = x.clone()
    y[..., 0, 0] = 0.5
    w = torch.ones(1, 1, 1, 2, 2)
    w[..., 0, 0] = 3.0
    assert reconstruction_loss(y, x, w, l1=1, l2=0).item() == pytest.approx(3 * 0.5 * 3 / 12)
    assert reconstruction_loss(y, x, w, l1=0, l2=1).item() == pytest.approx(3 * 0.25 * 3 / 12)


def test_salient_crop_keeps_the_object() -> None:
    v = torch.stack([Boxes()[i]["video"] for i in range(4)])
    g = torch.Generator().manual_seed(0)
    crops = salient_crop(v, 16, uniform=0.0, generator=g)
    assert crops.shape == (4, 3, 5, 16, 16)
    assert (crops[:, 0] > 0).flatten(1).any(1).all()  # every crop shows part of the red box
    assert torch.equal(salient_crop(v, 32), v)
    with pytest.raises(ValueError, match="crop size 40 exceeds"):
        salient_crop(v, 40)


def test_crop_positions_follow_the_saliency_mass() -> None:
    """Each window's mass (an integral image) equals the sum of its pixels: with one hot pixel, every
    crop holds it, and all 8 x 8 windows that hold it are drawn."""
    sal = torch.zeros(1, 1, 3, 32, 32)
    sal[..., 20, 25] = 1.0
    g = torch.Generator().manual_seed(0)
    seen = {crop_positions(sal, 8, uniform=0.0, generator=g)[0] for _ in range(400)}
    assert seen == {(y, x) for y in range(13, 21) for x in range(18, 25)}  # x + 8 <= 32 caps x at 24


def test_module_logs_codebook_usage_over_the_whole_val_set(tmp_path) -> None:
    import lightning as L

    torch.manual_seed(0)
    module = TokenizerModule(TINY, TrainConfig(crop=16, max_steps=2, warmup_steps=1))
    val = DataLoader(Boxes(6), batch_size=2)
    trainer = L.Trainer(
        max_steps=2, limit_val_batches=3, logger=False, enable_checkpointing=False, enable_progress_bar=False,
        default_root_dir=tmp_path, num_sanity_val_steps=0, val_check_interval=2,
    )
    trainer.fit(module, DataLoader(Boxes(4), batch_size=2), val)
    m = module.tokenizer.eval()
    codes = torch.cat([m.encode(b["video"]) for b in val]).flatten()
    counts = torch.bincount(codes, minlength=m.codebook_size)
    assert torch.equal(module.code_counts.cpu(), counts)  # accumulated across all 3 batches, not the last
    logged = trainer.callback_metrics
    assert logged["val/codebook_usage"].item() == pytest.approx((counts > 0).float().mean().item())
    p = counts[counts > 0].float() / counts.sum()
    assert logged["val/perplexity"].item() == pytest.approx(torch.exp(-(p * p.log()).sum()).item(), rel=1e-5)
    assert 5 < logged["val/psnr"].item() < 60 and -1 <= logged["val/ssim"].item() <= 1


def test_lr_schedule_warms_up_then_anneals() -> None:
    module = TokenizerModule(TINY, TrainConfig(lr=1e-3, warmup_steps=10, max_steps=100, min_lr_ratio=0.1))
    factors = []
    for step in (0, 9, 50, 100):
        module._gen_steps = step
        factors.append(module.lr_factor())
    assert factors[0] == pytest.approx(0.1 * (0.1 + 0.9 * 1.0), rel=1e-3)  # 1/10 of the way up
    assert factors[1] == pytest.approx(0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * 0.09)))
    assert factors[2] == pytest.approx(0.1 + 0.9 * 0.5)
    assert factors[3] == pytest.approx(0.1)
    timed = TokenizerModule(TINY, TrainConfig(warmup_steps=1, max_minutes=10, min_lr_ratio=0.0))
    timed._gen_steps, timed.elapsed_s = 5, 300.0  # half the time budget: half way down the cosine
    assert timed.lr_factor() == pytest.approx(0.5)


def test_train_tokenizer_exports_and_resumes(tmp_path) -> None:
    torch.manual_seed(0)
    cfg = TrainConfig(crop=None, max_steps=3, warmup_steps=1)
    kw = dict(trainer_kwargs={"limit_val_batches": 1, "log_every_n_steps": 1}, batch_size=2)
    tok = train_tokenizer(TINY, Boxes(8), Boxes(2), out_dir=tmp_path, train_cfg=cfg, **kw)
    export = tmp_path / "tokenizer"
    assert (export / "config.json").is_file() and (export / "model.safetensors").is_file()
    loaded = VideoTokenizer.from_pretrained(export)
    v = Boxes()[3]["video"][None]
    assert torch.equal(loaded.encode(v), tok.encode(v))
    last = tmp_path / "checkpoints" / "last.ckpt"
    assert last.is_file()
    ckpt = torch.load(last, map_location="cpu", weights_only=True)
    assert ckpt["gen_steps"] == 3
    cfg.max_steps = 5
    train_tokenizer(TINY, Boxes(8), Boxes(2), out_dir=tmp_path, train_cfg=cfg, resume="last", **kw)
    assert torch.load(last, map_location="cpu", weights_only=True)["gen_steps"] == 5
    with pytest.raises(FileNotFoundError, match="resume checkpoint not found"):
        train_tokenizer(TINY, Boxes(8), out_dir=tmp_path / "new", train_cfg=cfg, resume="last")


def test_decoder_fine_tune_keeps_the_codes_and_the_fingerprint(tmp_path) -> None:
    torch.manual_seed(0)
    start = VideoTokenizer(TINY).eval()
    start.attach_cut_decoder(VideoTokenizer(TINY).state_dict())  # a shipped tokenizer may carry one
    cfg = TrainConfig(crop=None, max_steps=3, warmup_steps=1, lr=1e-2, freeze_encoder=True)
    kw = dict(trainer_kwargs={"limit_val_batches": 1}, batch_size=2)
    tuned = train_tokenizer(TINY, Boxes(8), Boxes(2), out_dir=tmp_path, train_cfg=cfg, init_from=start, **kw)
    assert tuned.cut_decoder is None  # the run trains the decoder; the cut decoder is not carried along
    start.cut_decoder = None
    before, after = start.state_dict(), tuned.state_dict()
    moved = {k for k in before if not torch.equal(before[k], after[k])}
    assert moved and all(k.startswith("decoder.") for k in moved)  # only the decoder trained
    v = torch.stack([Boxes()[i]["video"] for i in range(3)])
    assert torch.equal(tuned.encode(v), start.encode(v))
    assert not torch.equal(tuned.decode(start.encode(v)), start.decode(start.encode(v)))
    # so a GPT trained on `start` still pairs with the tuned tokenizer, by today's fingerprint and by the
    # whole-weights one recorded before the decoder was left out
    old_style = _weights_hash(start, skip=())
    assert tokenizer_fingerprint(tuned) == tokenizer_fingerprint(start)
    assert fingerprint_matches(tuned, tokenizer_fingerprint(start))
    assert fingerprint_matches(start, old_style) and not fingerprint_matches(tuned, old_style)
    other = VideoTokenizer(TINY)
    assert not fingerprint_matches(other, tokenizer_fingerprint(start))


def test_corrupt_codes_per_clip_rates_and_codes_from_the_batch() -> None:
    g = torch.Generator().manual_seed(0)
    codes = torch.stack([torch.full((2, 4, 4), 7), torch.full((2, 4, 4), 9)])
    rate = torch.tensor([0.0, 1.0])[:, None, None, None]
    noisy = corrupt_codes(codes, rate, 1000, g)
    assert torch.equal(noisy[0], codes[0]) and (noisy[1] != 9).float().mean() > 0.9  # clip 0 clean, clip 1 replaced
    borrowed = corrupt_codes(codes, 1.0, 1000, g, from_batch=1.0)
    assert set(borrowed.unique().tolist()) <= {7, 9}  # plausible codes: all from the batch itself
    with pytest.raises(ValueError, match="must lie in"):
        corrupt_codes(codes, 1.5, 1000)


def test_decoder_trained_on_corrupted_codes_against_clean_clips() -> None:
    torch.manual_seed(0)
    start = VideoTokenizer(TINY).eval()
    module = TokenizerModule(TINY, TrainConfig(crop=None, max_steps=1, warmup_steps=1, freeze_encoder=True,
                                               code_noise=1.0))
    module.tokenizer.load_state_dict(start.state_dict())
    video = torch.stack([Boxes()[i]["video"] for i in range(2)])
    torch.manual_seed(1)
    recon, codes, _, _ = module._noisy_forward(video)
    assert torch.equal(codes, start.encode(video))  # the clean codes, for the usage figures
    assert not torch.allclose(recon, start(video)[0])  # but the decoder drew corrupted ones
    with pytest.raises(ValueError, match="recipe.code_noise=2"):
        TrainConfig(code_noise=2)


def test_decoder_fine_tune_needs_a_tokenizer_to_start_from(tmp_path) -> None:
    cfg = TrainConfig(crop=None, max_steps=1, freeze_encoder=True)
    with pytest.raises(ValueError, match="freeze_encoder=true .* init_from=<tokenizer folder>"):
        train_tokenizer(TINY, Boxes(8), out_dir=tmp_path, train_cfg=cfg)


def test_periodic_checkpoint_fires_on_wall_clock(tmp_path) -> None:
    saved: list[str] = []

    class FakeTrainer:
        def save_checkpoint(self, path: str, weights_only: bool | None = None) -> None:
            assert weights_only is False  # a full checkpoint, to resume from
            saved.append(path)

    PeriodicCheckpoint(tmp_path / "last.ckpt", minutes=10).on_train_batch_end(FakeTrainer(), None, None, None, 0)
    assert saved == []  # not yet due
    PeriodicCheckpoint(tmp_path / "last.ckpt", minutes=0).on_train_batch_end(FakeTrainer(), None, None, None, 0)
    assert saved == [str(tmp_path / "last.ckpt")]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _ddp_worker(rank: int, world: int, port: int, out: str) -> None:
    import torch.distributed as dist
    from torch.nn.parallel import DistributedDataParallel

    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    dist.init_process_group("gloo", rank=rank, world_size=world)
    torch.set_num_threads(1)
    torch.manual_seed(0)  # same init on both ranks, as DDP requires
    m = VideoTokenizer(TokenizerConfig(channels=[8, 16], blocks=1, pixel_channels=[8], quantizer="vq", codebook_size=16, latent_dim=4))
    ddp = DistributedDataParallel(m)
    opt = torch.optim.AdamW(ddp.parameters(), 1e-3)
    g = torch.Generator().manual_seed(100 + rank)  # different data per rank: unsynced EMA would diverge
    for _ in range(3):
        x = torch.rand(2, 3, 5, 16, 16, generator=g) * 2 - 1
        recon, _, aux, _ = ddp(x)
        loss = (recon - x).square().mean() + aux
        opt.zero_grad()
        loss.backward()
        opt.step()
    torch.save(m.quantizer.impl._codebook.embed.detach().clone(), f"{out}/embed{rank}.pt")
    dist.destroy_process_group()


@pytest.mark.slow  # two spawned processes: ~15 s alone, over a minute on a busy 2-core machine
def test_ddp_ranks_keep_the_same_vq_codebook(tmp_path) -> None:
    import torch.multiprocessing as mp

    mp.start_processes(_ddp_worker, args=(2, _free_port(), str(tmp_path)), nprocs=2, start_method="spawn")
    e0, e1 = torch.load(tmp_path / "embed0.pt"), torch.load(tmp_path / "embed1.pt")
    assert e0.abs().sum() > 0  # k-means init ran
    assert torch.allclose(e0, e1)
