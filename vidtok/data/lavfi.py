"""Real moving video with no download: ffmpeg's test sources (fractal zooms, cellular automata,
test cards, gradients, noise) rendered through ``av``'s lavfi input.

Each (source, variant) is a long stream whose options (seeds, rules, colours, zoom targets) are
drawn from the dataset seed; a clip is a window of one stream at an index-chosen offset.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Sequence

import av
import av.filter
import numpy as np
import torch
from torch.utils.data import Dataset

from vidtok.data.convert import to_tensor

# Interesting places to zoom into (x, y): seahorse valley, elephant valley, a mini-brot, spirals.
_MANDELBROT_POINTS = (
    (-0.743643887037158, -0.131825904205312),
    (0.2925, 0.0149),
    (-1.7497, 0.0),
    (-0.7453, 0.1127),
    (-0.16, 1.0405),
    (-0.10109636384562, 0.95628651080914),
)
_LIFE_RULES = ("B3/S23", "B36/S23", "B3678/S34678", "B368/S245")  # stay structured, neither die nor boil
_CELLAUTO_RULES = (22, 30, 45, 73, 105, 110, 126, 150)  # rules that neither die out nor freeze


def _colour(rng: np.random.Generator) -> str:
    return "#" + "".join(f"{int(c):02x}" for c in rng.integers(0, 256, 3))


def _cell(size: int, rng: np.random.Generator) -> int:
    """Cell size in pixels for grid automata: 16 to 32 cells across, so structure survives a tokenizer."""
    return max(1, size // int(rng.choice((16, 32))))


def _upscale(size: int) -> str:
    return f"scale={size}:{size}:flags=neighbor"


def _mandelbrot(size: int, fps: float, rng: np.random.Generator) -> str:
    x, y = _MANDELBROT_POINTS[rng.integers(len(_MANDELBROT_POINTS))]
    start = rng.uniform(0.5, 3.0)
    seconds = rng.uniform(10, 40)  # time to zoom 100x: sets the zoom speed
    return (
        f"mandelbrot=s={size}x{size}:r={fps}:maxiter=256:start_x={x}:start_y={y}"
        f":start_scale={start:.4f}:end_scale={start / 100:.6f}:end_pts={seconds:.2f}"
    )


def _life(size: int, fps: float, rng: np.random.Generator) -> str:
    cells = size // _cell(size, rng)
    return (
        f"life=s={cells}x{cells}:r={fps}:rule={_LIFE_RULES[rng.integers(len(_LIFE_RULES))]}"
        f":seed={rng.integers(2**31)}:ratio={rng.uniform(0.2, 0.5):.3f}:mold={rng.integers(0, 40)}"
        f":life_color={_colour(rng)}:death_color={_colour(rng)}:mold_color={_colour(rng)},{_upscale(size)}"
    )


def _testsrc2(size: int, fps: float, rng: np.random.Generator) -> str:
    # Rendered at twice the size and shrunk: at 64 px the native pattern is mostly aliasing.
    flip = ",hflip" if rng.integers(2) else ""
    return (
        f"testsrc2=s={2 * size}x{2 * size}:r={fps},scale={size}:{size}:flags=area,hue=h={rng.uniform(0, 360):.1f}{flip}"
    )


def _cellauto(size: int, fps: float, rng: np.random.Generator) -> str:
    cells = size // _cell(size, rng)
    negate = ",negate" if rng.integers(2) else ""
    return (
        f"cellauto=s={cells}x{cells}:r={fps}:rule={_CELLAUTO_RULES[rng.integers(len(_CELLAUTO_RULES))]}"
        f":seed={rng.integers(2**31)}:ratio={rng.uniform(0.2, 0.6):.3f}:start_full=1,{_upscale(size)}{negate}"
    )


def _gradients(size: int, fps: float, rng: np.random.Generator) -> str:
    kind = ("linear", "radial", "circular", "spiral", "square")[rng.integers(5)]
    n = int(rng.integers(2, 6))
    # Colours spelled out: left at their default "random", ffmpeg draws them from an unseeded source.
    colours = "".join(f":c{i}=0x{_colour(rng)[1:]}" for i in range(n))
    return (
        f"gradients=s={size}x{size}:r={fps}:seed={rng.integers(2**31)}:type={kind}"
        f":n={n}{colours}:speed={rng.uniform(0.03, 0.12):.3f}"
    )


def _sierpinski(size: int, fps: float, rng: np.random.Generator) -> str:
    kind = ("carpet", "triangle")[rng.integers(2)]
    return f"sierpinski=s={size}x{size}:r={fps}:seed={rng.integers(2**31)}:jump={rng.integers(1, 6)}:type={kind}"


def _perlin(size: int, fps: float, rng: np.random.Generator) -> str:
    scale = rng.uniform(0.5, 2.0)
    return (
        f"perlin=s={size}x{size}:r={fps}:random_mode=seed:random_seed={rng.integers(2**31)}"
        f":octaves={rng.integers(1, 5)}:xscale={scale:.3f}:yscale={scale:.3f}:tscale={rng.uniform(1, 4):.3f}"
    )


def _zoneplate(size: int, fps: float, rng: np.random.Generator) -> str:
    k = rng.uniform(40, 120) * size / 64
    motion = f"kt2={rng.uniform(1, 8):.2f}:kt={rng.uniform(-40, 40):.1f}"
    return f"zoneplate=s={size}x{size}:r={fps}:kx2={k:.1f}:ky2={k:.1f}:{motion}"


#: name -> builder(size, fps, rng) of a lavfi filtergraph description.
SOURCES: dict[str, Callable[[int, float, np.random.Generator], str]] = {
    "mandelbrot": _mandelbrot,
    "life": _life,
    "testsrc2": _testsrc2,
    "cellauto": _cellauto,
    "gradients": _gradients,
    "sierpinski": _sierpinski,
    "perlin": _perlin,
    "zoneplate": _zoneplate,
}
DEFAULT_SOURCES = ("mandelbrot", "life", "testsrc2", "cellauto", "gradients", "sierpinski", "perlin", "zoneplate")


def source_graph(source: str, size: int, fps: float = 8, variant: int = 0, seed: int = 0) -> str:
    """The lavfi filtergraph of one (source, variant): options drawn from (seed, source, variant)."""
    if source not in SOURCES:
        raise ValueError(f"unknown lavfi source {source!r}; known: {sorted(SOURCES)}")
    source_id = list(SOURCES).index(source)
    rng = np.random.default_rng([seed, source_id, variant])
    return SOURCES[source](size, fps, rng)


def render_source(
    source: str, frames: int, size: int = 64, fps: float = 8, variant: int = 0, seed: int = 0
) -> np.ndarray:
    """Render ``frames`` frames of a test source as uint8 (frames, size, size, 3)."""
    # Converting inside the graph lets each frame leave ffmpeg as rgb24, with no per-frame conversion in Python.
    graph = source_graph(source, size, fps, variant, seed) + ",format=rgb24"
    try:
        container = av.open(graph, format="lavfi")
    except av.error.FFmpegError as e:
        raise ValueError(f"ffmpeg cannot render lavfi source {source!r} ({graph}): {e}") from e
    out = np.empty((frames, size, size, 3), np.uint8)
    n = 0
    try:
        for frame in container.decode(container.streams.video[0]):
            out[n] = frame.to_ndarray()
            n += 1
            if n == frames:
                break
    finally:
        container.close()
    if n < frames:
        raise ValueError(f"lavfi source {source!r} ended after {n} of {frames} frames")
    return out


def available_sources() -> tuple[str, ...]:
    """The sources of SOURCES this ffmpeg build has (``perlin`` and ``zoneplate`` are recent)."""
    return tuple(name for name in SOURCES if name in av.filter.filters_available)


class LavfiDataset(Dataset):
    """Deterministic clips of ffmpeg test sources: {"video": float (3, T, H, W) in [-1, 1], "caption": source}.

    Item ``i`` picks, from ``default_rng([seed, i])``, a source, one of ``variants`` option sets of
    it and an offset into that variant's ``stream_frames``-frame stream. Streams are rendered on
    first use and kept in a per-process LRU cache of at most ``cache_mb`` MiB, so a clip usually
    costs a slice, not a render. Same (seed, index) -> same clip, in any process.

    ``sources=None`` takes every DEFAULT_SOURCES entry this ffmpeg build has (older builds, as in
    av < 13 wheels, lack ``perlin`` / ``zoneplate``); a source named explicitly must exist.
    """

    def __init__(
        self,
        sources: Sequence[str] | None = None,
        frames: int = 17,
        size: int = 64,
        length: int = 10000,
        seed: int = 0,
        fps: float = 8,
        variants: int = 16,
        stream_frames: int = 128,
        cache_mb: float = 256,
    ):
        have = available_sources()
        sources = tuple(s for s in DEFAULT_SOURCES if s in have) if sources is None else tuple(sources)
        if not sources:
            raise ValueError("LavfiDataset needs at least one source")
        for s in sources:
            if s not in SOURCES:
                raise ValueError(f"unknown lavfi source {s!r}; known: {sorted(SOURCES)}")
            if s not in have:
                raise ValueError(f"lavfi source {s!r} is not in this ffmpeg build; available: {list(have)}")
        for name, value in (("frames", frames), ("size", size), ("length", length), ("variants", variants)):
            if not (isinstance(value, int) and value >= 1):
                raise ValueError(f"{name} must be an int >= 1, got {value!r}")
        if stream_frames < frames:
            raise ValueError(f"stream_frames ({stream_frames}) must be >= frames ({frames})")
        self.sources, self.frames, self.size, self.length, self.seed = sources, frames, size, length, seed
        self.fps, self.variants, self.stream_frames, self.cache_mb = fps, variants, stream_frames, cache_mb
        self._cache: OrderedDict[tuple[str, int], np.ndarray] = OrderedDict()

    def __len__(self) -> int:
        return self.length

    def clip(self, index: int) -> tuple[np.ndarray, str]:
        """Item ``index`` as uint8 (T, H, W, 3) and its source name."""
        if not 0 <= index < self.length:
            raise IndexError(f"index {index} out of range for LavfiDataset of length {self.length}")
        rng = np.random.default_rng([self.seed, index])
        source = self.sources[int(rng.integers(len(self.sources)))]
        variant = int(rng.integers(self.variants))
        offset = int(rng.integers(self.stream_frames - self.frames + 1))
        return self._stream(source, variant)[offset : offset + self.frames].copy(), source

    def __getitem__(self, index: int) -> dict[str, torch.Tensor | str]:
        video, source = self.clip(index)
        return {"video": to_tensor(video), "caption": source}

    def _stream(self, source: str, variant: int) -> np.ndarray:
        key = (source, variant)
        if key in self._cache:
            self._cache.move_to_end(key)
            return self._cache[key]
        stream = render_source(source, self.stream_frames, self.size, self.fps, variant, self.seed)
        self._cache[key] = stream
        budget = self.cache_mb * 2**20
        while len(self._cache) > 1 and sum(s.nbytes for s in self._cache.values()) > budget:
            self._cache.popitem(last=False)
        return stream

    def __getstate__(self) -> dict:
        # Workers render their own streams: shipping a full cache to each would cost more than rendering.
        state = self.__dict__.copy()
        state["_cache"] = OrderedDict()
        return state
