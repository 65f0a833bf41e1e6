"""Write uint8 RGB videos (T, H, W, 3) to mp4, webm, gif, lossless mkv or a PNG-frame folder.

Every write is atomic: the data goes to a hidden temporary file in the target folder, renamed onto
the final name only when complete, so a crash never leaves a half-written file that looks whole.
"""

from __future__ import annotations

import math
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
from PIL import Image

from vidtok.io.atomic import atomic_file, atomic_folder
from vidtok.io.errors import VideoWriteError
from vidtok.io.frame_folder import write_frame_folder
from vidtok.io.rgb import as_rgb_video

#: suffix -> what it holds. A path without a suffix is a folder of PNG frames (lossless).
FORMATS = {
    ".mp4": "H.264 yuv420p, crf 18 (lossy; odd sizes padded to even)",
    ".webm": "VP9 yuv420p, crf 30 (lossy; VP8 if VP9 is missing)",
    ".gif": "GIF, a palette per frame, looping forever (lossy: 256 colours per frame)",
    ".mkv": "FFV1 bgr0 in Matroska (lossless: decodes to the exact RGB bytes)",
    "": "a folder of PNG frames 00000.png, 00001.png, ... (lossless)",
}
LOSSLESS_SUFFIX = ".mkv"

_ENCODERS = {
    ".mp4": ("mp4", ("libx264", "libopenh264"), "yuv420p", {"crf": "18", "preset": "fast"}),
    ".webm": (
        "webm",
        ("libvpx-vp9", "libvpx"),
        "yuv420p",
        {"crf": "30", "b": "0", "deadline": "good", "cpu-used": "4"},
    ),
    ".mkv": ("matroska", ("ffv1",), "bgr0", {}),
}


def write_video(path: str | Path, video: np.ndarray, fps: float = 8) -> Path:
    """Write ``video`` (uint8 (T, H, W, 3); (T, H, W) gray and (T, H, W, 4) also accepted) to ``path``.

    The suffix picks the format (see ``FORMATS``): ``.mp4`` H.264 yuv420p — odd widths/heights are
    padded to even by repeating the last column/row (yuv420p needs even sizes and players expect
    yuv420p), so the decoded mp4 is one pixel larger there; ``.webm`` VP9; ``.gif`` looping GIF with a
    per-frame palette (fps <= 50: GIF delays are whole centiseconds); ``.mkv`` lossless FFV1; no
    suffix: a folder of PNG frames (lossless). Missing parent folders are created. Returns the path.

    Raises ValueError for a bad array, fps or suffix; VideoWriteError when the folder is not writable.
    """
    p = Path(path).expanduser()
    v = as_rgb_video(video)
    if not (isinstance(fps, (int, float, Fraction)) and math.isfinite(fps) and fps > 0):
        raise ValueError(f"fps must be a positive number, got {fps!r}")
    rate = Fraction(fps).limit_denominator(10000)
    suffix = p.suffix.lower()
    if suffix == "" or p.is_dir():
        with atomic_folder(p) as tmp:
            write_frame_folder(tmp, v)
        return p
    if suffix == ".gif":
        if fps > 50:
            raise ValueError(f"GIF cannot show more than 50 fps (delays are whole centiseconds), got fps={fps}")
        with atomic_file(p) as tmp:
            try:
                written = _encode_gif(tmp, v, rate)
            except av.error.FFmpegError as e:
                raise VideoWriteError(p, f"GIF encoding failed ({e})") from e
            if written != len(v):
                raise VideoWriteError(p, f"the GIF palette filter returned {written} of {len(v)} frames")
        return p
    if suffix not in _ENCODERS:
        raise ValueError(f"unsupported video suffix {p.suffix!r} in {p}; use one of {sorted(FORMATS)}")
    container_format, codecs, pix_fmt, options = _ENCODERS[suffix]
    codec = next((c for c in codecs if c in av.codecs_available), None)
    if codec is None:
        raise VideoWriteError(p, f"this ffmpeg build has none of the encoders {codecs}")
    if pix_fmt == "yuv420p" and codec != "libvpx-vp9":
        v = _pad_to_even(v)
    with atomic_file(p) as tmp:
        try:
            _encode(tmp, v, rate, container_format, codec, pix_fmt, options)
        except av.error.FFmpegError as e:
            raise VideoWriteError(p, f"{codec} encoding failed ({e})") from e
    return p


def write_contact_sheet(
    path: str | Path, video: np.ndarray, columns: int | None = None, gap: int = 2, background: int = 255
) -> Path:
    """Write the frames of ``video`` as one PNG grid, left to right then top to bottom.

    ``video`` is uint8 (T, H, W, 3) or a batch (B, T, H, W, 3); each video of a batch starts on a new
    row, so originals and reconstructions stacked in a batch line up frame by frame. ``columns``
    defaults to T (one row per video). ``gap`` pixels of ``background`` grey separate the frames.
    """
    p = Path(path).expanduser()
    batch = np.asarray(video)
    if batch.ndim == 5:
        videos = [as_rgb_video(v) for v in batch]
    else:
        videos = [as_rgb_video(batch)]
    t, h, w, _ = videos[0].shape
    if any(v.shape != videos[0].shape for v in videos):
        raise ValueError("all videos of a contact sheet must have the same shape")
    columns = t if columns is None else columns
    if not (isinstance(columns, int) and columns >= 1):
        raise ValueError(f"columns must be an int >= 1, got {columns!r}")
    rows_per_video = -(-t // columns)
    rows = rows_per_video * len(videos)
    sheet = np.full((rows * (h + gap) - gap, columns * (w + gap) - gap, 3), background, np.uint8)
    for b, v in enumerate(videos):
        for i, frame in enumerate(v):
            r, c = b * rows_per_video + i // columns, i % columns
            sheet[r * (h + gap) : r * (h + gap) + h, c * (w + gap) : c * (w + gap) + w] = frame
    if p.suffix.lower() != ".png":
        raise ValueError(f"a contact sheet is a .png file, got {p}")
    with atomic_file(p) as tmp:
        Image.fromarray(sheet, "RGB").save(tmp, format="PNG")
    return p


def _pad_to_even(v: np.ndarray) -> np.ndarray:
    pad_h, pad_w = v.shape[1] % 2, v.shape[2] % 2
    if not (pad_h or pad_w):
        return v
    return np.pad(v, ((0, 0), (0, pad_h), (0, pad_w), (0, 0)), mode="edge")


def _frames(v: np.ndarray, rate: Fraction) -> list[av.VideoFrame]:
    out = []
    for i, array in enumerate(v):
        frame = av.VideoFrame.from_ndarray(array, format="rgb24")
        frame.pts, frame.time_base = i, 1 / rate
        out.append(frame)
    return out


def _encode(
    tmp: Path, v: np.ndarray, rate: Fraction, container_format: str, codec: str, pix_fmt: str, options: dict
) -> None:
    with av.open(str(tmp), mode="w", format=container_format) as container:
        stream = container.add_stream(codec, rate=rate)
        stream.width, stream.height, stream.pix_fmt = v.shape[2], v.shape[1], pix_fmt
        stream.options = dict(options)
        for frame in _frames(v, rate):
            container.mux(stream.encode(frame))
        container.mux(stream.encode(None))


def _encode_gif(tmp: Path, v: np.ndarray, rate: Fraction) -> int:
    """GIF through ffmpeg's palettegen/paletteuse: a 256-colour palette fitted to each frame, no dithering
    (dithering looks better to the eye on gradients but costs fidelity at 64 px). Returns frames written."""
    _, h, w, _ = v.shape
    graph = av.filter.Graph()
    source = graph.add_buffer(width=w, height=h, format="rgb24", time_base=1 / rate)
    split = graph.add("split")
    palette = graph.add("palettegen", "stats_mode=single")
    use = graph.add("paletteuse", "new=1:dither=none")
    sink = graph.add("buffersink")
    source.link_to(split)
    split.link_to(palette, 0, 0)
    split.link_to(use, 1, 0)
    palette.link_to(use, 0, 1)
    use.link_to(sink)
    graph.configure()
    for frame in _frames(v, rate):
        graph.push(frame)
    graph.push(None)
    paletted = []
    while True:
        try:
            paletted.append(graph.pull())
        except (av.error.BlockingIOError, av.error.EOFError):
            break
    # The muxer's loop=0 writes the NETSCAPE2.0 block that makes players loop forever.
    with av.open(str(tmp), mode="w", format="gif", options={"loop": "0"}) as container:
        stream = container.add_stream("gif", rate=rate)
        stream.width, stream.height, stream.pix_fmt = w, h, "pal8"
        for frame in paletted:
            container.mux(stream.encode(frame))
        container.mux(stream.encode(None))
    return len(paletted)
