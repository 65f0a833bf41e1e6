"""vidtok: a causal 3D-conv VQ video tokenizer; the first frame is coded alone, so an image is a one-frame video."""

from __future__ import annotations

from typing import Any

__all__ = ["TokenizerConfig", "VideoTokenizer", "read_video", "write_video"]


def __getattr__(name: str) -> Any:
    # imported on first use, so that importing one submodule (vidtok.io for a video, say) loads no network
    if name in ("TokenizerConfig", "VideoTokenizer"):
        import vidtok.model

        return getattr(vidtok.model, name)
    if name in ("read_video", "write_video"):
        import vidtok.io

        return getattr(vidtok.io, name)
    raise AttributeError(f"module 'vidtok' has no attribute {name!r}")
