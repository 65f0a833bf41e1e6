"""Evaluation layer: prompt following from pixels, reports, Fréchet / FVD, tokenizer metrics."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch

from vidtok.shapes.world import COLOURS, SPLITS, sample_clip
from vidtok.eval.distribution import frechet_report, shapes_real_set
from vidtok.shapes.evaluate import SKIP_REASONS, evaluate_folder, evaluate_videos
from vidtok.eval.frechet import frechet_distance, frechet_from_stats, gaussian_stats
from vidtok.eval.fvd import fvd, i3d_features, load_i3d
from vidtok.data.manifest import read_manifest
from vidtok.eval.random_features import (
    RANDOM_CNN_SEED,
    RandomVideoCNN,
    hand_features,
    random_cnn_features,
)
from vidtok.shapes.report import comparison_table, write_report
from vidtok.eval.tokenizer_metrics import (
    MAX_PSNR,
    CodebookUsage,
    ReconstructionStats,
    codebook_usage,
    psnr,
    ssim,
)
from vidtok.io import write_video

EVAL_SPLITS = ("test-iid", "test-comp-shape-colour", "test-comp-colour-direction")


def clips(split: str, n: int, start: int = 0, frames: int = 17, size: int = 64):
    return [sample_clip(split, i, frames, size) for i in range(start, start + n)]


@pytest.fixture(scope="module")
def real_items():
    return [(v, a.caption, s) for s in EVAL_SPLITS for v, a, _ in clips(s, 10)]


# ---------------------------------------------------------------- prompt following


def test_real_clips_score_100_percent_on_every_split():
    items = [(v, a.caption, s) for s in SPLITS for v, a, _ in clips(s, 6)]
    r = evaluate_videos(items)
    assert r["judged"] == r["items"] == len(items)
    assert all(r["skipped"][k] == 0 for k in SKIP_REASONS)
    assert list(r["splits"]) == list(SPLITS)
    for group in [*r["splits"].values(), r["overall"]]:
        assert group["accuracy"] == {k: 1.0 for k in ("shape", "colour", "size", "direction", "speed", "all")}
        assert group["temporal"] == {"presence": 1.0, "area_cv": 0.0, "colour_std": 0.0, "jerk": 0.0, "flicker": 0.0}
        curve = group["per_frame"]
        assert curve["videos"] == [group["videos"]] * 17
        assert curve["motion"][0] is None and curve["motion"][1:] == [1.0] * 16
        assert curve["all"] == [1.0] * 17
    assert r["split_mismatch"] == 0 and r["split_inferred"] == 0


def test_split_inferred_from_caption_when_missing(real_items):
    r = evaluate_videos([(v, c) for v, c, _ in real_items], keep_items=False)
    assert r["split_inferred"] == len(real_items)
    # the combination sets define the splits; a few combinations hold both held-out pairs
    assert r["splits"]["test-iid"]["videos"] == 10
    assert r["splits"]["test-comp-shape-colour"]["videos"] >= 10
    assert r["splits"]["test-comp-colour-direction"]["videos"] >= 10
    assert r["overall"]["videos"] == 30 and r["overall"]["accuracy"]["all"] == 1.0


def test_caption_outside_its_split_is_counted():
    v, a, _ = sample_clip("test-iid", 0)
    r = evaluate_videos([(v, a.caption, "test-comp-shape-colour")])
    assert r["split_mismatch"] == 1
    r = evaluate_videos([(v, a, "")])  # attributes instead of text; an empty split is no split
    assert r["split_inferred"] == 1 and r["splits"]["test-iid"]["accuracy"]["all"] == 1.0


def _recolour(video: np.ndarray, new: tuple[int, int, int]) -> np.ndarray:
    out = video.copy()
    out[video.max(-1) > 0] = new
    return out


def test_swapped_colour_scores_zero_colour_accuracy(real_items):
    names = list(COLOURS)
    items = []
    for v, caption, split in real_items:
        colour = caption.split()[2]
        other = names[(names.index(colour) + 3) % len(names)]
        items.append((_recolour(v, COLOURS[other]), caption, split))
    r = evaluate_videos(items)["overall"]
    assert r["accuracy"]["colour"] == 0.0 and r["accuracy"]["all"] == 0.0
    assert all(r["accuracy"][k] == 1.0 for k in ("shape", "size", "direction", "speed"))
    assert r["per_frame"]["colour"] == [0.0] * 17 and r["per_frame"]["presence"] == [1.0] * 17


def test_frozen_video_fails_direction_and_speed(real_items):
    items = [(np.repeat(v[:1], len(v), 0), c, s) for v, c, s in real_items]
    r = evaluate_videos(items)["overall"]
    assert r["accuracy"]["direction"] == 0.0 and r["accuracy"]["speed"] == 0.0 and r["accuracy"]["all"] == 0.0
    assert r["accuracy"]["colour"] == r["accuracy"]["shape"] == 1.0
    assert r["per_frame"]["motion"][1:] == [0.0] * 16


def test_flickering_video_scores_worse_on_flicker(real_items):
    def flash(v):
        out = v.copy()
        bg = out[1::2].max(-1) == 0
        out[1::2][bg] = 60  # a grey background every other frame, below the object threshold
        return out

    real = evaluate_videos(real_items)["overall"]["temporal"]["flicker"]
    flickery = evaluate_videos([(flash(v), c, s) for v, c, s in real_items])["overall"]
    assert real == 0.0 and flickery["temporal"]["flicker"] > 20
    assert flickery["accuracy"]["all"] == 1.0  # the captions still hold


def test_object_vanishing_mid_rollout_shows_in_the_frame_curve():
    items = []
    for v, a, _ in clips("test-iid", 4, frames=40):
        v = v.copy()
        v[25:] = 0
        items.append((v, a.caption, None))
    curve = evaluate_videos(items)["overall"]["per_frame"]
    assert curve["presence"] == [1.0] * 25 + [0.0] * 15
    assert curve["colour"] == curve["size"] == curve["presence"]
    assert curve["all"] == [1.0] * 25 + [0.0] * 15


def test_unknown_prompts_are_counted_not_scored(real_items):
    v = real_items[0][0]
    r = evaluate_videos([(v, "a dog runs", None), (v, "", None), (v, 42, None)])
    assert r["judged"] == 0 and r["skipped"]["not_judgeable"] == 3
    assert r["overall"]["accuracy"]["all"] is None and r["splits"] == {}
    mixed = evaluate_videos([*real_items[:3], (v, "a purple hexagon", None)])
    assert mixed["judged"] == 3 and mixed["skipped"]["not_judgeable"] == 1
    assert "a purple hexagon" in mixed["skipped_examples"]["not_judgeable"][0]


def test_bad_videos_are_counted():
    v, a, _ = sample_clip("test-iid", 1, size=32)
    items = [
        (v, a.caption, None),  # another size: judged at its own size
        (np.zeros((17, 32, 48, 3), np.uint8), a.caption, None),
        (np.zeros((17, 8, 8, 3), np.uint8), a.caption, None),
        (v[:1], a.caption, None),
        (v.astype(np.float32), a.caption, None),
        (None, a.caption, None),
    ]
    r = evaluate_videos(items)
    assert r["judged"] == 1 and r["overall"]["accuracy"]["all"] == 1.0
    assert r["other_size"] == {"count": 1, "sides": {"32": 1}}
    assert r["skipped"]["unsupported_size"] == 2 and r["skipped"]["too_short"] == 1
    assert r["skipped"]["invalid_video"] == 2
    with pytest.raises(ValueError, match="item 0"):
        evaluate_videos([v])


# ---------------------------------------------------------------- folders and manifests


def test_evaluate_folder_counts_missing_unreadable_and_unknown(tmp_path):
    rows = []
    for i, (v, a, _) in enumerate(clips("test-comp-shape-colour", 3)):
        suffix = ".mp4" if i == 0 else ".mkv"  # one lossy file: the reader must cope with H.264
        write_video(tmp_path / f"v{i}{suffix}", v)
        rows.append({"file": f"v{i}{suffix}", "prompt": a.caption, "split": "test-comp-shape-colour", "seed": i})
    (tmp_path / "broken.mp4").write_bytes(b"\x00\x01 not a video" * 10)
    rows += [
        {"file": "gone.mkv", "prompt": rows[0]["prompt"]},
        {"file": "broken.mp4", "prompt": rows[0]["prompt"]},
        {"file": "v1.mkv", "prompt": "a cat on a mat"},
    ]
    (tmp_path / "samples.jsonl").write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    r = evaluate_folder(tmp_path)
    assert r["items"] == 6 and r["judged"] == 3
    assert r["splits"]["test-comp-shape-colour"]["accuracy"]["all"] == 1.0
    assert (r["skipped"]["missing"], r["skipped"]["unreadable"], r["skipped"]["not_judgeable"]) == (1, 1, 1)
    assert "gone.mkv" in r["skipped_examples"]["missing"][0]


def test_csv_manifest_and_manifest_errors(tmp_path):
    v, a, _ = sample_clip("test-iid", 5)
    write_video(tmp_path / "clip", v)  # a PNG-frame folder
    (tmp_path / "list.csv").write_text(f"path,caption\nclip,{a.caption}\n")
    r = evaluate_folder(tmp_path, "list.csv")
    assert r["judged"] == 1 and r["overall"]["accuracy"]["all"] == 1.0 and r["split_inferred"] == 1

    with pytest.raises(FileNotFoundError, match="nope.jsonl"):
        evaluate_folder(tmp_path, "nope.jsonl")
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"file": "clip", "prompt": "x"}\n{oops\n')
    with pytest.raises(ValueError, match=r"bad.jsonl:2: not valid JSON"):
        read_manifest(bad)
    bad.write_text('{"prompt": "x"}\n')
    with pytest.raises(ValueError, match=r"bad.jsonl:1: no video path"):
        read_manifest(bad)


# ---------------------------------------------------------------- reports


def test_report_files(tmp_path, real_items):
    raster = evaluate_videos(real_items)
    diagonal = evaluate_videos([(np.repeat(v[:1], 17, 0), c, s) for v, c, s in real_items[:15]])
    raster["speed"], diagonal["speed"] = {"videos_per_s": 2.0}, {"videos_per_s": 5.0}
    raster["frechet"] = {"random_cnn": {"distance": 3.0, "floor": 1.5, "ratio": 2.0}, "n_real": 10}
    paths = write_report(raster, tmp_path / "rep", title="Shapes", compare={"raster": raster, "diagonal": diagonal})
    report = json.loads(paths["json"].read_text())
    assert report["overall"]["accuracy"]["all"] == 1.0 and report["overall"]["per_frame"]["motion"][0] is None
    for key in ("accuracy_plot", "frame_quality_plot"):
        assert paths[key].read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and paths[key].stat().st_size > 5000
    md = paths["markdown"].read_text()
    assert "| split | videos | shape | colour | size | direction | speed | all |" in md
    assert "| test-comp-colour-direction | 10 | 100.0% | 100.0% | 100.0% | 100.0% | 100.0% | 100.0% |" in md
    assert "| random_cnn | 3 | 1.5 | 2 |" in md and "![accuracy per split](accuracy.png)" in md
    table = comparison_table({"raster": raster, "diagonal": diagonal})
    assert "| accuracy (all) overall | 100.0% | 0.0% |" in table
    assert "| speed: videos_per_s | 2 | 5 |" in table


def test_report_json_has_no_nan(tmp_path):
    r = evaluate_videos([(np.zeros((5, 64, 64, 3), np.uint8), "a small red circle moves up slowly", None)])
    assert r["overall"]["temporal"]["jerk"] is None  # nothing present: undefined, not NaN
    text = write_report(r, tmp_path)["json"].read_text()
    assert "NaN" not in text and json.loads(text)["overall"]["accuracy"]["all"] == 0.0


# ---------------------------------------------------------------- Fréchet distance


def test_frechet_matches_closed_form():
    # diagonal Gaussians: d^2 = |mu_a - mu_b|^2 + sum (s_a - s_b)^2
    mu_a, mu_b = np.array([0.0, 1.0, 2.0]), np.array([1.0, 1.0, 0.0])
    s_a, s_b = np.array([1.0, 2.0, 3.0]), np.array([2.0, 2.0, 1.0])
    d = frechet_from_stats(mu_a, np.diag(s_a**2), mu_b, np.diag(s_b**2))
    assert d == pytest.approx(5.0 + 1.0 + 0.0 + 4.0, rel=1e-12)
    # rotating both covariances together leaves the distance unchanged
    q, _ = np.linalg.qr(np.random.default_rng(0).normal(size=(3, 3)))
    d_rot = frechet_from_stats(q @ mu_a, q @ np.diag(s_a**2) @ q.T, q @ mu_b, q @ np.diag(s_b**2) @ q.T)
    assert d_rot == pytest.approx(d, rel=1e-9)
    with pytest.raises(ValueError, match="same D"):
        frechet_distance(np.zeros((4, 3)), np.zeros((4, 2)))


def test_frechet_sample_route_equals_covariance_route():
    rng = np.random.default_rng(1)
    a, b = rng.normal(size=(12, 40)), rng.normal(size=(15, 40)) * 1.5 + 0.2  # fewer samples than dims
    via_stats = frechet_from_stats(*gaussian_stats(a), *gaussian_stats(b))
    assert frechet_distance(a, b) == pytest.approx(via_stats, rel=1e-6)
    assert frechet_distance(a, a) < 1e-9


def test_random_cnn_is_the_documented_seeded_network():
    net = RandomVideoCNN()
    assert net.dim == 240
    conv = net.convs[0]
    bound = math.sqrt(3) * math.sqrt(2 / 1.04) / math.sqrt(6 * 27)
    expected = (np.random.default_rng(RANDOM_CNN_SEED).random(4) * 2 - 1) * bound
    assert np.allclose(conv.weight.flatten()[:4].numpy(), expected, rtol=1e-6)
    assert all(torch.equal(a, b) for a, b in zip(net.state_dict().values(), RandomVideoCNN().state_dict().values()))


@pytest.fixture(scope="module")
def real_sets():
    return shapes_real_set("test-iid", 32), shapes_real_set("test-iid", 32, replica=1)


def test_real_sets_share_combinations_not_clips(real_sets):
    a, b = real_sets
    assert not any(np.array_equal(x, y) for x, y in zip(a, b))
    assert all((x.max(-1) > 0).sum() == (y.max(-1) > 0).sum() for x, y in zip(a, b))  # same shapes and sizes


def test_frechet_floor_below_corrupted(real_sets):
    a, b = real_sets
    rng = np.random.default_rng(0)
    noisy = [np.clip(v.astype(np.int16) + rng.integers(-40, 41, v.shape), 0, 255).astype(np.uint8) for v in b]
    frozen = [np.repeat(v[:1], len(v), 0) for v in b]
    for f, dim in ((random_cnn_features, 240), (hand_features, 75)):
        fa = f(a)
        assert fa.shape == (32, dim)
        assert frechet_distance(fa, fa) < 1e-9 * max(1.0, np.abs(fa).max())
        floor = frechet_distance(fa, f(b))
        assert 0 < floor < frechet_distance(fa, f(frozen)) / 2
        assert floor < frechet_distance(fa, f(noisy))
    rep = frechet_report(a[:8], noisy[:8], b[:8], features=("hand",))
    assert rep["n_generated"] == rep["n_reference"] == 8 and rep["hand"]["ratio"] > 100
    halves = frechet_report(a[:16], noisy[:8], features=("hand",))  # no reference: real split in two
    assert halves["n_real"] == halves["n_reference"] == 8
    with pytest.raises(ValueError, match="unknown feature set"):
        frechet_report(a[:4], b[:4], a[4:8], features=("inception",))


def test_random_cnn_features_accept_other_sizes_and_batches(real_sets):
    a, _ = real_sets
    full = random_cnn_features(a[:6], batch_size=6)
    assert np.allclose(random_cnn_features(a[:6], batch_size=4), full, atol=1e-5)
    small = [sample_clip("test-iid", i, 9, 32)[0] for i in range(3)]
    assert random_cnn_features([*small, *a[:2]]).shape == (5, 240)


# ---------------------------------------------------------------- FVD with a scripted stand-in for I3D


class _TinyI3D(torch.nn.Module):
    """Stands in for i3d_torchscript.pt: checks the call convention, returns (B, 400) features."""

    def __init__(self) -> None:
        super().__init__()
        self.proj = torch.nn.Linear(6, 400)

    def forward(self, x: torch.Tensor, rescale: bool = True, resize: bool = False, return_features: bool = False):
        if rescale or not resize or not return_features:
            raise RuntimeError("called with the wrong keyword arguments")
        if x.shape[1] != 3 or x.shape[3] != 224 or x.shape[4] != 224:
            raise RuntimeError("expected (B, 3, T, 224, 224)")
        if x.min() < -1.0 or x.max() > 1.0 or x.min() > -0.5:
            raise RuntimeError("expected values in [-1, 1], not [0, 1]")
        stats = torch.cat([x.mean((2, 3, 4)), x.std((2, 3, 4))], 1)
        return self.proj(stats)


@pytest.fixture(scope="module")
def i3d_file(tmp_path_factory):
    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("i3d") / "i3d_torchscript.pt"
    torch.jit.script(_TinyI3D()).save(str(path))
    return path


def test_fvd_with_scripted_stand_in(i3d_file, real_sets):
    # short clips keep the 224x224 upsampling cheap; I3D itself would want >= 10 frames
    a, c = ([v[:4] for v in s[:4]] for s in (real_sets[0], real_sets[1]))
    b = [255 - v for v in c]  # inverted: far from real for any feature
    model = load_i3d(i3d_file)
    feats = i3d_features(a, model, batch_size=3)
    assert feats.shape == (4, 400)
    assert fvd(a, a, i3d_file) < 1e-6
    assert fvd(a, b, i3d_file) == pytest.approx(frechet_distance(feats, i3d_features(b, model)), rel=1e-6)
    rep = frechet_report(a, b, c, features=(), i3d_path=i3d_file)
    assert list(rep) == ["n_real", "n_reference", "n_generated", "i3d"] and rep["i3d"]["distance"] > 0


def test_fvd_missing_or_bad_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="missing_i3d.pt"):
        load_i3d(tmp_path / "missing_i3d.pt")
    junk = tmp_path / "junk.pt"
    junk.write_bytes(b"not torchscript")
    with pytest.raises(ValueError, match="junk.pt is not a loadable TorchScript"):
        load_i3d(junk)


# ---------------------------------------------------------------- tokenizer metrics


def test_psnr_and_ssim_values():
    torch.manual_seed(0)
    x = torch.rand(2, 3, 5, 16, 16) * 2 - 1
    assert torch.allclose(psnr(x, x), torch.full((2,), MAX_PSNR))
    # a constant error of 0.1 on a range of 2: 10 log10(4 / 0.01)
    assert torch.allclose(psnr(x, x + 0.1), torch.full((2,), 10 * math.log10(400.0)), atol=1e-4)
    assert torch.allclose(ssim(x, x), torch.ones(2), atol=1e-5)
    noisy = x + 0.3 * torch.randn_like(x)
    assert (ssim(x, noisy) < 0.9).all()
    stats = ReconstructionStats()
    stats.update(x[:1], noisy[:1])
    stats.update(x[1:], noisy[1:])
    assert stats.compute()["psnr"] == pytest.approx(psnr(x, noisy).mean().item(), rel=1e-6)
    assert stats.compute()["ssim"] == pytest.approx(ssim(x, noisy).mean().item(), rel=1e-6)
    with pytest.raises(ValueError, match=r"\(B, 3, T, H, W\)"):
        psnr(x, x[:, :, :2])


def test_codebook_usage_accumulates():
    usage = CodebookUsage(codebook_size=8)
    usage.update(torch.tensor([[0, 1], [0, 1]]))
    usage.update(torch.tensor([2, 3, 2, 3]))
    u = usage.compute()
    assert u["used"] == 4 and u["used_fraction"] == 0.5 and u["perplexity"] == pytest.approx(4.0)
    assert codebook_usage(torch.tensor([5, 0, 0, 0]))["perplexity"] == pytest.approx(1.0)
    with pytest.raises(ValueError, match="out of range for a codebook of 8"):
        usage.update(torch.tensor([8]))
    usage.reset()
    with pytest.raises(ValueError, match="zero codes"):
        usage.compute()


def test_evaluate_dataset_groups_by_caption_and_scores_what_a_user_gets_back():
    from vidtok.data.convert import to_tensor, to_uint8
    from vidtok.data.lavfi import LavfiDataset
    from vidtok.eval.reconstruction import evaluate_dataset
    from vidtok.model import TokenizerConfig, VideoTokenizer

    torch.manual_seed(0)
    tok = VideoTokenizer(TokenizerConfig(channels=[8, 8], blocks=1, pixel_channels=[8], codebook_size=64)).eval()
    data = LavfiDataset(sources=("life", "gradients"), frames=5, size=24, length=7, variants=2, stream_frames=16)
    rows = evaluate_dataset(tok, data, batch_size=3)
    captions = [data[i]["caption"] for i in range(len(data))]
    assert [r["split"] for r in rows] == sorted(set(captions)) + ["all"]
    assert [r["clips"] for r in rows] == [captions.count(c) for c in sorted(set(captions))] + [7]
    for row in rows[:-1]:  # each group's PSNR is that of its own clips, rounded to uint8 as a user gets them
        x = torch.stack([data[i]["video"] for i in range(7) if captions[i] == row["split"]])
        with torch.no_grad():
            back = torch.stack([to_tensor(r) for r in to_uint8(tok.decode(tok.encode(x), frames=5))])
        assert row["psnr"] == pytest.approx(psnr(x, back).mean().item(), rel=1e-4)
        assert "read_back" not in row  # only Shapes clips can be read back
    assert rows[-1]["psnr"] == pytest.approx(np.mean([r["psnr"] for r in rows[:-1]]))
    assert 0 < rows[-1]["codebook_usage"] <= 1
    assert evaluate_dataset(tok, data, clips=2)[-1]["clips"] == 2
    with pytest.raises(ValueError, match="at least one clip"):
        evaluate_dataset(tok, data, clips=0)
