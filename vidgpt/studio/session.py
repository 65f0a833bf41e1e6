"""One studio generation as plain Python: check the request, stream the frames, steer, stop, save.

Kept apart from the page (`app.py`) so that it runs and is tested without a browser or Gradio.
"""

from __future__ import annotations

import threading
import time
import warnings
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from vidgpt.generator import GenerationEnded
from vidgpt.samples import MAX_PROMPT_CHARS, sample_stem
from vidtok.data.clips import resize_crop
from vidtok.io import write_video

PLAYBACK_FPS = 8  # what the Shapes clips are made for: "x playback" is frames made per second / 8
CONTINUOUS_FRAMES = 1 + 4 * 600  # continuous mode: up to 5 minutes at 8 fps, or until Stop


class StudioError(ValueError):
    """A request the studio refuses, with the message the page shows."""


def check_prompt(prompt: Any, what: str = "prompt") -> str:
    text = str(prompt or "").strip()
    if not text:
        raise StudioError(f"The {what} is empty: write what the video shows, e.g. \"a small red circle moves up quickly\".")
    if len(text) > MAX_PROMPT_CHARS:
        raise StudioError(f"The {what} has {len(text)} characters; at most {MAX_PROMPT_CHARS}.")
    return text


def check_image(image: Any) -> np.ndarray | None:
    """An uploaded first frame as uint8 (H, W, 3), or None; StudioError for anything that is no picture."""
    if image is None:
        return None
    array = np.asarray(image)
    if array.ndim == 2:
        array = np.repeat(array[..., None], 3, axis=2)
    if array.ndim != 3 or array.shape[2] not in (3, 4) or min(array.shape[:2]) < 8:
        raise StudioError("The upload is not a picture the studio can use (expected an RGB image).")
    if array.dtype != np.uint8:
        array = np.clip(array, 0, 255).astype(np.uint8)
    return array[..., :3]


@dataclass
class Readout:
    frames: int = 0
    tokens: int = 0
    seconds: float = 0.0

    def text(self) -> str:
        fps = self.frames / self.seconds if self.seconds else 0.0
        return (f"{self.frames} frames in {self.seconds:.1f} s: {fps:.1f} frames/s, "
                f"{fps / PLAYBACK_FPS:.2f}x playback, {self.tokens / max(self.seconds, 1e-9):.0f} tokens/s")


@dataclass
class Session:
    """One browser tab's generation: `run` streams it; `change_prompt` and `stop` act on it from elsewhere."""

    generator: Any
    out_dir: Path
    _stream: Any = None
    _stop: threading.Event = field(default_factory=threading.Event)
    changes: list[tuple[int, str]] = field(default_factory=list)

    def change_prompt(self, prompt: Any) -> str:
        text = check_prompt(prompt, "new prompt")
        if self._stream is None:
            raise StudioError("Nothing is playing: press Generate first.")
        try:
            latent = self._stream.change_prompt(text)
        except GenerationEnded:  # the last frame was made just now
            raise StudioError("The video is complete: press Generate to start another.") from None
        self.changes.append((latent, text))
        return f"From latent frame {latent} on: {text!r}"

    def stop(self) -> None:
        self._stop.set()

    def run(self, prompt: Any, frames: int, seed: int, continuous: bool = False, image: Any = None,
            **sampling: Any) -> Iterator[tuple[np.ndarray, str, list[str] | None]]:
        """Yield (pixel frame uint8 (H, W, 3), readout, None) per frame as it is made, then, once the video is
        complete or stopped, (last frame, readout, [mp4 path, gif path])."""
        prompt = check_prompt(prompt)
        first = check_image(image)
        gen = self.generator
        size = int((gen.gpt.config.tokenizer or {}).get("height", 64))
        if first is not None and first.shape[:2] != (size, size):
            first = resize_crop(first[None], size)[0]
        total = CONTINUOUS_FRAMES if continuous else int(frames)
        self._stop.clear()
        self.changes = []
        try:
            with warnings.catch_warnings():  # a long video is asked for: the sliding window is no surprise here
                warnings.filterwarnings("ignore", message=".*sliding window")
                self._stream = gen.generate(prompt, frames=total, seed=int(seed), image=first, stream=True,
                                            **sampling)
        except ValueError as e:
            raise StudioError(str(e)) from None
        made: list[np.ndarray] = []
        readout, t0 = Readout(), time.perf_counter()
        per_latent = int(np.prod(gen.gpt.config.grid[1:]))
        try:
            for latent in self._stream:
                readout.tokens += per_latent
                for frame in latent.frames[0]:
                    made.append(frame)
                    readout.frames, readout.seconds = len(made), time.perf_counter() - t0
                    yield frame, readout.text(), None
                if self._stop.is_set():
                    break
        finally:
            self._stream = None
        video = np.stack(made)
        stem = self.out_dir / sample_stem(0, prompt, int(seed))
        files = [str(write_video(stem.with_suffix(".mp4"), video)), str(write_video(stem.with_suffix(".gif"), video))]
        yield made[-1], readout.text() + (" (stopped)" if self._stop.is_set() else ""), files
