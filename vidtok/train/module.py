"""`TokenizerModule`: the stage-1 training recipe around a `VideoTokenizer` (Lightning lives only here)."""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass

import lightning as L
import torch

from vidtok.eval.tokenizer_metrics import codebook_counts, codebook_usage, psnr, ssim
from vidtok.model import TokenizerConfig, VideoTokenizer
from vidtok.train.augment import crop_at, crop_positions
from vidtok.model.code_noise import corrupt_codes
from vidtok.train.discriminator import PatchDiscriminator3D
from vidtok.train.faults import check_finite_loss
from vidtok.train.lr_schedule import warmup_cosine
from vidtok.train.losses import hinge_d_loss, hinge_g_loss, reconstruction_loss, saliency, saliency_weights, spread_saliency


@dataclass
class TrainConfig:
    """Optimisation and loss settings of stage 1 (the network's own settings live in `TokenizerConfig`)."""

    lr: float = 2e-3
    min_lr_ratio: float = 0.05  # cosine decays to lr * min_lr_ratio
    warmup_steps: int = 50
    weight_decay: float = 0.01
    betas: tuple[float, float] = (0.9, 0.99)
    grad_clip: float = 1.0
    # The LR schedule runs over `max_steps`, or over `max_minutes` of wall clock when that is set: on a
    # shared CPU the step rate varies several-fold, and a step-based cosine cut short by a time limit
    # never anneals, which costs more than the schedule's irreproducibility.
    max_steps: int = 10_000
    max_minutes: float | None = None
    # L2 only by default: L1's sign gradient stalls on a "background everywhere" plateau on sparse
    # content (measured: 17 dB vs 29 dB after 150 steps on a 2-clip overfit), and PSNR is an L2 metric
    l1_weight: float = 0.0
    l1_start: int = 0  # generator steps before the L1 term joins (L2 alone gets past the plateau first)
    l2_weight: float = 1.0
    saliency: float = 8.0  # see losses.saliency_weights; 0 = plain per-pixel loss
    saliency_spread: int = 3  # px: the weight reaches this far around an object (see losses.spread_saliency)
    crop: int | None = 32  # train on salient crops of this side (see augment.crop_positions); None = full frames
    crop_uniform: float = 0.25  # share of crops placed uniformly instead of by saliency
    quantizer_weight: float = 1.0  # VQ commitment / LFQ and FSQ entropy losses
    adversarial_weight: float = 0.0  # > 0 turns on the 3D patch discriminator
    adversarial_start: int = 2000  # generator steps before the adversarial term is switched on
    disc_lr: float = 2e-4
    disc_channels: int = 32
    log_images_every: int = 1  # validation epochs between reconstruction image logs (0 = never)
    # train the decoder only: the encoder and quantizer stay as loaded, so the codes (and every GPT and
    # token shard made with them) stay valid while the videos drawn from them get better
    freeze_encoder: bool = False
    # up to this share of each clip's codes replaced before decoding (each clip draws its share uniformly,
    # so clean clips are still seen; half the replacements are codes from elsewhere in the batch), the
    # target staying the clean clip: a decoder that draws a sampler's stray codes without blobs
    code_noise: float = 0.0

    def __post_init__(self) -> None:
        if not 0 <= self.code_noise <= 1:
            raise ValueError(f"recipe.code_noise={self.code_noise}: must lie in [0, 1]")


class TokenizerModule(L.LightningModule):
    """Trains a `VideoTokenizer` on batches {"video": (B, 3, T, H, W) in [-1, 1], ...}.

    Logs train/val PSNR and SSIM, and at the end of every validation epoch the codebook usage
    (fraction of codes used at least once over the WHOLE validation set) and perplexity.
    """

    def __init__(self, model_cfg: TokenizerConfig | dict | None = None, train_cfg: TrainConfig | dict | None = None) -> None:
        super().__init__()
        model_cfg = TokenizerConfig.from_dict(model_cfg) if isinstance(model_cfg, dict) else (model_cfg or TokenizerConfig())
        train_cfg = TrainConfig(**train_cfg) if isinstance(train_cfg, dict) else (train_cfg or TrainConfig())
        self.save_hyperparameters({"model_cfg": model_cfg.to_dict(), "train_cfg": asdict(train_cfg)})
        self.model_cfg, self.train_cfg = model_cfg, train_cfg
        self.tokenizer = VideoTokenizer(model_cfg)
        for p in self._frozen().parameters():
            p.requires_grad_(False)
        self.disc = PatchDiscriminator3D(train_cfg.disc_channels) if train_cfg.adversarial_weight > 0 else None
        self.automatic_optimization = False
        self.register_buffer("code_counts", torch.zeros(model_cfg.codebook_size, dtype=torch.long), persistent=False)
        self.elapsed_s = 0.0  # training wall clock so far, checkpointed so a resumed time schedule continues
        self._t_last: float | None = None

    def _frozen(self) -> torch.nn.Module:
        """The parts that make the codes, when `freeze_encoder` holds them fixed (else an empty module)."""
        if not self.train_cfg.freeze_encoder:
            return torch.nn.ModuleList()
        return torch.nn.ModuleList([self.tokenizer.encoder, self.tokenizer.quantizer])

    # ----- schedule -----
    def lr_factor(self) -> float:
        """Linear warm-up then cosine to `min_lr_ratio`, over steps or over wall-clock minutes."""
        c = self.train_cfg
        if c.max_minutes:
            progress = self.elapsed_s / (60 * c.max_minutes)
        else:
            progress = self.global_step_gen / max(1, c.max_steps)
        return warmup_cosine(self.global_step_gen, max(1, c.warmup_steps), progress, c.min_lr_ratio)

    @property
    def global_step_gen(self) -> int:
        """Generator steps taken (Lightning's global_step counts every optimizer's steps)."""
        return self._gen_steps

    def on_train_start(self) -> None:
        self._t_last = time.monotonic()

    def on_save_checkpoint(self, checkpoint: dict) -> None:
        checkpoint["elapsed_s"] = self.elapsed_s
        checkpoint["gen_steps"] = self._gen_steps

    def on_load_checkpoint(self, checkpoint: dict) -> None:
        self.elapsed_s = float(checkpoint.get("elapsed_s", 0.0))
        self._gen_steps = int(checkpoint.get("gen_steps", 0))

    _gen_steps = 0

    def configure_optimizers(self):
        c = self.train_cfg
        decay, no_decay = [], []
        for name, p in self.tokenizer.named_parameters():
            if p.requires_grad:
                (decay if p.ndim > 1 else no_decay).append(p)
        opt = torch.optim.AdamW(
            [{"params": decay, "weight_decay": c.weight_decay}, {"params": no_decay, "weight_decay": 0.0}],
            lr=c.lr,
            betas=tuple(c.betas),
        )
        if self.disc is None:
            return opt
        d_opt = torch.optim.AdamW(self.disc.parameters(), lr=c.disc_lr, betas=(0.5, 0.9))
        return [opt, d_opt]

    # ----- steps -----
    def _video(self, batch) -> torch.Tensor:
        video = batch["video"] if isinstance(batch, dict) else batch
        if not torch.is_tensor(video) or video.ndim != 5:
            raise ValueError(f"expected batch['video'] shaped (B, 3, T, H, W), got {getattr(video, 'shape', type(video))}")
        return video

    def training_step(self, batch, batch_idx: int) -> torch.Tensor:
        c = self.train_cfg
        now = time.monotonic()
        if self._t_last is not None:
            self.elapsed_s += now - self._t_last
        self._t_last = now

        opts = self.optimizers()
        opt, d_opt = (opts if isinstance(opts, list) else (opts, None))
        if isinstance(opts, list) is False and self.disc is not None:
            opt, d_opt = opts
        factor = self.lr_factor()
        for g in opt.param_groups:
            g["lr"] = c.lr * factor

        video = self._video(batch)
        self._frozen().eval()  # Lightning sets train mode each epoch; a VQ codebook must not move either
        # of the whole clip: a crop filled by the object still knows its background
        sal = spread_saliency(saliency(video), c.saliency_spread)
        if c.crop and c.crop < min(video.shape[-2:]):
            where = crop_positions(sal, c.crop, c.crop_uniform)
            video, sal = crop_at(video, where, c.crop), crop_at(sal, where, c.crop)
        if c.code_noise > 0:
            recon, codes, aux, z = self._noisy_forward(video)
        else:
            recon, codes, aux, z = self.tokenizer(video)
        weights = saliency_weights(video, c.saliency, sal)
        l1 = c.l1_weight if self._gen_steps >= c.l1_start else 0.0
        rec = reconstruction_loss(recon, video, weights, l1, c.l2_weight)
        loss = rec + c.quantizer_weight * aux
        use_adv = self.disc is not None and self._gen_steps >= c.adversarial_start
        if use_adv:
            g_loss = hinge_g_loss(self.disc(recon))
            loss = loss + c.adversarial_weight * g_loss
            self.log("train/g_loss", g_loss)

        check_finite_loss(loss.detach(), "training loss", self._gen_steps, self.trainer.strategy)
        opt.zero_grad(set_to_none=True)
        self.manual_backward(loss)
        if c.grad_clip:
            self.clip_gradients(opt, gradient_clip_val=c.grad_clip, gradient_clip_algorithm="norm")
        opt.step()
        self._gen_steps += 1

        if use_adv:
            d_loss = hinge_d_loss(self.disc(video), self.disc(recon.detach()))
            check_finite_loss(d_loss.detach(), "discriminator loss", self._gen_steps - 1, self.trainer.strategy)
            d_opt.zero_grad(set_to_none=True)
            self.manual_backward(d_loss)
            d_opt.step()
            self.log("train/d_loss", d_loss)

        with torch.no_grad():
            train_psnr = psnr(video, recon.detach().clamp(-1, 1)).mean()
        if self._gen_steps % 100 == 0 and self.trainer.is_global_zero:
            print(
                f"step {self._gen_steps} {self.elapsed_s / 60:.1f} min lr {c.lr * factor:.2e} loss {loss.item():.4f} "
                f"train psnr {train_psnr.item():.2f} codes/batch {codes.unique().numel()}",
                flush=True,
            )
        self.log_dict(
            {
                "train/loss": loss.detach(),
                "train/rec": rec.detach(),
                "train/psnr": train_psnr,
                "train/codes_in_batch": float(codes.unique().numel()),
                "train/z_abs": z.detach().abs().mean(),
                "train/lr": c.lr * factor,
                "train/elapsed_min": self.elapsed_s / 60,
            },
            prog_bar=False,
        )
        return loss.detach()

    def _noisy_forward(self, video: torch.Tensor):
        """The tokenizer's training pass with a share of the codes replaced (`code_noise`) before decoding;
        replaced positions pass no gradient to the encoder."""
        tok = self.tokenizer
        tok._check_video(video)
        z = tok._latents(video)
        zq, codes, aux = tok.quantizer(z)
        share = self.train_cfg.code_noise * torch.rand(codes.shape[0], 1, 1, 1, device=codes.device)
        noisy = corrupt_codes(codes, share, tok.codebook_size, from_batch=0.5)
        zq = torch.where((noisy != codes)[:, None], tok.quantizer.lookup(noisy).to(zq.dtype), zq)
        return tok._decode_latents(zq, video.shape[2]), codes, aux, z

    def on_validation_epoch_start(self) -> None:
        self.code_counts.zero_()

    def validation_step(self, batch, batch_idx: int) -> None:
        video = self._video(batch)
        recon, codes, _, _ = self.tokenizer(video)
        recon = recon.clamp(-1, 1)
        self.code_counts += codebook_counts(codes, self.model_cfg.codebook_size).to(self.code_counts.device)
        self.log_dict({"val/psnr": psnr(video, recon).mean(), "val/ssim": ssim(video, recon).mean()},
                      batch_size=video.shape[0], sync_dist=True)
        if batch_idx == 0:
            self._log_images(video, recon)

    def on_validation_epoch_end(self) -> None:
        counts = self.code_counts
        if self.trainer.world_size > 1:
            counts = self.all_gather(counts).sum(0)
        if not int(counts.sum()):
            return
        usage = codebook_usage(counts.cpu())
        self.log("val/codebook_usage", usage["used_fraction"], rank_zero_only=True)
        self.log("val/perplexity", usage["perplexity"], rank_zero_only=True)
        if self.trainer.is_global_zero and not self.trainer.sanity_checking:
            m = self.trainer.callback_metrics
            print(
                f"val step {self._gen_steps} psnr {float(m.get('val/psnr', float('nan'))):.2f} "
                f"ssim {float(m.get('val/ssim', float('nan'))):.3f} usage {usage['used_fraction']:.3f}",
                flush=True,
            )

    def _log_images(self, video: torch.Tensor, recon: torch.Tensor) -> None:
        every = self.train_cfg.log_images_every
        logger = self.logger
        exp = getattr(logger, "experiment", None) if logger is not None else None
        if not every or exp is None or not hasattr(exp, "add_image"):
            return
        if self.current_epoch % every:
            return
        n = min(4, video.shape[0])
        # rows: clips, original above reconstruction; columns: frames
        rows = torch.cat([video[:n], recon[:n]], dim=3)  # (n, 3, T, 2H, W)
        grid = torch.cat(list(rows.unbind(2)), dim=-1)  # (n, 3, 2H, T*W)
        grid = torch.cat(list(grid.unbind(0)), dim=-2)  # (3, n*2H, T*W)
        exp.add_image("val/reconstruction", ((grid + 1) / 2).clamp(0, 1).cpu(), self.global_step)
