"""vidtok.data.stills and packaged_images: camera-motion clips of still pictures, the packaged pictures'
origins and licences, the held-out split, and bad pictures skipped and counted."""

from __future__ import annotations

import logging

import numpy as np
import pytest
import torch
from PIL import Image

from vidtok.data.packaged_images import SOURCES, is_test_image, packaged_images, picture_of
from vidtok.data.stills import StillsDataset


def _pictures(folder, n=6, size=(300, 200)):
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[: size[1], : size[0]]
    for i in range(n):
        # smooth colour fields with some texture: distinct per picture
        phase = rng.uniform(0, 6, 3)
        rgb = np.stack([127 + 100 * np.sin(xx / (9 + 4 * i) + yy / 13 + p) for p in phase], -1)
        rgb += rng.normal(0, 8, rgb.shape)
        Image.fromarray(rgb.clip(0, 255).astype(np.uint8)).save(folder / f"p{i}.{'png' if i % 2 else 'jpg'}")
    return folder


def test_packaged_images_name_origin_and_licence():
    images = packaged_images()
    assert len({im.key for im in images}) == len(images)
    known = {s.name for s in SOURCES}
    for im in images:
        assert im.source in known and im.licence and im.path.is_file()
    with pytest.raises(ValueError, match="unknown image source 'nope'"):
        packaged_images(("nope",))


def test_variants_of_one_picture_share_a_split():
    assert picture_of("scikit-image/motorcycle_left.png") == picture_of("scikit-image/motorcycle_right.png")
    assert picture_of("gnome-backgrounds/wood-d.webp") == picture_of("gnome-backgrounds/wood-l.webp")
    for share in (0.1, 0.3, 0.5):
        assert is_test_image("x/motorcycle_left.png", share) == is_test_image("x/motorcycle_right.png", share)
    keys = [f"folder/a/{i}.png" for i in range(400)]
    held = sum(is_test_image(k, 0.25) for k in keys)
    assert 70 < held < 130  # about the share asked, and stable: a hash, not a draw
    assert [is_test_image(k, 0.25) for k in keys] == [is_test_image(k, 0.25) for k in keys]


def test_clips_shape_range_and_determinism(tmp_path):
    ds = StillsDataset(sources=[], folders=[_pictures(tmp_path / "pics")], split="all", frames=9, size=32, length=20)
    item = ds[3]
    assert item["video"].shape == (3, 9, 32, 32) and item["video"].dtype == torch.float32
    assert item["video"].min() >= -1 and item["video"].max() <= 1
    assert item["caption"].startswith("folder/pics/")
    again = StillsDataset(sources=[], folders=[tmp_path / "pics"], split="all", frames=9, size=32, length=20)
    assert torch.equal(again[3]["video"], item["video"])  # same index, same clip, in a fresh instance
    assert not torch.equal(ds[4]["video"], item["video"])


def test_the_camera_moves(tmp_path):
    ds = StillsDataset(sources=[], folders=[_pictures(tmp_path)], split="all", frames=9, size=32, length=40,
                       layer_prob=0, occluder_prob=0)
    moving = 0
    for i in range(40):
        v, _ = ds.clip(i)
        moving += np.abs(v[0].astype(int) - v[-1].astype(int)).mean() > 2
    assert moving >= 20  # most clips move (some cameras stand still by design)
    still = StillsDataset(sources=[], folders=[tmp_path], split="all", frames=9, size=32, length=40, max_speed=0,
                          layer_prob=0, occluder_prob=0)
    pans = [np.abs(still.clip(i)[0][0].astype(int) - still.clip(i)[0][-1].astype(int)).mean() for i in range(40)]
    assert np.median(pans) < np.median([np.abs(ds.clip(i)[0][0].astype(int) - ds.clip(i)[0][-1].astype(int)).mean()
                                        for i in range(40)])


def test_train_and_test_pictures_are_disjoint(tmp_path):
    folder = _pictures(tmp_path / "pics", n=12)
    train = StillsDataset(sources=[], folders=[folder], split="train", size=32, frames=5, length=60, test_share=0.4)
    test = StillsDataset(sources=[], folders=[folder], split="test", size=32, frames=5, length=60, test_share=0.4)
    keys = lambda ds: {p.key for p in ds.pictures}
    assert keys(train) and keys(test) and not keys(train) & keys(test)
    assert {ds.clip(i)[1] for ds in (train,) for i in range(60)} <= keys(train)


def test_bad_pictures_are_skipped_named_once_and_counted(tmp_path, caplog):
    folder = _pictures(tmp_path / "pics", n=3)
    (folder / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\nnot a picture")
    Image.fromarray(np.zeros((20, 20, 3), np.uint8)).save(folder / "tiny.png")
    (folder / "dangling.jpg").symlink_to(tmp_path / "gone.jpg")
    ds = StillsDataset(sources=[], folders=[folder], split="all", size=32, frames=5, length=50)
    with caplog.at_level(logging.WARNING, logger="vidtok.data.stills"):
        captions = {ds.clip(i)[1] for i in range(50)}
    assert captions <= {f"folder/pics/p{i}.{'png' if i % 2 else 'jpg'}" for i in range(3)}
    summary = ds.summary()
    assert summary["found"] == 6 and summary["skipped"] == 3
    assert set(summary["skipped_files"]) == {str(folder / n) for n in ("broken.png", "tiny.png", "dangling.jpg")}
    assert "smaller than a 32-pixel frame" in summary["skipped_files"][str(folder / "tiny.png")]
    warned = [r.getMessage() for r in caplog.records]
    assert sum("broken.png" in m for m in warned) == 1  # named once, however often it is drawn


def test_no_usable_picture_is_one_clear_error(tmp_path):
    (tmp_path / "bad").mkdir()
    (tmp_path / "bad" / "x.png").write_bytes(b"nope")
    ds = StillsDataset(sources=[], folders=[tmp_path / "bad"], split="all", size=32, frames=5, length=4)
    with pytest.raises(ValueError, match="no picture could be read"):
        ds.clip(0)
    with pytest.raises(ValueError, match="found no all pictures"):
        StillsDataset(sources=[], folders=[], split="all")


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"split": "val"}, "split='val'"),
        ({"frames": 0}, "frames=0"),
        ({"size": 2.5}, "size=2.5"),
        ({"test_share": 1.5}, "test_share=1.5"),
        ({"layer_prob": -0.1}, "layer_prob=-0.1"),
        ({"max_speed": float("nan")}, "max_speed=nan"),
    ],
)
def test_bad_arguments_name_the_argument(tmp_path, kwargs, message):
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(".", r"\.")):
        StillsDataset(sources=[], folders=[_pictures(tmp_path)], **kwargs)


def test_missing_folder_names_it(tmp_path):
    with pytest.raises(FileNotFoundError, match="image folder not found"):
        StillsDataset(sources=[], folders=[tmp_path / "nowhere"])
