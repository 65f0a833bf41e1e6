"""vidgpt: a prompt-conditioned causal GPT over vidtok's video codes, with raster and diagonal decoding."""

from vidgpt.generator import VideoGenerator
from vidgpt.model import VidGPT

__all__ = ["VideoGenerator", "VidGPT"]
