"""VideoGenerator: prompts in, codes and uint8 videos out.

    gen = VideoGenerator.from_pretrained("runs/gpt", tokenizer=VideoTokenizer.from_pretrained("runs/tok"))
    out = gen.generate(["a large blue triangle moves right slowly"], schedule="diagonal", window=2, seed=0)
    out.videos  # (B, T, H, W, 3) uint8

The stage-1 tokenizer is used only through its public API: `encode(float (B, 3, T, H, W)) -> (B, t, h, w)`,
`decode(codes, frames=T)`, `codebook_size`, `latent_shape(frames, H, W)`, and where it has one
`decode_stream()` (streaming then decodes each latent frame once; see vidtok.model.tokenizer.DecodeStream);
a tokenizer with a `cut_decoder` is also given the latent frames where a changed prompt took over (`cuts=`),
and a GPT with a change adapter (vidgpt/model/change_adapter.py) samples with it from the first such frame on.
Longer videos than the model was trained on are made with a sliding window over latent frames: the
prompt is kept and the last t - 1 latent frames are re-prefilled as the context of each new frame.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
import torch

from vidtok.data.convert import to_tensor, to_uint8
from vidtok.model import VideoTokenizer

from .sampler.bucketed import COMPILE_MODES, BucketedForward
from .sampler.forward import StaticForward
from .sampler.loop import sample_steps
from .sampler.schedules import Schedule, make_schedule
from .model.arguments import check_device, check_flag, check_int, check_prompts, is_int, refuse, shown
from .model.generation import MODEL, GenerationConfig
from .model.gpt import VidGPT
from .model.identity import check_trained_on


@dataclass
class Generation:
    codes: torch.Tensor  # (B, latent frames, h, w)
    videos: np.ndarray | None  # (B, T, H, W, 3) uint8; None when decode=False


@dataclass
class LatentFrame:
    """A streamed latent frame, yielded as soon as all its codes exist."""

    index: int
    codes: torch.Tensor  # (B, h, w)
    frames: np.ndarray | None  # (B, n, H, W, 3) uint8: the pixel frames this latent frame completes


class GenerationEnded(RuntimeError):
    """`GenerationStream.change_prompt` once every latent frame is made (or the stream stopped on an error)."""


class GenerationStream(Iterator[LatentFrame]):
    """The latent frames of a streaming generation, each as soon as it is complete, steerable while it runs:
    `change_prompt` takes effect from the next latent frame not yet yielded (from any thread)."""

    def __init__(self, frames: Iterator[LatentFrame], change: Callable[[str | Sequence[str]], int]) -> None:
        self._frames, self._change = frames, change
        self._ended = False

    def __iter__(self) -> "GenerationStream":
        return self

    def __next__(self) -> LatentFrame:
        if self._ended:
            raise StopIteration
        try:
            return next(self._frames)
        except BaseException:  # the last frame was made, or the sampling failed: nothing more will come
            self._ended = True
            raise

    def change_prompt(self, prompt: str | Sequence[str]) -> int:
        """Follow `prompt` (one for all videos, or one per video) from the next latent frame; returns its index.
        ValueError for a bad prompt; GenerationEnded (a RuntimeError) once the video is complete."""
        if self._ended:
            raise GenerationEnded("change_prompt: the generation has ended (every latent frame is made)")
        return self._change(prompt)


# The given frames generate() takes: (name, dims of one item), the batch dim B in front for one per prompt.
GIVEN = {"image": "H, W, 3", "video": "N, H, W, 3"}


def _as_batch(x: Any, name: str, batch: int) -> torch.Tensor:
    """A uint8 array/tensor shaped GIVEN[name] (one item, shared by all prompts) or with B in front (one per
    prompt); ValueError naming `name` for anything else (a file path: how to load it)."""
    dims = GIVEN[name]
    ndim = dims.count(",") + 1
    allowed = f"expected a uint8 array or tensor shaped ({dims}) or (B, {dims}), RGB"
    if isinstance(x, (str, bytes, os.PathLike)):
        load = "load_first_frames(path, size)" if name == "image" else "load_first_frames(path, size, frames=N)"
        raise refuse(name, x, f"{allowed}; read a file with vidgpt.samples.{load}")
    given = x
    if not isinstance(x, torch.Tensor):
        try:
            x = np.asarray(x)
        except (TypeError, ValueError):  # a ragged sequence, say
            raise refuse(name, given, allowed) from None
        if x.dtype != np.uint8 or x.ndim not in (ndim, ndim + 1) or x.shape[-1] != 3:
            raise refuse(name, x, allowed)
        x = torch.as_tensor(np.ascontiguousarray(x))  # a flipped view (BGR -> RGB) has negative strides
    if x.dtype != torch.uint8 or x.ndim not in (ndim, ndim + 1) or x.shape[-1] != 3:
        raise refuse(name, x, allowed)
    if name == "video" and x.shape[-4] == 0:
        raise refuse(name, given, "holds no frames (give at least one, or leave video out)")
    if x.ndim == ndim:
        x = x[None].expand(batch, *x.shape)
    if x.shape[0] != batch:
        raise ValueError(f"{name} has batch {x.shape[0]} but there are {batch} prompts")
    return x


# What `from_pretrained(dtype=)` accepts: the GPT's weights and KV cache (the tokenizer stays float32).
DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}


def gpt_dtype(dtype: str | torch.dtype) -> torch.dtype:
    """A torch dtype from its name in `DTYPES` (or the dtype itself); ValueError naming the choices."""
    if isinstance(dtype, torch.dtype) and dtype in DTYPES.values():
        return dtype
    if isinstance(dtype, str) and dtype in DTYPES:
        return DTYPES[dtype]
    raise ValueError(f"dtype={dtype!r}: choose one of {', '.join(DTYPES)}")


# A model folder: what stage 2 exports and `generate` loads.
MODEL_GPT, MODEL_TOKENIZER = "gpt", "tokenizer"
# The shipped model lives inside the package, so an installed command (and from_pretrained()) finds it.
SHIPPED_MODEL = Path(__file__).resolve().parent / "pretrained" / "shapes"


def gpt_folder(path: str | Path) -> Path:
    """The VidGPT folder of a model folder (its ``gpt/``), or `path` itself when it is one."""
    path = Path(path).expanduser()
    return path / MODEL_GPT if (path / MODEL_GPT).is_dir() else path


class VideoGenerator:
    """User-facing generation with a VidGPT and its stage-1 tokenizer."""

    def __init__(self, gpt: VidGPT, tokenizer: Any, check: bool = True, compile: str | None = None) -> None:
        if check:  # layout and, where the GPT recorded one, the weights' fingerprint
            check_trained_on(gpt, tokenizer)
        self.gpt = gpt.eval()
        self.tokenizer = tokenizer
        # compile: sampling steps padded to static shapes under torch.compile (vidgpt/sampler/bucketed.py),
        # for GPUs, where a small model's step is bound by kernel launches; None: the eager path
        self.forward = StaticForward(gpt) if compile is None else BucketedForward(gpt, compile)
        self._compile = compile
        self._change_forward: StaticForward | BucketedForward | None = None
        # An ablation, not a setting: False keeps a stand-in's cache entry after its real code is made
        # (vidgpt/sampler/plan.py); tools/diagonal_table.py measures what replacing them buys.
        self.replace_standins = True

    @classmethod
    def from_pretrained(cls, path: str | Path | None = None, tokenizer: Any = None, device: str | torch.device = "cpu",
                        dtype: str | torch.dtype = "float32", compile: str | None = None) -> "VideoGenerator":
        """Load a model folder (``gpt/`` + ``tokenizer/``, as stage 2 writes) or a VidGPT folder plus a tokenizer
        (a tokenizer object, or its folder or shipped name, loaded with `VideoTokenizer.from_pretrained`);
        no ``path``: the shipped Shapes model. device: cpu, cuda, cuda:N or mps (this machine's).

        dtype: the GPT's weights and KV cache ("float32", "bfloat16", "float16"): half precision halves
        their memory traffic, which is what a sampling step is bound by on a GPU; on CPUs without bf16
        units it is slower. Sampling runs in float32 either way. ValueError if the tokenizer is not the
        one the GPT was trained on.

        compile: None (eager), or a `torch.compile` mode ("reduce-overhead": CUDA graphs on a GPU) for the
        sampling steps, padded to a few static shapes; each shape compiles on first use (tools/bench_compile.py).
        """
        if not isinstance(compile, (str, type(None))) or compile not in COMPILE_MODES:
            raise refuse("compile", compile, f"expected one of {COMPILE_MODES}")
        dtype = gpt_dtype(dtype)
        if path is not None and not isinstance(path, (str, os.PathLike)):
            raise refuse("path", path, "expected a model folder (str or Path), or None for the shipped model", TypeError)
        if tokenizer is not None and not isinstance(tokenizer, (str, os.PathLike)) and not all(
                hasattr(tokenizer, a) for a in ("encode", "decode", "latent_shape")):
            raise refuse("tokenizer", tokenizer, "expected a tokenizer (a VideoTokenizer), its folder (str or Path) "
                         "or a shipped tokenizer's name, or None for the model folder's own", TypeError)
        device = check_device("device", device)
        path = SHIPPED_MODEL if path is None else Path(path).expanduser()
        if not path.is_dir():
            raise FileNotFoundError(f"model folder not found: {path}")
        if tokenizer is None:
            if not (path / MODEL_TOKENIZER).is_dir():
                raise FileNotFoundError(f"{path} has no {MODEL_TOKENIZER}/ folder: pass tokenizer= or a model folder")
            tokenizer = path / MODEL_TOKENIZER
        if isinstance(tokenizer, (str, os.PathLike)):
            tokenizer = VideoTokenizer.from_pretrained(tokenizer).to(device).eval()
        return cls(VidGPT.from_pretrained(gpt_folder(path), map_location=device).to(dtype), tokenizer, compile=compile)

    @property
    def dtype_name(self) -> str:
        """The GPT's dtype as `from_pretrained(dtype=)` names it, e.g. "float32" (recorded with samples)."""
        return str(self.gpt.dtype).removeprefix("torch.")

    @property
    def generation(self) -> GenerationConfig:
        """The model's own generation settings (its `generation.json`): what every option left out means."""
        return self.gpt.generation

    def settings(self, **given: Any) -> GenerationConfig:
        """The settings a call samples with: the model's, with those ``given`` (not `MODEL`) instead."""
        if given.get("cfg_scale", MODEL) is None:
            raise ValueError("cfg_scale=None: give a number (1 = no guidance), or leave it out for the model's own")
        return self.generation.merged(**given)

    # ------------------------------------------------------------------ geometry
    def _size(self, given: torch.Tensor | None) -> tuple[int, int]:
        ident = self.gpt.config.tokenizer or {}
        if "height" in ident:
            return int(ident["height"]), int(ident["width"])
        if given is not None:
            return int(given.shape[-3]), int(given.shape[-2])
        raise ValueError("this checkpoint records no video size (vidgpt.json 'tokenizer'); pass image= or video=")

    def _pixel_counts(self, frames: int, size: tuple[int, int]) -> list[int]:
        """counts[k] = pixel frames covered by the first k latent frames (the last one capped at `frames`)."""
        counts = [0]
        for n in range(1, frames + 1):
            k = int(self.tokenizer.latent_shape(n, *size)[0])
            counts += [n] * (k + 1 - len(counts))
            counts[k] = n
        return counts

    def _decode(self, codes: torch.Tensor, frames: int, cuts: set[int] = frozenset()) -> np.ndarray:
        """cuts: latent frames made under a changed prompt, for a tokenizer that draws them apart (its
        `cut_decoder`, vidtok.model.tokenizer "Cuts"); other tokenizers decode as if there were none."""
        with torch.no_grad():
            if cuts and getattr(self.tokenizer, "cut_decoder", None) is not None:
                return to_uint8(self.tokenizer.decode(codes, frames=frames, cuts=sorted(cuts)))
            return to_uint8(self.tokenizer.decode(codes, frames=frames))

    # ------------------------------------------------------------------ generation
    def generate(self, prompts: str | Sequence[str], frames: int | None = None, schedule: str = MODEL,
                 window: int = MODEL, frame_window: int | None = MODEL, first_window: int | None = MODEL,
                 cfg_scale: float = MODEL, later_cfg_scale: float | None = MODEL, temperature: float = MODEL,
                 top_k: int | None = MODEL, top_p: float | None = MODEL, seed: int | None = None,
                 image: Any = None, video: Any = None, changes: Mapping[int, str | Sequence[str]] | None = None,
                 stream: bool = False, decode: bool = True,
                 threads: int | None = None) -> Generation | GenerationStream:
        """Generate one video per prompt. An empty prompt ("") asks for an unconditional video: the null
        prompt of classifier-free guidance (the command line refuses a blank prompt instead).

        frames: pixel frames (default: the trained length). image (H, W, 3) / (B, H, W, 3) uint8: the
        first frame, encoded into the first latent frame. video (N, H, W, 3) / (B, N, H, W, 3) uint8:
        the first N frames, continued. changes: {pixel frame: prompt} (one prompt for all videos, or one
        per video), the prompt followed from that frame on; a frame that starts a latent frame (1, 5, 9, ...
        for a 4x temporal tokenizer). The codes before a change are those of the same call without it.
        stream: a `GenerationStream` of LatentFrame, each yielded as soon as complete, whose
        `change_prompt` steers the rest of the video. decode=False skips the tokenizer decoder (codes only). threads: torch CPU threads
        for the GPT steps (None: automatic, see vidgpt/sampler/threads.py).
        Sampling (schedule, window, frame_window, first_window, cfg_scale, later_cfg_scale, temperature, top_k,
        top_p; see `GenerationConfig`): an option left out is the model's own (`self.generation`, from its folder);
        cfg_scale alone sets the guidance of every code.
        seed: an integer in [0, 2**32) (as the command line takes), or None for a random video.
        Every argument is checked before any work: a bad one is a ValueError naming it, its value and what
        is allowed (an image or video file: read it with vidgpt.samples.load_first_frames).
        """
        s = self.settings(schedule=schedule, window=window, frame_window=frame_window, first_window=first_window,
                          cfg_scale=cfg_scale, later_cfg_scale=later_cfg_scale, temperature=temperature, top_k=top_k,
                          top_p=top_p)
        schedule, window, frame_window = s.schedule, s.window, s.frame_window  # checked above
        prompts = check_prompts("prompts", prompts)
        ident = self.gpt.config.tokenizer or {}
        trained = ident.get("frames")
        frames = check_int("frames", frames, minimum=1, optional=bool(trained),
                           note=f"None: the trained length, {trained}" if trained else "this checkpoint records no "
                           "trained length")
        seed = check_int("seed", seed, minimum=0, maximum=2**32 - 1, optional=True, note="None: a random video")
        threads = check_int("threads", threads, minimum=1, optional=True, note="None: automatic")
        stream, decode = check_flag("stream", stream), check_flag("decode", decode)
        if changes is not None and not isinstance(changes, Mapping):
            raise refuse("changes", changes, "expected a mapping {pixel frame: prompt}, e.g. {5: 'a red circle'}, "
                         "or None")
        if image is not None and video is not None:
            raise ValueError("pass image= or video=, not both")
        batch = len(prompts)
        given = None
        if image is not None:
            given = _as_batch(image, "image", batch)[:, None]
        elif video is not None:
            given = _as_batch(video, "video", batch)
        size = self._size(given)
        frames = frames if frames is not None else int(trained)
        t, h, w = self.gpt.config.grid
        latents, *latent_hw = (int(v) for v in self.tokenizer.latent_shape(frames, *size))
        if tuple(latent_hw) != (h, w):
            raise ValueError(f"{size[0]}x{size[1]} videos give a latent grid {tuple(latent_hw)}, "
                             f"the GPT was trained on {(h, w)}")
        if latents > t:
            warnings.warn(f"frames={frames} is longer than the model's {t} latent frames "
                          f"({ident.get('frames', '?')} frames): generating with a sliding window of {t} latent frames",
                          stacklevel=2)
        counts = self._pixel_counts(frames, size)
        self._check_given(given, size, frames, counts)
        latent_changes = {counts.index(f): self._prompt_ids(f"changes[{f!r}]", p, batch) for f, p in
                          self._check_changes(changes, counts, 0 if given is None else given.shape[1]).items()}
        schedule_for = partial(make_schedule, schedule, window=window, frame_window=frame_window,
                               first_window=s.first_window)
        schedule_for(1, h, w)  # a bad option fails here, before any work
        known = self._encode_given(given)
        device = self.gpt.device
        generator = None if seed is None else torch.Generator(device=device).manual_seed(seed)
        options = dict(
            prompt_ids=self.gpt.encode_prompts(prompts),
            null_prompt_ids=self.gpt.null_prompts(1) if s.guided else None, cfg_scale=s.cfg_scale,
            later_cfg_scale=s.later_cfg_scale, temperature=s.temperature, top_k=s.top_k, top_p=s.top_p,
            generator=generator,
            replace_standins=self.replace_standins, threads=threads,
        )
        cuts: set[int] = set()  # the latent frames where a changed prompt took over, filled as they are made
        latent_iter = self._latent_frames(latents, known, schedule_for, options, latent_changes, cuts)
        if stream:
            made = [0]  # latent frames yielded so far

            def change(prompt: str | Sequence[str]) -> int:
                if made[0] >= latents:
                    raise GenerationEnded(f"change_prompt: the generation has ended (all {latents} latent frames "
                                          "are made)")
                latent_changes[made[0]] = self._prompt_ids("prompt", prompt, batch)
                return made[0]

            def counted() -> Iterator[tuple[int, torch.Tensor]]:
                for f, frame_codes in latent_iter:
                    made[0] = f + 1
                    yield f, frame_codes
            return GenerationStream(self._stream(counted(), counts, decode, cuts), change)
        codes = torch.empty(batch, latents, h, w, dtype=torch.long, device=device)
        for f, frame_codes in latent_iter:
            codes[:, f] = frame_codes
        return Generation(codes, self._decode(codes, frames, cuts) if decode else None)

    @staticmethod
    def _check_given(given: torch.Tensor | None, size: tuple[int, int], frames: int, counts: list[int]) -> None:
        if given is None:
            return
        n = given.shape[1]
        if tuple(given.shape[2:4]) != size:
            raise ValueError(f"given frames are {given.shape[2]}x{given.shape[3]}, the model makes {size[0]}x{size[1]}")
        if n >= frames:
            raise ValueError(f"{n} given frames leave nothing to generate for frames={frames}")
        if n not in counts:
            raise ValueError(f"{n} given frames do not fill whole latent frames; use one of {counts[1:-1]}")

    def _encode_given(self, given: torch.Tensor | None) -> torch.Tensor | None:
        if given is None:
            return None
        x = torch.stack([to_tensor(v) for v in given.cpu().numpy()]).to(self.gpt.device)
        with torch.no_grad():
            return self.tokenizer.encode(x).to(self.gpt.device).long()

    def _prompt_ids(self, name: str, prompt: str | Sequence[str], batch: int) -> torch.Tensor:
        return self.gpt.encode_prompts(check_prompts(name, prompt, batch))

    @staticmethod
    def _check_changes(changes: Mapping[int, Any] | None, counts: list[int], given: int) -> dict[int, Any]:
        """{pixel frame: prompt}, each frame starting a latent frame after the given ones; ValueError naming it."""
        starts = counts[1:-1]
        for frame in changes or {}:
            if not is_int(frame) or frame not in starts:
                raise ValueError(f"changes: frame {shown(frame)} does not start a latent frame; use one of {starts}"
                                 + (f" (the video's pixel frames are 0..{counts[-1] - 1})" if is_int(frame)
                                    and frame >= counts[-1] else ""))
            if frame < given:
                raise ValueError(f"changes: frame {frame} is a given frame (the first {given} are given)")
        return {int(frame): prompt for frame, prompt in (changes or {}).items()}

    def _latent_frames(self, latents: int, known: torch.Tensor | None,
                       schedule_for: Callable[[int, int, int], Schedule], options: dict,
                       changes: dict[int, torch.Tensor], cuts: set[int]) -> Iterator[tuple[int, torch.Tensor]]:
        """Yield (latent frame index, codes (B, h, w)) in order, each as soon as it is complete;
        schedule_for(frames, h, w) gives each window's schedule.

        Windows: the first holds up to t latent frames, then each slides by one frame. `changes` ({latent
        frame: prompt ids}, read live: a stream adds to it while it runs) ends a window at its frame: the
        codes made so far are prefilled again under the new prompt, and the next window makes the rest
        (the codes of that frame already drawn, with diagonal overlap, are drawn again). Each latent frame
        from which a new prompt is followed is added to `cuts` before it is yielded."""
        t, h, w = self.gpt.config.grid
        prompt_ids = options.pop("prompt_ids")
        batch = prompt_ids.shape[0]
        codes = torch.empty(batch, latents, h, w, dtype=torch.long, device=self.gpt.device)
        t0 = 0 if known is None else known.shape[1]
        if known is not None:
            codes[:, :t0] = known
        for f in range(min(t0, latents)):
            yield f, codes[:, f]
        done, applied = t0, set()

        def pending() -> list[int]:
            return [k for k in list(changes) if k <= done and k not in applied]

        while done < latents:
            new = pending()
            if new:
                prompt_ids = changes[max(new)]
                applied.update(new)
                if done:  # a change before anything is made is just the prompt
                    cuts.add(done)
            lo = max(0, done - t + 1)
            hi = min(latents, lo + t)
            frames_in = hi - lo
            left = [h * w] * frames_in  # codes still missing per frame of this window
            for k in range(done - lo):
                left[k] = 0
            steps = sample_steps(self.gpt, prompt_ids, schedule_for(frames_in, h, w), known=codes[:, lo:done],
                                 latent_frames=frames_in, forward=self._forward_after(cuts), **options)
            flat = codes.view(batch, -1)[:, lo * h * w: hi * h * w]  # a view: writes land in `codes`
            changed = False
            for positions, new_codes in steps:
                flat[:, positions] = new_codes
                for p in positions:
                    left[p // (h * w)] -= 1
                while done < hi and left[done - lo] == 0 and not changed:
                    yield done, codes[:, done].clone()
                    done += 1
                    changed = done < latents and bool(pending())
                # a stream's change from another thread, made while frame `done` is being drawn, is for
                # that frame (what `change_prompt` returned): stop now and draw it again under the new prompt
                changed = changed or (done < latents and bool(pending()))
                if changed:
                    steps.close()
                    break

    def _forward_after(self, cuts: set[int]) -> StaticForward | BucketedForward:
        """The forward for a window: from a prompt change on, the GPT with its change adapter where it has one."""
        if not cuts or self.gpt.change_adapter is None:
            return self.forward
        if self._change_forward is None:
            self._change_forward = (StaticForward(self.gpt, adapted=True) if self._compile is None
                                    else BucketedForward(self.gpt, self._compile, adapted=True))
        return self._change_forward

    def _stream(self, latent_iter: Iterator[tuple[int, torch.Tensor]], counts: list[int],
                decode: bool, cuts: set[int]) -> Iterator[LatentFrame]:
        decoder = self._decode_stream(counts) if decode else None
        for f, frame_codes in latent_iter:
            yield LatentFrame(f, frame_codes, None if decoder is None else decoder(frame_codes, f in cuts))

    def _decode_stream(self, counts: list[int]) -> Callable[[torch.Tensor, bool], np.ndarray]:
        """(codes (B, h, w) of latent frame f, f = 0, 1, ... in turn; whether a new prompt took over at f)
        -> its pixel frames (B, n, H, W, 3) uint8. Decodes each latent frame once where the tokenizer has
        `decode_stream`, else (a duck-typed tokenizer with only `decode`) decodes all codes so far each time."""
        if hasattr(self.tokenizer, "decode_stream"):
            stream = self.tokenizer.decode_stream()
            lengths = iter([b - a for a, b in zip(counts, counts[1:])])  # pixel frames per latent frame
            cuts_drawn = getattr(self.tokenizer, "cut_decoder", None) is not None  # else a stream takes no cut=
            return lambda frame_codes, cut: to_uint8(
                stream(frame_codes[:, None], **({"cut": cut} if cuts_drawn else {}))[:, :, :next(lengths)])
        codes: list[torch.Tensor] = []

        def redecode(frame_codes: torch.Tensor, cut: bool) -> np.ndarray:
            codes.append(frame_codes)
            f = len(codes) - 1
            return self._decode(torch.stack(codes, dim=1), counts[f + 1])[:, counts[f]:]
        return redecode
