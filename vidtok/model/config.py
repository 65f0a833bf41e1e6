"""`TokenizerConfig`: everything needed to rebuild a `VideoTokenizer` (saved as JSON next to its weights)."""

from __future__ import annotations

import dataclasses
import json
import math
from dataclasses import dataclass, field
from pathlib import Path

QUANTIZERS = ("fsq", "vq", "lfq")

# Keys added after tokenizers were first saved, with what a config.json without them means: `from_dict`
# fills them in, and `identity_dict` leaves them out at that value, so an older tokenizer keeps its
# fingerprint (the GPTs trained on it name it by that).
PADDINGS: tuple[str, ...] = ("zeros", "circular")
DECODER_KEYS: tuple[str, ...] = ("decoder_padding",)  # config of the decoder alone: outside the fingerprint
LEGACY_DEFAULTS: dict = {"pixel_channels": [], "fsq_entropy_weight": 0.0, "fsq_saturation_weight": 0.0}

# Level lists from the FSQ paper (Mentzer et al. 2023, table 1) keyed by the codebook size they give.
_FSQ_LEVELS = {
    64: [4, 4, 4],
    125: [5, 5, 5],
    240: [8, 6, 5],
    256: [8, 8, 4],
    625: [5, 5, 5, 5],
    1000: [8, 5, 5, 5],
    1024: [8, 8, 4, 4],
    4375: [7, 5, 5, 5, 5],
    4096: [8, 8, 8, 8],
    8000: [8, 8, 5, 5, 5],
    15360: [8, 8, 8, 6, 5],
    16384: [8, 8, 8, 8, 4],
    64000: [8, 8, 8, 5, 5, 5],
    65536: [8, 8, 8, 8, 4, 4],
    262144: [8, 8, 8, 8, 8, 8],
}


def fsq_levels_for(codebook_size: int) -> list[int]:
    """FSQ levels whose product is `codebook_size` (the paper's recommended lists, else a greedy factorisation).

    Raises ValueError when the size cannot be written as a product of levels in [3, 8].
    """
    if codebook_size in _FSQ_LEVELS:
        return list(_FSQ_LEVELS[codebook_size])
    levels, rest = [], codebook_size
    for level in (8, 7, 6, 5, 4, 3):
        while rest % level == 0 and rest > 1:
            levels.append(level)
            rest //= level
    if rest != 1 or not levels:
        raise ValueError(
            f"codebook_size={codebook_size} is not a product of FSQ levels in [3, 8]; "
            f"pick one of {sorted(_FSQ_LEVELS)} or set fsq_levels explicitly"
        )
    return sorted(levels, reverse=True)


@dataclass
class TokenizerConfig:
    """Architecture and quantizer of a causal video tokenizer.

    The default is the CPU preset (~1.5M parameters, 17x64x64 -> 5x8x8 codes from 1000 FSQ codes).
    `TokenizerConfig.gpu()` is a wider, deeper preset.
    """

    spatial_factor: int = 8  # H and W shrink by this much; a power of two >= `patch`
    temporal_factor: int = 4  # 1 + tf*k frames -> 1 + k latent frames; a power of two (1 = per-frame codes)
    patch: int = 4  # pixel-unshuffle factor applied first: the encoder's convs run at H/patch or below
    channels: list[int] = field(default_factory=lambda: [64, 128])  # width per resolution level
    blocks: int = 1  # residual blocks per level, in encoder and decoder
    head_channels: int | None = None  # hidden width of the decoder's per-position output MLP (None: 4*channels[0])
    # Decoder widths of per-frame stages above H/patch, one per doubling of the resolution (at most
    # log2(patch)); a sub-pixel conv paints the remaining factor. Empty: a per-position MLP paints each
    # patch x temporal_factor frames instead (cheaper, blurrier edges).
    pixel_channels: list[int] = field(default_factory=lambda: [32])
    temporal_kernel: int = 2  # causal kernel along latent time in the residual blocks (1 = no temporal mixing)
    quantizer: str = "fsq"
    codebook_size: int = 1000
    fsq_levels: list[int] | None = None  # overrides codebook_size for FSQ when set
    latent_dim: int = 8  # code vector size for VQ (LFQ uses log2(codebook_size))
    vq_decay: float = 0.99
    vq_dead_code_threshold: float = 2.0
    vq_commitment_weight: float = 0.25
    lfq_entropy_weight: float = 0.1
    # training-only FSQ losses (vidtok.model.quantizer): LFQ-style entropy (spreads the codes; 0.004 gave
    # 100% usage but -1.3 dB on Shapes) and a guard against dimensions stuck deep in FSQ's tanh (0.01, on by
    # default: Shapes usage 39% -> 84% and 34.7 -> 35.3 dB in the same hour, docs/tokenizer.md)
    fsq_entropy_weight: float = 0.0
    fsq_saturation_weight: float = 0.01
    # what the decoder's convs see past a frame's edge: "zeros", or "circular" (the opposite edge) for
    # content that wraps around, as the Shapes world's torus does: an object crossing an edge is then
    # drawn from the codes on both sides. The decoder only: the codes, and the fingerprint, stay the same.
    decoder_padding: str = "zeros"

    def __post_init__(self) -> None:
        if self.decoder_padding not in PADDINGS:
            raise ValueError(f"decoder_padding={self.decoder_padding!r}: expected one of {PADDINGS}")
        if self.quantizer not in QUANTIZERS:
            raise ValueError(f"quantizer={self.quantizer!r}: expected one of {QUANTIZERS}")
        for name in ("spatial_factor", "temporal_factor", "patch"):
            v = getattr(self, name)
            if v < 1 or v & (v - 1):
                raise ValueError(f"{name}={v}: expected a power of two >= 1")
        if self.spatial_factor < self.patch:
            raise ValueError(f"spatial_factor={self.spatial_factor} must be >= patch={self.patch}")
        downs = int(math.log2(self.spatial_factor // self.patch))
        if len(self.channels) != downs + 1:
            raise ValueError(
                f"channels={self.channels}: need {downs + 1} entries (one per level: patch {self.patch} then "
                f"{downs} stride-2 downsamplings to reach spatial_factor {self.spatial_factor})"
            )
        if len(self.pixel_channels) > int(math.log2(self.patch)):
            raise ValueError(
                f"pixel_channels={self.pixel_channels}: at most {int(math.log2(self.patch))} entries "
                f"(one per doubling from H/{self.patch} to full resolution)"
            )
        if self.quantizer == "fsq" and self.fsq_levels is None:
            self.fsq_levels = fsq_levels_for(self.codebook_size)
        if self.quantizer == "fsq":
            self.codebook_size = math.prod(self.fsq_levels)
        if self.quantizer == "lfq" and self.codebook_size & (self.codebook_size - 1):
            raise ValueError(f"codebook_size={self.codebook_size}: LFQ needs a power of two")

    @classmethod
    def gpu(cls, **overrides) -> "TokenizerConfig":
        """A bigger preset for accelerators: wider, deeper, 64k FSQ codes."""
        base = dict(channels=[128, 256], blocks=4, temporal_kernel=3, codebook_size=64000, pixel_channels=[64, 32])
        base.update(overrides)
        return cls(**base)

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    def identity_dict(self) -> dict:
        """`to_dict` without the keys that still hold their LEGACY_DEFAULTS value and without the decoder's
        own keys (what fingerprints hash: the decoder only draws the codes)."""
        return {k: v for k, v in self.to_dict().items()
                if k not in DECODER_KEYS and not (k in LEGACY_DEFAULTS and v == LEGACY_DEFAULTS[k])}

    @classmethod
    def from_dict(cls, d: dict, source: str = "TokenizerConfig") -> "TokenizerConfig":
        """`source` (e.g. the file read) names where a bad key came from."""
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = set(d) - known
        d = {**LEGACY_DEFAULTS, **d}
        if unknown:
            raise ValueError(f"{source}: unknown key(s) {sorted(unknown)}; known keys: {sorted(known)}")
        return cls(**d)

    def save(self, path: str | Path) -> None:
        Path(path).write_text(json.dumps(self.to_dict(), indent=2))

    @classmethod
    def load(cls, path: str | Path) -> "TokenizerConfig":
        path = Path(path)
        if not path.is_file():
            raise FileNotFoundError(f"tokenizer config not found: {path}")
        try:
            d = json.loads(path.read_text())
        except (json.JSONDecodeError, UnicodeDecodeError) as e:
            raise ValueError(f"{path}: not valid JSON ({e})") from None
        if not isinstance(d, dict):
            raise ValueError(f"{path}: expected a JSON object, got {type(d).__name__}")
        return cls.from_dict(d, source=str(path))
