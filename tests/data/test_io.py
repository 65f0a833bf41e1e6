"""vidtok.io: round trips per format, frame ranges, odd sizes, colour layouts, errors, atomic writes."""

from __future__ import annotations

import os
from pathlib import Path

import av
import numpy as np
import pytest
from PIL import Image

from vidtok.io import (
    VideoReadError,
    VideoWriteError,
    check_complete,
    read_video,
    video_info,
    write_contact_sheet,
    write_video,
)
from vidtok.io import read as read_module


def smooth_video(frames: int = 12, height: int = 32, width: int = 48) -> np.ndarray:
    """Slowly moving colour gradients: what a lossy codec should reproduce well."""
    t = np.arange(frames)[:, None, None]
    y = np.arange(height)[None, :, None]
    x = np.arange(width)[None, None, :]
    r = 128 + 90 * np.sin(0.15 * x + 0.3 * t) + 0 * y
    g = 128 + 90 * np.cos(0.12 * y - 0.2 * t) + 0 * x
    b = 60 + 2 * (x + y) + 3 * t
    return np.clip(np.stack([r, g, b], -1), 0, 255).astype(np.uint8)


def numbered_video(frames: int, height: int = 16, width: int = 16) -> np.ndarray:
    """Frame i has red level 4 * i: any frame read back can be identified."""
    v = np.zeros((frames, height, width, 3), np.uint8)
    v[..., 0] = (4 * np.arange(frames) % 256)[:, None, None]
    v[..., 1] = 100
    return v


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2)
    return float("inf") if mse == 0 else 10 * np.log10(255**2 / mse)


# ---------------------------------------------------------------- round trips


@pytest.mark.parametrize("name", ["v.mkv", "frames"])
def test_lossless_formats_round_trip_exactly(tmp_path: Path, name: str):
    video = np.random.default_rng(0).integers(0, 256, (6, 20, 28, 3), dtype=np.uint8)  # noise: no codec can cheat
    path = write_video(tmp_path / name, video, fps=8)
    back = read_video(path)
    assert back.dtype == np.uint8 and np.array_equal(back, video)


def test_frame_folder_layout(tmp_path: Path):
    video = numbered_video(12)
    write_video(tmp_path / "clip", video)
    names = sorted(os.listdir(tmp_path / "clip"))
    assert names == [f"{i:05d}.png" for i in range(12)]
    info = video_info(tmp_path / "clip")
    assert (info.frames, info.fps, info.width, info.height, info.exact) == (12, None, 16, 16, True)


def test_mp4_is_h264_yuv420p_and_psnr_above_35(tmp_path: Path):
    video = smooth_video()
    path = write_video(tmp_path / "v.mp4", video, fps=8)
    with av.open(str(path)) as c:
        s = c.streams.video[0]
        assert (s.codec_context.name, s.codec_context.pix_fmt) == ("h264", "yuv420p")
    back = read_video(path)
    assert back.shape == video.shape
    assert psnr(back, video) > 35


def test_webm_is_vp9_and_close(tmp_path: Path):
    video = smooth_video()
    path = write_video(tmp_path / "v.webm", video, fps=8)
    with av.open(str(path)) as c:
        assert c.streams.video[0].codec_context.name == "vp9"
    back = read_video(path)
    assert back.shape == video.shape and psnr(back, video) > 33


def test_gif_round_trip_close_and_loops(tmp_path: Path):
    video = smooth_video()
    path = write_video(tmp_path / "v.gif", video, fps=8)
    assert b"NETSCAPE2.0" in path.read_bytes()  # the looping block
    back = read_video(path)
    assert back.shape == video.shape
    assert psnr(back, video) > 28  # 256 colours per frame
    info = video_info(path)
    assert info.frames == 12 and info.fps == pytest.approx(8)


def test_video_info_counts_and_fps(tmp_path: Path):
    video = numbered_video(30)
    for name, exact in [("v.mp4", True), ("v.webm", False), ("v.mkv", False), ("v.gif", True)]:
        info = video_info(write_video(tmp_path / name, video, fps=12))
        assert (info.frames, info.fps, info.width, info.height) == (30, 12.0, 16, 16), name
        assert info.exact is exact, name
        assert check_complete(tmp_path / name, info) == 30


def test_write_overwrites_atomically_and_leaves_no_temp_files(tmp_path: Path):
    write_video(tmp_path / "v.mp4", numbered_video(4))
    write_video(tmp_path / "v.mp4", numbered_video(6))
    write_video(tmp_path / "clip", numbered_video(5))
    write_video(tmp_path / "clip", numbered_video(3))
    assert sorted(os.listdir(tmp_path)) == ["clip", "v.mp4"]
    assert len(read_video(tmp_path / "v.mp4")) == 6
    assert len(read_video(tmp_path / "clip")) == 3


def test_failed_write_leaves_nothing_behind(tmp_path: Path, monkeypatch):
    import vidtok.io.write as write_module

    def broken_encode(tmp, *args):
        Path(tmp).write_bytes(b"half a video")
        raise av.error.ExternalError(1, "disk on fire")

    monkeypatch.setattr(write_module, "_encode", broken_encode)
    with pytest.raises(VideoWriteError, match=r"v\.mp4.*disk on fire"):
        write_video(tmp_path / "v.mp4", numbered_video(4))
    assert os.listdir(tmp_path) == []


def test_contact_sheet_places_frames(tmp_path: Path):
    video = numbered_video(5, 8, 10)
    write_contact_sheet(tmp_path / "s.png", video, columns=2, gap=1)
    sheet = np.asarray(Image.open(tmp_path / "s.png"))
    assert sheet.shape == (3 * 8 + 2, 2 * 10 + 1, 3)
    assert np.array_equal(sheet[0:8, 11:21], video[1])  # row 0, column 1
    assert np.array_equal(sheet[18:26, 0:10], video[4])  # row 2, column 0
    assert np.all(sheet[18:26, 11:21] == 255)  # unused cell stays background

    batch = np.stack([video, 255 - video])  # a batch: one row per video
    write_contact_sheet(tmp_path / "b.png", batch, gap=0)
    sheet = np.asarray(Image.open(tmp_path / "b.png"))
    assert sheet.shape == (16, 50, 3) and np.array_equal(sheet[8:16, 20:30], 255 - video[2])


@pytest.mark.parametrize(
    "name,container,codec,pix_fmt", [("v.avi", "avi", "ffv1", "bgr0"), ("v.mov", "mov", "png", "rgb24")]
)
def test_reads_avi_and_mov(tmp_path: Path, name: str, container: str, codec: str, pix_fmt: str):
    video = np.random.default_rng(2).integers(0, 256, (7, 10, 14, 3), dtype=np.uint8)
    path = tmp_path / name
    with av.open(str(path), "w", format=container) as c:  # containers we read but do not write
        s = c.add_stream(codec, rate=8)
        s.width, s.height, s.pix_fmt = 14, 10, pix_fmt
        for f in video:
            c.mux(s.encode(av.VideoFrame.from_ndarray(f, format="rgb24")))
        c.mux(s.encode(None))
    assert np.array_equal(read_video(path), video)  # lossless codecs: exact
    info = video_info(path)
    assert (info.frames, info.fps, info.size, info.exact) == (7, 8.0, (10, 14), True)


# ---------------------------------------------------------------- frame ranges


@pytest.mark.parametrize("name", ["v.mkv", "v.mp4", "v.webm", "v.gif", "frames"])
def test_range_and_stride_equal_slicing(tmp_path: Path, name: str):
    path = write_video(tmp_path / name, numbered_video(60), fps=25)
    full = read_video(path)
    assert len(full) == 60
    for start, end, stride in [
        (0, None, 1),
        (5, 20, 3),
        (40, None, 2),
        (50, 51, 1),
        (59, 200, 1),
        (70, None, 1),
        (20, 37, 1),
    ]:
        part = read_video(path, start, end, stride)
        assert np.array_equal(part, full[start:end:stride]), (start, end, stride)
    assert read_video(path, 70).shape == (0, 16, 16, 3)


def short_gop_video(path: Path, video: np.ndarray) -> Path:
    """A keyframe every 8 frames and B-frames: a seek lands mid-file, frames come out reordered.

    H.264 in mp4; MPEG-4 part 2 in AVI, whose first frame shows at timestamp 1, not 0."""
    with av.open(str(path), "w") as c:
        s = c.add_stream("mpeg4" if path.suffix == ".avi" else "libx264", rate=25)
        s.width, s.height, s.pix_fmt = video.shape[2], video.shape[1], "yuv420p"
        s.options = {"g": "8", "bf": "2", "b": "4M"} if path.suffix == ".avi" else {"g": "8", "bf": "2", "crf": "10"}
        for f in video:
            c.mux(s.encode(av.VideoFrame.from_ndarray(f, format="rgb24")))
        c.mux(s.encode(None))
    return path


@pytest.mark.parametrize("name", ["v.mkv", "gop8.mp4", "gop8.avi"])
def test_seek_is_used_and_agrees_with_counting(tmp_path: Path, monkeypatch, name: str):
    video = numbered_video(80)
    if name.startswith("gop8"):
        path = short_gop_video(tmp_path / name, video)
    else:
        path = write_video(tmp_path / name, video, fps=25)  # FFV1: every frame a keyframe
    calls = []
    real = read_module._read_range
    monkeypatch.setattr(
        read_module, "_read_range", lambda *a, use_seek: calls.append(use_seek) or real(*a, use_seek=use_seek)
    )
    for start, end, stride in [(50, 60, 1), (17, 41, 3), (63, None, 1), (16, 21, 1), (19, 24, 1), (22, 27, 1)]:
        calls.clear()
        sought = read_video(path, start, end, stride)
        assert calls == [True]  # the seek path ran and did not fall back
        assert np.array_equal(sought, read_video(path, start, end, stride, seek=False))
        assert np.abs(sought[:, 0, 0, 0].astype(int) - 4 * np.arange(80)[start:end:stride] % 256).max() <= 3


def test_bad_ranges_are_value_errors(tmp_path: Path):
    path = write_video(tmp_path / "v.mkv", numbered_video(4))
    for kwargs in [dict(start=-1), dict(stride=0), dict(end=-2), dict(start=1.5)]:
        with pytest.raises(ValueError):
            read_video(path, **kwargs)


# ---------------------------------------------------------------- sizes and colour layouts


@pytest.mark.parametrize("name", ["v.mkv", "v.webm", "v.gif", "frames"])
def test_odd_sizes_are_kept(tmp_path: Path, name: str):
    video = smooth_video(6, 17, 23)
    back = read_video(write_video(tmp_path / name, video))
    assert back.shape == (6, 17, 23, 3)
    assert psnr(back, video) > 28


def test_mp4_pads_odd_sizes_to_even(tmp_path: Path):
    video = smooth_video(6, 17, 23)
    back = read_video(write_video(tmp_path / "v.mp4", video))
    assert back.shape == (6, 18, 24, 3)
    assert psnr(back[:, :17, :23], video) > 33
    assert psnr(back[:, 17, :23], video[:, 16]) > 30  # the pad repeats the last row


def test_writer_accepts_gray_and_rgba_arrays(tmp_path: Path):
    gray = smooth_video(3)[..., 1]
    assert np.array_equal(read_video(write_video(tmp_path / "g.mkv", gray)), np.repeat(gray[..., None], 3, -1))
    rgba = np.concatenate([smooth_video(3), np.full((3, 32, 48, 1), 7, np.uint8)], -1)
    assert np.array_equal(read_video(write_video(tmp_path / "a.mkv", rgba)), rgba[..., :3])


@pytest.mark.parametrize("mode", ["L", "LA", "RGBA", "P", "I;16"])
def test_png_frames_of_any_mode_read_as_rgb(tmp_path: Path, mode: str):
    folder = tmp_path / mode.replace(";", "")
    folder.mkdir()
    rgb = smooth_video(3, 9, 11)
    expected = []
    for i, frame in enumerate(rgb):
        image = Image.fromarray(frame)
        if mode == "I;16":
            level = frame[..., 0].astype(np.uint16) * 257  # 16-bit gray
            image = Image.fromarray(level)
            expected.append(np.repeat(frame[..., :1], 3, -1))
        else:
            image = image.convert(mode)
            expected.append(np.asarray(image.convert("RGB")))
        image.save(folder / f"{i:03d}.png")
    back = read_video(folder)
    assert back.dtype == np.uint8 and back.shape == (3, 9, 11, 3)
    assert np.array_equal(back, np.stack(expected))
    if mode in ("L", "I;16"):
        assert np.array_equal(back[..., 0], back[..., 2])


@pytest.mark.parametrize("pix_fmt", ["gray", "bgra", "yuv444p16le"])
def test_video_pixel_formats_read_as_rgb(tmp_path: Path, pix_fmt: str):
    video = smooth_video(4, 15, 21)
    path = tmp_path / "v.mkv"
    with av.open(str(path), "w") as c:
        s = c.add_stream("ffv1", rate=8)
        s.width, s.height, s.pix_fmt = 21, 15, pix_fmt
        for f in video:
            frame = av.VideoFrame.from_ndarray(
                np.concatenate([f, np.full((15, 21, 1), 9, np.uint8)], -1), format="rgba"
            )
            c.mux(s.encode(frame))
        c.mux(s.encode(None))
    back = read_video(path)
    assert back.dtype == np.uint8 and back.shape == (4, 15, 21, 3)
    if pix_fmt == "gray":
        assert np.array_equal(back[..., 0], back[..., 1])
    else:
        assert psnr(back, video) > 40  # exact up to yuv<->rgb rounding


# ---------------------------------------------------------------- bad input


def test_missing_path_names_it(tmp_path: Path):
    for fn in (read_video, video_info, check_complete):
        with pytest.raises(FileNotFoundError, match="nope.mp4"):
            fn(tmp_path / "nope.mp4")


def test_empty_folder_and_zero_byte_file(tmp_path: Path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(VideoReadError, match="no .png frames") as e:
        read_video(tmp_path / "empty")
    assert e.value.kind == "empty"
    (tmp_path / "zero.mp4").touch()
    with pytest.raises(VideoReadError, match=r"zero\.mp4.*0 bytes") as e:
        video_info(tmp_path / "zero.mp4")
    assert e.value.kind == "empty" and isinstance(e.value, ValueError)


def test_corrupt_bytes(tmp_path: Path):
    path = tmp_path / "junk.webm"
    path.write_bytes(np.random.default_rng(1).bytes(4000))
    with pytest.raises(VideoReadError, match=r"junk\.webm.*corrupt") as e:
        read_video(path)
    assert e.value.kind == "corrupt"
    frame_dir = tmp_path / "frames"
    frame_dir.mkdir()
    (frame_dir / "000.png").write_bytes(b"not a png")
    with pytest.raises(VideoReadError, match="000.png"):
        read_video(frame_dir)


def truncate(path: Path, fraction: float) -> Path:
    data = path.read_bytes()
    out = path.with_name("cut_" + path.name)
    out.write_bytes(data[: int(len(data) * fraction)])
    return out


def test_truncated_mp4_is_unreadable(tmp_path: Path):
    cut = truncate(write_video(tmp_path / "v.mp4", smooth_video(20)), 0.6)
    with pytest.raises(VideoReadError, match="cut_v.mp4"):
        read_video(cut)


def test_truncated_faststart_mp4_fails_while_decoding(tmp_path: Path):
    path = tmp_path / "fs.mp4"
    with av.open(str(path), "w", options={"movflags": "+faststart"}) as c:  # index first, as on the web
        s = c.add_stream("libx264", rate=8)
        s.width, s.height, s.pix_fmt = 48, 32, "yuv420p"
        for f in np.random.default_rng(0).integers(0, 256, (20, 32, 48, 3), dtype=np.uint8):
            c.mux(s.encode(av.VideoFrame.from_ndarray(f, format="rgb24")))
        c.mux(s.encode(None))
    cut = truncate(path, 0.7)
    assert video_info(cut).frames == 20  # the header still promises every frame
    with pytest.raises(VideoReadError, match="cut_fs.mp4"):
        read_video(cut)
    with pytest.raises(VideoReadError) as e:
        check_complete(cut)
    assert e.value.kind in ("truncated", "corrupt")


@pytest.mark.parametrize("name", ["v.webm", "v.mkv", "v.gif"])
def test_truncated_webm_mkv_gif_are_caught_by_check_complete(tmp_path: Path, name: str):
    cut = truncate(write_video(tmp_path / name, smooth_video(20)), 0.6)
    decoded = read_video(cut)  # decodes without complaint...
    assert 0 < len(decoded) < 20  # ...just shorter
    with pytest.raises(VideoReadError, match="cut_") as e:
        check_complete(cut)
    assert e.value.kind == "truncated"


def test_unwritable_destination_and_bad_arguments(tmp_path: Path):
    blocker = tmp_path / "file.txt"
    blocker.write_text("x")
    with pytest.raises(VideoWriteError, match=r"file\.txt/out\.mp4.*cannot be created"):
        write_video(blocker / "out.mp4", numbered_video(2))
    with pytest.raises(ValueError, match="unsupported video suffix '.xyz'"):
        write_video(tmp_path / "v.xyz", numbered_video(2))
    with pytest.raises(ValueError, match="to_uint8"):
        write_video(tmp_path / "v.mp4", numbered_video(2).astype(np.float32))
    with pytest.raises(ValueError, match="fps"):
        write_video(tmp_path / "v.mp4", numbered_video(2), fps=0)
    assert sorted(os.listdir(tmp_path)) == ["file.txt"]


def test_missing_parent_folders_are_created(tmp_path: Path):
    path = write_video(tmp_path / "a" / "b" / "v.gif", numbered_video(3))
    assert len(read_video(path)) == 3


# ---------------------------------------------------------------- permissions, rotation, frame order


def test_written_files_honour_the_umask(tmp_path: Path):
    old = os.umask(0o022)
    try:
        for name in ("v.mp4", "v.gif", "v.mkv", "v.webm"):
            write_video(tmp_path / name, numbered_video(2))
        write_video(tmp_path / "frames", numbered_video(2))
        write_contact_sheet(tmp_path / "s.png", numbered_video(2))
    finally:
        os.umask(old)
    modes = {p.name: p.stat().st_mode & 0o777 for p in tmp_path.iterdir()}
    # not 0600/0700 as tempfile would make them: other users and web servers can read the results
    assert modes == {"v.mp4": 0o644, "v.gif": 0o644, "v.mkv": 0o644, "v.webm": 0o644, "s.png": 0o644, "frames": 0o755}


@pytest.mark.skipif(not hasattr(av.video.stream.VideoStream, "set_display_rotation"), reason="PyAV < 15")
@pytest.mark.parametrize("degrees", [90, -90, 180])
def test_display_rotation_is_applied(tmp_path: Path, degrees: int):
    video = np.random.default_rng(3).integers(0, 256, (24, 10, 14, 3), dtype=np.uint8)
    path = tmp_path / "phone.mov"
    with av.open(str(path), "w") as c:  # PNG in mov: lossless, so the comparison is exact
        s = c.add_stream("png", rate=8)
        s.width, s.height, s.pix_fmt = 14, 10, "rgb24"
        s.set_display_rotation(degrees)  # what a phone writes for portrait video
        for f in video:
            c.mux(s.encode(av.VideoFrame.from_ndarray(f, format="rgb24")))
        c.mux(s.encode(None))
    upright = np.rot90(video, degrees // 90, axes=(1, 2))  # counter-clockwise, as the matrix says
    assert np.array_equal(read_video(path), upright)
    assert np.array_equal(read_video(path, 17, 23, 2), upright[17:23:2])  # the seek path rotates too
    assert video_info(path).size == (10, 14)  # the stored size, as documented


def test_png_frames_in_natural_name_order(tmp_path: Path):
    video = numbered_video(12)
    for i, frame in enumerate(video):  # unpadded numbers: plain sorting would give 0, 1, 10, 11, 2, ...
        Image.fromarray(frame).save(tmp_path / f"frame_{i}.png")
    assert np.array_equal(read_video(tmp_path), video)
    assert np.array_equal(read_video(tmp_path, 2, 11, 4), video[2:11:4])
