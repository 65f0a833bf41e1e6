"""vidgpt: a prompt-conditioned causal GPT over vidtok's video codes, with raster and diagonal sampling."""

from __future__ import annotations

from typing import Any

__all__ = ["VideoGenerator", "VidGPT"]


def __getattr__(name: str) -> Any:
    # imported on first use, so that `import vidgpt.cli.console` (every command's entry point) loads no torch
    if name == "VideoGenerator":
        from vidgpt.generator import VideoGenerator

        return VideoGenerator
    if name == "VidGPT":
        from vidgpt.model import VidGPT

        return VidGPT
    raise AttributeError(f"module 'vidgpt' has no attribute {name!r}")
