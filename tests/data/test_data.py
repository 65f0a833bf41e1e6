"""vidtok.data: clip helpers, ffmpeg test sources, the folder dataset (and its bad inputs), mixtures, workers."""

from __future__ import annotations

import logging
import pickle
from pathlib import Path

import numpy as np
import pytest
import torch
from torch.utils.data import DataLoader

from vidtok.data.clips import choose_start, clip_span, pad_clip, resize_crop
from vidtok.data.convert import to_uint8
from vidtok.data.folder import FolderDataset, manifest_captions
from vidtok.data.lavfi import DEFAULT_SOURCES, LavfiDataset, available_sources, render_source, source_graph
from vidtok.data.mixture import MixtureDataset
from vidtok.io import write_video

# ---------------------------------------------------------------- clip helpers


def test_choose_start_modes():
    rng = np.random.default_rng(0)
    assert clip_span(17, 2) == 33
    assert choose_start(100, 33, "first", rng) == 0
    assert choose_start(100, 33, "centre", rng) == 33
    starts = {choose_start(40, 33, "random", rng) for _ in range(300)}
    assert starts == set(range(8))  # every start that fits, and only those
    assert choose_start(10, 33, "random", rng) == 0 and choose_start(10, 33, "centre", rng) == 0
    with pytest.raises(ValueError, match="start must be one of"):
        choose_start(10, 3, "middle", rng)


def test_pad_clip_repeats_last_frame():
    v = np.arange(3)[:, None, None, None].repeat(2, 1).repeat(2, 2).repeat(3, 3).astype(np.uint8)
    padded = pad_clip(v, 5)
    assert padded.shape == (5, 2, 2, 3) and list(padded[:, 0, 0, 0]) == [0, 1, 2, 2, 2]
    assert pad_clip(v, 2).shape[0] == 2


def test_resize_crop_takes_the_centre_square():
    v = np.zeros((2, 40, 80, 3), np.uint8)
    v[:, :, :20] = (255, 0, 0)  # left and right bands fall outside the centre square
    v[:, :, 60:] = (0, 0, 255)
    v[:, :, 20:60] = (0, 200, 0)
    out = resize_crop(v, 16)
    assert out.shape == (2, 16, 16, 3) and out.dtype == np.uint8
    assert np.array_equal(np.unique(out.reshape(-1, 3), axis=0), [[0, 200, 0]])
    up = resize_crop(v[:, :, 20:60], 64)  # upscaling works too
    assert up.shape == (2, 64, 64, 3) and np.all(up == (0, 200, 0))


def test_resize_crop_antialiases():
    checker = (np.indices((64, 64)).sum(0) % 2 * 255).astype(np.uint8)
    v = np.repeat(checker[None, ..., None], 3, -1)
    out = resize_crop(v, 16)
    assert np.abs(out.astype(int) - 127.5).max() <= 2  # averaged to grey, not aliased to black/white


# ---------------------------------------------------------------- ffmpeg test sources


def test_every_source_moves_and_is_deterministic():
    assert set(DEFAULT_SOURCES) <= set(available_sources())
    for source in DEFAULT_SOURCES:
        a = render_source(source, 9, 32, variant=1, seed=3)
        assert a.shape == (9, 32, 32, 3) and a.dtype == np.uint8
        moving = np.abs(np.diff(a.astype(np.int16), axis=0)).mean(axis=(1, 2, 3))
        assert (moving > 0).sum() >= 4, source  # a real video, not a still
        assert np.array_equal(a, render_source(source, 9, 32, variant=1, seed=3)), source
    assert source_graph("life", 64, 8, 0, 0) != source_graph("life", 64, 8, 1, 0)
    assert source_graph("life", 64, 8, 0, 0) != source_graph("life", 64, 8, 0, 1)


def test_lavfi_dataset_items_and_determinism():
    kw = dict(sources=("life", "testsrc2", "zoneplate"), frames=9, size=32, length=40, variants=2, stream_frames=24)
    a, b = LavfiDataset(seed=1, **kw), LavfiDataset(seed=1, **kw)
    item = a[5]
    assert item["video"].shape == (3, 9, 32, 32) and item["video"].dtype == torch.float32
    assert item["caption"] in kw["sources"]
    assert -1 <= item["video"].min() and item["video"].max() <= 1
    for i in (0, 5, 39):
        assert torch.equal(a[i]["video"], b[i]["video"]) and a[i]["caption"] == b[i]["caption"]
    assert not torch.equal(a[0]["video"], LavfiDataset(seed=2, **kw)[0]["video"])
    video = to_uint8(item["video"])
    assert np.abs(np.diff(video.astype(np.int16), axis=0)).mean() > 0
    with pytest.raises(IndexError):
        a[40]


def test_lavfi_cache_is_bounded_and_not_pickled():
    ds = LavfiDataset(
        sources=("life",),
        frames=4,
        size=16,
        length=50,
        variants=5,
        stream_frames=8,
        cache_mb=2 * 8 * 16 * 16 * 3 / 2**20,
    )
    for i in range(50):
        ds[i]
    assert len(ds._cache) == 2
    clone = pickle.loads(pickle.dumps(ds))
    assert len(clone._cache) == 0 and torch.equal(clone[7]["video"], ds[7]["video"])


def test_lavfi_bad_arguments():
    with pytest.raises(ValueError, match="unknown lavfi source 'nope'"):
        LavfiDataset(sources=("nope",))
    with pytest.raises(ValueError, match="stream_frames"):
        LavfiDataset(frames=17, stream_frames=8)


# ---------------------------------------------------------------- folder dataset


def cut(path: Path, fraction: float, name: str) -> None:
    data = path.read_bytes()
    (path.parent / name).write_bytes(data[: int(len(data) * fraction)])


@pytest.fixture(scope="module")
def video_folder(tmp_path_factory) -> Path:
    """good.mp4 (+ .txt caption), sub/good.webm, anim.gif, a PNG-frame folder, a 5-frame short.mkv,
    and bad ones: zero-byte, random bytes, truncated mp4, truncated webm, truncated gif, a hidden file."""
    root = tmp_path_factory.mktemp("videos")
    source = render_source("testsrc2", 30, 40)
    write_video(root / "good.mp4", source)
    (root / "good.txt").write_text("a colourful test card\n")
    write_video(root / "sub" / "good.webm", source)
    write_video(root / "anim.gif", source[:20])
    write_video(root / "sub" / "frames", source[:18])
    write_video(root / "short.mkv", source[:5])
    (root / "zero.mp4").touch()
    (root / "junk.avi").write_bytes(np.random.default_rng(0).bytes(3000))
    cut(root / "good.mp4", 0.5, "cut.mp4")
    cut(root / "sub" / "good.webm", 0.5, "cut.webm")
    cut(root / "anim.gif", 0.7, "cut.gif")
    (root / ".hidden.mp4").touch()
    return root


def test_folder_scan_probe_summary_and_items(video_folder: Path, caplog):
    with caplog.at_level(logging.INFO, logger="vidtok.data.folder"):
        ds = FolderDataset(video_folder, frames=9, size=24, start="first")
    s = ds.summary()
    assert s["found"] == 10  # hidden file ignored, frame folder counted once
    assert s["reasons"] == {"corrupt": 2, "empty": 1}  # junk.avi, cut.mp4 (no index), zero.mp4
    assert s["usable"] == 7 and len(ds) == 7
    assert ds.summary_line() == f"FolderDataset {video_folder}: 7 videos usable, 3 skipped (2 corrupt, 1 empty)"
    assert ds.summary_line() in caplog.text

    items = [ds[i] for i in range(len(ds))]  # truncated webm and gif are found on first decode...
    s = ds.summary()
    assert s["reasons"] == {"corrupt": 2, "empty": 1, "truncated": 2} and s["usable"] == 5
    assert {Path(p).name for p, why in s["skipped_files"].items() if why.startswith("truncated")} == {
        "cut.webm",
        "cut.gif",
    }
    for item in items:  # ...and the index falls through to a good video
        assert item["video"].shape == (3, 9, 24, 24) and item["video"].dtype == torch.float32
        assert -1 <= item["video"].min() and item["video"].max() <= 1
    for _ in range(2):
        [ds[i] for i in range(len(ds))]
    for name in ("zero.mp4", "junk.avi", "cut.mp4", "cut.webm", "cut.gif"):  # each named once
        assert sum(name in r.getMessage() and "skips" in r.getMessage() for r in caplog.records) == 1, name


def test_folder_captions_from_sidecar_and_frames_match(video_folder: Path):
    ds = FolderDataset(video_folder, frames=9, size=40, start="first")
    by_name = {Path(v.path).name: i for i, v in enumerate(ds.videos)}
    good = ds[by_name["good.mp4"]]
    assert good["caption"] == "a colourful test card"
    assert ds[by_name["good.webm"]]["caption"] == ""
    frames = to_uint8(ds[by_name["frames"]]["video"])  # lossless PNG folder: exact source frames
    assert np.array_equal(frames, render_source("testsrc2", 9, 40))


def test_short_clips_pad_or_skip(video_folder: Path):
    pad = FolderDataset(video_folder, frames=9, size=40, start="first")
    short = to_uint8(pad[[Path(v.path).name for v in pad.videos].index("short.mkv")]["video"])
    source = render_source("testsrc2", 5, 40)
    assert np.array_equal(short[:5], source) and all(np.array_equal(f, source[4]) for f in short[5:])

    skip = FolderDataset(video_folder, frames=19, size=24, short="skip")
    assert {Path(p).name for p, why in skip.summary()["skipped_files"].items() if why.startswith("too short")} == {
        "short.mkv",
        "frames",
        "cut.gif",
    }
    assert all(skip[i]["video"].shape[1] == 19 for i in range(len(skip)))


def test_random_start_is_deterministic_and_stride_applies(video_folder: Path):
    a = FolderDataset(video_folder / "sub", frames=5, size=24, stride=3, length=20, seed=4)
    b = FolderDataset(video_folder / "sub", frames=5, size=24, stride=3, length=20, seed=4)
    assert len(a) == 20
    assert all(torch.equal(a[i]["video"], b[i]["video"]) for i in range(0, 20, 3))
    starts = {float(a[i]["video"][0, 0].sum()) for i in range(0, 20, 2)}
    assert len(starts) > 1  # different indices start at different frames


def test_random_start_without_seed_varies_per_read_and_follows_torch(video_folder: Path):
    ds = FolderDataset(video_folder / "sub", frames=5, size=24, seed=None)  # good.webm (30) + frames (18)
    webm = [Path(v.path).name for v in ds.videos].index("good.webm")
    torch.manual_seed(0)
    first = [ds[webm]["video"] for _ in range(6)]
    assert len({float(v.sum()) for v in first}) > 1  # the same index, other clips: epochs differ
    torch.manual_seed(0)
    assert all(torch.equal(a, ds[webm]["video"]) for a in first)  # and reproducible


def test_manifests_jsonl_and_csv(video_folder: Path, tmp_path: Path):
    jsonl = video_folder / "captions.jsonl"
    jsonl.write_text('{"path": "good.mp4", "caption": "from jsonl"}\n\n{"path": "sub/good.webm", "caption": "webm"}\n')
    csv = video_folder / "sub" / "captions.csv"
    csv.write_text('path,caption\ngood.webm,"from csv, with a comma"\nframes,frames caption\n')
    try:
        ds = FolderDataset(video_folder, frames=4, size=16, manifest=jsonl)
        caption = {Path(v.path).name: v.caption for v in ds.videos}
        assert caption["good.mp4"] == "from jsonl" and caption["good.webm"] == "webm" and caption["anim.gif"] == ""

        listed = FolderDataset(csv, frames=4, size=16)  # a manifest as the root: exactly its videos
        assert sorted((Path(v.path).name, v.caption) for v in listed.videos) == [
            ("frames", "frames caption"),
            ("good.webm", "from csv, with a comma"),
        ]
        assert manifest_captions(csv)[str(video_folder / "sub" / "good.webm")] == "from csv, with a comma"
    finally:
        jsonl.unlink()
        csv.unlink()

    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"path": "a.mp4"}\n{oops\n')
    with pytest.raises(ValueError, match=r"bad\.jsonl:2: not valid JSON"):
        manifest_captions(bad)
    bad_csv = tmp_path / "bad.csv"
    bad_csv.write_text("name,caption\na.mp4,x\n")
    with pytest.raises(ValueError, match=r"bad\.csv:2: no video path \(expected one of the keys \['file', 'path', 'video'\]"):
        manifest_captions(bad_csv)
    missing = tmp_path / "list.jsonl"
    missing.write_text(f'{{"path": "gone.mp4"}}\n{{"path": "{video_folder / "good.mp4"}"}}\n')
    ds = FolderDataset(missing, frames=4, size=16)
    assert ds.summary()["reasons"] == {"missing": 1} and len(ds) == 1


def test_folder_bad_roots(tmp_path: Path):
    with pytest.raises(FileNotFoundError, match="nowhere"):
        FolderDataset(tmp_path / "nowhere")
    (tmp_path / "empty").mkdir()
    with pytest.raises(ValueError, match=r"no videos .* found under .*empty"):
        FolderDataset(tmp_path / "empty")
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "a.mp4").touch()
    (bad / "b.webm").write_bytes(b"\x1a\x45\xdf\xa3 not really")
    with pytest.raises(ValueError, match=r"FolderDataset .*bad: no usable video \(1 corrupt, 1 empty\)"):
        FolderDataset(bad)


def test_failure_at_getitem_falls_through_to_another_video(tmp_path: Path):
    write_video(tmp_path / "a.mkv", render_source("life", 12, 16))
    write_video(tmp_path / "b.mkv", render_source("zoneplate", 12, 16))
    (tmp_path / "b.txt").write_text("b")
    ds = FolderDataset(tmp_path, frames=6, size=16, start="first")
    (tmp_path / "a.mkv").write_bytes(b"overwritten after the probe")
    item = ds[0]  # index 0 is a.mkv, now corrupt: b.mkv answers instead
    assert item["caption"] == "b" and ds.summary()["reasons"] == {"corrupt": 1}
    (tmp_path / "b.mkv").unlink()
    with pytest.raises(RuntimeError, match=r"every video failed to load \(1 corrupt, 1 missing\)"):
        ds[1]


# ---------------------------------------------------------------- mixtures and workers


class Constant(torch.utils.data.Dataset):
    def __init__(self, value: float, n: int = 10):
        self.value, self.n, self.frames, self.size = value, n, 2, 4

    def __len__(self):
        return self.n

    def __getitem__(self, i):
        return {"video": torch.full((3, 2, 4, 4), self.value), "caption": f"{self.value}:{i}", "index": i}


def test_mixture_follows_weights_and_is_deterministic():
    mix = MixtureDataset([Constant(0.0), Constant(1.0), Constant(2.0)], weights=[3, 1, 0], length=4000, seed=7)
    sources = np.array([mix.locate(i)[0] for i in range(4000)])
    assert 0.72 < (sources == 0).mean() < 0.78 and (sources == 2).sum() == 0
    item = mix[11]
    assert set(item) == {"video", "caption", "source"}  # Constant's extra "index" dropped: collates with others
    assert float(item["video"][0, 0, 0, 0]) == item["source"]
    again = MixtureDataset([Constant(0.0), Constant(1.0), Constant(2.0)], weights=[3, 1, 0], length=4000, seed=7)
    assert [again.locate(i) for i in range(50)] == [mix.locate(i) for i in range(50)]


def test_mixture_bad_arguments():
    with pytest.raises(ValueError, match="2 weights for 1 datasets"):
        MixtureDataset([Constant(0.0)], weights=[1, 1])
    with pytest.raises(ValueError, match="weights must be"):
        MixtureDataset([Constant(0.0)], weights=[-1])
    other = Constant(1.0)
    other.size = 8
    with pytest.raises(ValueError, match="disagree on size"):
        MixtureDataset([Constant(0.0), other])


def test_dataloader_with_two_workers(video_folder: Path):
    lavfi = LavfiDataset(sources=("life", "gradients"), frames=5, size=24, length=12, variants=2, stream_frames=16)
    folder = FolderDataset(video_folder, frames=5, size=24, length=12)
    mix = MixtureDataset([lavfi, folder], weights=[1, 1], length=12, seed=3)
    loader = DataLoader(mix, batch_size=4, num_workers=2, shuffle=False)
    batches = list(loader)
    assert len(batches) == 3
    video = torch.cat([b["video"] for b in batches])
    assert video.shape == (12, 3, 5, 24, 24)
    assert len(sum((b["caption"] for b in batches), [])) == 12
    in_process = torch.stack([mix[i]["video"] for i in range(12)])
    assert torch.equal(video, in_process)  # workers give exactly the single-process items


def test_lavfi_default_sources_follow_the_ffmpeg_build(monkeypatch):
    import vidtok.data.lavfi as lavfi

    older = tuple(s for s in available_sources() if s not in ("perlin", "zoneplate"))
    monkeypatch.setattr(lavfi, "available_sources", lambda: older)  # as with an older ffmpeg
    ds = LavfiDataset(frames=2, size=16, length=4)
    assert ds.sources == tuple(s for s in DEFAULT_SOURCES if s in older) and "perlin" not in ds.sources
    with pytest.raises(ValueError, match="'perlin' is not in this ffmpeg build"):
        LavfiDataset(sources=("life", "perlin"))
