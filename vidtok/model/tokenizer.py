"""`VideoTokenizer`: causal 3D-conv encoder -> quantizer -> causal decoder.

Time: the video is front-padded with `temporal_factor - 1` copies of frame 0 and every group of
`temporal_factor` frames becomes one latent frame, so 1 + 4k frames -> 1 + k latent frames and latent
frame 0 sees frame 0 only (an image is a one-frame video). All later layers are causal in latent time.

Space: the encoder pixel-unshuffles by `patch` first, so its convs run at H/4 and H/8, never at full
resolution: this is what makes the tokenizer cheap enough to train on a CPU. The decoder mirrors it
down to H/patch, then (with `pixel_channels`) splits each latent frame into its frames and runs small
per-frame stages up to full resolution, where edges are drawn by convs shared over all pixels.

Frame counts that are not 1 + tf*k are padded at the end by repeating the last frame; `decode` then needs
`frames=` to trim back. Long videos are coded in chunks of latent frames with the causal conv context
carried across chunks (`layers.streaming`): memory is bounded by the chunk and the codes are the same as
in one pass, because nothing but those convs mixes frames.

Cuts: where the content changes at once (a prompt change mid-video, a scene cut), a causal decoder
carries the frames before into the first latent frame after it: trained on continuous clips, it blends
the old object into the new one there. A tokenizer may carry a second decoder for exactly that latent
frame (`cut_decoder`, in `cut_decoder.safetensors` beside the weights): a decoder fine-tuned on clips
with cuts. `decode(cuts=)` and `DecodeStream(cut=)` draw the latent frame after each cut with it and
every other latent frame with the decoder, so videos without cuts stay exactly what they were.
"""

from __future__ import annotations

import math
import operator
from collections.abc import Iterable
from pathlib import Path

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file
from torch import nn

from vidtok.model.config import TokenizerConfig
from vidtok.model.fingerprint import CUT_DECODER_PREFIX, DECODER_PREFIX
from vidtok.model.layers import (
    CausalConv3d,
    ChannelNorm,
    ResBlock,
    depth_to_space,
    depth_to_time,
    space_to_depth,
    streaming,
    time_to_depth,
)
from vidtok.model.quantizer import Quantizer
from vidtok.model.pretrained import resolve, shipped_names
from vidtok.io.atomic import atomic_folder

CONFIG_NAME = "config.json"
WEIGHTS_NAME = "model.safetensors"
CUT_DECODER_NAME = "cut_decoder.safetensors"  # the `decoder.*` weights of a decoder fine-tuned on cuts


class Encoder(nn.Module):
    """video (B, 3, T', H, W) with T' = 1 + tf*k (or tf*k when continuing a stream) -> latents (B, D, t, h, w)."""

    def __init__(self, cfg: TokenizerConfig, out_dim: int) -> None:
        super().__init__()
        self.cfg = cfg
        ch, kt = cfg.channels, cfg.temporal_kernel
        # 1x1: the unshuffled input already holds a 4x4x4 neighbourhood per position, and a 3x3 conv on
        # 192 channels would cost more than the rest of the encoder
        self.conv_in = CausalConv3d(3 * cfg.patch**2 * cfg.temporal_factor, ch[0], 1)
        self.levels = nn.ModuleList()
        for i, c in enumerate(ch):
            layers: list[nn.Module] = []
            if i > 0:
                layers.append(_Down(ch[i - 1], c))
            layers += [ResBlock(c, kt) for _ in range(cfg.blocks)]
            self.levels.append(nn.Sequential(*layers))
        self.norm_out = ChannelNorm(ch[-1])
        self.conv_out = CausalConv3d(ch[-1], out_dim, 1)
        if cfg.quantizer == "fsq":
            # default init gives |z| ~ 0.3, which FSQ's tanh bound maps to the middle 2-3 levels of each
            # dimension: training then starts on a few dozen codes and learns slowly. Spreading the initial
            # latents over the levels measured 50% codebook usage vs 10% after 460 steps.
            with torch.no_grad():
                self.conv_out.conv.weight.mul_(4.0)

    def forward(self, x: torch.Tensor, first: bool = True) -> torch.Tensor:
        tf = self.cfg.temporal_factor
        if first and tf > 1:
            x = torch.cat([x[:, :, :1].expand(-1, -1, tf - 1, -1, -1), x], dim=2)
        x = time_to_depth(space_to_depth(x, self.cfg.patch), tf)
        x = self.conv_in(x)
        for level in self.levels:
            x = level(x)
        return self.conv_out(nn.functional.silu(self.norm_out(x)))


class Decoder(nn.Module):
    """latents (B, D, t, h, w) -> video (B, 3, tf*t, H, W), or tf*t - (tf-1) frames with `first` (see `forward`)."""

    def __init__(self, cfg: TokenizerConfig, in_dim: int) -> None:
        super().__init__()
        self.cfg = cfg
        ch, kt, tf = cfg.channels, cfg.temporal_kernel, cfg.temporal_factor
        self.conv_in = CausalConv3d(in_dim, ch[-1], 3)
        self.levels = nn.ModuleList()
        for i in reversed(range(len(ch))):
            layers: list[nn.Module] = [ResBlock(ch[i], kt) for _ in range(cfg.blocks)]
            if i > 0:
                layers.append(_Up(ch[i], ch[i - 1]))
            self.levels.append(nn.Sequential(*layers))
        self.norm_out = ChannelNorm(ch[0])
        pix = cfg.pixel_channels
        if pix:
            # per-frame stages up to full resolution: a shared 3x3 conv at every pixel learns an edge once
            # for all positions, where a per-patch MLP must learn it for each of its outputs (measured:
            # frame 0 of the MLP-head tokenizer reconstructs at 29 dB, its edges a few pixels off)
            self.to_frames = CausalConv3d(ch[0], tf * pix[0], 1)
            self.pixel_levels = nn.ModuleList(
                nn.Sequential(_Up(c_in, c_out), ResBlock(c_out, 1)) for c_in, c_out in zip([pix[0]] + pix[:-1], pix)
            )
            self.pixel_norm = ChannelNorm(pix[-1])
            self.last_factor = cfg.patch >> len(pix)  # what the head's sub-pixel conv still has to double
            self.head = CausalConv3d(pix[-1], 3 * self.last_factor**2, 3)
        else:
            # a per-position MLP paints each patch x tf frames: a linear 1x1 head cannot draw sharp edges
            # at sub-patch offsets, and a 3x3 conv to 192 channels would dominate the cost
            hidden = cfg.head_channels or 4 * ch[0]
            self.head = nn.Sequential(
                CausalConv3d(ch[0], hidden, 1), nn.SiLU(), CausalConv3d(hidden, 3 * cfg.patch**2 * tf, 1)
            )
        for m in self.modules():
            if isinstance(m, CausalConv3d):
                m.circular = cfg.decoder_padding == "circular"

    def forward(self, z: torch.Tensor, first: bool = True) -> torch.Tensor:
        """With `first` (the start of a video), the tf-1 frames that stand for the encoder's front padding
        are dropped: 1 + tf*(t-1) frames come out. Without it (a later chunk of a stream), tf*t."""
        tf = self.cfg.temporal_factor
        x = self.conv_in(z)
        for level in self.levels:
            x = level(x)
        x = nn.functional.silu(self.norm_out(x))
        if not self.cfg.pixel_channels:
            x = depth_to_space(depth_to_time(self.head(x), tf), self.cfg.patch)
            return x[:, :, tf - 1:] if first else x
        x = depth_to_time(self.to_frames(x), tf)
        if first:
            x = x[:, :, tf - 1:]  # before the full-resolution stages: no compute on frames thrown away
        for level in self.pixel_levels:
            x = level(x)
        return depth_to_space(self.head(nn.functional.silu(self.pixel_norm(x))), self.last_factor)


class _Down(nn.Module):
    """Halve H and W: space-to-depth then a 1x1 conv (no information is thrown away before the conv)."""

    def __init__(self, c_in: int, c_out: int) -> None:
        super().__init__()
        self.conv = CausalConv3d(4 * c_in, c_out, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(space_to_depth(x, 2))


class _Up(nn.Module):
    """Double H and W: a 3x3 conv to 4x the channels then depth-to-space (sub-pixel conv)."""

    def __init__(self, c_in: int, c_out: int) -> None:
        super().__init__()
        self.conv = CausalConv3d(c_in, 4 * c_out, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return depth_to_space(self.conv(x), 2)


class VideoTokenizer(nn.Module):
    """Causal VQ video tokenizer: `encode` video -> integer codes, `decode` codes -> video.

    Videos are float (B, 3, T, H, W) in [-1, 1] with any T >= 1; H and W must be multiples of
    `spatial_factor` (a ValueError otherwise: resizing silently would change what the caller gets back).
    """

    default_chunk_latents = 16  # latent frames per chunk when coding long videos

    def __init__(self, cfg: TokenizerConfig | None = None) -> None:
        super().__init__()
        self.cfg = cfg = cfg or TokenizerConfig()
        self.quantizer = Quantizer(cfg)
        self.encoder = Encoder(cfg, self.quantizer.dim)
        self.decoder = Decoder(cfg, self.quantizer.dim)
        self.cut_decoder: Decoder | None = None  # see the module docstring, "Cuts"

    @property
    def codebook_size(self) -> int:
        return self.cfg.codebook_size

    def latent_shape(self, frames: int, height: int, width: int) -> tuple[int, int, int]:
        """(t, h, w) of the codes for a video of this size."""
        self._check_size(frames, height, width)
        s = self.cfg.spatial_factor
        return 1 + math.ceil((frames - 1) / self.cfg.temporal_factor), height // s, width // s

    def _check_size(self, frames: int, height: int, width: int) -> None:
        s = self.cfg.spatial_factor
        if frames < 1:
            raise ValueError(f"a video needs at least 1 frame, got {frames}")
        if height % s or width % s or height == 0 or width == 0:
            raise ValueError(
                f"height {height} and width {width} must be positive multiples of spatial_factor {s}; "
                "resize or crop the video first"
            )

    def _check_video(self, video: torch.Tensor) -> None:
        if not torch.is_tensor(video) or video.ndim != 5 or video.shape[1] != 3:
            shape = tuple(video.shape) if torch.is_tensor(video) else type(video).__name__
            raise ValueError(f"expected a float video shaped (B, 3, T, H, W) in [-1, 1], got {shape}")
        if not video.is_floating_point():
            raise ValueError(f"expected a float video in [-1, 1], got dtype {video.dtype} (use vidtok.data.convert.to_tensor)")
        self._check_size(*video.shape[2:])

    def _check_values(self, video: torch.Tensor) -> torch.Tensor:
        """The video in the weights' dtype, refused if it holds NaN/inf or lies outside [-1, 1] (0..255 pixels, say):
        either would give codes without an error."""
        largest = float(video.abs().amax())  # one reduction: NaN and inf come through it as themselves
        if not math.isfinite(largest):
            raise ValueError("expected a float video in [-1, 1], got NaN or infinite values")
        if largest > 1.001:
            raise ValueError(f"expected a float video in [-1, 1], got values in [{float(video.min()):g}, "
                             f"{float(video.max()):g}] (uint8 pixels: vidtok.data.convert.to_tensor)")
        return video.to(next(self.parameters()).dtype)

    def _pad_frames(self, video: torch.Tensor) -> torch.Tensor:
        """Repeat the last frame so that T = 1 + tf*k."""
        tf, t = self.cfg.temporal_factor, video.shape[2]
        extra = (-(t - 1)) % tf
        if extra:
            video = torch.cat([video, video[:, :, -1:].expand(-1, -1, extra, -1, -1)], dim=2)
        return video

    def _latents(self, video: torch.Tensor) -> torch.Tensor:
        return self.encoder(self._pad_frames(video))

    def forward(self, video: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        """Training pass: (reconstruction, codes, quantizer aux loss, pre-quantization latents)."""
        self._check_video(video)
        z = self._latents(video)
        zq, codes, aux = self.quantizer(z)
        recon = self._decode_latents(zq, video.shape[2])
        return recon, codes, aux, z

    def _decode_latents(self, zq: torch.Tensor, frames: int) -> torch.Tensor:
        return self.decoder(zq)[:, :, :frames]

    @torch.no_grad()
    def encode(self, video: torch.Tensor, chunk_latents: int | None = None) -> torch.Tensor:
        """float (B, 3, T, H, W) in [-1, 1] -> LongTensor (B, t, h, w), t = 1 + ceil((T-1)/temporal_factor)."""
        self._check_video(video)
        video = self._check_values(video)
        video = self._pad_frames(video)
        tf = self.cfg.temporal_factor
        n = chunk_latents or self.default_chunk_latents
        if video.shape[2] <= 1 + tf * (n - 1):
            return self.quantizer(self.encoder(video))[1]
        codes = []
        with streaming(self.encoder):
            bounds = [0, 1 + tf * (n - 1)]
            while bounds[-1] < video.shape[2]:
                bounds.append(bounds[-1] + tf * n)
            for i, (a, b) in enumerate(zip(bounds[:-1], bounds[1:])):
                codes.append(self.quantizer(self.encoder(video[:, :, a:b], first=i == 0))[1])
        return torch.cat(codes, dim=1)

    @torch.no_grad()
    def decode(self, codes: torch.Tensor, frames: int | None = None, chunk_latents: int | None = None,
               cuts: Iterable[int] = ()) -> torch.Tensor:
        """LongTensor (B, t, h, w) -> float (B, 3, T, H, W); T = `frames` (default 1 + tf*(t-1)).
        cuts: latent frames that start after a cut (see the module docstring), drawn by the cut decoder
        where there is one."""
        self._check_codes(codes)
        tf, t = self.cfg.temporal_factor, codes.shape[1]
        full = 1 + tf * (t - 1)
        frames = full if frames is None else frames
        try:
            frames = operator.index(frames)  # an int, numpy's too; not 2.5
        except TypeError:
            raise ValueError(f"frames={frames!r}: expected an integer (or None: {full})") from None
        if not full - tf < frames <= full:
            raise ValueError(f"frames={frames} does not fit {t} latent frames (expected {max(1, full - tf + 1)}..{full})")
        n = chunk_latents or self.default_chunk_latents
        cuts = self._check_cuts(cuts, t)
        starts = sorted(set(range(0, t, n)) | cuts)  # a cut starts a chunk, which is where a stream takes one
        stream = self.decode_stream()
        return torch.cat([stream(codes[:, a:b], cut=a in cuts) for a, b in zip(starts, starts[1:] + [t])],
                         dim=2)[:, :, :frames]

    @staticmethod
    def _check_cuts(cuts: Iterable[int], latents: int) -> set[int]:
        try:
            out = {operator.index(k) for k in cuts}
        except TypeError:
            raise ValueError(f"cuts={cuts!r}: expected latent frame indices (integers)") from None
        bad = sorted(k for k in out if not 0 < k < latents)
        if bad:
            raise ValueError(f"cuts={bad}: a cut starts a latent frame after the first, 1..{latents - 1}")
        return out

    @property
    def cut_context(self) -> int:
        """Latent frames before a cut that the decoder's output at the cut depends on (its causal reach)."""
        return self.cfg.blocks * len(self.cfg.channels) * (self.cfg.temporal_kernel - 1)

    def attach_cut_decoder(self, state: dict[str, torch.Tensor], source: str = "cut decoder") -> None:
        """Use a decoder with this state (`decoder.*` keys, as a tokenizer's own state dict has them) for the
        latent frame after each cut; ValueError if it is not a decoder of this architecture."""
        decoder = Decoder(self.cfg, self.quantizer.dim)
        given = {k[len(DECODER_PREFIX):]: v for k, v in state.items() if k.startswith(DECODER_PREFIX)}
        detail = _state_mismatch(decoder.state_dict(), given)
        if detail:
            raise ValueError(f"{source} is not a decoder of this tokenizer ({detail})")
        decoder.load_state_dict(given)
        p = next(self.decoder.parameters())
        self.cut_decoder = decoder.to(device=p.device, dtype=p.dtype).eval()

    def decode_stream(self) -> "DecodeStream":
        """A decoder for codes that arrive a few latent frames at a time (see `DecodeStream`)."""
        return DecodeStream(self)

    def _check_codes(self, codes: torch.Tensor) -> None:
        if not torch.is_tensor(codes) or codes.ndim != 4:
            shape = tuple(codes.shape) if torch.is_tensor(codes) else type(codes).__name__
            raise ValueError(f"expected codes shaped (B, t, h, w), got {shape}")
        if codes.is_floating_point() or codes.dtype == torch.bool:
            raise ValueError(f"expected integer codes, got dtype {codes.dtype}")
        lo, hi = int(codes.min()), int(codes.max())
        if lo < 0 or hi >= self.codebook_size:
            raise ValueError(f"codes must lie in [0, {self.codebook_size}), got values in [{lo}, {hi}]")

    def encode_image(self, image: torch.Tensor) -> torch.Tensor:
        """float (B, 3, H, W) -> codes (B, h, w): the image coded as a one-frame video."""
        return self.encode(image.unsqueeze(2))[:, 0]

    def decode_image(self, codes: torch.Tensor) -> torch.Tensor:
        """codes (B, h, w) -> float (B, 3, H, W)."""
        return self.decode(codes.unsqueeze(1))[:, :, 0]

    def save_pretrained(self, directory: str | Path) -> Path:
        """Write config.json + model.safetensors as `directory`; that is all `from_pretrained` needs.

        Atomic: the folder is written beside `directory` and then replaces it whole (see `atomic_folder`).
        """
        directory = Path(directory)
        state = {k: v.detach().contiguous().cpu() for k, v in self.state_dict().items()}
        cut = {DECODER_PREFIX + k[len(CUT_DECODER_PREFIX):]: v for k, v in state.items()
               if k.startswith(CUT_DECODER_PREFIX)}
        with atomic_folder(directory, marker=CONFIG_NAME, durable=True) as tmp:
            self.cfg.save(tmp / CONFIG_NAME)
            save_file({k: v for k, v in state.items() if not k.startswith(CUT_DECODER_PREFIX)}, str(tmp / WEIGHTS_NAME),
                      metadata={"format": "pt"})
            if cut:
                save_file(cut, str(tmp / CUT_DECODER_NAME), metadata={"format": "pt"})
        return directory

    @classmethod
    def from_pretrained(cls, directory: str | Path, map_location: str | torch.device = "cpu") -> "VideoTokenizer":
        """Rebuild from `save_pretrained` output, or a shipped tokenizer by name (``"natural"``, see
        `vidtok.model.pretrained`); a config that does not match the weights is a ValueError."""
        if not isinstance(directory, (str, Path)):
            raise TypeError(f"directory={directory!r}: expected a tokenizer folder (str or Path) or a shipped name")
        directory = resolve(directory)
        weights = directory / WEIGHTS_NAME
        if not weights.is_file():
            inside = f" (a model folder: its tokenizer is {directory / 'tokenizer'})" if (
                directory / "tokenizer" / WEIGHTS_NAME).is_file() else ""
            if not inside and not directory.exists():
                inside = f" (shipped tokenizers load by name: {', '.join(shipped_names()) or 'none installed'})"
            raise FileNotFoundError(f"tokenizer weights not found: {weights}{inside}")
        model = cls(TokenizerConfig.load(directory / CONFIG_NAME))
        state = _load_weights(weights, map_location)
        detail = _state_mismatch(model.state_dict(), state)
        if detail:
            raise ValueError(f"{weights} does not match {directory / CONFIG_NAME}: {detail}")
        model.load_state_dict(state)
        cut = directory / CUT_DECODER_NAME
        if cut.is_file():
            model.attach_cut_decoder(_load_weights(cut, map_location), source=str(cut))
        return model.to(map_location).eval()


def _load_weights(path: Path, device: str | torch.device) -> dict[str, torch.Tensor]:
    try:
        return load_file(str(path), device=str(device))
    except SafetensorError as e:
        raise ValueError(f"{path} is not a readable safetensors file ({e}): it is corrupt or truncated") from None


def _state_mismatch(own: dict[str, torch.Tensor], state: dict[str, torch.Tensor]) -> str:
    """What keeps `state` from loading into a module whose state dict is `own` ("" when nothing)."""
    missing = sorted(set(own) - set(state))
    unexpected = sorted(set(state) - set(own))
    wrong = sorted(k for k in set(own) & set(state) if own[k].shape != state[k].shape)
    return "; ".join(f"{name}: {keys[:3]}{' ...' if len(keys) > 3 else ''}"
                     for name, keys in (("missing", missing), ("unexpected", unexpected), ("shape mismatch", wrong))
                     if keys)


class DecodeStream:
    """Decodes one video chunk by chunk as its codes arrive, e.g. a latent frame at a time while a GPT
    generates: the causal convs' context is carried from chunk to chunk, so the frames are those of one
    `decode` of all the codes (up to float rounding) and each chunk is decoded once. Re-decoding the
    codes so far for every new latent frame would cost (t + 1) / 2 times as much over t latent frames.

        stream = tokenizer.decode_stream()
        first = stream(codes[:, :1])  # (B, 3, 1, H, W): latent frame 0 is frame 0 alone
        more = stream(codes[:, 1:3])  # (B, 3, 2 * temporal_factor, H, W)
    """

    def __init__(self, tokenizer: VideoTokenizer) -> None:
        self.tokenizer = tokenizer
        self.latents = 0  # latent frames decoded so far
        self._context: list = []  # the decoder convs' context between chunks
        self._recent: torch.Tensor | None = None  # the last codes, what the cut decoder needs before a cut

    @torch.no_grad()
    def __call__(self, codes: torch.Tensor, cut: bool = False) -> torch.Tensor:
        """The next codes (B, n, h, w) -> float (B, 3, T, H, W): T = 1 + tf*(n-1) for the first chunk,
        tf*n after it. The last frames stand for the end padding when the video length is not 1 + tf*k:
        trim them as `decode(frames=)` does. cut: the chunk's first latent frame starts after a cut
        (module docstring, "Cuts"): where the tokenizer has a cut decoder, that one draws its frames."""
        tok = self.tokenizer
        tok._check_codes(codes)
        with streaming(tok.decoder, self._context):
            out = tok.decoder(tok.quantizer.lookup(codes), first=self.latents == 0)
        if cut and tok.cut_decoder is not None and self._recent is not None:
            # a plain pass over the cut frame's causal reach gives exactly what a pass over all codes would
            window = torch.cat([self._recent, codes[:, :1]], dim=1)
            drawn = tok.cut_decoder(tok.quantizer.lookup(window), first=self.latents == self._recent.shape[1])
            tf = tok.cfg.temporal_factor
            out = torch.cat([drawn[:, :, -tf:], out[:, :, tf:]], dim=2)
        if tok.cut_decoder is not None:
            keep = max(1, tok.cut_context)
            self._recent = codes[:, -keep:] if self._recent is None else torch.cat([self._recent, codes], 1)[:, -keep:]
        self.latents += codes.shape[1]
        return out
